"""``bert-ms selftest`` and ``make setup-gpu``: the quick self-test passes on CPU, every failure names its cause
and a next step (each simulated by taking the piece away), the GPU lock pins what the plugin needs, and the
NVIDIA wheels' libraries become findable without LD_LIBRARY_PATH."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bert_ms import selftest
from bert_ms.bert import reference
from bert_ms.runtime import device, diagnosis, nvidia

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock-gpu.txt"


def _args(**kw) -> argparse.Namespace:
    base = {"device": "CPU", "precision": "fp32", "quick": True, "json": None}
    return argparse.Namespace(**{**base, **kw})


# ----------------------------------------------------------------------------------------------
# The whole quick self-test, as a learner runs it
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_quick_selftest_passes_on_cpu_and_writes_the_json_report(tmp_path):
    report = tmp_path / "out" / "report.json"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("BERT_MS_")}
    proc = subprocess.run([sys.executable, "-m", "bert_ms", "selftest", "--device", "CPU", "--quick",
                           "--json", str(report)], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    verdict = next(line for line in lines if line.startswith("verdict:"))
    assert verdict.startswith("verdict: PASS") and "CPU (fp32)" in verdict
    data = json.loads(report.read_text())
    status = {c["name"]: c["status"] for c in data["checks"]}
    assert status == {"environment": "PASS", "forward": "PASS", "train-graph": "PASS", "train-pynative": "PASS",
                      "fused": status["fused"], "save-load": "PASS", "speed": "PASS", "notebook": "SKIP"}
    assert status["fused"] in ("PASS", "SKIP")  # SKIP only where no C++ compiler builds the kernels
    if shutil.which("g++"):
        assert status["fused"] == "PASS", data["checks"]
    assert data["ok"] is True and data["device"] == "CPU" and data["verdict"] in verdict
    figures = {c["name"]: c["figure"] for c in data["checks"]}
    # the measured figures are there and mean what they say
    err = float(re.search(r"= ([\d.e+-]+) \(tolerance", figures["forward"]).group(1))
    assert err <= selftest.FORWARD_TOL["fp32"]
    first, last = map(float, re.search(r"loss ([\d.]+) -> ([\d.]+)", figures["train-graph"]).groups())
    assert last < first
    assert float(re.search(r"([\d,]+) tokens/s", figures["speed"]).group(1).replace(",", "")) > 0
    # one line per check, in order, then the verdict last
    names = [line.split()[1] for line in lines if line.split()[0] in ("PASS", "FAIL", "SKIP")]
    assert names == list(status)
    assert lines[-2].startswith("verdict:") or lines[-1].startswith("verdict:")


# ----------------------------------------------------------------------------------------------
# Failures: each simulated by removing the piece; each names a cause and a next step
# ----------------------------------------------------------------------------------------------


def _environment_failure(target="GPU", precision="fp32"):
    test = selftest.Selftest(target, precision, quick=True, out=lambda line: None)
    check = test.check("environment", test.environment, needs_device=False)
    return test, check


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine whose MindSpore has no GPU target; the libraries' presence is set per test."""
    monkeypatch.setattr(device, "available_targets", lambda: ("CPU",))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    return monkeypatch


def _loadable(present):
    return lambda soname: (soname in present, "" if soname in present else f"{soname}: cannot open shared object file")


def test_missing_driver_is_named_first(no_gpu):
    no_gpu.setattr(nvidia, "loadable", _loadable(set()))
    test, check = _environment_failure()
    assert check.status == "FAIL" and test.target is None
    assert "libcuda.so.1" in check.cause and "NVIDIA driver" in check.cause and "nvidia-smi" in check.next_step
    assert any("libcudnn.so.8" in a and "make setup-gpu" in a for a in check.also)  # the rest listed below it
    assert {c.status for c in test.report.checks} == {"FAIL"}


def test_missing_cuda_library_names_the_soname_and_the_pinned_package(no_gpu):
    present = set(nvidia.plugin_cuda_sonames()) - {"libcudnn.so.8", "libcublas.so.11"}
    no_gpu.setattr(nvidia, "loadable", _loadable(present))
    no_gpu.setattr(nvidia, "wheel_library", lambda soname: None)
    _, check = _environment_failure()
    assert check.status == "FAIL"
    assert check.cause == "CUDA library not found: libcublas.so.11, libcudnn.so.8"
    assert "make setup-gpu" in check.next_step
    assert "nvidia-cudnn-cu11" in check.next_step and "nvidia-cublas-cu11" in check.next_step


def test_wheels_installed_but_not_made_findable(no_gpu, tmp_path):
    present = set(nvidia.plugin_cuda_sonames()) - {"libcudnn.so.8"}
    no_gpu.setattr(nvidia, "loadable", _loadable(present))
    no_gpu.setattr(nvidia, "wheel_library", lambda soname: tmp_path / soname)
    no_gpu.setattr(nvidia, "pth_path", lambda: tmp_path / "absent.pth")
    _, check = _environment_failure()
    assert "installed but not made findable" in check.cause and "libcudnn.so.8" in check.cause
    assert "make setup-gpu" in check.next_step and "bert_ms_nvidia.pth" in check.next_step


def test_wheels_installed_but_mindspore_imported_first(no_gpu, tmp_path):
    present = set(nvidia.plugin_cuda_sonames()) - {"libcudart.so.11.0"}
    no_gpu.setattr(nvidia, "loadable", _loadable(present))
    no_gpu.setattr(nvidia, "wheel_library", lambda soname: tmp_path / soname)
    no_gpu.setattr(nvidia, "status", lambda: {"preloaded": {}, "errors": {}, "late": True})
    _, check = _environment_failure()
    assert "imported before" in check.cause and "new Python process" in check.next_step


def test_cuda_home_of_another_major_version(no_gpu):
    no_gpu.setattr(nvidia, "loadable", _loadable(set(nvidia.plugin_cuda_sonames())))
    no_gpu.setenv("CUDA_HOME", "/usr/local/cuda-12.2")
    no_gpu.setattr(diagnosis, "_nvcc_release", lambda home: "12.2")
    _, check = _environment_failure()
    assert "CUDA_HOME=/usr/local/cuda-12.2 has nvcc 12.2" in check.cause and "unset CUDA_HOME" in check.next_step


def test_cann_missing(monkeypatch):
    monkeypatch.setattr(device, "available_targets", lambda: ("CPU",))
    monkeypatch.setattr(diagnosis, "cann_version", lambda: (None, None))
    _, check = _environment_failure("Ascend")
    assert check.status == "FAIL" and check.cause.startswith("CANN missing")
    assert diagnosis.CANN_VERSION in check.next_step and "set_env.sh" in check.next_step


def test_cann_of_the_wrong_version(monkeypatch):
    monkeypatch.setattr(device, "available_targets", lambda: ("CPU",))
    monkeypatch.setattr(diagnosis, "cann_version", lambda: ("/usr/local/Ascend/ascend-toolkit/latest", "7.0"))
    _, check = _environment_failure("Ascend")
    assert "CANN version 7.0" in check.cause and "8.2.RC1" in check.cause
    assert check.next_step == "install CANN 8.2.RC1"


def test_bf16_on_a_target_without_it():
    _, check = _environment_failure("CPU", "bf16")
    assert check.status == "FAIL" and "bf16" in check.cause and "--precision fp16" in check.next_step


@pytest.mark.parametrize("message, cause, step", [
    ("RuntimeError: libcudnn.so.8: cannot open shared object file: No such file or directory",
     "cuDNN 8 library libcudnn.so.8 not found", "nvidia-cudnn-cu11"),
    ("Load dynamic library: libcublas.so.11: cannot open shared object file", "CUDA 11 library libcublas.so.11",
     "make setup-gpu"),
    ("libascendcl.so: cannot open shared object file", "CANN library libascendcl.so", "set_env.sh"),
    ("cuDNN Error: CUDNN_STATUS_VERSION_MISMATCH", "cuDNN error", "cuDNN 8"),
    ("CUDA driver version is insufficient for CUDA runtime version", "driver is too old", ">= 520"),
    ("TypeError: For primitive MatMul, the input type BFloat16 is not supported", "bf16 not supported",
     "--precision fp16"),
    ("CUDA error: no kernel image is available for execution on the device", "architecture", "compute capability"),
])
def test_errors_are_explained(message, cause, step):
    got_cause, got_step = diagnosis.error_advice(RuntimeError(message), "GPU")
    assert cause in got_cause and step in got_step


def test_a_second_target_in_one_process_is_explained():
    err = device.DeviceError("this process already runs on CPU; MindSpore cannot switch to GPU without a restart")
    cause, step = selftest.explain(err)
    assert "already runs on CPU" in cause and "new process" in step


def test_forward_mismatch_fails_with_the_figure(monkeypatch):
    test = selftest.Selftest("CPU", "fp32", quick=True, out=lambda line: None)
    test.target = "CPU"
    real = reference.bert_model

    def off_by_a_bit(*a, **kw):
        seq, pooled = real(*a, **kw)
        return seq + 1e-3, pooled

    monkeypatch.setattr(reference, "bert_model", off_by_a_bit)
    check = test.check("forward", test.forward)
    assert check.status == "FAIL" and "differs from the NumPy reference by 1.00e-03" in check.cause
    assert "tolerance 1e-04" in check.figure and "tests/test_bert.py" in check.next_step


def test_forward_matches_numpy_in_fp32():
    test = selftest.Selftest("CPU", "fp32", quick=True, out=lambda line: None)
    test.target = "CPU"
    check = test.check("forward", test.forward)
    assert check.status == "PASS", check
    assert float(re.search(r"= ([\d.e+-]+) ", check.figure).group(1)) < 1e-5


def test_a_loss_that_does_not_fall_fails():
    test = selftest.Selftest("CPU", "fp32", quick=True)
    with pytest.raises(selftest.Failure, match="did not fall"):
        test._loss_falls([4.2, 4.3, 4.21])
    with pytest.raises(selftest.Failure, match="not finite"):
        test._loss_falls([4.2, float("nan")])
    assert "4.200 -> 3.000" in test._loss_falls([4.2, 3.5, 3.0])


def test_failed_run_exits_1_with_a_verdict_and_json(monkeypatch, tmp_path, capsys):
    """In-process: the device switch of this test session is unchanged afterwards."""
    monkeypatch.setattr(device, "available_targets", lambda: ("CPU",))
    monkeypatch.setattr(nvidia, "loadable", _loadable(set()))
    before = device.current()
    path = tmp_path / "r.json"
    assert selftest.run(_args(device="GPU", json=str(path))) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("verdict: FAIL: 1 of 8 checks failed on GPU (fp32): environment; first fix: install")
    data = json.loads(path.read_text())
    assert data["ok"] is False and data["checks"][0]["status"] == "FAIL" and data["checks"][0]["next_step"]
    assert [c["status"] for c in data["checks"][1:]] == ["SKIP"] * 7
    assert device.current() == before


def test_bad_arguments_are_one_line_errors(capsys):
    assert selftest.run(_args(device="TPU")) == 2
    assert "unknown device target 'TPU'" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# make setup-gpu: the lock pins what the plugin needs; the libraries load without LD_LIBRARY_PATH
# ----------------------------------------------------------------------------------------------


def _gpu_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version and re.fullmatch(r"[\d.]+", version), f"not an exact pin: {line}"
            pins[name.lower()] = version
    return pins


def _soname_of(package: str, version: str) -> str:
    """The soname a ``nvidia-*-cu11`` wheel of this version ships (NVIDIA's rules for CUDA 11)."""
    major, minor = (int(x) for x in version.split(".")[:2])
    if package == "nvidia-cuda-runtime-cu11":
        return "libcudart.so.11.0"  # every CUDA 11.x runtime
    if package == "nvidia-cuda-nvrtc-cu11":
        return "libnvrtc.so.11.2" if minor >= 2 else f"libnvrtc.so.11.{minor}"  # 11.2 .. 11.8 share 11.2
    stem = {"nvidia-cublas-cu11": "libcublas", "nvidia-cufft-cu11": "libcufft", "nvidia-curand-cu11": "libcurand",
            "nvidia-cusolver-cu11": "libcusolver", "nvidia-cusparse-cu11": "libcusparse",
            "nvidia-cudnn-cu11": "libcudnn"}[package]
    return f"{stem}.so.{major}"


def test_the_gpu_lock_pins_every_library_the_plugin_needs():
    needed = nvidia.plugin_cuda_sonames()
    assert needed, "MindSpore's GPU plugin is missing from this install"
    assert "libcudnn.so.8" in needed and "libcudart.so.11.0" in needed  # read from the ELF file itself
    pins = _gpu_pins()
    provided = {_soname_of(p, v): p for p, v in pins.items()}
    for soname in needed:
        if soname == nvidia.DRIVER:
            continue  # the NVIDIA driver, never a wheel
        assert soname in provided, f"{soname} (needed by the plugin) is provided by no pin in {LOCK.name}: {pins}"
        assert nvidia.WHEELS[soname][0] == provided[soname]
    assert set(pins) == {p for p, _ in nvidia.WHEELS.values()}, "a pin the plugin does not need, or a gap"
    assert pins["nvidia-cudnn-cu11"].startswith("8.")  # the plugin is built against cuDNN 8, not 9


def test_elf_reader_agrees_with_readelf():
    plugin = nvidia.gpu_plugins()[0]
    ours = nvidia.needed_sonames(plugin)
    assert "libmindspore_core.so" in ours
    if shutil.which("readelf"):
        out = subprocess.run(["readelf", "-d", str(plugin)], capture_output=True, text=True).stdout
        assert ours == re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out)
    with pytest.raises(ValueError, match="not a 64-bit"):
        nvidia.needed_sonames(LOCK)


def test_make_setup_gpu_installs_the_lock_and_the_hook():
    text = (ROOT / "Makefile").read_text()
    body = text.split("\nsetup-gpu:")[1].split("\n\n")[0]
    assert "pip install --quiet --no-deps -r requirements/lock-gpu.txt" in body
    assert "-m bert_ms.runtime.nvidia install" in body and "-m bert_ms.runtime.nvidia check" in body


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build stand-in libraries")
def test_wheel_libraries_load_before_mindspore_without_ld_library_path(tmp_path):
    """Stand-ins: a 'libcudart.so.11.0' in site-packages/nvidia/cuda_runtime/lib, a 'plugin' that needs it,
    a 'libcuda.so.1' driver. The plugin cannot load until the .pth hook has run at the first
    ``import mindspore`` (here the import machinery's lookup of it, so MindSpore itself is not loaded)."""
    site = tmp_path / "site-packages"
    lib = site / "nvidia" / "cuda_runtime" / "lib"
    driver, plugin_dir = tmp_path / "driver", tmp_path / "plugin"
    for d in (lib, driver, plugin_dir):
        d.mkdir(parents=True)
    library, user = tmp_path / "lib.c", tmp_path / "plugin.c"
    library.write_text("int cuda_stand_in(void) { return 11; }\n")
    user.write_text("extern int cuda_stand_in(void);\nint plugin(void) { return cuda_stand_in(); }\n")

    def build(out: Path, src: Path, *extra: str):
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(src), f"-Wl,-soname,{out.name}", *extra],
                       check=True, capture_output=True)

    build(lib / "libcudart.so.11.0", library)
    build(driver / "libcuda.so.1", library)
    build(plugin_dir / "libplugin.so", user, "-Wl,--no-as-needed", f"-L{lib}", "-l:libcudart.so.11.0")
    assert nvidia.needed_sonames(plugin_dir / "libplugin.so")[0] == "libcudart.so.11.0"
    (site / nvidia.PTH_NAME).write_text(nvidia.PTH_LINE)
    script = textwrap.dedent(f"""
        import ctypes, importlib.util, site, sys
        try:
            ctypes.CDLL({str(plugin_dir / "libplugin.so")!r})
            print("loaded too early")
        except OSError as err:
            print("before:", "libcudart.so.11.0" in str(err))
        site.addsitedir({str(site)!r})   # runs bert_ms_nvidia.pth, as at interpreter start
        print("hook:", any(type(f).__name__ == "_PreloadBeforeMindSpore" for f in sys.meta_path))
        importlib.util.find_spec("mindspore")   # what 'import mindspore' does first
        ctypes.CDLL({str(plugin_dir / "libplugin.so")!r})
        from bert_ms.runtime import nvidia
        print("after: loaded", sorted(nvidia.status()["preloaded"]))
    """)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("BERT_MS_")}
    env["LD_LIBRARY_PATH"] = str(driver)  # the driver is on the system path; the wheel folder is not
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split("\n")[:3] == ["before: True", "hook: True", "after: loaded ['libcudart.so.11.0']"]


def test_the_hook_does_nothing_on_cpu_or_without_wheels(monkeypatch):
    monkeypatch.setattr(nvidia, "wheel_lib_dirs", lambda: [])
    assert nvidia.install_hook() is False
    monkeypatch.setenv("BERT_MS_DEVICE", "CPU")
    assert nvidia._wanted_here() is False
    monkeypatch.setenv("BERT_MS_DEVICE", "gpu")
    assert nvidia._wanted_here() is True


def test_numpy_reference_is_plain_bert_maths():
    """The reference itself, on weights whose result is known by hand: zero query/key weights give uniform
    attention over the real (unmasked) keys; value and output projections are the identity."""
    from bert_ms.bert.config import BertConfig

    cfg = BertConfig(vocab_size=3, hidden_size=2, num_hidden_layers=1, num_attention_heads=1, intermediate_size=2,
                     max_position_embeddings=4, layer_norm_eps=1e-12)
    eye, zero = np.eye(2), np.zeros((2, 2))
    state = {"embeddings.word_embeddings.weight": np.array([[0.0, 0.0], [1.0, 3.0], [2.0, 0.0]]),
             "embeddings.position_embeddings.weight": np.zeros((4, 2)),
             "embeddings.token_type_embeddings.weight": np.zeros((2, 2)),
             "embeddings.LayerNorm.weight": np.ones(2), "embeddings.LayerNorm.bias": np.zeros(2)}
    p = "encoder.layer.0."
    for name, w in (("attention.self.query", zero), ("attention.self.key", zero), ("attention.self.value", eye),
                    ("attention.output.dense", eye), ("intermediate.dense", zero), ("output.dense", eye)):
        state[p + name + ".weight"], state[p + name + ".bias"] = w, np.zeros(2)
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
        state[p + name + ".weight"], state[p + name + ".bias"] = np.ones(2), np.zeros(2)
    ids, types = np.array([[1, 2]]), np.zeros((1, 2), int)
    # embeddings: LayerNorm of (1, 3) and (2, 0) = (-1, 1) and (1, -1); both keys real: the context is their
    # mean (0, 0), so each row stays itself after Add & Norm
    seq, pooled = reference.bert_model(state, cfg, ids, types, np.ones((1, 2), int))
    np.testing.assert_allclose(seq, [[[-1.0, 1.0], [1.0, -1.0]]], atol=1e-6)
    assert pooled is None
    # the second key masked: both rows attend to row 0 only; row 1 becomes LN((1, -1) + (-1, 1)) = LN(0) = 0
    seq, _ = reference.bert_model(state, cfg, ids, types, np.array([[1, 0]]))
    np.testing.assert_allclose(seq, [[[-1.0, 1.0], [0.0, 0.0]]], atol=1e-6)
    np.testing.assert_allclose(reference.gelu(np.array([1.0, -1.0, 0.0])), [0.8413447461, -0.1586552539, 0.0])
