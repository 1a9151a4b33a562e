"""Every exercise check can fail and can pass.

For each check found by ``bert_ms.exercises.check`` there must be, in ``solutions/NN_*.py``:

* ``SOLUTIONS[name]``: the solution, which the check must accept;
* ``WRONG[name]``: at least one typical wrong answer, as ``(answer, words)`` pairs; the check must
  reject it with a message containing ``words`` (so the message names the actual mistake).

The unchanged stub (a function raising ``NotImplementedError``, or ``None`` for a number) must be
reported as "not attempted yet", and ``strict=True`` must raise on it.
"""

import importlib.util
from pathlib import Path

import pytest

from bert_ms.exercises import ExerciseFailed, check

ROOT = Path(__file__).resolve().parent.parent
SOLUTION_FILES = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"solutions_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOLUTIONS, WRONG = {}, {}
for _path in SOLUTION_FILES:
    _mod = _load(_path)
    for _name, _answer in getattr(_mod, "SOLUTIONS", {}).items():
        assert _name not in SOLUTIONS, f"solution for {_name!r} defined twice"
        SOLUTIONS[_name] = _answer
    for _name, _wrongs in getattr(_mod, "WRONG", {}).items():
        WRONG.setdefault(_name, []).extend(_wrongs)

CHECKS = check.all_checks()


def _stub(kind):
    if kind == "value":
        return None

    def stub(*args, **kwargs):
        raise NotImplementedError

    return stub


def test_every_check_has_a_solution_and_a_wrong_answer():
    assert CHECKS, "no exercise checks found"
    assert set(SOLUTIONS) == set(CHECKS), (
        f"checks without a solution: {sorted(set(CHECKS) - set(SOLUTIONS))}; "
        f"solutions without a check: {sorted(set(SOLUTIONS) - set(CHECKS))}")
    missing = [n for n in CHECKS if not WRONG.get(n)]
    assert not missing, f"checks without a typical wrong answer: {missing}"


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_reports_the_stub_as_not_attempted(name, capsys):
    fn = CHECKS[name]
    result = fn(_stub(fn.kind))
    assert result.status == "todo" and not result, result.message
    assert "not attempted" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed):
        fn(_stub(fn.kind), strict=True, quiet=True)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_rejects_typical_mistakes_with_a_message(name):
    for answer, words in WRONG.get(name, []):
        result = CHECKS[name](answer, quiet=True)
        assert result.status == "fail", f"{name}: a wrong answer passed ({words!r})"
        assert words.lower() in result.message.lower(), f"{name}: message {result.message!r} lacks {words!r}"


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_passes_the_solution(name):
    result = CHECKS[name](SOLUTIONS[name], quiet=True)
    assert result.ok, result.message
