"""Chinese characters in every figure, on any machine (中文字体).

A fresh laptop or cloud image often has no CJK font, and matplotlib then draws each Chinese character as
an empty box with a "Glyph … missing" warning. The course pins a font instead of hoping for one: the
package ``pylopdf-fonts-zh-cn`` (in the lock) ships Noto Sans SC (SIL Open Font License 1.1).
:func:`register` adds it to matplotlib as a *fallback* after the default family (DejaVu Sans), so Latin
text looks as before and only the glyphs DejaVu lacks (汉字, full-width punctuation) come from Noto Sans SC.

:func:`bert_ms.runtime.device.setup` calls it, so every lesson has it from its first cell.
"""

from __future__ import annotations

import functools
from pathlib import Path

FAMILY = "Noto Sans SC"


def font_path() -> Path | None:
    """The pinned Noto Sans SC file, or None where the font package is not installed."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        return None
    path = Path(pylopdf_fonts_zh_cn.__file__).with_name("NotoSansSC-Regular.otf")
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def register() -> str | None:
    """Make Noto Sans SC matplotlib's fallback for sans-serif text; return its family name, or None
    (and change nothing) where matplotlib or the font is missing."""
    path = font_path()
    if path is None:
        return None
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return None
    font_manager.fontManager.addfont(str(path))
    # matplotlib falls back glyph by glyph along the *font.family* list (3.6+); a generic family such as
    # "sans-serif" counts as one entry (its first installed font), so the fallback is appended there
    families = [f for f in matplotlib.rcParams["font.family"] if f != FAMILY]
    matplotlib.rcParams["font.family"] = [*families, FAMILY]
    return FAMILY
