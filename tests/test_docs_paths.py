"""Every ``bert_ms.`` module or name and every repository file path that the prose names exists.

Read: README.md, README.zh.md, docs/, data/README.md, models/*/README.md and lectures/ (both editions).
A stale path (a module that moved, a file that was renamed) fails here with the document and the path named.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted([REPO / "README.md", REPO / "README.zh.md", REPO / "data" / "README.md",
               *(REPO / "docs").glob("*.md"), *(REPO / "models").glob("*/README.md"),
               *(REPO / "lectures").rglob("*.md")])
TOP = ("bert_ms", "scripts", "tests", "docs", "data", "models", "notebooks", "lectures", "bench", "solutions",
       "i18n", "requirements", ".ci")
_TOPS = "|".join(re.escape(t) for t in TOP)
_PATH = re.compile(rf"(?<![\w./-])((?:{_TOPS})/[\w./-]*[\w/])")
_DOTTED = re.compile(r"(?<![\w.])(bert_ms(?:\.\w+)+)")
_CODE = re.compile(r"`([^`\n]+)`")


def named(text: str) -> tuple[set[str], set[str]]:
    """(repository paths, bert_ms dotted names) inside the inline code spans of a markdown text."""
    paths, dotted = set(), set()
    for span in _CODE.findall(text):
        if any(c in span for c in "*{}<>$[]") or "NN" in span:  # a pattern or a placeholder (NN_name.md)
            continue
        paths.update(p.rstrip("/.") for p in _PATH.findall(span))
        dotted.update(_DOTTED.findall(span))
    return paths, dotted


def resolves(name: str) -> bool:
    """``bert_ms.a.b.c``: the longest importable module prefix, then attributes for the rest."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_path_and_module_a_document_names_exists(doc):
    paths, dotted = named(doc.read_text(encoding="utf-8"))
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, f"{doc.relative_to(REPO)} names files that do not exist: {missing}"
    unresolved = sorted(d for d in dotted if not resolves(d))
    assert not unresolved, f"{doc.relative_to(REPO)} names bert_ms modules or names that do not exist: {unresolved}"


def test_the_scan_finds_what_is_stale(tmp_path):
    """A negative control: the two stale names issue 24 found in docs/distributed.md are caught."""
    paths, dotted = named("Code: `bert_ms/distributed.py`, used by `bert_ms.training.Trainer` and `bert_ms.data`.")
    assert paths == {"bert_ms/distributed.py"} and not (REPO / "bert_ms/distributed.py").exists()
    assert dotted == {"bert_ms.training.Trainer", "bert_ms.data"}
    assert not resolves("bert_ms.training.Trainer") and resolves("bert_ms.data") and resolves("bert_ms.data.load_sotu")
    assert not resolves("bert_ms.data.no_such_loader")
