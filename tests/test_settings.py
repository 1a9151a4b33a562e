"""One settings rule: an explicit argument or flag beats the environment variable, which beats the default;
and every BERT_MS_ variable is read in one place, bert_ms/runtime/settings.py."""

import ast
import re
from pathlib import Path

import pytest

from bert_ms.runtime import settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bert_ms"


@pytest.mark.parametrize(("reader", "variable", "default", "value"), [
    (settings.device_target, "BERT_MS_DEVICE", "auto", "CPU"),
    (settings.execution_mode, "BERT_MS_MODE", "graph", "pynative"),
    (settings.precision, "BERT_MS_PRECISION", "fp32", "fp16"),
])
def test_explicit_beats_variable_beats_default(reader, variable, default, value, monkeypatch):
    monkeypatch.delenv(variable, raising=False)
    assert reader() == default
    monkeypatch.setenv(variable, value)
    assert reader() == value
    assert reader("explicit") == "explicit"
    monkeypatch.setenv(variable, "  ")  # set but empty: the default
    assert reader() == default


def test_language_and_debug(monkeypatch):
    monkeypatch.delenv("BERT_MS_LANG", raising=False)
    assert settings.language() == "en"
    monkeypatch.setenv("BERT_MS_LANG", "zh")
    assert settings.language() == "zh"
    monkeypatch.setenv("BERT_MS_LANG", "fr")
    with pytest.raises(ValueError, match="BERT_MS_LANG"):
        settings.language()
    monkeypatch.setenv("BERT_MS_DEBUG", "1")
    assert settings.debug()
    monkeypatch.setenv("BERT_MS_DEBUG", "0")
    assert not settings.debug()


def _environment_reads(tree: ast.AST):
    """Every os.environ / os.getenv use whose key is a BERT_MS_ string (subscript, .get, getenv, 'in')."""
    for node in ast.walk(tree):
        for sub in ast.walk(node) if isinstance(node, ast.Call | ast.Subscript | ast.Compare) else ():
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value.startswith("BERT_MS_"):
                text = ast.unparse(node)
                if "environ" in text or "getenv" in text:
                    yield node.lineno, text
                break


def test_no_module_but_settings_reads_a_bert_ms_variable():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "runtime" / "settings.py":
            continue
        for line, text in _environment_reads(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {text[:80]}")
    assert not offenders, "BERT_MS_ variables read outside settings.py:\n" + "\n".join(offenders)


def test_the_ast_test_can_fail():
    code = 'import os\nx = os.environ.get("BERT_MS_DEVICE") or "auto"\ny = os.environ["BERT_MS_MODE"]\n'
    assert len(list(_environment_reads(ast.parse(code)))) == 2


def test_every_variable_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    source = (PACKAGE / "runtime" / "settings.py").read_text(encoding="utf-8")
    variables = set(re.findall(r'"(BERT_MS_[A-Z]+)"', source))
    assert {"BERT_MS_DEVICE", "BERT_MS_MODE", "BERT_MS_PRECISION", "BERT_MS_DEBUG", "BERT_MS_LANG"} <= variables
    table = set(re.findall(r"^\| `(BERT_MS_[A-Z]+)`", readme, re.M)) | set(
        re.findall(r"`(BERT_MS_[A-Z]+)`, `(BERT_MS_[A-Z]+)`", readme)[0] if re.search(
            r"`(BERT_MS_[A-Z]+)`, `(BERT_MS_[A-Z]+)`", readme) else ())
    assert variables <= table, f"not in the README's table: {sorted(variables - table)}"


def test_a_cli_flag_beats_the_variable(monkeypatch):
    """`bert-ms info --device CPU` with BERT_MS_DEVICE=GPU on a machine without a GPU: the flag wins (it used
    to fail because the variable overrode the flag)."""
    from bert_ms import cli
    monkeypatch.setenv("BERT_MS_DEVICE", "GPU")
    assert cli.main(["info", "--device", "CPU"]) == 0
