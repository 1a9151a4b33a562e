"""The one device switch: choices, clear one-line errors, environment overrides."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from bert_ms import device


def test_cpu_is_always_available_and_auto_prefers_accelerators():
    targets = device.available_targets()
    assert targets[-1] == "CPU"
    assert list(targets) == [t for t in ("Ascend", "GPU", "CPU") if t in targets]


def test_auto_picks_the_first_available_and_says_why(monkeypatch):
    monkeypatch.delenv("BERT_MS_DEVICE", raising=False)
    info = device.setup(verbose=False)
    assert info.target == device.available_targets()[0]
    assert info.reason.startswith("auto:") and info.target in info.reason


@pytest.mark.parametrize("name", ["cpu", "CPU", " Cpu "])
def test_target_names_are_case_insensitive(name):
    assert device.setup(target=name, verbose=False).target == "CPU"


def test_unknown_target_is_one_line_listing_the_choices():
    with pytest.raises(device.DeviceError) as err:
        device.setup(target="TPU", verbose=False)
    msg = str(err.value)
    assert "\n" not in msg and "TPU" in msg and "CPU, GPU, Ascend" in msg


@pytest.mark.skipif(device.is_available("GPU"), reason="this machine has a GPU")
def test_missing_gpu_names_what_is_missing():
    with pytest.raises(device.DeviceError) as err:
        device.setup(target="GPU", verbose=False)
    msg = str(err.value)
    assert "\n" not in msg and "'GPU' is not available" in msg
    assert "NVIDIA driver" in msg or "CUDA" in msg


@pytest.mark.skipif(device.is_available("GPU"), reason="this machine has a GPU")
def test_fallback_warns_and_uses_cpu():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = device.setup(target="GPU", fallback=True, verbose=False)
    assert info.target == "CPU"
    assert any("falling back to CPU" in str(w.message) for w in caught)


def test_an_explicit_argument_beats_the_environment_which_beats_the_default(monkeypatch):
    monkeypatch.setenv("BERT_MS_MODE", "pynative")
    monkeypatch.setenv("BERT_MS_PRECISION", "fp16")
    # no arguments (what every notebook does): the variables switch the course
    info = device.setup(verbose=False)
    assert (info.target, info.mode, info.precision) == ("CPU", "pynative", "fp16")
    # explicit arguments win over the variables
    info = device.setup(target="CPU", mode="graph", precision="fp32", verbose=False)
    assert (info.mode, info.precision) == ("graph", "fp32")
    # neither: the defaults
    monkeypatch.delenv("BERT_MS_PRECISION")
    monkeypatch.delenv("BERT_MS_MODE")
    info = device.setup(verbose=False)
    assert (info.mode, info.precision) == ("graph", "fp32")
    monkeypatch.setenv("BERT_MS_DEVICE", "GPU")  # this machine has none: an explicit CPU must still win
    assert device.setup(target="CPU", verbose=False).target == "CPU"
    with pytest.raises(device.DeviceError, match="GPU"):
        device.setup(verbose=False)


def test_bf16_on_cpu_is_refused_in_one_line():
    with pytest.raises(device.DeviceError) as err:
        device.setup(target="CPU", precision="bf16", verbose=False)
    assert "\n" not in str(err.value) and "bf16" in str(err.value) and "CPU" in str(err.value)
    device.setup(target="CPU", precision="fp32", verbose=False)


def test_unknown_precision_and_mode_are_refused():
    with pytest.raises(device.DeviceError, match="precision"):
        device.setup(target="CPU", precision="fp8", verbose=False)
    with pytest.raises(device.DeviceError, match="mode"):
        device.setup(target="CPU", mode="eager", verbose=False)


def test_the_switch_has_no_fused_option():
    """The fused CPU kernels have one home (TrainerConfig.fused / bert_ms.accel.accelerate), not the device
    switch, the settings or an environment variable."""
    import dataclasses
    import inspect
    from pathlib import Path

    from bert_ms import settings

    assert "fused" not in inspect.signature(device.setup).parameters
    assert "fused" not in {f.name for f in dataclasses.fields(device.DeviceInfo)}
    assert not hasattr(settings, "fused") and not hasattr(device, "fused_choice")
    package = Path(device.__file__).resolve().parents[1]
    assert not [p for p in package.rglob("*.py") if "BERT_MS_FUSED" in p.read_text(encoding="utf-8")]


def test_jit_compiles_in_graph_mode_and_is_identity_in_pynative():
    import mindspore as ms

    def f(x):
        return x * 2 + 1

    device.setup(target="CPU", mode="pynative", verbose=False)
    assert device.jit(f) is f
    device.setup(target="CPU", mode="graph", verbose=False)
    compiled = device.jit(f)
    assert compiled is not f
    out = compiled(ms.Tensor(np.arange(3, dtype=np.float32)))
    np.testing.assert_allclose(out.asnumpy(), [1, 3, 5])
    device.setup(target="CPU", mode="pynative", verbose=False)


def test_seed_makes_mindspore_random_reproducible():
    import mindspore as ms

    device.setup(target="CPU", seed=123, verbose=False)
    a = ms.ops.uniform((4,), ms.Tensor(0.0), ms.Tensor(1.0)).asnumpy()
    device.setup(target="CPU", seed=123, verbose=False)
    b = ms.ops.uniform((4,), ms.Tensor(0.0), ms.Tensor(1.0)).asnumpy()
    np.testing.assert_array_equal(a, b)


def _cli(*args, env=None):
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "bert_ms", *args], capture_output=True, text=True,
                          env=full_env, timeout=120)


def test_info_reports_versions_and_cpu():
    res = _cli("info", env={"BERT_MS_DEVICE": "auto"})
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for key in ("python", "mindspore   2.7.0", "mindnlp     0.5.1", "bert_ms", "mode", "precision", "data", "cache"):
        assert key in out
    if not (device.is_available("GPU") or device.is_available("Ascend")):
        assert "chosen      CPU" in out


@pytest.mark.skipif(device.is_available("GPU"), reason="this machine has a GPU")
def test_cli_wrong_target_prints_one_line_not_a_traceback():
    res = _cli("info", "--device", "GPU", env={"BERT_MS_DEVICE": ""})
    assert res.returncode == 2
    err_lines = [line for line in res.stderr.splitlines() if line.startswith("bert-ms: error")]
    assert len(err_lines) == 1 and "GPU" in err_lines[0]
    assert "Traceback" not in res.stderr


def test_an_operation_before_setup_does_not_break_setup_or_a_model():
    """Any MindSpore op run before device.setup() used to make setup() (and BertModel(cfg), which set the
    device up late) fail with MindSpore's 'The runtime has been initialized'. Now a model builds without
    touching the device, and setup() accepts the device the runtime already runs on."""
    import subprocess
    import sys
    code = ("import mindspore as ms\nfrom mindspore import ops\nx = ops.ones((2, 2), ms.float32) * 2\n"
            "from bert_ms import BertConfig, BertModel\nBertModel(BertConfig.preset('tiny'))\n"
            "from bert_ms.runtime import device\nprint(device.setup(verbose=False).target)\n"
            "BertModel(BertConfig.preset('tiny'))\nprint('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["CPU", "ok"]
