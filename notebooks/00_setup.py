# ---
# jupyter:
#   bert_ms:
#     images: 2
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (bert-ms)
#     language: python
#     name: bert-ms
# ---

# %% [markdown]
# # 00 · Setting up the course (课程环境准备), and the MindSpore you need
#
# **The course in one paragraph.** BERT is a network *pretrained* on raw text and then adapted to a task
# with few labels: **pretraining as transfer learning (预训练 / 迁移学习)**. The road to it runs through
# static word vectors (lesson 01), neural language models (02), ELMo's contextual vectors (03), the
# Transformer (04) and BERT itself (05-09); GPT takes the Transformer's decoder branch. Pretraining is
# **self-supervised (自监督)**: the labels (the next word, a hidden word) come from the text itself, where
# supervised learning (监督学习) needs a person to label each example; pretraining followed by supervised
# fine-tuning on a few labels is called **semi-supervised (半监督)**. Course lecture: step_into_llm,
# Season 1, lecture 2 "BERT" (`Season1.step_into_chatgpt/2.BERT`).
#
# This notebook checks that your environment (运行环境) is the one the course is tested with, shows which
# device (设备) MindSpore will run on, teaches the five pieces of MindSpore that every later lesson uses
# without explaining them again (`Cell`/`construct`, `value_and_grad`, the optimiser, `mindspore.jit`,
# graph vs PyNative mode), and measures how fast this machine multiplies matrices, the operation that
# dominates every Transformer.
#
# Every notebook in the course begins with the same cell: one call to `device.setup()`. It is the
# **only** place where the device, the execution mode (graph 静态图 / PyNative 动态图) and the
# numeric precision (精度) are chosen. To move the whole course to another machine you change an
# environment variable, never a notebook:
#
# | variable | values | default |
# | --- | --- | --- |
# | `BERT_MS_DEVICE` | `auto`, `CPU`, `GPU`, `Ascend` | `auto` (Ascend, then GPU, then CPU) |
# | `BERT_MS_MODE` | `graph`, `pynative` | `graph` |
# | `BERT_MS_PRECISION` | `fp32`, `fp16`, `bf16` | `fp32` |
# | `BERT_MS_SMOKE` | `1` for the seconds-long CI mode | off: full mode |

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %% [markdown]
# ## 1. Is this the tested environment?
#
# The course pins every package in `requirements/lock.txt` (MindSpore 2.7.0 with mindnlp 0.5.1 is
# the only pairing that installs and imports together on Python 3.11). If a check below fails, run
# `make setup` again from the repository root and choose the kernel **Python (bert-ms)**.

# %%
import platform
import sys
from importlib import metadata

import mindspore as ms
import numpy as np

import bert_ms

versions = {
    "python": platform.python_version(),
    "mindspore": ms.__version__,
    "mindnlp": metadata.version("mindnlp"),
    "numpy": np.__version__,
    "bert_ms": bert_ms.__version__,
}
for name, version in versions.items():
    print(f"{name:10s} {version}")

assert sys.version_info[:2] == (3, 11), "the course environment is Python 3.11"
assert versions["mindspore"] == "2.7.0", "run `make setup`: MindSpore must be 2.7.0"
assert versions["mindnlp"] == "0.5.1", "run `make setup`: mindnlp must be 0.5.1"
assert versions["numpy"].startswith("1."), "MindSpore 2.7 needs numpy < 2"

# %% [markdown]
# ## 2. Which device did we get, and why?
#
# `device.setup()` returned a `DeviceInfo`. `auto` tries Ascend first, then an NVIDIA GPU, then
# falls back to the CPU, and the `reason` says what it found missing on the way.

# %%
print("available :", dev.available)
print("chosen    :", dev.target)
print("mode      :", dev.mode, "| precision:", dev.precision)
print("why       :", dev.reason)
print("data in   :", settings.data_dir())
print("cache in  :", settings.cache_dir())
assert dev.target in dev.available and "CPU" in dev.available

# %% [markdown]
# Asking for a device the machine lacks fails at once with one line that says what is missing,
# instead of a long traceback from deep inside MindSpore:

# %%
missing = [t for t in device.TARGETS if t not in dev.available]
for target in missing:
    try:
        device.setup(target=target, verbose=False)
    except device.DeviceError as err:
        print("DeviceError:", err)
# set it back to what the course uses
dev = device.setup(seed=0, verbose=False)

# %% [markdown]
# ## 3. A first computation, checked against NumPy
#
# MindSpore tensors (张量) live on the chosen device. We multiply two matrices there and compare
# with NumPy on the CPU: in fp32 they agree to about 1e-5.

# %%
rng = np.random.default_rng(0)
a = rng.standard_normal((64, 32)).astype(np.float32)
b = rng.standard_normal((32, 16)).astype(np.float32)
c = ms.ops.matmul(ms.Tensor(a), ms.Tensor(b)).asnumpy()
err = float(np.abs(c - a @ b).max())
print(f"max |MindSpore - NumPy| = {err:.2e}")
assert err < 1e-4

# %% [markdown]
# ## 4. MindSpore in five pieces (MindSpore 基础)
#
# Every later lesson trains a model with the same five pieces. We meet them once here, on the smallest
# model there is: linear regression (线性回归), y ≈ x wᵀ + b.
#
# ### 4.1 A model is a `Cell`; calling it runs `construct`
# `mindspore.nn.Cell` is MindSpore's building block (PyTorch calls it `Module`). Its learnable tensors are
# `ms.Parameter`s, found automatically by `trainable_params()`; `construct` is the forward computation,
# run when the cell is called. Written out, and checked against MindSpore's own `nn.Dense`:

# %%
from mindspore import nn, ops

from bert_ms.exercises import check


class Linear(nn.Cell):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = ms.Parameter(ms.Tensor(rng.normal(0, 0.1, (d_out, d_in)).astype(np.float32)), name="weight")
        self.bias = ms.Parameter(ms.Tensor(np.zeros(d_out, np.float32)), name="bias")

    def construct(self, x):  # x: [N, d_in] -> [N, d_out]
        return ops.matmul(x, self.weight.T) + self.bias


model = Linear(3, 1)
print([(p.name, p.shape) for p in model.trainable_params()])
dense = nn.Dense(3, 1)
dense.weight.set_data(model.weight.copy())
dense.bias.set_data(model.bias.copy())
x = ms.Tensor(rng.normal(size=(5, 3)).astype(np.float32))
assert np.allclose(model(x).asnumpy(), dense(x).asnumpy(), atol=1e-6)

# %% [markdown]
# ### 4.2 Gradients: `mindspore.value_and_grad`
# MindSpore differentiates a Python function automatically (自动微分). `value_and_grad(fn, None,
# params)` returns a new function that gives fn's value **and** its gradient with respect to `params`.
# For the mean squared error L = mean((x wᵀ + b − y)²) we can also write the gradient by hand,
# ∂L/∂w = 2/N · rᵀ x and ∂L/∂b = 2/N · Σ r with the residuals r = x wᵀ + b − y; the two must agree.

# %%
true_w, true_b = np.array([[2.0, -1.0, 0.5]], np.float32), 0.3
x_np = rng.normal(size=(64, 3)).astype(np.float32)
y_np = (x_np @ true_w.T + true_b + 0.01 * rng.normal(size=(64, 1))).astype(np.float32)
x, y = ms.Tensor(x_np), ms.Tensor(y_np)


def mse(x, y):
    return ((model(x) - y) ** 2).mean()


grad_fn = ms.value_and_grad(mse, None, model.trainable_params())
loss, (grad_w, grad_b) = grad_fn(x, y)
r = model(x).asnumpy() - y_np
print(f"loss {float(loss.asnumpy()):.4f}; dL/dw {grad_w.asnumpy().round(4)}")
assert np.allclose(grad_w.asnumpy(), 2 * r.T @ x_np / len(x_np), atol=1e-5)
assert np.allclose(grad_b.asnumpy(), 2 * r.mean(0), atol=1e-5)

# %% [markdown]
# ### 4.3 The optimiser: `optimizer(grads)` updates the parameters in place
# An optimiser (优化器) is built on the parameters it will change. Calling it with the gradients takes
# one step; for plain stochastic gradient descent (`nn.SGD`, 随机梯度下降) the step is p ← p − η·g.
# Every training loop in the course is these three lines: loss and gradients, optimiser, repeat.

# %%
lr = 0.1
optimizer = nn.SGD(model.trainable_params(), learning_rate=lr)
before = model.weight.asnumpy().copy()
optimizer((grad_w, grad_b))
assert np.allclose(model.weight.asnumpy(), before - lr * grad_w.asnumpy(), atol=1e-6)


def train_step(x, y):
    loss, grads = grad_fn(x, y)
    optimizer(grads)
    return loss


losses = [float(train_step(x, y).asnumpy()) for _ in range(100)]
print(f"loss {losses[0]:.4f} -> {losses[-1]:.5f}; w = {model.weight.asnumpy().round(3)}, b = {model.bias.asnumpy().round(3)}")
assert losses[-1] < 1e-3 and np.allclose(model.weight.asnumpy(), true_w, atol=0.02)

import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3))
ax.semilogy(losses)
ax.set_xlabel("SGD step")
ax.set_ylabel("mean squared error")
ax.set_title(f"linear regression: w → {model.weight.asnumpy().round(2).tolist()[0]}")
plt.show()

# %% [markdown]
# ### 4.4 PyNative and graph mode, and `mindspore.jit`
# MindSpore runs code in one of two ways:
#
# * **PyNative (动态图)**: every operation runs the moment Python reaches it, like NumPy or PyTorch. Easy to
#   debug: `print` shows values, any Python works.
# * **Graph (静态图)**: MindSpore first compiles the whole function into one computation graph (图编译),
#   then runs the graph. The first call pays for the compilation; later calls skip the Python interpreter
#   and can fuse operations, so they are usually faster. Python-only code (a `print`, a NumPy call) runs
#   once, while compiling, not at every call.
#
# A whole program can be switched to graph mode (`ms.set_context(mode=ms.GRAPH_MODE)`), or one function
# at a time can be compiled with `@mindspore.jit`. This course does the second: the context stays in
# PyNative, so notebook cells run eagerly, and with `mode="graph"` (the default of `device.setup`) the hot
# training and evaluation steps are compiled with `mindspore.jit` through `device.jit`; with
# `BERT_MS_MODE=pynative` nothing is compiled, which is easier to debug.

# %%
import time

print("execution context:", "PyNative" if ms.get_context("mode") == ms.PYNATIVE_MODE else "graph",
      "| course mode:", dev.mode)
assert ms.get_context("mode") == ms.PYNATIVE_MODE

# device.jit(f) is mindspore.jit(f) when the course mode is "graph", and f itself under BERT_MS_MODE=pynative
jit_step = device.jit(train_step)
timings = {}
for name, fn in [("PyNative", train_step), (f"device.jit ({dev.mode})", jit_step)]:
    start = time.perf_counter()
    fn(x, y).asnumpy()  # the first call compiles (graph) or warms up (PyNative)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(20):
        out = fn(x, y)
    out.asnumpy()
    timings[name] = (first, (time.perf_counter() - start) / 20)
    print(f"{name:20s} first call {first * 1e3:7.1f} ms, then {timings[name][1] * 1e3:6.2f} ms per step")
first_jit, later_jit = timings[f"device.jit ({dev.mode})"]
assert first_jit > later_jit, "the first call pays for compiling (or warming up)"
assert float(mse(x, y).asnumpy()) < 1e-3, "both ways trained the same model further"

# %% [markdown]
# In graph mode the first compiled call is the slow one: MindSpore parses the Python source of the step
# (and of everything it calls), builds the graph and compiles it; every later call with inputs of the
# same shapes and types reuses it. (Calling a *new* `jit` function object for the same code compiles
# again, and MindSpore warns "compiled again"; the course's training code builds each step once.) On a
# tiny model like this one the saving per step is small; on BERT it is large.

# %% [markdown]
# **Exercises (练习).** Write each answer in its cell and run the check below it; it tests your code on
# fresh random inputs against MindSpore and says what differs. Solutions are in `solutions/00_setup.py`.
#
# * 0.1: the floating-point operations of an [m, k] × [k, n] matrix product (section 5 uses it);
# * 0.2: a linear layer as an `nn.Cell` (weight [d_out, d_in] and bias, like `nn.Dense`);
# * 0.3: the gradient of the mean squared error by hand, (∂L/∂w, ∂L/∂b) for L = mean((x·w + b − y)²),
#   with w a vector [d] and b a number;
# * 0.4: one SGD step on lists of parameters and gradients.

# %%
# Exercise 0.1 (练习): FLOPs of an [m, k] x [k, n] matrix product
def my_matmul_flops(m, k, n):
    raise NotImplementedError  # your code here


check.matmul_flops(my_matmul_flops)


# Exercise 0.2 (练习): a linear layer as a Cell; return an instance, e.g. MyLinear(d_in, d_out)
def my_linear_cell(d_in, d_out):
    raise NotImplementedError  # your code here: define a class MyLinear(nn.Cell) above, return MyLinear(d_in, d_out)


check.linear_cell(my_linear_cell)


# Exercise 0.3 (练习): (dL/dw, dL/db) for L = mean((x @ w + b - y) ** 2), NumPy in and out
def my_mse_grad(w, b, x, y):
    raise NotImplementedError  # your code here


check.mse_grad(my_mse_grad)


# Exercise 0.4 (练习): one SGD step, p - lr * g for every parameter
def my_sgd_update(params, grads, lr):
    raise NotImplementedError  # your code here


check.sgd_update(my_sgd_update)

# %% [markdown]
# ## 5. How fast is this machine? (矩阵乘法吞吐)
#
# A Transformer layer is mostly matrix multiplication: a product of an (m×k) and a (k×n) matrix costs
# 2·m·k·n floating-point operations (FLOPs). We time square products of growing size and plot the
# achieved GFLOP/s. Small products are dominated by call overhead; large ones approach the
# machine's practical peak, the number the benchmark in `bench/` compares model speed against.

# %%
sizes = settings.pick([64, 128, 256], [64, 128, 256, 512, 1024, 2048])
repeats = settings.pick(3, 10)
gflops = []
for n in sizes:
    x = ms.Tensor(rng.standard_normal((n, n)).astype(np.float32))
    ms.ops.matmul(x, x).asnumpy()  # warm up: the first call compiles the kernel
    start = time.perf_counter()
    for _ in range(repeats):
        y = ms.ops.matmul(x, x)
    y.asnumpy()  # wait for the device to finish
    seconds = (time.perf_counter() - start) / repeats
    gflops.append(2 * n**3 / seconds / 1e9)
    print(f"n={n:5d}  {seconds * 1e3:8.2f} ms  {gflops[-1]:7.1f} GFLOP/s")

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(sizes, gflops, marker="o")
ax.set_xscale("log", base=2)
ax.set_xlabel("matrix size n (n×n @ n×n)")
ax.set_ylabel("GFLOP/s")
ax.set_title(f"MindSpore matmul throughput on {dev.target}")
ax.grid(alpha=0.3)
plt.show()

assert all(np.isfinite(g) and g > 0 for g in gflops)
assert max(gflops) > 0.1, "even a laptop CPU manages well over 0.1 GFLOP/s"

# %% [markdown]
# ## 6. Running the course on an accelerator (not tested here)
#
# The course is tested on CPU only: the CI machines have no accelerator. The same code is written
# for GPU and Ascend, but the steps below are **honestly untested by this project**; report what you
# find.
#
# **Ascend (昇腾), e.g. a ModelArts or OpenI notebook with an Ascend 910 card.**
# These images ship the CANN toolkit. Install the course with `make setup` (the MindSpore 2.7.0 wheel
# is one package for CPU, GPU and Ascend), make sure the CANN environment is loaded
# (`source /usr/local/Ascend/ascend-toolkit/set_env.sh`), check that your CANN version is one
# MindSpore 2.7.0 supports, then:
#
# ```bash
# BERT_MS_DEVICE=Ascend python -m bert_ms info     # should print "chosen      Ascend"
# BERT_MS_DEVICE=Ascend make lab
# ```
#
# Ascend compiles a graph per input shape, so the course pads every batch to a fixed length
# (static shapes 静态形状): keep `max_length` fixed when you change data.
#
# **NVIDIA GPU, a CUDA 11.6 host.** MindSpore 2.7.0 carries GPU plugins built against CUDA 11.6 and
# 11.1; the host needs the NVIDIA driver, the CUDA 11.6 runtime and cuDNN 8 on `LD_LIBRARY_PATH`.
# Then `BERT_MS_DEVICE=GPU python -m bert_ms info`. Try `BERT_MS_PRECISION=fp16` for mixed precision
# (混合精度); `bf16` needs compute capability 8.0 or newer (A100 and later).
#
# If the device you ask for is missing, `device.setup` tells you in one line; pass
# `fallback=True` to continue on the CPU with a warning instead.
