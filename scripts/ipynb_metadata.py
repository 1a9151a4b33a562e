"""Give the generated ``.ipynb`` lessons the ``language_info`` the course kernel reports, so that a lesson
opens clean in JupyterLab: without it, JupyterLab writes the kernel's language_info into the notebook as
soon as the kernel starts, and the tab shows unsaved changes before the learner typed anything.

    python scripts/ipynb_metadata.py notebooks/*.ipynb notebooks/zh/*.ipynb    (run by ``make notebooks``)
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path


def language_info() -> dict:
    """What ipykernel's kernel_info reply holds for this interpreter (the kernel runs the same .venv)."""
    from ipykernel.ipkernel import IPythonKernel

    return {**IPythonKernel.language_info, "version": platform.python_version()}


def stamp(path: Path, info: dict) -> bool:
    """Set ``metadata.language_info`` of one notebook; False if it already held exactly that."""
    import nbformat

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    if nb.metadata.get("language_info") == info:
        return False
    nb.metadata["language_info"] = info
    nbformat.write(nb, path)
    return True


def main(argv: list[str]) -> int:
    info = language_info()
    changed = sum(stamp(Path(p), info) for p in argv)
    print(f"language_info ({info['name']} {info['version']}) set in {changed} of {len(argv)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
