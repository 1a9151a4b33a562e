"""Environment checks, apart from the code tests (``-m env``): the environment is what the lock says,
mindnlp works, and CUDA PyTorch never sneaks in."""

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.env

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)$")


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{name}: not an exact pin: {line!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_every_line_of_the_lock_is_an_exact_pin_and_the_core_is_there():
    pins = {**_pins("lock.txt"), **_pins("lock-nodeps.txt")}
    assert pins["mindspore"] == "2.7.0"
    assert pins["mindnlp"] == "0.5.1"
    assert pins["numpy"].startswith("1.")
    for core in ("jupyterlab", "matplotlib", "ipykernel", "nbclient", "jupytext", "tokenizers", "safetensors", "tqdm"):
        assert core in pins, core
    assert not any(name == "torch" or name.startswith("nvidia-") for name in pins)


def test_installed_versions_match_the_lock():
    pins = {**_pins("lock.txt"), **_pins("lock-nodeps.txt")}
    wrong = {}
    for name, version in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"installed packages differ from the lock (name: (lock, installed)): {wrong}"


def test_real_pytorch_is_not_installed():
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("torch")


def test_environment_yml_uses_python_311_and_the_same_lock():
    text = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in text
    assert "-r requirements/lock.txt" in text
    assert "requirements/lock-nodeps.txt" in text


def test_mindnlp_bert_forward_runs_on_this_mindspore():
    code = (
        "import mindnlp, torch\n"
        "from transformers import BertConfig, BertModel\n"
        "assert torch.__name__ in ('torch', 'mindtorch') and 'mindtorch' in torch.__file__\n"
        "cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,"
        " intermediate_size=32)\n"
        "out = BertModel(cfg).eval()(input_ids=torch.tensor([[2, 5, 7, 3, 0]]),"
        " attention_mask=torch.tensor([[1, 1, 1, 1, 0]]))\n"
        "print(tuple(out.last_hidden_state.shape), tuple(out.pooler_output.shape))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "(1, 5, 16) (1, 16)" in res.stdout
