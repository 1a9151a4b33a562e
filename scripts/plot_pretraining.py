"""Plot a pretraining run's curves from the Trainer's logs: training loss, and held-out masked-token and
next-sentence accuracy, phase after phase, against the count baselines. Writes one PNG.

Usage (the figure in models/mini-bert-zh/README.md)::

    python scripts/plot_pretraining.py models/mini-bert-zh/training_log_phase1.jsonl \
        models/mini-bert-zh/training_log.jsonl --mlm-baseline 0.329 --nsp-baseline 0.696 \
        --out models/mini-bert-zh/curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_phases(paths: list[str]) -> list[tuple[list[dict], list[dict]]]:
    """(training rows, held-out rows) per log, in the order given."""
    phases = []
    for path in paths:
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        phases.append(([r for r in rows if "split" not in r and "loss" in r],
                       [r for r in rows if "split" in r and "mlm_accuracy" in r]))
    return phases


def plot(paths: list[str], out: str, mlm_baseline: float | None = None, title: str = "",
         nsp_baseline: float | None = None) -> Path:
    phases = read_phases(paths)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.6))
    offset = 0
    for i, (train, held) in enumerate(phases, start=1):
        ax_loss.plot([offset + r["step"] for r in train], [r["loss"] for r in train], color=f"C{i - 1}",
                     label=f"phase {i}")
        ax_acc.plot([offset + r["step"] for r in held], [r["mlm_accuracy"] for r in held], "-o", color="C0",
                    ms=3, label="masked-token accuracy" if i == 1 else None)
        ax_acc.plot([offset + r["step"] for r in held], [r["nsp_accuracy"] for r in held], "-s", color="C1",
                    ms=3, label="next-sentence accuracy" if i == 1 else None)
        offset += max(r["step"] for r in train)
        if i < len(phases):
            for ax in (ax_loss, ax_acc):
                ax.axvline(offset, color="gray", lw=0.8, ls=":")
    ax_acc.axhline(0.5, color="C1", ls="--", lw=0.8, label="NSP chance (balanced pairs)")
    if mlm_baseline is not None:
        ax_acc.axhline(mlm_baseline, color="C0", ls="--", lw=0.8, label="count of the two neighbours (MLM)")
    if nsp_baseline is not None:
        ax_acc.axhline(nsp_baseline, color="C1", ls="-.", lw=0.8, label="token overlap of the two segments (NSP)")
    ax_loss.set_xlabel("step (all phases)")
    ax_loss.set_ylabel("training loss (MLM + NSP)")
    ax_loss.legend()
    ax_acc.set_xlabel("step (all phases)")
    ax_acc.set_ylabel("held-out accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return Path(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs="+", help="the Trainer's metrics.jsonl of each phase, in order")
    ap.add_argument("--out", required=True)
    ap.add_argument("--mlm-baseline", type=float, default=None)
    ap.add_argument("--nsp-baseline", type=float, default=None)
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    print(plot(args.logs, args.out, args.mlm_baseline, args.title, args.nsp_baseline))


if __name__ == "__main__":
    main()
