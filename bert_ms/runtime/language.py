"""The Chinese edition's short strings: figure labels and exercise messages (中文版的图表与提示).

The lessons' code cells are the same in both editions, byte for byte, so a figure title written in a code
cell is English. In the Chinese edition (``BERT_MS_LANG=zh``, set by the generated notebook's first cell)
:func:`install` makes matplotlib show the Chinese of every label found in the catalog
``strings_zh/*.tsv`` (one file per lesson plus ``common.tsv`` for the exercise framework; one
``english<TAB>中文`` line each; ``{}`` matches any text and is carried over in
order, so ``loss at step {}`` → ``第 {} 步的损失``; ``{1}``, ``{2}`` reorder them), and :func:`translate` does the same for the lines the
exercise checks print. A string that is not in the catalog is shown as written.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from bert_ms.runtime import settings

CATALOG = Path(__file__).with_name("strings_zh")  # a folder of .tsv files (or one .tsv file, in tests)


@functools.lru_cache(maxsize=1)
def _catalog() -> tuple[dict[str, str], list[tuple[re.Pattern, str]]]:
    exact: dict[str, str] = {}
    templates: list[tuple[re.Pattern, str]] = []
    files = sorted(CATALOG.glob("*.tsv")) if CATALOG.is_dir() else [CATALOG] if CATALOG.is_file() else []
    for file in files:
        for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            english, sep, chinese = line.partition("\t")
            if not sep or not chinese.strip():
                raise ValueError(f"{file.name} line {n}: expected 'english<TAB>中文', got {line!r}")
            slots = english.count("{}")
            numbered = sorted(int(k) for k in re.findall(r"\{(\d)\}", chinese))
            if (numbered and numbered != list(range(1, slots + 1))) or (not numbered and chinese.count("{}") != slots):
                raise ValueError(f"{file.name} line {n}: the English has {slots} {{}} slot(s); the Chinese must have as "
                                 "many {}, or {1}..{n} to reorder them")
            if slots:
                pattern = "^" + r"(.+?)".join(re.escape(part) for part in english.split("{}")) + "$"
                templates.append((re.compile(pattern, re.S), chinese, len(english) - 2 * slots))
            else:
                exact[english] = chinese
    templates.sort(key=lambda t: -t[2])  # the most specific template (most fixed text) is tried first
    return exact, [(p, c) for p, c, _ in templates]
    for n, line in enumerate(CATALOG.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        english, sep, chinese = line.partition("\t")
        if not sep or not chinese.strip():
            raise ValueError(f"{CATALOG.name} line {n}: expected 'english<TAB>中文', got {line!r}")
        if english.count("{}") != chinese.count("{}"):
            raise ValueError(f"{CATALOG.name} line {n}: {{}} appears {english.count('{}')} times in the English and "
                             f"{chinese.count('{}')} times in the Chinese")
        if "{}" in english:
            pattern = "^" + r"(.+?)".join(re.escape(part) for part in english.split("{}")) + "$"
            templates.append((re.compile(pattern, re.S), chinese))
        else:
            exact[english] = chinese
    return exact, templates


HINT = (" Hint: ", "提示：")  # the checks end a message with " Hint: ..."; each side is translated on its own


def to_chinese(text: str) -> str:
    """The catalog's Chinese for ``text`` (exact first, then templates); ``text`` itself if none."""
    if HINT[0] in text:
        head, _, hint = text.partition(HINT[0])
        return to_chinese(head) + HINT[1] + to_chinese(hint)
    exact, templates = _catalog()
    if text in exact:
        return exact[text]
    for pattern, chinese in templates:
        m = pattern.match(text)
        if m:
            groups = [to_chinese(g) for g in m.groups()]
            if re.search(r"\{\d\}", chinese):  # {1}, {2}: the slots in another order
                return re.sub(r"\{(\d)\}", lambda k, g=groups: g[int(k.group(1)) - 1], chinese)
            parts = chinese.split("{}")
            return parts[0] + "".join(g + p for g, p in zip(groups, parts[1:]))
    return text


def translate(text: str) -> str:
    """``text`` in the edition's language: unchanged in English, from the catalog in Chinese."""
    return to_chinese(text) if settings.language() == "zh" else text


@functools.lru_cache(maxsize=1)
def install() -> bool:
    """In the Chinese edition, make every matplotlib text pass through :func:`to_chinese`; True when installed."""
    if settings.language() != "zh":
        return False
    from matplotlib import text as mtext

    original = mtext.Text.set_text

    def set_text(self, s):
        original(self, s)
        current = self.get_text()
        if current:
            chinese = to_chinese(current)
            if chinese != current:
                original(self, chinese)

    mtext.Text.set_text = set_text
    return True
