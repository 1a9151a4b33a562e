"""Course-wide settings read from environment variables, in one place.

| variable            | meaning                                                         | default            |
| ------------------- | --------------------------------------------------------------- | ------------------ |
| ``BERT_MS_SMOKE``   | ``1``: shrink data and steps so every notebook runs in seconds  | ``0`` (full mode)  |
| ``BERT_MS_DATA``    | folder with the shipped data (``MANIFEST.json`` and friends)    | the repo's data/   |
| ``BERT_MS_CACHE``   | folder for downloads, trained models and run outputs            | ``~/.cache/bert_ms`` |
| ``BERT_MS_DEVICE``  | ``auto`` / ``CPU`` / ``GPU`` / ``Ascend`` (see :mod:`bert_ms.runtime.device`) | ``auto``      |
| ``BERT_MS_MODE``    | ``graph`` / ``pynative``                                        | as the code asks   |
| ``BERT_MS_PRECISION`` | ``fp32`` / ``fp16`` / ``bf16``                                | as the code asks   |
| ``BERT_MS_LANG``    | ``en`` / ``zh``: the language of figure labels and exercise messages (the Chinese notebooks set ``zh``) | ``en`` |

Notebooks never read these variables themselves: they call :func:`smoke` or
:func:`bert_ms.runtime.device.setup`, so a whole course is switched without editing a notebook.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}

REPO_ROOT = Path(__file__).resolve().parents[2]


def smoke() -> bool:
    """True when ``BERT_MS_SMOKE`` asks for the fast CI mode (tiny data, few steps)."""
    return os.environ.get("BERT_MS_SMOKE", "0").strip().lower() in _TRUE


def pick(smoke_value, full_value):
    """Return ``smoke_value`` in smoke mode and ``full_value`` otherwise.

    Notebooks use it for every size knob, e.g. ``steps = pick(20, 2000)``, so the
    two modes differ only in sizes, never in code path.
    """
    return smoke_value if smoke() else full_value


LANGUAGES = ("en", "zh")


def language() -> str:
    """The edition's language, ``"en"`` or ``"zh"`` (``BERT_MS_LANG``; the generated Chinese notebooks set it
    in their first cell). Anything else is an error naming the choices."""
    value = os.environ.get("BERT_MS_LANG", "en").strip().lower() or "en"
    if value not in LANGUAGES:
        raise ValueError(f"BERT_MS_LANG={value!r}: expected one of {', '.join(LANGUAGES)}")
    return value


def data_dir() -> Path:
    """Folder of the shipped data (``data/`` in the repository unless ``BERT_MS_DATA`` is set)."""
    env = os.environ.get("BERT_MS_DATA")
    return Path(env).expanduser() if env else REPO_ROOT / "data"


def cache_dir() -> Path:
    """Folder for downloads, trained models and run outputs (created on first use)."""
    env = os.environ.get("BERT_MS_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "bert_ms"
    path.mkdir(parents=True, exist_ok=True)
    return path


class MissingPackageError(ImportError):
    """An optional data package is not installed; the message names the pip install."""


def package_dir(module: str, pip_name: str) -> Path:
    """Folder of an installed package, found without importing it (some data packages download
    models when imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(f"package '{module}' is not installed: run `pip install {pip_name}`")
    return Path(next(iter(spec.submodule_search_locations)))
