"""One numbering for every exercise: the notebook's heading, the code cell's first line, the check's
printed title and the solution's label all say the same "Exercise N.k", for every exercise of every lesson.

The convention the test reads:

* the check: ``@exercise("Exercise N.k · …")`` in ``bert_ms/exercises/lessonNN.py``;
* the notebook ``notebooks/NN_*.py``: a markdown cell with ``**Exercise N.k`` before the code cell whose
  first line is ``# Exercise N.k …`` and which calls ``check.<name>(``;
* the solution: ``SOLUTIONS[name]`` in ``solutions/NN_*.py`` is defined under the comment ``# Exercise N.k``.
"""

import ast
import importlib.util
import inspect
import re
from pathlib import Path

import jupytext
import pytest

from bert_ms.exercises import check

ROOT = Path(__file__).resolve().parent.parent
CHECKS = check.all_checks()
NUMBER = re.compile(r"Exercise (\d+)\.(\d+)\b")


def _lesson_of(fn) -> str:
    return re.search(r"lesson(\d\d)$", fn.__module__).group(1)


def _number(title: str) -> str:
    m = NUMBER.search(title)
    assert m, f"check title {title!r} has no 'Exercise N.k'"
    return f"{m.group(1)}.{m.group(2)}"


def _solutions(lesson: str):
    (path,) = (ROOT / "solutions").glob(f"{lesson}_*.py")
    spec = importlib.util.spec_from_file_location(f"numbering_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def test_numbers_are_per_lesson_contiguous_and_unique():
    by_lesson: dict[str, list[int]] = {}
    for name, fn in CHECKS.items():
        lesson, number = _lesson_of(fn), _number(fn.title)
        major, minor = number.split(".")
        assert int(major) == int(lesson), f"{name}: titled {number} but defined in lesson {lesson}"
        by_lesson.setdefault(lesson, []).append(int(minor))
    for lesson, minors in by_lesson.items():
        assert sorted(minors) == list(range(1, len(minors) + 1)), f"lesson {lesson}: exercise numbers {sorted(minors)}"


def _definition_line(path: Path, module, name: str) -> int:
    """The line where SOLUTIONS[name] is defined: its def/class, or for a value the assignment it names."""
    answer = module.SOLUTIONS[name]
    if inspect.isfunction(answer) or inspect.isclass(answer):
        return inspect.getsourcelines(answer)[1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SOLUTIONS" for t in node.targets):
            for key, value in zip(node.value.keys, node.value.values):
                if isinstance(key, ast.Constant) and key.value == name:
                    if isinstance(value, ast.Name):
                        for other in tree.body:
                            if isinstance(other, ast.Assign) and any(
                                    isinstance(t, ast.Name) and t.id == value.id for t in other.targets):
                                return other.lineno
                    raise AssertionError(f"{path.name}: SOLUTIONS[{name!r}] must name a variable defined under "
                                         "its '# Exercise N.k' label")
    raise AssertionError(f"{path.name}: SOLUTIONS has no entry {name!r}")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_heading_cell_title_and_solution_agree(name):
    fn = CHECKS[name]
    lesson, number = _lesson_of(fn), _number(fn.title)
    (nb_path,) = (ROOT / "notebooks").glob(f"{lesson}_*.py")
    cells = jupytext.read(nb_path).cells
    calls = [i for i, c in enumerate(cells) if c.cell_type == "code" and re.search(rf"\bcheck\.{name}\(", c.source)]
    assert len(calls) == 1, f"{nb_path.name}: {len(calls)} code cells call check.{name}( (expected 1)"
    i = calls[0]
    first = cells[i].source.lstrip().splitlines()[0]
    m = NUMBER.search(first)
    assert first.startswith("#") and m, f"{nb_path.name}: the cell of check.{name} starts {first!r}, not '# Exercise {number}'"
    assert f"{m.group(1)}.{m.group(2)}" == number, f"{nb_path.name}: cell says {first!r}, the check says {fn.title!r}"
    # the nearest heading before the cell, back to the previous exercise cell, names the same number
    headings = []
    for j in range(i - 1, -1, -1):
        if cells[j].cell_type == "code" and re.search(r"\bcheck\.\w+\(", cells[j].source):
            break
        if cells[j].cell_type == "markdown":
            headings += re.findall(r"\*\*Exercise (\d+\.\d+)", cells[j].source)
    assert headings, f"{nb_path.name}: no '**Exercise {number}' heading above the cell of check.{name}"
    assert headings[0] == number, f"{nb_path.name}: the heading above check.{name} says {headings[0]}, the check {number}"
    # the solution is labelled with the same number
    sol_path, module = _solutions(lesson)
    start = _definition_line(sol_path, module, name)
    text = sol_path.read_text(encoding="utf-8").splitlines()[:start - 1]
    labels = [NUMBER.search(t) for t in text if re.match(r"#\s*Exercise \d+\.\d+", t)]
    assert labels, f"{sol_path.name}: no '# Exercise {number}' label above the solution of {name}"
    label = f"{labels[-1].group(1)}.{labels[-1].group(2)}"
    assert label == number, f"{sol_path.name}: the solution of {name} sits under Exercise {label}, the check says {number}"
