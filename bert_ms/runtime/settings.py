"""Course-wide settings read from environment variables, in one place.

| variable            | meaning                                                         | default            |
| ------------------- | --------------------------------------------------------------- | ------------------ |
| ``BERT_MS_SMOKE``   | ``1``: shrink data and steps so every notebook runs in seconds  | ``0`` (full mode)  |
| ``BERT_MS_DATA``    | folder with the shipped data (``MANIFEST.json`` and friends)    | the repo's data/   |
| ``BERT_MS_CACHE``   | folder for downloads, trained models and run outputs            | ``~/.cache/bert_ms`` |
| ``BERT_MS_KERNELS`` | folder of the compiled fused CPU kernels (:mod:`bert_ms.accel.fused`) | the environment's ``share/bert_ms/kernels`` |
| ``BERT_MS_DEVICE``  | ``auto`` / ``CPU`` / ``GPU`` / ``Ascend`` (see :mod:`bert_ms.runtime.device`) | ``auto``      |
| ``BERT_MS_MODE``    | ``graph`` / ``pynative``                                        | ``graph``          |
| ``BERT_MS_PRECISION`` | ``fp32`` / ``fp16`` / ``bf16``                                | ``fp32``           |
| ``BERT_MS_DEBUG``   | ``1``: the command line shows the full traceback instead of its one-line error | off      |
| ``BERT_MS_LANG``    | ``en`` / ``zh``: the language of figure labels and exercise messages (the Chinese notebooks set ``zh``) | ``en`` |

The rule for every choice: an explicit argument (or command-line flag) beats the environment variable,
which beats the default. Notebooks call :func:`bert_ms.runtime.device.setup` with no arguments, so the
variables switch a whole course without editing a notebook; ``bert-ms ... --device CPU`` runs on the CPU
whatever ``BERT_MS_DEVICE`` says. This module is the only one that reads a ``BERT_MS_`` variable
(``tests/test_settings.py`` reads every module to make sure).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}

REPO_ROOT = Path(__file__).resolve().parents[2]


def _choice(explicit, variable: str, default: str) -> str:
    """An explicit value if one was given, else the environment variable if set (and not empty), else the default."""
    if explicit is not None:
        return explicit
    value = os.environ.get(variable, "").strip()
    return value or default


def device_target(explicit: str | None = None) -> str:
    """``explicit``, else ``BERT_MS_DEVICE``, else ``"auto"``."""
    return _choice(explicit, "BERT_MS_DEVICE", "auto")


def execution_mode(explicit: str | None = None) -> str:
    """``explicit``, else ``BERT_MS_MODE``, else ``"graph"``."""
    return _choice(explicit, "BERT_MS_MODE", "graph")


def precision(explicit: str | None = None) -> str:
    """``explicit``, else ``BERT_MS_PRECISION``, else ``"fp32"``."""
    return _choice(explicit, "BERT_MS_PRECISION", "fp32")


def debug() -> bool:
    """True when ``BERT_MS_DEBUG`` asks the command line for full tracebacks."""
    return os.environ.get("BERT_MS_DEBUG", "0").strip().lower() in _TRUE


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


def kernel_dir() -> Path:
    """Folder of the compiled fused CPU kernels: ``BERT_MS_KERNELS``, else ``share/bert_ms/kernels`` inside the
    Python environment (``make setup`` builds them there, so they belong to the environment whose MindSpore they
    were built against), else, outside a virtual environment, ``<cache>/kernels``. Not created here."""
    env = os.environ.get("BERT_MS_KERNELS", "").strip()
    if env:
        return Path(env).expanduser()
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "share" / "bert_ms" / "kernels"
    return cache_dir() / "kernels"


class MissingPackageError(ImportError):
    """An optional data package is not installed; the message names the pip install."""


def package_version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``"not installed"`` (for ``info`` and ``selftest``)."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def package_dir(module: str, pip_name: str) -> Path:
    """Folder of an installed package, found without importing it (some data packages download
    models when imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(f"package '{module}' is not installed: run `pip install {pip_name}`")
    return Path(next(iter(spec.submodule_search_locations)))
