"""What grows when many threads encode at once: one process per configuration.

    python -m benchmarks.encoder_memory --data ../shared/data/routellm --n 240

Each configuration runs in a fresh child process: the bundled encoder's session (or one
built with other onnxruntime ``SessionOptions``) encodes ``--n`` distinct RouteLLM prompts
from ``--threads`` threads at once. Printed per configuration: RSS before and after
(``VmRSS``), the peak (``VmHWM``), Python-level allocations (tracemalloc peak: what the
interpreter allocated, not onnxruntime's native buffers), and CPU ms per prompt.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort

from pantheon.bench.routing_data import load_all
from pantheon.learning import encoder as enc


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def _session(arena: bool, pattern: bool) -> ort.InferenceSession:
    """The bundled encoder's options, with the two memory options set as asked."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    opts.enable_cpu_mem_arena = arena
    opts.enable_mem_pattern = pattern
    path = enc.data_path(enc.MODEL_FILE)
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def child(data: Path, n: int, threads: int, arena: bool, pattern: bool) -> dict[str, float]:
    prompts = sorted({p for d in load_all(data).values() for p in d.prompts})[:n]
    tok = enc.bundled_encoder()._tokenizer
    ids = [e.ids for e in tok.encode_batch(prompts)]
    session = _session(arena, pattern)

    def run(x: list[int]) -> None:
        arr = np.asarray([x], dtype=np.int64)
        session.run(["embedding"], {"input_ids": arr, "attention_mask": np.ones_like(arr)})

    run(ids[0])  # the session's first run allocates what one run needs
    before = _status_mb("VmRSS")
    tracemalloc.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(run, ids))
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    _cur, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "threads": threads,
        "arena": arena,
        "mem_pattern": pattern,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(_status_mb("VmRSS"), 1),
        "rss_peak_mb": round(_status_mb("VmHWM"), 1),
        "python_peak_mb": round(py_peak / 2**20, 2),
        "cpu_ms_per_prompt": round(1000 * cpu / len(ids), 2),
        "prompts_per_s": round(len(ids) / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="RouteLLM data directory")
    parser.add_argument("--n", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        threads, arena, pattern = int(args.child[0]), args.child[1] == "1", args.child[2] == "1"
        print(json.dumps(child(args.data, args.n, threads, arena, pattern)))
        return
    configs = [(t, a, p) for t in (1, 4, 16) for a, p in ((1, 1), (0, 1), (1, 0))]
    for r in range(args.rounds):
        for t, a, p in configs if r % 2 == 0 else configs[::-1]:
            cmd = [sys.executable, "-m", "benchmarks.encoder_memory", "--data", str(args.data)]
            cmd += ["--n", str(args.n), "--child", str(t), str(a), str(p)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            print(json.dumps({"round": r, **json.loads(out)}), flush=True)


if __name__ == "__main__":
    main()
