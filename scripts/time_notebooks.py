"""Execute lesson notebooks headless and record how long each took: the numbers in the README's lesson table.

For each notebook and mode (smoke: ``BERT_MS_SMOKE=1``, what CI runs; full: what a learner gets in JupyterLab)
it records the wall time, the CPU time of the kernel process (user + system, its threads included: on a busy
machine this is closer to what a quiet one takes than the wall time) and the machine's load average before and
after, as one JSON line in ``--out``. A notebook that fails is recorded with its error and the script goes on.

    python scripts/time_notebooks.py --modes smoke,full 02 03       # lessons 02 and 03, both modes
    python scripts/time_notebooks.py --modes smoke                  # every lesson, smoke mode
    python scripts/time_notebooks.py --modes full --save runs/nb 08 # keep the executed notebook to read
    python scripts/time_notebooks.py --edition zh 08 09             # the Chinese edition (notebooks/zh/, make notebooks)

A record of the Chinese edition carries ``"edition": "zh"``; README.zh.md's lesson table gives those times.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import jupytext
import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
EDITIONS = {"en": ROOT / "notebooks", "zh": ROOT / "notebooks" / "zh"}
NOTEBOOKS = sorted(EDITIONS["en"].glob("[0-9][0-9]_*.py"))


def kernel_cpu_seconds(client: NotebookClient) -> float:
    """User + system CPU seconds of the kernel process so far."""
    pid = client.km.provisioner.process.pid
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def slowest_cells(nb, n: int = 3, over: float = 10.0) -> list:
    """[(cell index, seconds, first line)] of the n cells that took longest, and of every cell over ``over``
    seconds (the cells that must show progress), from nbclient's timing metadata."""
    took = []
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                       - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            took.append((index, round(seconds, 1), cell.source.splitlines()[0][:60] if cell.source else ""))
    ranked = sorted(took, key=lambda t: -t[1])
    return [t for k, t in enumerate(ranked) if k < n or t[1] > over]


def run(path: Path, mode: str, timeout: int, save: Path | None = None, edition: str = "en") -> dict:
    os.environ["BERT_MS_SMOKE"] = "1" if mode == "smoke" else "0"
    os.environ.pop("MPLBACKEND", None)  # Jupyter's inline backend, as a learner gets
    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    cpu = None
    error = None
    with client.setup_kernel():
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        except Exception as exc:  # noqa: BLE001 (recorded; the next notebook still runs)
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"[:500]
        cpu = kernel_cpu_seconds(client)
    wall = time.perf_counter() - t0
    if save is not None:  # the executed notebook, outputs and all (also when a cell failed)
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / f"{path.stem}{'.zh' if edition == 'zh' else ''}.{mode}.ipynb")
    edition_field = {"edition": edition} if edition != "en" else {}  # English records predate the field
    return {"notebook": path.stem, **edition_field, "mode": mode, "wall_s": round(wall, 1), "kernel_cpu_s": round(cpu, 1),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
            "ok": error is None, "error": error, "slowest_cells": slowest_cells(nb),
            "when": datetime.now(UTC).isoformat(timespec="seconds")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lessons", nargs="*", help="lesson numbers (e.g. 02 03); all when none")
    ap.add_argument("--modes", default="smoke,full")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    ap.add_argument("--out", default=str(ROOT / "scripts" / "results" / "notebook_times.jsonl"))
    ap.add_argument("--save", type=Path, help="folder to write each executed notebook to (NN_name.MODE.ipynb)")
    ap.add_argument("--edition", default="en", choices=sorted(EDITIONS), help="zh: notebooks/zh/ (make notebooks)")
    args = ap.parse_args()
    chosen = [p for p in sorted(EDITIONS[args.edition].glob("[0-9][0-9]_*.py"))
              if not args.lessons or p.stem[:2] in args.lessons]
    if not chosen:
        raise SystemExit(f"no notebook matches {args.lessons}; have {[p.stem for p in NOTEBOOKS]}")
    for path in chosen:
        for mode in args.modes.split(","):
            rec = run(path, mode, args.timeout, args.save, args.edition)
            print(json.dumps(rec), flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
