"""Fused CPU kernels (融合算子): the faster CPU path for training, on by default where they were built.

The course's reference maths stays where the lessons explain it: exact GELU in
:func:`bert_ms.transformer.feedforward.activation` (``ops.gelu(x, approximate="none")``), LayerNorm in
:class:`bert_ms.transformer.layers.LayerNorm` (``ops.LayerNorm``), the linear layer in
:class:`bert_ms.transformer.layers.Linear`, the Trainer's seeded dropout in
:class:`bert_ms.train.dropout.SeededDropout`. This module only provides *the same functions, computed
faster on CPU*, as MindSpore AOT custom operators (``ops.Custom(func_type="aot")``) written in C++, in four
libraries:

``fused_ops`` (``bert_ms/accel/csrc/fused_ops.cc``):

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
* **AdamW**: ``nn.AdamWeightDecay``'s update of every parameter tensor, with clipping's scale, in one call
  that writes the parameters and moments in place (:class:`bert_ms.accel.optimizer.FusedAdamWeightDecay`),
  instead of a Mul and an AdamWeightDecay kernel per tensor.

``linear_ops`` (``bert_ms/accel/csrc/linear_ops.cc``): the **linear layer** ``y = x W^T + b`` in one call and
its gradient (dx, dW, db) in one call, through the oneDNN ``sgemm`` that MindSpore itself ships
(``mindspore/lib/libdnnl.so.2``), one row block per thread. MindSpore 2.7's CPU ``MatMul`` runs BERT's
projections at about half the rate of that sgemm, and the bias gradient is a separate ``ReduceSum``.

``attention_ops`` (``bert_ms/accel/csrc/attention_ops.cc``): the **self-attention core** -- scores, padding
mask, softmax, the seeded dropout on the probabilities, the weighted sum, the heads split and merged in
place -- in one call each way (:class:`bert_ms.accel.FusedAttention`), instead of ~30 kernels and four
transposes per layer.

``encoder_ops`` (``bert_ms/accel/csrc/encoder_ops.cc``), **inference only**: a whole post-norm **encoder
layer** in one call (:class:`bert_ms.accel.FusedEncoderLayer`): the Q, K, V projections, the attention core,
the output projection, both Add & Norm steps and the FFN with its activation, dropout the identity, the
products feature-major through oneDNN's sgemm with the element-wise work in their epilogues; no gradient.
A bert-base forward pass on one sequence is then 12 kernel launches instead of ~180.

Results equal the reference ops to ~1e-6 in float32 (sums over many products, as in the linear and attention
gradients, to ~1e-5: another order of the same float32 additions), the dropout mask exactly
(``tests/test_fused_kernels.py``).

Nothing in the model or layer files uses these kernels. They are applied from outside:
:func:`bert_ms.accel.accelerate` swaps fused cells into a model, and the Trainer does that for ``fit()``
and uses the dropout, gradient-norm and AdamW kernels too. ``TrainerConfig(fused=None)``, the default, means
"where they were built": ``make setup`` compiles every library once (``python -m bert_ms.accel``), and a
default run only *loads* them, so a lesson never waits for a compiler; where no compiler existed or the
build failed, setup said so in one line and every run uses MindSpore's ops, with nothing else changed.
``fused=True`` (``--fused``) builds them on first use if they are missing (one warning if that fails);
``fused=False`` (``--no-fused``) always uses the ops, for comparison. Only on the CPU target, only for
float32 tensors.

Training mode only, for the training cells: they run the kernels while ``cell.training`` is set and the
reference ops otherwise, so that any inference graph keeps working, because of a MindSpore 2.7 limitation: a
``mindspore.jit`` graph whose outputs include ``None`` (e.g. ``jit(model.forward_tuple)``, which returns
``None`` for the hidden states) is compiled again at run time by an "AnyType" actor that cannot infer a
``Custom`` op whose shapes are Python functions ("RuntimeError: The prim is not a PrimitivePy. Prim name:
Custom"). A training step that returns a ``None`` would hit the same error; train without ``fused`` then.
The inference kernel (``encoder_ops``) runs in evaluation mode, in graphs that return only tensors:
:func:`bert_ms.accel.inference.compile_forward` compiles such a graph.

The shared inline maths (``exp``, the dropout hash) is in ``csrc/kernel_math.h``. Each library is compiled with ``g++ -O3 -march=native -fopenmp`` into :func:`bert_ms.runtime.settings.kernel_dir`
(``.venv/share/bert_ms/kernels`` for the course's environment), named by a hash of its source, the flags,
the CPU's feature flags and the MindSpore version, written atomically (temp file + rename): another CPU,
an edited source or another MindSpore finds no library of its own and builds (or, by default, skips) it.
Each library is self-tested against the reference ops when it is loaded.
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

CSRC = Path(__file__).resolve().parent / "csrc"
SOURCE = CSRC / "fused_ops.cc"          # GELU, LayerNorm, seeded dropout, sum of squares
LINEAR_SOURCE = CSRC / "linear_ops.cc"  # the linear layer through oneDNN's sgemm
ATTENTION_SOURCE = CSRC / "attention_ops.cc"  # the self-attention core (heads in place, oneDNN's sgemm)
ENCODER_SOURCE = CSRC / "encoder_ops.cc"  # a whole encoder layer, inference only (oneDNN's sgemm)
HEADERS = (CSRC / "kernel_math.h", CSRC / "onednn.h")
CXX_FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fopenmp")
SYMBOLS = ("GeluForward", "GeluBackward", "LayerNormForward", "LayerNormBackward", "SeededDropout", "SumOfSquares",
           "AdamWeightDecayUpdate")
LINEAR_SYMBOLS = ("LinearForward", "LinearBackward")
ATTENTION_SYMBOLS = ("AttentionForward", "AttentionBackward")
ENCODER_SYMBOLS = ("EncoderLayerForward",)
LIBRARIES = ("fused_ops", "linear_ops", "attention_ops", "encoder_ops")
WHAT = {"fused_ops": "GELU, LayerNorm, dropout, gradient norm, AdamW update", "linear_ops": "linear layers (oneDNN sgemm)",
        "attention_ops": "self-attention (oneDNN sgemm)", "encoder_ops": "encoder layer for inference (oneDNN sgemm)"}

_LOCK = threading.RLock()
_STATE: dict = {}  # name -> {"lib": Path | None, "why": str}; "ops": the primitives


def _cpu_signature() -> str:
    """The CPU's feature flags (``-march=native`` code must not run on another CPU sharing the folder)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++"))


def _dnnl() -> Path | None:
    """MindSpore's own oneDNN library (``linear_ops`` links to it; the process has it loaded already)."""
    lib_dir = Path(ms.__file__).resolve().parent / "lib"
    found = sorted(lib_dir.glob("libdnnl.so*")) + sorted(lib_dir.glob("libdnnl*.dylib"))
    return found[0] if found else None


def _spec(name: str) -> tuple[Path, tuple[str, ...], tuple[str, ...]]:
    """(source, extra link arguments, symbols) of one library."""
    if name == "fused_ops":
        return SOURCE, (), SYMBOLS
    dnnl = _dnnl()
    if dnnl is None:
        raise RuntimeError(f"MindSpore {ms.__version__} ships no oneDNN library (libdnnl) in {Path(ms.__file__).parent / 'lib'}")
    link = (str(dnnl), f"-Wl,-rpath,{dnnl.parent}")
    if name == "linear_ops":
        return LINEAR_SOURCE, link, LINEAR_SYMBOLS
    if name == "encoder_ops":
        return ENCODER_SOURCE, link, ENCODER_SYMBOLS
    return ATTENTION_SOURCE, link, ATTENTION_SYMBOLS


def library_path(name: str = "fused_ops") -> Path:
    """Where the library for this source, these flags, this CPU and this MindSpore lives (built or not)."""
    source, link, _ = _spec(name)
    key = hashlib.sha256("\0".join([source.read_text(), *(h.read_text() for h in HEADERS), " ".join(CXX_FLAGS + link),
                                    _cpu_signature(), ms.__version__]).encode()).hexdigest()[:16]
    return settings.kernel_dir() / f"{name}-{key}.so"


def _compile(name: str, lib: Path) -> None:
    """Compile one library into ``lib`` (atomically: a temp file, then a rename)."""
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError(f"no C++ compiler ({os.environ.get('CXX', 'g++')}) on PATH")
    source, link, _ = _spec(name)
    lib.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=lib.parent, prefix=f".{name}-", suffix=".so")
    os.close(fd)
    try:
        res = subprocess.run([cxx, *CXX_FLAGS, str(source), "-o", tmp, *link], capture_output=True, text=True,
                             timeout=300)
        if res.returncode != 0:
            raise RuntimeError(f"{Path(cxx).name} failed: {res.stderr.strip().splitlines()[-1:]}")
        os.replace(tmp, lib)  # atomic: concurrent builders never see a half-written library
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def library(name: str = "fused_ops", build: bool = True) -> Path | None:
    """Path of one compiled kernel library, loaded and self-tested; None when it cannot run here.

    ``build=True`` compiles it if it is missing, and a failure is one warning (remembered: no second
    attempt in this process). ``build=False`` only loads a library built earlier (by ``make setup``) and
    returns None, silently, when there is none."""
    with _LOCK:
        if name in _STATE:
            return _STATE[name]["lib"]
        try:
            lib = library_path(name)
            if not lib.exists():
                if not build:
                    return None  # not built: the caller runs the ops (and may build later)
                _compile(name, lib)
            handle = ctypes.CDLL(str(lib))
            missing = [s for s in _spec(name)[2] if not hasattr(handle, s)]
            if missing:
                raise RuntimeError(f"{lib} lacks {missing}")
            _STATE[name] = {"lib": lib, "why": ""}
            _self_test(name)
        except Exception as exc:  # noqa: BLE001 - any failure means: use the reference ops
            _STATE[name] = {"lib": None, "why": f"{type(exc).__name__}: {exc}"}
            _STATE.pop("ops", None)
            warnings.warn(f"bert_ms fused CPU kernels are off ({name}: {_STATE[name]['why']}); using MindSpore's ops",
                          RuntimeWarning, stacklevel=3)
        return _STATE[name]["lib"]


def why(name: str = "fused_ops") -> str:
    """Why a library is off ("" when it is on or was never tried)."""
    return _STATE.get(name, {}).get("why", "")


def available(build: bool = True) -> bool:
    """Whether the kernels can run here: the process runs on the CPU target (see
    :mod:`bert_ms.runtime.device`) and the ``fused_ops`` library loads (``build``: see :func:`library`)."""
    if device.current().target != "CPU":
        return False
    return library("fused_ops", build) is not None


def build() -> list[str]:
    """Compile every library that is not built yet (``make setup`` runs this through ``python -m
    bert_ms.accel``); one line per library saying what was done or why not."""
    lines = []
    for name in LIBRARIES:
        try:
            existed = library_path(name).exists()
        except Exception:  # noqa: BLE001 - reported by library() below
            existed = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lib = library(name, build=True)
        if lib is None:
            lines.append(f"fused CPU kernels: {name} ({WHAT[name]}) not built ({why(name)}); "
                         "training runs on MindSpore's ops, nothing else changes")
        else:
            lines.append(f"fused CPU kernels: {name} ({WHAT[name]}) {'already built' if existed else 'built'}: {lib}")
    return lines


def state() -> str:
    """One line for ``bert-ms info``: which libraries a default run loads, without building anything."""
    built, missing = [], []
    for name in LIBRARIES:
        try:
            (built if library_path(name).exists() else missing).append(name)
        except Exception as exc:  # noqa: BLE001 - e.g. no oneDNN in this MindSpore
            missing.append(f"{name} ({exc})")
    if not built:
        compiler = _compiler()
        return (f"off: not built (`make setup` or `python -m bert_ms.accel` builds them; C++ compiler: "
                f"{compiler or 'none found'})")
    line = f"on: {', '.join(built)} built in {settings.kernel_dir()}"
    return line + (f"; not built: {', '.join(missing)}" if missing else "")


def _ops() -> dict:
    """The Custom primitives of the libraries that loaded (made once)."""
    if "ops" in _STATE:
        return _STATE["ops"]
    f32 = ms.float32
    made = {}
    lib = _STATE.get("fused_ops", {}).get("lib")
    if lib is not None:
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
        # writes the parameters and moments it is given in place: marked so that the graph keeps it and
        # orders it after every read of them (MindSpore's auto-monad), as it does MindSpore's own optimizers
        adamw = custom("AdamWeightDecayUpdate", lambda *shapes: [1], lambda *dtypes: f32)
        adamw.add_prim_attr("side_effect_mem", True)
        made.update({"gelu": gelu_fwd, "gelu_grad": gelu_bwd, "layer_norm": ln_fwd, "layer_norm_grad": ln_bwd,
                     "dropout": drop, "sum_of_squares": sum_sq, "adamw_update": adamw})
    lin = _STATE.get("linear_ops", {}).get("lib")
    if lin is not None:
        lin_bwd = ops.Custom(f"{lin}:LinearBackward", out_shape=lambda x, w, dy: (x, w, [w[0]]),
                             out_dtype=lambda x, w, dy: (f32, f32, f32), func_type="aot")

        def lin_bprop(x, w, b, out, dout):
            return lin_bwd(x, w, dout)

        made["linear"] = ops.Custom(f"{lin}:LinearForward", out_shape=lambda x, w, b: x[:-1] + [w[0]],
                                    out_dtype=lambda x, w, b: f32, func_type="aot", bprop=lin_bprop)
        made["linear_grad"] = lin_bwd
    att = _STATE.get("attention_ops", {}).get("lib")
    if att is not None:
        att_bwd = ops.Custom(f"{att}:AttentionBackward", out_shape=lambda q, k, v, m, key, r, pr, dc, dp: (q, k, v),
                             out_dtype=lambda *dtypes: (f32, f32, f32), func_type="aot")

        made["attention"] = {}  # heads -> primitive (the probabilities' shape [B, heads, T, T] needs the count)
        made["attention_grad"] = att_bwd
    if _STATE.get("encoder_ops", {}).get("lib") is not None:
        made["encoder_layer"] = {}  # heads -> primitive, as for the attention
    _STATE["ops"] = made
    return made


def _self_test(name: str) -> None:
    """Run each kernel of one library once on small tensors against the reference ops (catches a library
    that compiles but does not load or compute correctly in this MindSpore)."""
    _STATE.pop("ops", None)
    o = _ops()
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 32)).astype(np.float32))
    g = Tensor(rng.standard_normal(32).astype(np.float32))
    b = Tensor(rng.standard_normal(32).astype(np.float32))
    if name == "fused_ops":
        eps = Tensor(np.array([1e-12], np.float32))
        checks = [
            (o["gelu"](x), ops.gelu(x, approximate="none")),
            (o["layer_norm"](x, g, b, eps), ops.LayerNorm(-1, -1, 1e-12)(x, g, b)[0]),
            (o["gelu_grad"](x, g.broadcast_to(x.shape)),
             ms.grad(lambda t: ops.gelu(t, approximate="none") * g)(x)),
            _adamw_check(o["adamw_update"], rng),
        ]
    elif name == "attention_ops":
        q, k, v = (Tensor(rng.standard_normal((2, 5, 8)).astype(np.float32)) for _ in range(3))
        mask = np.zeros((2, 5), np.float32)
        mask[1, 3:] = -1e9
        rate = Tensor(np.array([0.0, 1.0, 0.5, 2.0], np.float32))
        ctx, probs = attention(2)(q, k, v, Tensor(mask), Tensor(np.array([7], np.int64)), rate)
        qn, kn, vn = (t.asnumpy().reshape(2, 5, 2, 4).transpose(0, 2, 1, 3) for t in (q, k, v))
        sc = qn @ kn.transpose(0, 1, 3, 2) * 0.5 + mask[:, None, None, :]
        pr = np.exp(sc - sc.max(-1, keepdims=True))
        pr /= pr.sum(-1, keepdims=True)
        checks = [(probs, pr), (ctx, (pr @ vn).transpose(0, 2, 1, 3).reshape(2, 5, 8))]
    elif name == "encoder_ops":
        checks = _encoder_layer_check(rng)
    else:
        w = Tensor(rng.standard_normal((24, 32)).astype(np.float32))
        bias = Tensor(rng.standard_normal(24).astype(np.float32))
        dy = Tensor(rng.standard_normal((4, 24)).astype(np.float32))
        dx, dw, db = o["linear_grad"](x, w, dy)
        xn, wn, dyn = x.asnumpy(), w.asnumpy(), dy.asnumpy()
        checks = [(o["linear"](x, w, bias), xn @ wn.T + bias.asnumpy()), (dx, dyn @ wn), (dw, dyn.T @ xn),
                  (db, dyn.sum(0))]
    for got, ref in checks:
        ref = ref.asnumpy() if isinstance(ref, Tensor) else ref
        if not np.allclose(got.asnumpy(), ref, rtol=1e-5, atol=1e-5):
            raise RuntimeError("self-test: fused kernel and MindSpore op disagree")


def _adamw_check(update, rng) -> tuple:
    """(parameter after one in-place fused AdamW step, NumPy truth): lr 0.1, weight decay 0.01, scale 0.5."""
    p, m, g = (rng.standard_normal(40).astype(np.float32) for _ in range(3))
    v = np.abs(rng.standard_normal(40)).astype(np.float32)
    param = Tensor(p.copy())
    update(param, Tensor(m.copy()), Tensor(v.copy()), Tensor(g),
           Tensor(np.array([0.9, 0.999, 1e-6, 0.5, 0.1, 0.01], np.float32)))
    m1, v1 = m + (0.5 * g - m) * 0.1, v + ((0.5 * g) ** 2 - v) * 0.001
    return param, p - 0.1 * (m1 / (np.sqrt(v1) + 1e-6) + 0.01 * p)


def _encoder_layer_check(rng) -> list:
    """(kernel output, NumPy truth) for one small encoder layer (B 2, T 5, H 8, 2 heads, I 12, GELU, a padded key)."""
    import math

    def r(*shape):
        return rng.standard_normal(shape).astype(np.float32) * 0.5

    x = r(2, 5, 8)
    mask = np.zeros((2, 5), np.float32)
    mask[1, 3:] = -1e9
    ws = [r(8, 8), r(8), r(8, 8), r(8), r(8, 8), r(8), r(8, 8), r(8), 1 + r(8), r(8), r(12, 8), r(12), r(8, 12), r(8),
          1 + r(8), r(8)]
    y, probs = encoder_layer(2)(*(Tensor(a) for a in (x, mask, *ws)), Tensor(np.array([2, 1e-12, 0, 0], np.float32)))
    wq, bq, wk, bk, wv, bv, wo, bo, g1, be1, w1, b1, w2, b2, g2, be2 = (a.astype(np.float64) for a in ws)

    def heads(t):
        return t.reshape(2, 5, 2, 4).transpose(0, 2, 1, 3)

    def norm(t, g, b):
        return (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, keepdims=True) + 1e-12) * g + b

    sc = heads(x @ wq.T + bq) @ heads(x @ wk.T + bk).transpose(0, 1, 3, 2) / 2.0 + mask[:, None, None, :]
    pr = np.exp(sc - sc.max(-1, keepdims=True))
    pr /= pr.sum(-1, keepdims=True)
    h1 = norm(x + (pr @ heads(x @ wv.T + bv)).transpose(0, 2, 1, 3).reshape(2, 5, 8) @ wo.T + bo, g1, be1)
    f = h1 @ w1.T + b1
    f = f * 0.5 * (1 + np.vectorize(math.erf)(f / math.sqrt(2)))
    return [(probs, pr), (y, norm(h1 + f @ w2.T + b2, g2, be2))]


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


def adamw_update():
    """The fused AdamW primitive ``adamw(*params, *m, *v, *grads, hyper)`` (float32; ``hyper`` [4 + 2k] =
    (beta1, beta2, eps, gradient scale, k learning rates, k weight decays)), which updates the k parameters
    and both moments **in place** in one call (:class:`bert_ms.accel.optimizer.FusedAdamWeightDecay` uses
    it); or None when :func:`available` is False."""
    return _ops()["adamw_update"] if available() else None


def linear(build: bool = True):
    """The fused linear primitive ``y = lin(x, W, b)`` (float32; ``x`` [..., K], ``W`` [N, K], ``b`` [N]) with its
    one-call gradient (dx, dW, db), or None when :func:`available` is False or ``linear_ops`` does not load
    (``build``: see :func:`library`)."""
    if not available(build) or library("linear_ops", build) is None:
        return None
    return _ops().get("linear")


def attention(heads: int, build: bool = True):
    """The fused self-attention primitive for ``heads`` heads: ``ctx, probs = att(q, k, v, mask, key, rate)``
    with ``q, k, v`` [B, T, H] float32, ``mask`` [B, T] additive, ``key`` int64 [1] (the seeded-dropout key)
    and ``rate`` float32 [4] = (p, 1 / (1 - p), scale, heads); ``probs`` [B, heads, T, T] before dropout.
    With its one-call gradient. None when :func:`available` is False or ``attention_ops`` does not load."""
    if not available(build) or library("attention_ops", build) is None:
        return None
    cache = _ops()["attention"]
    if heads not in cache:
        f32 = ms.float32
        bwd = _ops()["attention_grad"]

        def bprop(q, k, v, mask, key, rate, out, dout):
            dq, dk, dv = bwd(q, k, v, mask, key, rate, out[1], dout[0], dout[1])
            return dq, dk, dv, ops.zeros_like(mask), ops.zeros_like(key), ops.zeros_like(rate)

        lib = _STATE["attention_ops"]["lib"]
        cache[heads] = ops.Custom(f"{lib}:AttentionForward",
                                  out_shape=lambda q, k, v, m, key, r: (q, [q[0], heads, q[1], q[1]]),
                                  out_dtype=lambda *dtypes: (f32, f32), func_type="aot", bprop=bprop)
    return cache[heads]


def encoder_layer(heads: int, build: bool = True):
    """The fused encoder-layer primitive for ``heads`` heads, inference only (no gradient, no dropout):
    ``y, probs = layer(x, mask, wq, bq, wk, bk, wv, bv, wo, bo, gamma1, beta1, w1, b1, w2, b2, gamma2, beta2, cfg)``
    with ``x`` [B, T, H] float32, ``mask`` [B, T] additive, the weights in the layout of
    :class:`~bert_ms.transformer.layers.Linear` and ``cfg`` float32 [4] = (heads, eps, activation: 0 exact
    GELU, 1 ReLU, 0); ``probs`` [B, heads, T, T]. None when :func:`available` is False or ``encoder_ops``
    does not load."""
    if not available(build) or library("encoder_ops", build) is None:
        return None
    cache = _ops()["encoder_layer"]
    if heads not in cache:
        f32 = ms.float32
        lib = _STATE["encoder_ops"]["lib"]
        cache[heads] = ops.Custom(f"{lib}:EncoderLayerForward",
                                  out_shape=lambda x, *rest: (x, [x[0], heads, x[1], x[1]]),
                                  out_dtype=lambda *dtypes: (f32, f32), func_type="aot")
    return cache[heads]


def reset() -> None:
    """Forget the build results (tests use it to simulate a missing compiler)."""
    with _LOCK:
        _STATE.clear()
