"""Fused CPU kernels (融合算子): an opt-in speed option for training on CPU.

The course's reference maths stays where the lessons explain it: exact GELU in
:func:`bert_ms.transformer.feedforward.activation` (``ops.gelu(x, approximate="none")``), LayerNorm in
:class:`bert_ms.transformer.layers.LayerNorm` (``ops.LayerNorm``), the Trainer's seeded dropout in
:class:`bert_ms.train.dropout.SeededDropout`. This module only provides *the same functions, computed
faster on CPU*, as MindSpore AOT custom operators (``ops.Custom(func_type="aot")``) written in C++
(``bert_ms/accel/csrc/fused_ops.cc``):

* **GELU** (exact, erf form) and its gradient ``dx = dout * (Phi(x) + x * phi(x))``. MindSpore's CPU
  backend runs ``0.5 * x * (1 + erf(x / sqrt(2)))`` as five kernels and its autodiff gradient as about
  ten (Div, Erf, Add, Mul, Exp, Square, Neg, ...), each a full pass over the [batch, seq, 4H] tensor;
  here each direction is one vectorised pass.
* **LayerNorm** forward and a one-pass backward (dx, dgamma, dbeta), which replaces MindSpore's CPU
  ``LayerNormGrad``, the costliest element-wise kernel of a BERT training step.
* **Seeded dropout**: the Trainer's reproducible dropout mask (an integer hash of the element index and
  a key) bit for bit, in one pass instead of ~15 int64 kernels; the backward pass regenerates the mask
  instead of storing it.
* **Sum of squares** of all gradients in one call, for the global norm of gradient clipping (instead of a
  Square and a ReduceSum per parameter tensor).

Results equal the reference ops to ~1e-6 in float32, the dropout mask exactly
(``tests/test_fused_kernels.py``).

Nothing in the model or layer files uses these kernels. They are applied from outside, and only on
request: :func:`bert_ms.accel.accelerate` swaps fused cells into a model, and
``TrainerConfig(fused=True)`` (``--fused`` on the command line) makes the Trainer do that and use the
dropout and gradient-norm kernels too. Off by default, so a learner's laptop never needs a C++
compiler. Only on the CPU target, only for float32 tensors, only if the C++ source compiles
(:func:`available`).

Training mode only: the fused cells run the kernels while ``cell.training`` is set and the reference
ops otherwise. Inference graphs must keep the reference ops because of a MindSpore 2.7 limitation: a
``mindspore.jit`` graph whose outputs include ``None`` (e.g. ``jit(model.forward_tuple)`` with no
pooler) is compiled again at run time by an "AnyType" actor that cannot infer a ``Custom`` op
("RuntimeError: The prim is not a PrimitivePy. Prim name: Custom"). A training step that returns a
``None`` would hit the same error; train without ``fused`` then.

The library is compiled on first use with ``g++ -O3 -march=native -fopenmp`` into
``<BERT_MS_CACHE>/kernels/``, named by a hash of the source, compiler and CPU, written atomically
(temp file + rename). If no compiler is found or the build or a self-test fails, one warning is
printed and the reference ops are used.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import Tensor, ops

from bert_ms.runtime import device, settings

SOURCE = Path(__file__).resolve().parent / "csrc" / "fused_ops.cc"
CXX_FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fopenmp")
SYMBOLS = ("GeluForward", "GeluBackward", "LayerNormForward", "LayerNormBackward", "SeededDropout", "SumOfSquares")

_LOCK = threading.Lock()
_STATE: dict = {}  # "lib": Path | None, "why": str, "ops": {...}


def _cpu_signature() -> str:
    """The CPU's feature flags (``-march=native`` code must not run on another CPU sharing the cache)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++"))


def _build(cxx: str) -> Path:
    """Compile SOURCE once into the cache (keyed by source, flags, compiler and CPU); return the .so."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60).stdout
    key = hashlib.sha256(
        "\0".join([SOURCE.read_text(), " ".join(CXX_FLAGS), version, _cpu_signature()]).encode()
    ).hexdigest()[:16]
    out_dir = settings.cache_dir() / "kernels"
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / f"fused_ops-{key}.so"
    if not lib.exists():
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".fused_ops-", suffix=".so")
        os.close(fd)
        try:
            res = subprocess.run([cxx, *CXX_FLAGS, str(SOURCE), "-o", tmp], capture_output=True, text=True,
                                 timeout=300)
            if res.returncode != 0:
                raise RuntimeError(f"{Path(cxx).name} failed: {res.stderr.strip().splitlines()[-1:]}")
            os.replace(tmp, lib)  # atomic: concurrent builders never see a half-written library
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    handle = ctypes.CDLL(str(lib))
    missing = [s for s in SYMBOLS if not hasattr(handle, s)]
    if missing:
        raise RuntimeError(f"{lib} lacks {missing}")
    return lib


def library() -> Path | None:
    """Path of the compiled kernel library, building it on first call; None (after one warning) if
    it cannot be built or fails its self-test."""
    with _LOCK:
        if "lib" not in _STATE:
            lib, why = None, ""
            cxx = _compiler()
            if cxx is None:
                why = f"no C++ compiler ({os.environ.get('CXX', 'g++')}) on PATH"
            else:
                try:
                    lib = _build(cxx)
                    _STATE["lib"] = lib
                    _self_test()
                except Exception as exc:  # noqa: BLE001 - any failure means: use the reference ops
                    lib, why = None, f"{type(exc).__name__}: {exc}"
                    _STATE.pop("ops", None)
            _STATE["lib"], _STATE["why"] = lib, why
            if lib is None:
                warnings.warn(f"bert_ms fused CPU kernels are off ({why}); using MindSpore's ops",
                              RuntimeWarning, stacklevel=3)
        return _STATE["lib"]


def available() -> bool:
    """Whether the kernels can run here: the process runs on the CPU target (see
    :mod:`bert_ms.runtime.device`) and the library builds (else one warning, and False)."""
    if device.current().target != "CPU":
        return False
    return library() is not None


def _ops() -> dict:
    """The Custom primitives (made once; they need the library)."""
    if "ops" in _STATE:
        return _STATE["ops"]
    lib = _STATE["lib"]
    f32 = ms.float32

    def custom(name, out_shape, out_dtype, bprop=None):
        return ops.Custom(f"{lib}:{name}", out_shape=out_shape, out_dtype=out_dtype, func_type="aot",
                          bprop=bprop)

    gelu_bwd = custom("GeluBackward", lambda x, dy: x, lambda x, dy: f32)

    def gelu_bprop(x, out, dout):
        return (gelu_bwd(x, dout),)

    gelu_fwd = custom("GeluForward", lambda x: x, lambda x: f32, gelu_bprop)

    ln_bwd = custom("LayerNormBackward", lambda x, g, dy, e: (x, g, g), lambda x, g, dy, e: (f32, f32, f32))

    def ln_bprop(x, gamma, beta, eps, out, dout):
        dx, dgamma, dbeta = ln_bwd(x, gamma, dout, eps)
        return dx, dgamma, dbeta, ops.zeros_like(eps)

    ln_fwd = custom("LayerNormForward", lambda x, g, b, e: x, lambda x, g, b, e: f32, ln_bprop)

    # dropout's backward is the same masking applied to dout (the mask is regenerated from the key)
    drop_grad = custom("SeededDropout", lambda x, k, r: x, lambda x, k, r: f32)

    def drop_bprop(x, key, rate, out, dout):
        return drop_grad(dout, key, rate), ops.zeros_like(key), ops.zeros_like(rate)

    drop = custom("SeededDropout", lambda x, k, r: x, lambda x, k, r: f32, drop_bprop)
    sum_sq = custom("SumOfSquares", lambda *shapes: [1], lambda *dtypes: f32)
    _STATE["ops"] = {"gelu": gelu_fwd, "gelu_grad": gelu_bwd, "layer_norm": ln_fwd, "layer_norm_grad": ln_bwd,
                     "dropout": drop, "sum_of_squares": sum_sq}
    return _STATE["ops"]


def _self_test() -> None:
    """Run each kernel once on a small tensor against the reference ops (catches a library that
    compiles but does not load or compute correctly in this MindSpore)."""
    o = _ops()
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 32)).astype(np.float32))
    g = Tensor(rng.standard_normal(32).astype(np.float32))
    b = Tensor(rng.standard_normal(32).astype(np.float32))
    eps = Tensor(np.array([1e-12], np.float32))
    checks = [
        (o["gelu"](x), ops.gelu(x, approximate="none")),
        (o["layer_norm"](x, g, b, eps), ops.LayerNorm(-1, -1, 1e-12)(x, g, b)[0]),
        (o["gelu_grad"](x, g.broadcast_to(x.shape)),
         ms.grad(lambda t: ops.gelu(t, approximate="none") * g)(x)),
    ]
    for got, ref in checks:
        if not np.allclose(got.asnumpy(), ref.asnumpy(), rtol=1e-5, atol=1e-5):
            raise RuntimeError("self-test: fused kernel and MindSpore op disagree")


def gelu():
    """The fused exact-GELU primitive (``y = gelu(x)``, float32, with its fused gradient), or None when
    :func:`available` is False."""
    return _ops()["gelu"] if available() else None


def layer_norm():
    """The fused LayerNorm primitive ``y = ln(x, gamma, beta, eps)`` (``eps`` a float32 tensor of
    shape [1]), with its one-pass gradient, or None when :func:`available` is False."""
    return _ops()["layer_norm"] if available() else None


def dropout():
    """The fused seeded-dropout primitive ``y = drop(x, key, rate)`` (``key`` int64 [1], ``rate`` float32
    [2] = (p, 1 / (1 - p))): the mask of :class:`bert_ms.train.dropout.SeededDropout` bit for bit, one
    pass forward and one backward; or None when :func:`available` is False."""
    return _ops()["dropout"] if available() else None


def sum_of_squares():
    """The fused ``sum(t ** 2 for every tensor t)`` primitive (float32 inputs, output [1]) used for the
    global gradient norm, or None when :func:`available` is False."""
    return _ops()["sum_of_squares"] if available() else None


def reset() -> None:
    """Forget the build result (tests use it to simulate a missing compiler)."""
    with _LOCK:
        _STATE.clear()
