"""NVIDIA's CUDA libraries from pip wheels, made findable for MindSpore's GPU plugin (``make setup-gpu``).

MindSpore 2.7.0's GPU plugin (``mindspore/lib/plugin/libmindspore_gpu.so.11.6``, built against CUDA
11.6) is an ordinary shared library that needs the CUDA 11 runtime, cuBLAS, cuFFT, cuRAND, cuSOLVER,
cuSPARSE, NVRTC and cuDNN 8 (:data:`WHEELS` lists the exact sonames, read from the plugin by
:func:`needed_sonames`). NVIDIA publishes those libraries as wheels (``nvidia-*-cu11``), which
``make setup-gpu`` installs from ``requirements/lock-gpu.txt`` into ``.venv/lib/.../site-packages/nvidia/``.

Why they need help to be found. MindSpore loads its plugins once, while ``import mindspore`` runs,
with ``dlopen``; the dynamic loader searches the plugin's RPATH (``/usr/local/cuda-11.6/lib64``),
``LD_LIBRARY_PATH`` *as it was when the process started*, and the system folders -- never
``site-packages/nvidia``. Setting ``LD_LIBRARY_PATH`` from Python is too late for the running process.
What does work is loading the libraries first, by full path, with ``RTLD_GLOBAL``: the loader then
finds each needed soname already in memory (PyTorch's CUDA wheels do the same). So :func:`preload`
does that, and :func:`install_hook` arranges for it to happen just before the first ``import mindspore``
of any Python process of the course's ``.venv`` (scripts, ``bert-ms``, Jupyter kernels, ``msrun``
workers): ``make setup-gpu`` writes a one-line ``bert_ms_nvidia.pth`` into site-packages that calls
:func:`install_hook` at interpreter start. The hook only costs an import of this small module; it
loads nothing unless the wheels are installed, an NVIDIA driver (``libcuda.so.1``) is present and
``BERT_MS_DEVICE`` does not ask for CPU or Ascend. ``LD_LIBRARY_PATH`` is extended as well, for
child processes.

Alternatives considered: an ``activate`` script (not used by Jupyter kernels or ``.venv/bin/python``),
the kernel spec's ``env`` (only Jupyter), re-executing Python with ``LD_LIBRARY_PATH`` set (surprising),
copying the libraries into MindSpore's plugin folder (edits another package's files).

``python -m bert_ms.runtime.nvidia check`` prints, for every soname the plugin needs, where it was
found or that it is missing; ``install`` / ``uninstall`` write / remove the ``.pth`` file.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import struct
import sys
import sysconfig
from pathlib import Path

from bert_ms.runtime import settings

# soname the GPU plugin needs -> (pip package that ships it, its folder under site-packages/nvidia/).
# libcuda.so.1 is the driver: it comes with the NVIDIA driver, never from pip.
WHEELS: dict[str, tuple[str, str]] = {
    "libcudart.so.11.0": ("nvidia-cuda-runtime-cu11", "cuda_runtime"),
    "libcublasLt.so.11": ("nvidia-cublas-cu11", "cublas"),
    "libcublas.so.11": ("nvidia-cublas-cu11", "cublas"),
    "libcufft.so.10": ("nvidia-cufft-cu11", "cufft"),
    "libcurand.so.10": ("nvidia-curand-cu11", "curand"),
    "libcusparse.so.11": ("nvidia-cusparse-cu11", "cusparse"),
    "libcusolver.so.11": ("nvidia-cusolver-cu11", "cusolver"),
    "libnvrtc.so.11.2": ("nvidia-cuda-nvrtc-cu11", "cuda_nvrtc"),
    "libcudnn.so.8": ("nvidia-cudnn-cu11", "cudnn"),
}
DRIVER = "libcuda.so.1"
PTH_NAME = "bert_ms_nvidia.pth"
PTH_LINE = ("import sys; exec(\"try:\\n import bert_ms.runtime.nvidia as m\\n m.install_hook()\\n"
            "except Exception:\\n pass\")\n")

_STATE: dict = {}  # "preloaded": {soname: path}, "errors": {soname: message}, "late": bool


# ----------------------------------------------------------------------------------------------
# What the plugin needs: DT_NEEDED entries of an ELF file, read without binutils
# ----------------------------------------------------------------------------------------------


def needed_sonames(path: str | os.PathLike) -> list[str]:
    """The ``DT_NEEDED`` entries of a 64-bit little-endian ELF shared library (what ``readelf -d`` shows)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
        shoff, = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]
        needed = []
        for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
            if kind != 6:  # SHT_DYNAMIC
                continue
            str_offset, str_size = sections[link][4], sections[link][5]
            f.seek(str_offset)
            strings = f.read(str_size)
            f.seek(offset)
            raw = f.read(size)
            for i in range(0, size, entsize or 16):
                tag, value = struct.unpack_from("<qQ", raw, i)
                if tag == 0:  # DT_NULL
                    break
                if tag == 1:  # DT_NEEDED
                    needed.append(strings[value:strings.index(b"\0", value)].decode())
        return needed


def mindspore_plugin_dir() -> Path | None:
    """``site-packages/mindspore/lib/plugin`` (found without importing MindSpore), or None."""
    spec = importlib.util.find_spec("mindspore")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "lib" / "plugin"
    return path if path.is_dir() else None


def gpu_plugins() -> list[Path]:
    """MindSpore's GPU plugin files, newest CUDA first (the order MindSpore tries them without ``CUDA_HOME``)."""
    folder = mindspore_plugin_dir()
    if folder is None:
        return []
    return sorted(folder.glob("libmindspore_gpu.so.*"), reverse=True)


def _is_cuda(soname: str) -> bool:
    """A library of the CUDA toolkit, cuDNN or the driver (not MindSpore's own ``libcuda_ops``)."""
    return soname.startswith(("libcu", "libnvrtc")) and not soname.startswith("libcuda_ops")


def plugin_cuda_sonames(plugin: Path | None = None) -> list[str]:
    """The CUDA sonames the (newest) GPU plugin and its resource manager need, driver included."""
    plugins = [plugin] if plugin else gpu_plugins()[:1]
    if not plugins:
        return []
    files = [plugins[0], plugins[0].parent / "gpu" / "libmindspore_gpu_res_manager.so"]
    found: list[str] = []
    for f in files:
        if f.is_file():
            for name in needed_sonames(f):
                if _is_cuda(name) and name not in found:
                    found.append(name)
    return found


# ----------------------------------------------------------------------------------------------
# Where the wheels put them, and loading them
# ----------------------------------------------------------------------------------------------


def site_dirs() -> list[Path]:
    """The site-packages folders of this interpreter (``purelib`` first)."""
    dirs = [Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["platlib"])]
    dirs += [Path(p) for p in sys.path if p.endswith("site-packages")]
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d not in out:
            out.append(d)
    return out


def wheel_library(soname: str) -> Path | None:
    """The file a ``nvidia-*-cu11`` wheel installed for ``soname``, or None."""
    if soname not in WHEELS:
        return None
    for site in site_dirs():
        path = site / "nvidia" / WHEELS[soname][1] / "lib" / soname
        if path.is_file():
            return path
    return None


def wheel_lib_dirs() -> list[Path]:
    """``site-packages/nvidia/*/lib`` folders that hold at least one library of :data:`WHEELS`."""
    dirs: list[Path] = []
    for soname in WHEELS:
        path = wheel_library(soname)
        if path is not None and path.parent not in dirs:
            dirs.append(path.parent)
    return dirs


def driver_present() -> bool:
    """Whether the NVIDIA driver's ``libcuda.so.1`` can be loaded (loading it does not touch the GPU)."""
    try:
        ctypes.CDLL(DRIVER)
        return True
    except OSError:
        return False


def preload(force: bool = False) -> dict[str, str]:
    """Load every library of :data:`WHEELS` that a wheel installed, by full path with ``RTLD_GLOBAL``.

    Returns {soname: path loaded}. Does nothing (returns {}) when no wheel is installed, or, unless
    ``force``, when no NVIDIA driver is present. Libraries that need one another (cuSOLVER needs
    cuBLAS) are retried until no more load; failures are kept in ``status()["errors"]``.
    """
    if "preloaded" in _STATE and not force:
        return dict(_STATE["preloaded"])
    done: dict[str, str] = {}
    errors: dict[str, str] = {}
    files = {s: p for s in WHEELS if (p := wheel_library(s)) is not None}
    if files and (force or driver_present()):
        dirs = os.pathsep.join(str(d) for d in wheel_lib_dirs())
        old = os.environ.get("LD_LIBRARY_PATH")
        os.environ["LD_LIBRARY_PATH"] = dirs + (os.pathsep + old if old else "")  # for child processes
        todo = dict(files)
        while todo:
            progress = False
            for soname, path in list(todo.items()):
                try:
                    ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
                except OSError as err:
                    errors[soname] = str(err)
                    continue
                done[soname] = str(path)
                errors.pop(soname, None)
                del todo[soname]
                progress = True
            if not progress:
                break
    _STATE["preloaded"], _STATE["errors"] = done, errors
    return dict(done)


def status() -> dict:
    """What :func:`preload` did: ``preloaded`` {soname: path}, ``errors`` {soname: message}, and ``late``
    (True when MindSpore had been imported before the hook could run)."""
    return {"preloaded": dict(_STATE.get("preloaded", {})), "errors": dict(_STATE.get("errors", {})),
            "late": bool(_STATE.get("late", False))}


def loadable(soname: str) -> tuple[bool, str]:
    """Whether ``soname`` can be loaded by this process now (from the system, ``LD_LIBRARY_PATH`` of the
    process start, or already preloaded); (False, the loader's message) otherwise."""
    try:
        ctypes.CDLL(soname)
        return True, ""
    except OSError as err:
        return False, str(err)


def _wanted_here() -> bool:
    target = settings.device_target().strip().lower()
    return target in ("auto", "gpu")


class _PreloadBeforeMindSpore:
    """A ``sys.meta_path`` entry that preloads the wheels' libraries when ``mindspore`` is first imported,
    then steps aside (it never imports anything itself)."""

    def find_spec(self, name, path=None, target=None):
        if name == "mindspore":
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            if _wanted_here():
                preload()
        return None


def install_hook() -> bool:
    """Arrange for :func:`preload` to run just before the first ``import mindspore`` (what the ``.pth`` file
    calls at interpreter start). Returns False when no wheel is installed or MindSpore is already imported."""
    if not wheel_lib_dirs():
        return False
    if "mindspore" in sys.modules:
        _STATE["late"] = True
        return False
    if not any(isinstance(f, _PreloadBeforeMindSpore) for f in sys.meta_path):
        sys.meta_path.insert(0, _PreloadBeforeMindSpore())
    return True


def pth_path() -> Path:
    return Path(sysconfig.get_paths()["purelib"]) / PTH_NAME


def write_pth() -> Path:
    """Write the one-line ``.pth`` file that calls :func:`install_hook` in every Python of this environment."""
    path = pth_path()
    path.write_text(PTH_LINE, encoding="utf-8")
    return path


def report_lines() -> list[str]:
    """One line per soname the GPU plugin needs: where it comes from, or what is missing."""
    lines = []
    plugins = gpu_plugins()
    if not plugins:
        return ["MindSpore's GPU plugin (mindspore/lib/plugin/libmindspore_gpu.so.*) is not installed"]
    lines.append(f"plugin {plugins[0].name} needs: {', '.join(plugin_cuda_sonames())}")
    for soname in plugin_cuda_sonames():
        wheel = wheel_library(soname)
        ok, why = loadable(soname)
        if soname == DRIVER:
            where = "the NVIDIA driver" if ok else f"MISSING: no NVIDIA driver ({why})"
        elif ok:
            where = f"loadable ({wheel if wheel else 'from the system'})"
        elif wheel:
            where = f"in {wheel} but not loadable: {why}"
        else:
            where = f"MISSING: pip package {WHEELS.get(soname, ('?',))[0]} (make setup-gpu)"
        lines.append(f"  {soname:20s} {where}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "check"
    if command == "install":
        print(f"wrote {write_pth()} (the NVIDIA wheels' libraries load before MindSpore does)")
        return 0
    if command == "uninstall":
        pth_path().unlink(missing_ok=True)
        print(f"removed {pth_path()}")
        return 0
    if command == "check":
        preload(force=True)
        lines = report_lines()
        print("\n".join(lines))
        return 1 if any("MISSING" in line or "not loadable" in line for line in lines[1:]
                        if DRIVER not in line) else 0
    print("usage: python -m bert_ms.runtime.nvidia [check|install|uninstall]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
