# ---
# jupyter:
#   bert_ms:
#     images: 1
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
# # 00 · Setting up the course (课程环境准备)
#
# This notebook checks that your environment (运行环境) is the one the course is tested with,
# shows which device (设备) MindSpore will run on, and measures how fast this machine multiplies
# matrices, the operation that dominates every Transformer.
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
# ## 4. How fast is this machine? (矩阵乘法吞吐)
#
# A Transformer layer is mostly matrix multiplication: a product of an (m×k) and a (k×n) matrix costs
# 2·m·k·n floating-point operations (FLOPs). We time square products of growing size and plot the
# achieved GFLOP/s. Small products are dominated by call overhead; large ones approach the
# machine's practical peak, the number the benchmark in `bench/` compares model speed against.

# %%
import time

import matplotlib.pyplot as plt

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
# ## 5. Running the course on an accelerator (not tested here)
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
