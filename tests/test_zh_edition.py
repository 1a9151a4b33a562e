"""The Chinese edition from one source (scripts/editions.py, bert_ms.runtime.language).

Code cells are the English edition's byte for byte; every English markdown cell has a Chinese block of its
current version (a changed or missing one fails with the cell named); short strings (figure labels, check
messages) come from one catalog.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import jupytext
import pytest
from editions_script import editions

ROOT = Path(__file__).resolve().parent.parent
LESSONS = editions.lessons()


@pytest.fixture
def out_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(editions, "OUT", tmp_path / "zh")
    return tmp_path / "zh"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_code_cells_are_the_english_byte_for_byte(lesson, out_dir):
    en = jupytext.read(lesson)
    zh = jupytext.read(editions.build(lesson))
    assert zh.cells[0].source == editions.LANGUAGE_CELL
    en_code = [c.source for c in en.cells if c.cell_type == "code"]
    zh_code = [c.source for c in zh.cells[1:] if c.cell_type == "code"]
    assert zh_code == en_code
    assert [c.cell_type for c in zh.cells[1:]] == [c.cell_type for c in en.cells]
    assert zh.metadata.get("kernelspec") == en.metadata.get("kernelspec")


def _toy(tmp_path, monkeypatch, cells):
    nb_dir, src = tmp_path / "notebooks", tmp_path / "i18n"
    nb_dir.mkdir()
    src.mkdir()
    monkeypatch.setattr(editions, "SOURCES", src)
    monkeypatch.setattr(editions, "OUT", tmp_path / "zh")
    path = nb_dir / "42_toy.py"
    path.write_text("# %%\n" + "\n\n".join(cells) + "\n", encoding="utf-8")
    return path, src / "42_toy.md"


def test_drift_names_a_missing_and_a_changed_cell(tmp_path, monkeypatch):
    path, zh = _toy(tmp_path, monkeypatch, ["# %% [markdown]\n# ## One\n# first", "# %%\nx = 1",
                                             "# %% [markdown]\n# ## Two\n# second"])
    first, second = editions.markdown_cells(jupytext.read(path))
    zh.write_text(f"<!-- en 0 {editions.digest(first)} -->\n## 一\n第一\n", encoding="utf-8")
    problems = editions.drift(path)
    assert len(problems) == 1 and "markdown cell 1 ('## Two')" in problems[0] and "no Chinese block" in problems[0]
    zh.write_text(zh.read_text(encoding="utf-8") + f"\n<!-- en 1 {editions.digest(second)} -->\n## 二\n第二\n",
                  encoding="utf-8")
    assert editions.drift(path) == []
    built = jupytext.read(editions.build(path))
    assert [c.source for c in built.cells if c.cell_type == "markdown"] == ["## 一\n第一", "## 二\n第二"]
    # the English changes: the block is now out of date, and the message says so
    path.write_text(path.read_text(encoding="utf-8").replace("# second", "# second, revised"), encoding="utf-8")
    problems = editions.drift(path)
    assert len(problems) == 1 and "markdown cell 1 ('## Two')" in problems[0] and "changed since" in problems[0]
    # and the built notebook keeps the new English text under a visible note rather than the stale Chinese
    built = jupytext.read(editions.build(path))
    assert built.cells[-1].source.startswith(editions.UNTRANSLATED.strip()[:6]) and "revised" in built.cells[-1].source


def test_a_moved_cell_keeps_its_block_and_an_orphan_block_is_named(tmp_path, monkeypatch):
    one, two = "# %% [markdown]\n# ## One\n# first", "# %% [markdown]\n# ## Two\n# second"
    path, zh = _toy(tmp_path, monkeypatch, [one, "# %%\nx = 1", two])
    first, second = editions.markdown_cells(jupytext.read(path))
    zh.write_text(f"<!-- en 0 {editions.digest(first)} -->\n一\n\n<!-- en 1 {editions.digest(second)} -->\n二\n"
                  f"\n<!-- en 0 {editions.digest('old text')} -->\n旧的\n", encoding="utf-8")
    problems = editions.drift(path)
    assert len(problems) == 1 and "translates no current cell" in problems[0], problems  # the orphan, at index 0
    path.write_text("# %%\n" + "\n\n".join([two, "# %%\nx = 1", one]) + "\n", encoding="utf-8")  # swap them
    assert [p for p in editions.drift(path) if "orphan" not in p and "no current cell" not in p] == []
    assert [c.source for c in jupytext.read(editions.build(path)).cells if c.cell_type == "markdown"] == ["二", "一"]
    assert editions.reindex(path) == 2  # the two moved blocks; the orphan stays last
    blocks = editions.read_blocks(zh)
    assert [(b.index, b.text) for b in blocks] == [(0, "二"), (1, "一"), (0, "旧的")]  # in order; the orphan last


def test_the_catalog_translates_exact_strings_and_templates(tmp_path, monkeypatch):
    from bert_ms.runtime import language
    catalog = tmp_path / "strings.tsv"
    catalog.write_text("# comment\nloss\t损失\nloss at step {}\t第 {} 步的损失\n{} of {} values differ\t{} 个值中有 {} 个不同\n",
                       encoding="utf-8")
    monkeypatch.setattr(language, "CATALOG", catalog)
    language._catalog.cache_clear()
    try:
        assert language.to_chinese("loss") == "损失"
        assert language.to_chinese("loss at step 12") == "第 12 步的损失"
        assert language.to_chinese("3 of 10 values differ") == "3 个值中有 10 个不同"
        assert language.to_chinese("not in the catalog") == "not in the catalog"
        monkeypatch.setenv("BERT_MS_LANG", "en")
        assert language.translate("loss") == "loss"
        monkeypatch.setenv("BERT_MS_LANG", "zh")
        assert language.translate("loss") == "损失"
    finally:
        language._catalog.cache_clear()


def test_a_broken_catalog_line_is_named(tmp_path, monkeypatch):
    from bert_ms.runtime import language
    catalog = tmp_path / "strings.tsv"
    catalog.write_text("step {}\t步\n", encoding="utf-8")
    monkeypatch.setattr(language, "CATALOG", catalog)
    language._catalog.cache_clear()
    try:
        with pytest.raises(ValueError, match="line 1"):
            language.to_chinese("x")
    finally:
        language._catalog.cache_clear()


def test_the_shipped_catalog_parses():
    from bert_ms.runtime import language
    language._catalog.cache_clear()
    language._catalog()


def test_figure_labels_and_check_lines_are_chinese_in_the_chinese_edition():
    code = textwrap.dedent("""
        import os
        os.environ["BERT_MS_LANG"] = "zh"
        import matplotlib; matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from bert_ms.runtime import language
        language.CATALOG.parent  # the shipped catalog is used, plus two test lines:
        exact, templates = language._catalog()
        exact["training loss"] = "训练损失"
        exact["Exercise T.1 · doubling"] = "练习 T.1 · 加倍"
        exact["correct."] = "正确。"
        assert language.install()
        fig, ax = plt.subplots()
        ax.set_title("training loss")
        print(ax.get_title())
        from bert_ms.exercises import exercise
        @exercise("Exercise T.1 · doubling")
        def doubling(fn):
            assert fn(2) == 4
        doubling(lambda x: 2 * x)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["训练损失", "✓ 练习 T.1 · 加倍：正确。"]


TRANSLATED = [p for p in LESSONS if editions.source_of(p).is_file()]


def test_every_lesson_has_a_chinese_edition():
    missing = [p.name for p in LESSONS if p not in TRANSLATED]
    assert not missing, f"no i18n/zh/ prose for {missing} (python scripts/editions.py stub NN writes the blocks to translate)"


@pytest.mark.parametrize("lesson", TRANSLATED, ids=lambda p: p.stem)
def test_a_translated_lesson_is_in_step_with_the_english(lesson):
    """Every English markdown cell has a Chinese block of its current version (a missing or changed one is
    named), and every figure label / check message the lesson defines has its catalog file."""
    problems = editions.drift(lesson)
    assert not problems, "\n".join(problems)
    assert (ROOT / "bert_ms" / "runtime" / "strings_zh" / f"{lesson.name[:2]}.tsv").is_file()
    assert (ROOT / "lectures" / "zh" / f"{lesson.stem}.md").is_file()


def test_the_chinese_readme_says_which_lessons_are_translated():
    """README.zh.md names the lessons whose Chinese edition is complete; it must match the files, so the
    README never claims a translation that does not exist (nor hides one that does)."""
    import re
    text = (ROOT / "README.zh.md").read_text(encoding="utf-8")
    m = re.search(r"^已译完的课：(.*)$", text, re.M)
    assert m, "README.zh.md has no line '已译完的课：…'"
    stated = sorted(re.findall(r"`(\d\d)_\w+`", m.group(1)))
    assert stated == sorted(p.name[:2] for p in TRANSLATED), (stated, [p.name[:2] for p in TRANSLATED])
