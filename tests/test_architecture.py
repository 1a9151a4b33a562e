"""The package layout (docs/architecture.md): rooms by lesson, no import circles, no upward imports.

Every ``import``/``from ... import`` of ``bert_ms`` code anywhere in a module (at the top or inside a
function) is read with ``ast`` and checked against the allowed direction of dependencies:

    runtime  <-  data, transformer, classic  <-  accel, bert  <-  train  <-  exercises, cli, selftest

(``accel`` swaps fused versions of ``transformer``'s cells into a model from outside, so it knows them.)

so a learner reading ``bert/model.py`` only meets code from earlier lessons.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "bert_ms"

# room -> rooms it may import from (besides itself)
ALLOWED = {
    "runtime": set(),
    "accel": {"runtime", "transformer"},
    "data": {"runtime"},
    "classic": {"runtime", "data"},
    "transformer": {"runtime"},
    "bert": {"runtime", "data", "transformer"},
    "train": {"runtime", "data", "classic", "transformer", "bert", "accel"},  # classic: features.py reuses ELMo's scalar mix
    "exercises": {"runtime", "data", "classic", "transformer", "bert", "train"},
    "selftest": {"runtime", "data", "transformer", "bert", "train", "accel"},
    "cli": {"runtime", "data", "transformer", "bert", "train", "accel", "selftest", "exercises"},
    "__main__": {"cli"},
    "__init__": set(),  # the lazy public API imports by name through importlib only
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _imports(path: Path) -> set[str]:
    """Every bert_ms module this file imports (``from bert_ms.x import y`` counts ``bert_ms.x.y`` when that
    is a module, else ``bert_ms.x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "bert_ms"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "bert_ms":
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PKG.parent / Path(*candidate.split("."))).with_suffix(".py").is_file() or \
                    (PKG.parent / Path(*candidate.split("."))).is_dir()
                found.add(candidate if is_module else node.module)
    return found


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}
GRAPH = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def test_every_room_is_known_and_says_what_it_holds():
    rooms = {_room(m) for m in MODULES}
    assert rooms <= set(ALLOWED), f"new room(s) without a rule here: {rooms - set(ALLOWED)}"
    for folder in sorted(p for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").is_file()):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) == 1, f"{folder.name}/__init__.py must say in one line what it holds"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    room = _room(module)
    bad = sorted(i for i in GRAPH[module] if _room(i) != room and _room(i) not in ALLOWED[room])
    assert not bad, f"{module} imports {bad}: {room}/ may only import from {sorted(ALLOWED[room]) or 'nothing'}"


def test_no_import_circles():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                cycle = path[path.index(n):] + [n]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_bert_model_reuses_the_lesson_04_encoder_layer_and_nothing_above_it():
    """bert/model.py reads top to bottom: BERT from lesson 04's pieces plus its own config and weights."""
    deps = GRAPH["bert_ms.bert.model"]
    assert "bert_ms.transformer.model" in deps
    assert {_room(d) for d in deps} <= {"runtime", "transformer", "bert"}
    source = MODULES["bert_ms.bert.model"].read_text(encoding="utf-8")
    for name in ("class BertEmbeddings", "class BertEncoder", "class BertPooler", "class BertModel",
                 "class BertForPreTraining", "class BertForSequenceClassification",
                 "class BertForTokenClassification", "class BertForQuestionAnswering", "def load_pretrained"):
        assert name in source, f"bert/model.py lacks {name}"
    assert len(source.splitlines()) < 500, "bert/model.py should stay a readable few hundred lines"


def test_the_numpy_reference_needs_only_numpy():
    """bert/reference.py is BERT in plain NumPy (what the tests, lesson 06's checks and the self-test compare the
    package with): it imports no bert_ms module and no MindSpore."""
    tree = ast.parse(MODULES["bert_ms.bert.reference"].read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "math", "numpy"}, imported


def test_public_api_at_the_top():
    import bert_ms

    names = ["BertConfig", "BertModel", "BertForPreTraining", "BertForSequenceClassification", "BertTokenizer",
             "load_pretrained", "save_pretrained", "Trainer", "device"]
    for name in names:
        obj = getattr(bert_ms, name)  # raises if the name is missing; then: the package's own object, not a shadow
        home = obj.__name__ if isinstance(obj, type(bert_ms)) else obj.__module__
        assert home.startswith("bert_ms."), f"bert_ms.{name} comes from {home}"
        assert name in bert_ms.__all__, f"{name} is missing from bert_ms.__all__"
    from bert_ms import BertModel, load_pretrained  # noqa: F401 - the form the issue asks for
