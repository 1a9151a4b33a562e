"""The Chinese edition of the lessons, from one source (中文版：一份源代码，两个版本).

The English lessons (``notebooks/NN_name.py``, jupytext py:percent) are the source. The Chinese edition
translates their prose only:

* ``i18n/zh/NN_name.md`` holds one block per English markdown cell, headed by a comment naming the cell
  and the version it translates: ``<!-- en 12 3f2a9c1b0d -->`` is markdown cell 12, whose text has the
  SHA-256 prefix 3f2a9c1b0d. The block runs to the next such comment.
* ``build`` writes ``notebooks/zh/NN_name.py`` (and, through ``make notebooks``, its ``.ipynb``): the
  English notebook with each markdown cell replaced by its Chinese block and every code cell copied byte
  for byte; a first cell ``%env BERT_MS_LANG=zh`` makes figure labels and exercise messages Chinese
  (bert_ms.runtime.language). A cell with no current block is kept in English under a visible note.
* ``check`` lists the drift: an English markdown cell with no block of its version (missing, or changed
  since its block was written: the message names the cell), and blocks that translate no current cell.
  ``tests/test_zh_edition.py`` fails on any of it.
* ``stub NN`` writes, for a lesson, the blocks still missing (the English text to translate), in order.
* ``reindex NN`` puts a lesson's blocks back in the English order after cells moved (text unchanged).

Figure labels and the checks' messages are short strings, translated once in
``bert_ms/runtime/strings_zh.tsv``; the terms of both follow ``i18n/glossary.md``.

    python scripts/editions.py build            # all lessons
    python scripts/editions.py check 03 04
    python scripts/editions.py stub 05          # print the missing blocks of lesson 05
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = ROOT / "i18n" / "zh"
OUT = NOTEBOOKS / "zh"
HEADER = re.compile(r"^<!-- en (\d+) ([0-9a-f]{10}) -->[ \t]*$", re.M)
LANGUAGE_CELL = "%env BERT_MS_LANG=zh"
UNTRANSLATED = "> （本段尚未翻译，以下为英文原文。）\n\n"


def digest(text: str) -> str:
    """The version of an English cell: the first 10 hex digits of the SHA-256 of its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class Block:
    index: int  # which markdown cell of the English notebook (0-based, markdown cells only)
    sha: str
    text: str


def lessons(selected: list[str] | None = None) -> list[Path]:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    if selected:
        paths = [p for p in paths if p.name[:2] in selected]
    return paths


def markdown_cells(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def read_blocks(path: Path) -> list[Block]:
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    heads = list(HEADER.finditer(text))
    blocks = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        blocks.append(Block(int(m.group(1)), m.group(2), text[m.end():end].strip("\n")))
    return blocks


def source_of(lesson: Path) -> Path:
    return SOURCES / f"{lesson.stem}.md"


def drift(lesson: Path) -> list[str]:
    """What the Chinese edition of ``lesson`` lacks: one line per problem, naming the English cell.

    A block is matched to its cell by version (the SHA of the English text), so a cell that moved keeps its
    translation. An English cell without a block is either *changed* (the block written for that position
    translates an English text that no longer exists) or *new*; a block of a text that no longer exists,
    and not reported as the changed cell's old version, translates nothing any more (an orphan)."""
    cells = markdown_cells(jupytext.read(lesson))
    current = [digest(t) for t in cells]
    blocks = read_blocks(source_of(lesson))
    have = {b.sha for b in blocks}
    stale = {b.index: b for b in blocks if b.sha not in set(current)}
    problems, reported = [], set()
    for i, (text, sha) in enumerate(zip(cells, current)):
        if sha in have:
            continue
        first = text.strip().splitlines()[0][:70] if text.strip() else "(empty)"
        old = stale.get(i)
        if old is not None:
            reported.add(old.sha)
            problems.append(f"{lesson.name} markdown cell {i} ({first!r}) changed since its Chinese block was "
                            f"written (block {old.sha}, cell now {sha})")
        else:
            problems.append(f"{lesson.name} markdown cell {i} ({first!r}) has no Chinese block (en {i} {sha})")
    for b in blocks:
        if b.sha not in set(current) and b.sha not in reported:
            problems.append(f"{source_of(lesson).name}: block en {b.index} {b.sha} translates no current cell")
        if not b.text.strip():
            problems.append(f"{source_of(lesson).name}: block en {b.index} {b.sha} is empty")
    return problems


def reindex(lesson: Path) -> int:
    """Rewrite ``i18n/zh/NN_name.md`` with its blocks in the English cells' order and numbered as they are
    now (after cells moved); blocks that translate no current cell are kept at the end, for ``check`` to
    name. Returns how many headers changed."""
    cells = markdown_cells(jupytext.read(lesson))
    blocks = read_blocks(source_of(lesson))
    by_sha = {b.sha: b for b in blocks}
    placed = [Block(i, digest(t), by_sha[digest(t)].text) for i, t in enumerate(cells) if digest(t) in by_sha]
    used = {b.sha for b in placed}
    rest = [b for b in blocks if b.sha not in used]
    order = placed + rest
    source_of(lesson).write_text("".join(f"<!-- en {b.index} {b.sha} -->\n{b.text}\n\n" for b in order).rstrip()
                                 + "\n", encoding="utf-8")
    return sum(1 for a, b in zip(blocks, order) if (a.index, a.sha) != (b.index, b.sha))


def build(lesson: Path, out_dir: Path | None = None) -> Path:
    """Write notebooks/zh/NN_name.py (or ``out_dir``/NN_name.py): Chinese prose, the English code cells byte
    for byte."""
    nb = jupytext.read(lesson)
    by_sha = {b.sha: b.text for b in read_blocks(source_of(lesson))}
    zh = nbformat.v4.new_notebook(metadata=nb.metadata)
    zh.cells.append(nbformat.v4.new_code_cell(LANGUAGE_CELL))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = by_sha.get(digest(cell.source))
            new = nbformat.v4.new_markdown_cell(text if text is not None else UNTRANSLATED + cell.source)
        else:
            new = nbformat.v4.new_code_cell(cell.source)
        new.metadata = dict(cell.metadata)
        zh.cells.append(new)
    out_dir = OUT if out_dir is None else Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / lesson.name
    jupytext.write(zh, out, fmt="py:percent")
    return out


def stub(lesson: Path) -> str:
    """The blocks still missing for ``lesson``, English text inside, in notebook order."""
    nb = jupytext.read(lesson)
    have = {b.sha for b in read_blocks(source_of(lesson))}
    parts = []
    for i, text in enumerate(markdown_cells(nb)):
        if digest(text) not in have:
            parts.append(f"<!-- en {i} {digest(text)} -->\n{text}\n")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("build", "check", "stub", "reindex"))
    parser.add_argument("lessons", nargs="*", help="lesson numbers (e.g. 03 04); all when none")
    args = parser.parse_args(argv)
    paths = lessons(args.lessons)
    if args.command == "build":
        for p in paths:
            build(p)
        print(f"Chinese edition: {len(paths)} notebooks written to {OUT.relative_to(ROOT)}/")
        return 0
    if args.command == "reindex":
        for p in paths:
            print(f"{source_of(p).name}: {reindex(p)} block header(s) renumbered or moved")
        return 0
    if args.command == "stub":
        for p in paths:
            sys.stdout.write(stub(p))
        return 0
    problems = [line for p in paths for line in drift(p)]
    print("\n".join(problems) if problems else f"Chinese edition: {len(paths)} lessons in step with the English")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
