"""Where does a bert_ms training step spend its time? MindSpore's profiler on the step of bench_model.py.

Usage::

    .venv/bin/python bench/profile_step.py                  # mini, vocab 8000, table of op types
    .venv/bin/python bench/profile_step.py --vocab 30522 --out runs/profile
    .venv/bin/python bench/profile_step.py --no-fused       # without bert_ms.accel's fused CPU kernels

Prints milliseconds per step for each kernel type (sum over the profiled steps / steps), largest first.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--out", default="runs/profile", help="profiler output folder")
    ap.add_argument("--no-fused", action="store_true", help="MindSpore's ops instead of bert_ms.accel's CPU kernels")
    args = ap.parse_args()

    import bench_model
    import mindspore as ms

    from bert_ms.runtime import device

    device.setup("CPU", mode="graph", seed=0, verbose=False)
    step, xs, _ = bench_model.build_train_step("mini", args.vocab, "step", fused=not args.no_fused)
    step(*xs).asnumpy()  # compile outside the profile
    out = Path(args.out)
    profiler = ms.Profiler(output_path=str(out))
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step(*xs).asnumpy()
        times.append(time.perf_counter() - t0)
    profiler.analyse()
    print(f"step: median {1e3 * np.median(times):.0f} ms over {args.steps} profiled steps")
    table = sorted(out.rglob("cpu_op_type_info_*.csv"), key=lambda p: p.stat().st_mtime)[-1]
    rows = sorted(csv.DictReader(table.open()), key=lambda r: -float(r["total_compute_time"]))
    total = sum(float(r["total_compute_time"]) for r in rows) / args.steps
    print(f"kernels: {total:.0f} ms per step")
    for r in rows[:25]:
        print(f"  {r['op_type']:24s} {float(r['total_compute_time']) / args.steps:7.1f} ms  "
              f"({r['execution_frequency(per-step)']} calls)")


if __name__ == "__main__":
    main()
