"""Rebuild the static token table (``src/pantheon/data/encoder/static_table.npz``).

Distils the bundled encoder: every token of the bundled tokenizer is run alone
(``[CLS] token [SEP]``) through ``encoder.onnx`` and its unit vector is kept, in 8 bits
per coordinate with one scale per row (``pantheon.learning.static_table``). It needs only
the runtime packages (onnxruntime, tokenizers, numpy) and the files already shipped, and
takes a few minutes on two cores::

    .venv/bin/python scripts/build_static_table.py

Each run is single-threaded and alone, so a rebuild on the same CPU kind gives the same
rows. A changed table gives the static representation a new ``COORDIZER_VERSION``.
"""

from __future__ import annotations

import sys
import time

from pantheon.learning.encoder import MODEL_FILE, TOKENIZER_FILE, data_path
from pantheon.learning.static_table import TABLE_FILE, distil, write_table


def main() -> None:
    started = time.perf_counter()
    rows = distil(data_path(MODEL_FILE), data_path(TOKENIZER_FILE), threads=2)
    target = data_path(TABLE_FILE)
    write_table(
        rows,
        target,
        f"each of the {rows.shape[0]} tokens of all-MiniLM-L6-v2's tokenizer run alone "
        "([CLS] token [SEP]) through the bundled int8 encoder.onnx",
    )
    sys.stdout.write(
        f"{target}: {rows.shape[0]} rows, {target.stat().st_size / 1e6:.1f} MB, "
        f"{time.perf_counter() - started:.0f} s\n"
    )


if __name__ == "__main__":
    main()
