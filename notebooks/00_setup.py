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
from mindspore import nn, ops

from bert_ms.exercises import check

rng = np.random.default_rng(0)
a = rng.standard_normal((64, 32)).astype(np.float32)
b = rng.standard_normal((32, 16)).astype(np.float32)
c = ms.ops.matmul(ms.Tensor(a), ms.Tensor(b)).asnumpy()
err = float(np.abs(c - a @ b).max())
print(f"max |MindSpore - NumPy| = {err:.2e}")
assert err < 1e-4

# %% [markdown]
# **Exercises (练习).** Each exercise of this lesson sits just before the part of the lesson that gives
# its answer away: write your answer in the marked cell and run it; the check below it tests your code on
# fresh random inputs against an exact reference and names the first difference. Solutions are in
# `solutions/00_setup.py`.
#
# **Exercise 0.1 (练习)**: how many floating-point operations (FLOPs) does the product of an [m, k] and
# a [k, n] matrix take? Count the way benchmarks and papers do: every entry of the [m, n] result is a sum
# of k products, and each of the k terms costs one multiply and one add (a multiply-add counts as 2 FLOPs;
# a bare sum of k numbers needs only k − 1 additions, but the convention counts k, as if each sum started
# from 0). Return an exact integer. Section 5 turns this count into the machine's speed.

# %%
# Exercise 0.1 (练习): FLOPs of an [m, k] x [k, n] matrix product
def my_matmul_flops(m, k, n):
    raise NotImplementedError  # your code here


check.matmul_flops(my_matmul_flops)

# %% [markdown]
# ## 4. MindSpore in five pieces (MindSpore 基础)
#
# Every later lesson trains a model with the same five pieces. We meet them once here, on the smallest
# model there is: linear regression (线性回归), y ≈ x wᵀ + b.
#
# ### 4.1 A model is a `Cell`; calling it runs `construct`
# `mindspore.nn.Cell` is MindSpore's building block (PyTorch calls it `Module`). Its learnable tensors are
# `ms.Parameter`s, found automatically by `trainable_params()`; `construct` is the forward computation,
# run when the cell is called.
#
# **Exercise 0.2 (练习)**: before reading ours below, write the linear layer yourself: a subclass of
# `nn.Cell` whose `__init__(d_in, d_out)` makes two `ms.Parameter`s, a weight of shape [d_out, d_in]
# (the layout of MindSpore's `nn.Dense`) and a bias of shape [d_out], and whose `construct(x)` maps
# x [N, d_in] to x weightᵀ + bias [N, d_out]. The check builds your cell, sets its parameters to values of
# its own and compares the output (using `nn.Dense` itself does not count).

# %%
# Exercise 0.2 (练习): a linear layer as a Cell; return an instance, e.g. MyLinear(d_in, d_out)
def my_linear_cell(d_in, d_out):
    raise NotImplementedError  # your code here: define a class MyLinear(nn.Cell) above, return MyLinear(d_in, d_out)


check.linear_cell(my_linear_cell)

# %% [markdown]
# The course's version, checked against MindSpore's own `nn.Dense` on the same weights:

# %%
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
# For the mean squared error L = mean((x wᵀ + b − y)²) we can also write the gradient by hand, and the
# two must agree.
#
# **Exercise 0.3 (练习)**: derive that gradient by hand, for a weight vector w of shape [d] and a number
# b: given NumPy arrays w [d], x [N, d], y [N] and b, return the pair (∂L/∂w, ∂L/∂b) for
# L = mean((x·w + b − y)²), ∂L/∂w of shape [d] and ∂L/∂b a number. The check compares it with an exact
# float64 reference on fresh inputs (MindSpore's automatic differentiation is not allowed in the answer).

# %%
# Exercise 0.3 (练习): (dL/dw, dL/db) for L = mean((x @ w + b - y) ** 2), NumPy in and out
def my_mse_grad(w, b, x, y):
    raise NotImplementedError  # your code here


check.mse_grad(my_mse_grad)

# %% [markdown]
# With the residuals r = x wᵀ + b − y, the chain rule gives ∂L/∂w = 2/N · rᵀ x and ∂L/∂b = 2/N · Σ r.
# MindSpore's automatic gradient on our `Linear` model must give the same numbers:

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
# one step and changes the parameters in place. The plainest is stochastic gradient descent (`nn.SGD`,
# 随机梯度下降): it moves every parameter against its gradient, by a step the learning rate η scales.
#
# **Exercise 0.4 (练习)**: write that step for a whole model: given a list of parameters (NumPy arrays
# of any shapes), the list of their gradients and the learning rate, return the list of updated
# parameters. (Calling `nn.SGD` does not count.)

# %%
# Exercise 0.4 (练习): one SGD step for every parameter; return the list of new parameters
def my_sgd_update(params, grads, lr):
    raise NotImplementedError  # your code here


check.sgd_update(my_sgd_update)

# %% [markdown]
# For `nn.SGD` the step is p ← p − η·g. Every training loop in the course is these three lines: loss and
# gradients, optimiser, repeat. We check one step of `nn.SGD` against the formula, then train.
#
# The loop runs under a progress bar (进度条), `bar` from `bert_ms.runtime.progress` (tqdm underneath), as
# every long loop and every `Trainer` run of the course does: in JupyterLab it draws a bar with the steps
# done, the rate and the time left, and the bar is cleared when the loop ends. A cell that shows no bar and
# no output for a minute is worth a look (内核是否卡住).

# %%
from bert_ms.runtime.progress import bar

lr = 0.1
optimizer = nn.SGD(model.trainable_params(), learning_rate=lr)
before = model.weight.asnumpy().copy()
optimizer((grad_w, grad_b))
assert np.allclose(model.weight.asnumpy(), before - lr * grad_w.asnumpy(), atol=1e-6)


def train_step(x, y):
    loss, grads = grad_fn(x, y)
    optimizer(grads)
    return loss


losses = []
for _ in bar(range(100), "SGD"):
    losses.append(float(train_step(x, y).asnumpy()))
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
#
# We time our training step both ways: the first call alone, then the median over 7 blocks of 20 steps
# (the median, so that a block slowed by another program on the machine does not count).

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
    blocks = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(20):
            out = fn(x, y)
        out.asnumpy()  # wait for the last step to finish
        blocks.append((time.perf_counter() - start) / 20)
    timings[name] = (first, float(np.median(blocks)))
    print(f"{name:20s} first call {first * 1e3:7.1f} ms, then {timings[name][1] * 1e3:6.2f} ms per step (median)")
first_jit, later_jit = timings[f"device.jit ({dev.mode})"]
speedup = timings["PyNative"][1] / later_jit
print(f"after its first call the {dev.mode}-mode step is {speedup:.1f}x as fast as the PyNative one")
assert first_jit > later_jit, "the first call pays for compiling (or warming up)"
assert float(mse(x, y).asnumpy()) < 1e-3, "both ways trained the same model further"
if dev.mode == "graph" and dev.target == "CPU":
    assert speedup > 2, "compiled, the tiny step runs several times faster"

# %% [markdown]
# In graph mode the first compiled call is the slow one: MindSpore parses the Python source of the step
# (and of everything it calls), builds the graph and compiles it; every later call with inputs of the
# same shapes and types reuses it. (Calling a *new* `jit` function object for the same code compiles
# again, and MindSpore warns "compiled again"; the course's training code builds each step once.)
#
# After that, the compiled step runs several times faster than the PyNative one (the factor is printed
# above; at least 2 on a CPU, asserted). Our step is a handful of small operations (forward pass,
# gradient, update) on a 64 × 3 matrix, whose arithmetic takes microseconds: most of its PyNative time is
# the fixed cost of dispatching each operation from Python, one by one, and the compiled graph runs them
# all without going back to Python. Section 5 measures that
# fixed cost for a single matrix product. Compiling saves that cost, not the arithmetic, so expect a
# smaller factor for a model whose operations are large enough for arithmetic to fill most of a step.

# %% [markdown]
# ## 5. How fast is this machine? (矩阵乘法吞吐)
#
# A Transformer layer is mostly matrix multiplication, and a product of an (m×k) and a (k×n) matrix costs
# 2·m·k·n floating-point operations (FLOPs, exercise 0.1). We time square products n×n @ n×n from n = 8 to
# n = 2048 (to 64 in smoke mode) and divide: FLOPs per second. Each size is run three times first (a
# warm-up: the first calls prepare the kernel), then timed 5 times (15 up to n = 256, where a repeat costs
# microseconds), each time over a batch of up to 50 products (a single one from n = 256 on) divided by their
# number; we keep the fastest repeat (the minimum: a slower repeat is one where something else on the
# machine took the CPU).

# %%
sizes = settings.pick([8, 16, 32, 64], [8, 16, 32, 64, 128, 256, 512, 1024, 2048])
seconds = []
for n in sizes:
    a_n = ms.Tensor(rng.standard_normal((n, n)).astype(np.float32))
    for _ in range(3):
        ms.ops.matmul(a_n, a_n).asnumpy()  # warm-up
    calls = int(min(50, max(1, 5e7 // (2 * n**3))))  # up to 50 small products per repeat, 1 large one
    repeats = []
    for _ in range(15 if n <= 256 else 5):
        start = time.perf_counter()
        for _ in range(calls):
            c_n = ms.ops.matmul(a_n, a_n)
        c_n.asnumpy()  # wait for the device to finish
        repeats.append((time.perf_counter() - start) / calls)
    seconds.append(min(repeats))
seconds = np.array(seconds)
gflops = 2 * np.array(sizes, dtype=np.float64) ** 3 / seconds / 1e9
for n, t, g in zip(sizes, seconds, gflops):
    print(f"n={n:5d}  {t * 1e3:9.3f} ms per product  {g:8.2f} GFLOP/s")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
axes[0].loglog(sizes, seconds * 1e3, marker="o", label="measured")
axes[0].loglog(sizes, seconds[-1] * 1e3 * (np.array(sizes) / sizes[-1]) ** 3, "--", color="gray",
               label="∝ n³ (through the largest)")
axes[0].set_xscale("log", base=2)
axes[0].set_xlabel("matrix size n (n×n @ n×n)")
axes[0].set_ylabel("ms per product")
axes[0].legend()
axes[1].plot(sizes, gflops, marker="o")
axes[1].set_xscale("log", base=2)
axes[1].set_xlabel("matrix size n (n×n @ n×n)")
axes[1].set_ylabel("GFLOP/s")
for ax in axes:
    ax.grid(alpha=0.3)
fig.suptitle(f"MindSpore matmul on {dev.target}: time per product and throughput")
plt.tight_layout()
plt.show()

# %% [markdown]
# The table and the two panels show two regimes.
#
# * **The smallest products cost a fixed amount each.** From n = 8 to n = 16 the work grows 8 times but
#   the time per product by less than 2.5 times: what is measured there is the cost of one call (Python,
#   MindSpore's dispatch, starting the kernel), not arithmetic, so at n = 8 the machine runs at under 1 %
#   of the best rate it reaches. The same fixed cost, paid by every operation, is what graph mode saved
#   on the tiny training step of section 4.4.
# * **The largest products are compute-bound.** From n = 1024 to n = 2048 the time grows by about 8 = 2³
#   (between 4 and 16, asserted below), as the 2n³ operations do, and the rate levels off: the largest
#   size runs at over half the best rate measured, near the machine's practical peak, the number the
#   benchmark in `bench/` compares model speed against.
#
# Where in between the curve climbs, and how smoothly, depends on the machine (its caches, how many cores
# MindSpore's threads get, what else is running). Smoke mode (what the test suite runs, often on a busy
# machine) stops at n = 64, too small to reach the compute-bound regime or the best rate, and asserts none
# of these timings: it only checks that every rate was measured.

# %%
t = dict(zip(sizes, seconds))
small_growth = t[16] / t[8]
print(f"n = 8 -> 16: time x{small_growth:.2f} (work x8); n = 8 runs at {gflops[0] / gflops.max():.2%} of the best rate")
assert np.all(np.isfinite(gflops)) and np.all(gflops > 0)
if not settings.smoke():
    assert small_growth < 2.5, "the smallest products cost a fixed amount per call"
    assert gflops[0] < 0.01 * gflops.max(), "at n = 8 the machine runs at under 1 % of its best rate"
    large_growth = t[2048] / t[1024]
    print(f"n = 1024 -> 2048: time x{large_growth:.1f} (work x8); n = 2048 runs at {gflops[-1] / gflops.max():.0%} "
          f"of the best rate, {gflops.max():.1f} GFLOP/s")
    assert 4 < large_growth < 16, "the largest products are compute-bound: time grows about as n³"
    assert gflops[-1] > 0.5 * gflops.max(), "the rate levels off at the largest sizes"

# %% [markdown]
# ## 6. Running the course on an accelerator (not tested here)
#
# Every lesson and every test runs on a CPU; **nothing in this course has yet been run on a real GPU or
# Ascend card** by this project (`docs/accelerators.md` keeps the record). The code is written for both,
# following MindSpore 2.7.0's documented behaviour; if you run it on one, report what you find, with the
# output of `bert-ms selftest --json`. The one command that checks a machine, on whatever device it has:
#
# ```bash
# .venv/bin/bert-ms selftest --device GPU     # or Ascend, or CPU; --precision fp16; --json report.json
# ```
#
# **Ascend (昇腾), e.g. a ModelArts or OpenI notebook with an Ascend 910 card.** MindSpore 2.7.0 is built
# for CANN 8.2.RC1: choose an image with that CANN and Python 3.11, load CANN's environment *before*
# Python starts, then install the course as usual (the MindSpore wheel is one package for CPU, GPU and
# Ascend):
#
# ```bash
# source /usr/local/Ascend/ascend-toolkit/set_env.sh
# make setup
# .venv/bin/bert-ms selftest --device Ascend
# BERT_MS_DEVICE=Ascend make lab
# ```
#
# Ascend compiles a graph per input shape, so the course pads every batch to a fixed length
# (static shapes 静态形状): keep `max_length` fixed when you change data.
#
# **NVIDIA GPU.** MindSpore 2.7.0's GPU plugin is built against CUDA 11 and cuDNN 8. `make setup-gpu`
# installs NVIDIA's pinned CUDA 11.8 / cuDNN 8.7 wheels into `.venv` and makes MindSpore find them by
# itself (no `LD_LIBRARY_PATH` to edit); the NVIDIA driver must be new enough for CUDA 11.8 (≥ 520):
#
# ```bash
# make setup-gpu
# .venv/bin/bert-ms selftest --device GPU
# ```
#
# Then `BERT_MS_DEVICE=GPU`. Try `BERT_MS_PRECISION=fp16` for mixed precision (混合精度); `bf16` needs
# compute capability 8.0 or newer (A100 and later).
#
# If the device you ask for is missing, `device.setup` tells you in one line; pass
# `fallback=True` to continue on the CPU with a warning instead.
