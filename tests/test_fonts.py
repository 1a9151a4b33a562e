"""Chinese characters in figures on a fresh machine (bert_ms.runtime.fonts).

This machine has no system CJK font (`fc-list :lang=zh` is empty), so without the pinned Noto Sans SC
matplotlib draws boxes and warns "Glyph … missing from font(s) DejaVu Sans". The test renders Chinese
text in a fresh process and fails on any missing-glyph warning; a negative control without the font
proves the test can fail.
"""

import subprocess
import sys
import textwrap

RENDER = textwrap.dedent("""
    import warnings, io, sys
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bert_ms.runtime import fonts
    if sys.argv[1] == "register":
        assert fonts.register() == "Noto Sans SC"
        # a second call changes nothing (setup() may run more than once in a notebook)
        assert fonts.register() == "Noto Sans SC"
        assert matplotlib.rcParams["font.family"].count("Noto Sans SC") == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.set_title("掩码语言模型 (MLM) 与 下一句预测，预训练 loss")
        ax.set_xlabel("词向量 · 注意力机制 — 2.5")
        ax.text(0.5, 0.5, "我们 [MASK] 了 ——「」")
        fig.savefig(io.BytesIO(), format="png")
        fig.savefig(io.BytesIO(), format="svg")
    print(sum("missing from font" in str(w.message) for w in caught))
""")


def _missing(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", RENDER, mode], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1])


def test_chinese_text_renders_with_no_missing_glyph():
    assert _missing("register") == 0


def test_without_the_font_the_glyphs_are_missing_here():
    # the negative control: this is what a learner's fresh machine shows without the pinned font
    # (skips where the machine has a system CJK font of its own)
    import shutil
    if shutil.which("fc-list"):
        has_cjk = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip()
        if has_cjk:
            import pytest
            pytest.skip("this machine has a system CJK font")
    assert _missing("none") > 0


def test_setup_registers_the_font(monkeypatch):
    import matplotlib

    from bert_ms.runtime import device, fonts
    device.setup(verbose=False)
    assert fonts.font_path() is not None and fonts.font_path().name == "NotoSansSC-Regular.otf"
    assert "Noto Sans SC" in matplotlib.rcParams["font.family"]
