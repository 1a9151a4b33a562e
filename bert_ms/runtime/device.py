"""The one switch for device, execution mode, precision and seed.

Every notebook calls :func:`setup` once, in one cell at the top::

    from bert_ms.runtime import device
    dev = device.setup()          # auto: Ascend, then GPU, then CPU

and nothing else in the course touches ``mindspore.set_device`` or ``set_context``.

* ``target``: ``"auto"``, ``"CPU"``, ``"GPU"`` or ``"Ascend"`` (case does not matter).
* ``mode``: ``"graph"`` compiles the hot paths (training and evaluation steps) with
  :func:`mindspore.jit`; ``"pynative"`` runs everything eagerly, which is easier to debug.
  Interactive forward calls in a notebook are eager in both modes.
* ``precision``: ``"fp32"``; ``"fp16"`` (mixed precision, with dynamic loss scaling in
  training); ``"bf16"`` where the hardware has it (Ascend 910B, NVIDIA compute capability 8+).
  MindSpore's CPU kernels have no bf16 matmul, so CPU + bf16 is refused.

The precision chosen here is only a *default*: a model takes it when built without ``dtype=``
(:func:`resolve_dtype`), and the Trainer reads it from the model. :func:`dtype_of`,
:func:`precision_of` and :func:`_precision_problem` are the one home of the precision table and of
the "no bf16 on CPU" rule. (The fused C++ CPU kernels are not chosen here: they are an opt-in of the
Trainer, ``TrainerConfig(fused=True)``, see :mod:`bert_ms.accel`.)

An explicit argument beats the environment variable (``BERT_MS_DEVICE``, ``BERT_MS_MODE``,
``BERT_MS_PRECISION``, read by :mod:`bert_ms.runtime.settings`), which beats the default; the notebooks
call ``setup()`` with no arguments, so the variables move a whole course to another machine without
editing a notebook.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bert_ms.runtime import diagnosis, fonts, language, nvidia, settings

TARGETS = ("CPU", "GPU", "Ascend")
MODES = ("graph", "pynative")
PRECISIONS = ("fp32", "fp16", "bf16")
_AUTO_ORDER = ("Ascend", "GPU", "CPU")


class DeviceError(RuntimeError):
    """A device, mode or precision this machine cannot provide. The message is one line."""


@dataclass(frozen=True)
class DeviceInfo:
    """What :func:`setup` chose, and why."""

    target: str
    mode: str
    precision: str
    seed: int | None
    reason: str
    available: tuple[str, ...]

    @property
    def compute_dtype(self):
        """MindSpore dtype for matmuls and activations (parameters stay fp32)."""
        return dtype_of(self.precision)

    @property
    def graph(self) -> bool:
        return self.mode == "graph"

    def __str__(self) -> str:
        return f"device={self.target} mode={self.mode} precision={self.precision} ({self.reason})"


_CURRENT: DeviceInfo | None = None


@contextlib.contextmanager
def _quiet_fds():
    """Silence C++ messages MindSpore prints on stdout/stderr while probing for plugins."""
    saved = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # pragma: no cover - exotic streams
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(devnull, fd)
        # Python-level messages too (in Jupyter, sys.stderr is not file descriptor 2)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def missing_reason(target: str) -> str:
    """Why ``target`` is not usable here, in one line a learner can act on ("" for the CPU); the full list of
    causes is :func:`bert_ms.runtime.diagnosis.gpu_problems` / ``ascend_problems`` (``bert-ms selftest``)."""
    if target == "GPU":
        if not nvidia.loadable(nvidia.DRIVER)[0]:
            return "GPU: no NVIDIA driver found (libcuda.so is not loadable)"
        return ("GPU: MindSpore's GPU plugin did not load (it needs the CUDA 11 libraries and cuDNN 8: `make setup-gpu`; "
                "`bert-ms selftest --device GPU` names what is missing)")
    if target == "Ascend":
        home = os.environ.get("ASCEND_HOME_PATH") or os.environ.get("ASCEND_TOOLKIT_HOME")
        if not home and not Path("/usr/local/Ascend").exists():
            return "Ascend: no CANN toolkit found (ASCEND_HOME_PATH is unset and /usr/local/Ascend is absent)"
        return (f"Ascend: MindSpore's Ascend plugin did not load (MindSpore {diagnosis.MINDSPORE_VERSION} needs CANN "
                f"{diagnosis.CANN_VERSION} and `source set_env.sh`; `bert-ms selftest --device Ascend` checks both)")
    return ""


_PROBED: dict[str, bool] = {}


def is_available(target: str) -> bool:
    """Whether MindSpore can run on ``target`` on this machine (probed once, quietly)."""
    target = _canonical(target, TARGETS, "target")
    if target == "CPU":
        return True
    if target not in _PROBED:
        import logging

        import mindspore as ms
        from mindspore import log as ms_log

        logger = ms_log._get_logger()
        level = logger.level
        logger.setLevel(logging.CRITICAL)  # the probe's "plugin failed to load" warnings are expected
        try:
            with _quiet_fds():
                _PROBED[target] = bool(ms.hal.is_available(target))
        except Exception:
            _PROBED[target] = False
        finally:
            logger.setLevel(level)
    return _PROBED[target]


def available_targets() -> tuple[str, ...]:
    """The device targets this machine has, in the order ``auto`` prefers them."""
    return tuple(t for t in _AUTO_ORDER if is_available(t))


def _canonical(value: str, choices: tuple[str, ...], what: str) -> str:
    for choice in choices:
        if str(value).strip().lower() == choice.lower():
            return choice
    raise DeviceError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def dtype_of(precision: str):
    """The precision table, in one place: "fp32" / "fp16" / "bf16" -> MindSpore dtype."""
    import mindspore as ms

    table = {"fp32": ms.float32, "fp16": ms.float16, "bf16": ms.bfloat16}
    if precision not in table:
        raise DeviceError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return table[precision]


def precision_of(dtype) -> str:
    """Inverse of :func:`dtype_of`: a MindSpore dtype (or a precision name) -> "fp32" / "fp16" / "bf16"."""
    if isinstance(dtype, str):
        return _canonical(dtype, PRECISIONS, "precision")
    for name in PRECISIONS:
        if dtype_of(name) == dtype:
            return name
    raise DeviceError(f"compute dtype must be float32, float16 or bfloat16, got {dtype}")


def _precision_problem(target: str, precision: str) -> str | None:
    """A one-line reason why ``target`` cannot run ``precision``, or None if it can. The one home of
    the "no bf16 on CPU" rule."""
    if precision == "fp32":
        return None
    if target == "CPU" and precision == "bf16":
        return "precision 'bf16' is not available on CPU: MindSpore's CPU MatMul has no bfloat16 kernel; use fp32 or fp16"
    if target == "GPU" and precision == "bf16":
        import mindspore as ms

        try:
            major, _minor = ms.hal.get_device_capability(0)
        except Exception:
            return None
        if major < 8:
            return f"precision 'bf16' needs an NVIDIA GPU of compute capability 8.0 or newer; this one is {major}.x"
    return None


def setup(
    target: str | None = None,
    mode: str | None = None,
    precision: str | None = None,
    seed: int | None = None,
    fallback: bool = False,
    verbose: bool = True,
) -> DeviceInfo:
    """Choose the device, execution mode and precision for the whole process.

    An argument left as None is taken from ``BERT_MS_DEVICE``, ``BERT_MS_MODE`` or ``BERT_MS_PRECISION``,
    else the default (``auto``, ``graph``, ``fp32``): an explicit argument always wins.
    ``fallback=True`` turns a missing accelerator into a warning and CPU.
    Raises :class:`DeviceError` (one line, naming what is missing) otherwise.
    """
    global _CURRENT
    import mindspore as ms

    target = settings.device_target(target)
    mode = _canonical(settings.execution_mode(mode), MODES, "mode")
    precision = _canonical(settings.precision(precision), PRECISIONS, "precision")

    available = available_targets()
    if str(target).strip().lower() == "auto":
        chosen = available[0]
        skipped = [missing_reason(t) for t in _AUTO_ORDER[: _AUTO_ORDER.index(chosen)]]
        reason = "auto: " + ("; ".join(skipped) + " -> " if skipped else "") + f"using {chosen}"
    else:
        wanted = _canonical(target, TARGETS, "device target")
        if wanted in available:
            chosen, reason = wanted, f"{wanted} requested"
        elif fallback:
            msg = f"{missing_reason(wanted)}; falling back to CPU"
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            chosen, reason = "CPU", msg
        else:
            raise DeviceError(f"device target {wanted!r} is not available here. {missing_reason(wanted)}") from None

    problem = _precision_problem(chosen, precision)
    if problem:
        raise DeviceError(problem)

    if _CURRENT is not None and _CURRENT.target != chosen:
        raise DeviceError(
            f"this process already runs on {_CURRENT.target}; MindSpore cannot switch to {chosen} "
            "without a restart (restart the kernel)"
        )
    if _CURRENT is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ms.set_device(chosen)
            except RuntimeError as err:
                # a MindSpore operation ran before setup(): the runtime already started on its default device
                running = ms.get_context("device_target")
                if "initialized" not in str(err) or running != chosen:
                    raise DeviceError(f"MindSpore already started on {running} (an operation ran before "
                                      f"device.setup()), so it cannot switch to {chosen}: call device.setup() "
                                      "first, or restart the kernel") from None
    # Cells run eagerly; hot paths are compiled with mindspore.jit when mode == "graph".
    ms.set_context(mode=ms.PYNATIVE_MODE)
    if seed is not None:
        ms.set_seed(seed)
        np.random.seed(seed)
        random.seed(seed)

    _CURRENT = DeviceInfo(chosen, mode, precision, seed, reason, available)
    fonts.register()  # Chinese characters in figures on any machine (the pinned Noto Sans SC)
    language.install()  # the Chinese edition's figure labels (BERT_MS_LANG=zh); nothing in English
    if verbose:
        print(f"[bert_ms] {_CURRENT}")
    return _CURRENT


def current() -> DeviceInfo:
    """The choice made by :func:`setup`; calls ``setup()`` with defaults if nobody did."""
    return _CURRENT if _CURRENT is not None else setup(verbose=False)


def chosen() -> DeviceInfo | None:
    """The choice made by :func:`setup`, or None if it has not run (nothing is set up by asking)."""
    return _CURRENT


def default_precision() -> str:
    """The precision a model gets without ``dtype=``: the one :func:`setup` chose, or, before any setup,
    ``BERT_MS_PRECISION`` else fp32 (asking sets nothing up)."""
    if _CURRENT is not None:
        return _CURRENT.precision
    return _canonical(settings.precision(), PRECISIONS, "precision")


def _target_for_checks() -> str:
    """The target a precision is checked against: the chosen one, or the one setup() would choose."""
    if _CURRENT is not None:
        return _CURRENT.target
    wanted = settings.device_target()
    return available_targets()[0] if wanted.strip().lower() == "auto" else _canonical(wanted, TARGETS, "device target")


def resolve_dtype(dtype=None):
    """The compute dtype a model is built with: ``dtype`` (a MindSpore dtype or "fp32"/"fp16"/"bf16")
    if given, else the one chosen by :func:`setup` (the default). A precision the current target
    cannot run is refused with :class:`DeviceError`."""
    precision = default_precision() if dtype is None else precision_of(dtype)
    problem = _precision_problem(_target_for_checks(), precision)
    if problem:
        raise DeviceError(problem)
    return dtype_of(precision)


def _write_notebook_sources() -> None:
    """Put the source of every executed notebook cell where its code object says it lives.

    IPython compiles cell ``n`` under a file name like ``/tmp/ipykernel_<pid>/<hash>.py`` that does
    not exist on disk. MindSpore's graph compiler reads the source file of every function it
    compiles; for cell-defined functions it logs one ``GetRealPath failed`` error per graph node,
    and in Jupyter that flood can fill the kernel's output pipe and freeze it. Writing the cells'
    source (which IPython keeps in :mod:`linecache`) to those paths fixes both.
    """
    import linecache
    import tempfile

    tmp = Path(tempfile.gettempdir())
    for filename, entry in list(linecache.cache.items()):
        path = Path(filename)
        if path.parent.parent != tmp or not path.parent.name.startswith("ipykernel_") or path.exists():
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(entry[2]), encoding="utf-8")
        except (OSError, IndexError, TypeError):
            pass


def jit(fn):
    """Compile ``fn`` with :func:`mindspore.jit` in graph mode; return it unchanged in PyNative."""
    import mindspore as ms

    if not current().graph:
        return fn
    if "ipykernel" in sys.modules:
        _write_notebook_sources()
    return ms.jit(fn)
