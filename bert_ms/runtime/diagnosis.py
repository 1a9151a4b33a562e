"""Why a device target does not run here, and what to do: MindSpore 2.7.0's GPU and Ascend plugins.

Each answer is a pair (cause, next step) in words a learner can act on:

* :func:`gpu_problems` -- everything that keeps the GPU plugin from loading: the plugin itself, a
  ``CUDA_HOME`` of another CUDA major version, the NVIDIA driver, the CUDA 11 / cuDNN 8 libraries by
  soname (installed, made findable, loaded before MindSpore: :mod:`bert_ms.runtime.nvidia` knows where
  they come from);
* :func:`ascend_problems` -- the CANN toolkit, its version (:func:`cann_version`) and its libraries;
* :func:`library_advice` -- a shared library that cannot be loaded, by soname;
* :func:`error_advice` -- an error MindSpore, CUDA or CANN raised (a library, cuDNN, the driver, the GPU's
  architecture, bf16, out of memory, CANN), and :func:`device_error_step` -- the next step after one of
  the device switch's own one-line errors (:class:`bert_ms.runtime.device.DeviceError`).

The versions the course is pinned to (:data:`MINDSPORE_VERSION`, :data:`CANN_VERSION`) live here; the
device switch's one-line reasons (:func:`bert_ms.runtime.device.missing_reason`) name them from here, and
``bert-ms selftest`` runs these checks before it asks MindSpore for a target.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from bert_ms.runtime import nvidia

MINDSPORE_VERSION = "2.7.0"
CANN_VERSION = "8.2.RC1"  # what MindSpore 2.7.0 is built and released for
CANN_ACCEPTED = ("7.7", "7.8", "8.2")  # compiler/version.info versions MindSpore 2.7.0's own check accepts
_ASCEND_LIBS = ("libascendcl", "libge_runner", "libhccl", "libruntime", "libgraph", "libacl", "libtsdclient",
                "liberror_manager", "libplatform", "libopskernel")
_SET_ENV = "source /usr/local/Ascend/ascend-toolkit/set_env.sh"


# ----------------------------------------------------------------------------------------------
# Turning errors into causes and next steps
# ----------------------------------------------------------------------------------------------


def library_advice(soname: str) -> tuple[str, str]:
    """(cause, next step) for a shared library that cannot be loaded."""
    if soname == nvidia.DRIVER or soname.startswith("libcuda.so"):
        return (f"NVIDIA driver library {soname} not found",
                "install the NVIDIA driver (>= 520 for CUDA 11.8) and check `nvidia-smi`")
    if soname in nvidia.WHEELS or soname.startswith(("libcud", "libcub", "libcuf", "libcur", "libcus", "libnvrtc")):
        package = nvidia.WHEELS.get(soname, ("the nvidia-*-cu11 wheels",))[0]
        what = "cuDNN 8" if "cudnn" in soname else "CUDA 11"
        return (f"{what} library {soname} not found",
                f"run `make setup-gpu` (installs {package} from requirements/lock-gpu.txt), then restart Python")
    if soname.startswith(_ASCEND_LIBS):
        return (f"CANN library {soname} not found",
                f"install CANN {CANN_VERSION} and run `{_SET_ENV}` before starting Python")
    return (f"shared library {soname} not found", "install it, or add its folder to LD_LIBRARY_PATH before starting")


def device_error_step(message: str) -> str:
    """The next step after a :class:`~bert_ms.runtime.device.DeviceError` (its one-line message is the cause)."""
    low = message.lower()
    if "already runs on" in low:
        return "run `bert-ms selftest --device ...` in a new process (MindSpore keeps one target)"
    if "bf16" in low:
        return "use --precision fp16 (or fp32) on this target"
    if "cann" in low or "ascend" in low:
        return f"install CANN {CANN_VERSION} and run `{_SET_ENV}` before starting Python"
    if "nvidia driver" in low:
        return "install the NVIDIA driver (>= 520) and check `nvidia-smi`"
    if "gpu" in low:
        return "run `make setup-gpu`, then `bert-ms selftest --device GPU` in a new process"
    return "check `bert-ms info`"


def error_advice(err: BaseException, target: str = "") -> tuple[str, str]:
    """(cause, next step) for an unexpected error, recognising the usual accelerator problems."""
    text = f"{type(err).__name__}: {err}"
    low = text.lower()
    first = text.strip().splitlines()[0][:300] if text.strip() else type(err).__name__
    lib = re.search(r"(lib[\w+\-.]+\.so(?:\.\d+)*)\s*:\s*cannot open shared object", text)
    if lib:
        return library_advice(lib.group(1))
    if "cudnn" in low and ("version" in low or "status" in low):
        return (f"cuDNN error ({first})",
                "use the pinned cuDNN 8 (`make setup-gpu` installs nvidia-cudnn-cu11==8.7.0.84); "
                "MindSpore 2.7.0's GPU plugin needs cuDNN 8, not 9")
    if "driver version is insufficient" in low or "cuda driver version" in low:
        return (f"the NVIDIA driver is too old for CUDA 11.8 ({first})", "upgrade the NVIDIA driver to >= 520")
    if "no kernel image" in low or "invalid device function" in low:
        return (f"MindSpore 2.7.0's CUDA kernels do not cover this GPU's architecture ({first})",
                "try a GPU of compute capability 6.0-8.6, or run on CPU/Ascend")
    if "bfloat16" in low or "bf16" in low:
        return (f"bf16 not supported on this target ({first})", "use --precision fp16 (or fp32)")
    if "out of memory" in low or "oom" in low.split():
        return f"out of device memory ({first})", "free the device (nvidia-smi / npu-smi info) and rerun"
    if target == "Ascend" and ("cann" in low or "acl" in low or "aclnn" in low or "ge " in low):
        return (f"Ascend/CANN error ({first})",
                f"check the CANN version is {CANN_VERSION} (`cat $ASCEND_HOME_PATH/compiler/version.info`)")
    return first, "rerun with --json report.json and send the report (the full error is in it) to the course forum"


# ----------------------------------------------------------------------------------------------
# Device diagnosis before MindSpore is asked for a target
# ----------------------------------------------------------------------------------------------


def _nvcc_release(cuda_home: str) -> str | None:
    nvcc = Path(cuda_home) / "bin" / "nvcc"
    if not nvcc.is_file():
        return None
    try:
        out = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"release (\d+\.\d+)", out)
    return m.group(1) if m else None


def gpu_problems() -> list[tuple[str, str]]:
    """(cause, next step) for everything that keeps MindSpore 2.7.0's GPU plugin from loading here."""
    problems = []
    if not nvidia.gpu_plugins():
        return [("MindSpore's GPU plugin is missing from this MindSpore install",
                 f"reinstall mindspore=={MINDSPORE_VERSION} from requirements/lock.txt (`make setup`)")]
    cuda_home = os.environ.get("CUDA_HOME")
    if cuda_home:
        release = _nvcc_release(cuda_home)
        if release is None:
            problems.append((f"CUDA_HOME={cuda_home} has no bin/nvcc, so MindSpore loads no GPU plugin",
                             "unset CUDA_HOME (the libraries of `make setup-gpu` need none)"))
        elif not release.startswith("11."):
            problems.append((f"CUDA_HOME={cuda_home} has nvcc {release}: MindSpore 2.7.0 then looks for a CUDA "
                             f"{release.split('.')[0]} plugin and has none (it has CUDA 11.1 and 11.6)",
                             "unset CUDA_HOME (the CUDA 11 libraries of `make setup-gpu` are used)"))
    missing = [s for s in nvidia.plugin_cuda_sonames() if not nvidia.loadable(s)[0]]
    if nvidia.DRIVER in missing:
        problems.append(library_advice(nvidia.DRIVER))
        missing.remove(nvidia.DRIVER)
    if missing:
        st = nvidia.status()
        if st["late"] and all(nvidia.wheel_library(s) for s in missing):
            problems.append((f"the CUDA libraries are installed but MindSpore was imported before they were loaded "
                             f"({', '.join(missing)})",
                             "start a new Python process (bert_ms_nvidia.pth loads them at start-up)"))
        elif all(nvidia.wheel_library(s) for s in missing) and not nvidia.pth_path().is_file():
            problems.append((f"the CUDA wheels are installed but not made findable ({', '.join(missing)})",
                             "run `make setup-gpu` (it writes bert_ms_nvidia.pth), then start a new process"))
        else:
            cause = "CUDA library not found: " + ", ".join(missing)
            packages = sorted({nvidia.WHEELS[s][0] for s in missing if s in nvidia.WHEELS})
            problems.append((cause, "run `make setup-gpu` (installs " + ", ".join(packages) + " pinned in "
                             "requirements/lock-gpu.txt), then start a new process"))
    return problems


def cann_version() -> tuple[str | None, str | None]:
    """(CANN home folder, compiler version from ``compiler/version.info``) or Nones."""
    candidates = [os.environ.get("ASCEND_HOME_PATH"), os.environ.get("ASCEND_TOOLKIT_HOME"),
                  "/usr/local/Ascend/ascend-toolkit/latest"]
    opp = os.environ.get("ASCEND_OPP_PATH")
    if opp:
        candidates.insert(0, opp.split("opp")[0])
    for home in candidates:
        if home and Path(home).is_dir():
            info = Path(home) / "compiler" / "version.info"
            if info.is_file():
                for line in info.read_text(errors="replace").splitlines():
                    if line.startswith("Version="):
                        return home, ".".join(line.split("=", 1)[1].strip().split(".")[:2])
            return home, None
    return None, None


def ascend_problems() -> list[tuple[str, str]]:
    """(cause, next step) for everything that keeps MindSpore 2.7.0's Ascend plugin from loading here."""
    home, version = cann_version()
    if home is None:
        return [("CANN missing: no Ascend toolkit (ASCEND_HOME_PATH unset, /usr/local/Ascend absent)",
                 f"install CANN {CANN_VERSION} (toolkit + kernels for your chip) and run `{_SET_ENV}`")]
    problems = []
    if version is None:
        problems.append((f"CANN at {home} has no compiler/version.info", f"reinstall CANN {CANN_VERSION}"))
    elif version not in CANN_ACCEPTED:
        problems.append((f"CANN version {version} at {home}: MindSpore {MINDSPORE_VERSION} needs CANN {CANN_VERSION} "
                         f"(compiler version {' / '.join(CANN_ACCEPTED)})", f"install CANN {CANN_VERSION}"))
    import ctypes

    for lib in ("libascendcl.so", "libge_runner.so"):
        try:
            ctypes.CDLL(lib)
        except OSError:
            problems.append((f"CANN library {lib} not loadable (LD_LIBRARY_PATH lacks the toolkit)",
                             f"run `{_SET_ENV}` in the shell, then start Python again"))
            break
    return problems
