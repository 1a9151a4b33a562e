"""JupyterLab for the course, as ``make lab`` starts it: ``python scripts/lab.py [ROOT] [jupyter lab options]``.

The same as ``jupyter lab ROOT`` (default ``notebooks/``), with one setting: the file browser hides the
jupytext sources of the lessons (``NN_name.py``, paired with ``NN_name.ipynb``), so each lesson is listed
once, as the notebook a learner opens. The ``.py`` files stay the source of truth: JupyterLab's jupytext
pairing still writes them when a notebook is saved, and they open from the command palette or a path.
"""

from __future__ import annotations

import sys
from pathlib import Path

# JupyterLab's own defaults, plus the lesson sources (a lesson's file name starts with two digits)
HIDE = ["__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "[0-9][0-9]_*.py"]


def main(argv: list[str]) -> int:
    from jupyterlab.labapp import LabApp

    root = argv[0] if argv and not argv[0].startswith("-") else str(Path(__file__).resolve().parent.parent / "notebooks")
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    LabApp.launch_instance([root, f"--ContentsManager.hide_globs={HIDE!r}", *rest])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
