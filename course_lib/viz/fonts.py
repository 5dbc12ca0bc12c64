"""Chinese text in matplotlib plots, without empty boxes.

matplotlib's default font (DejaVu Sans) has no CJK glyphs: Chinese labels
come out as empty boxes, with a "Glyph ... missing" warning.  We look for a
CJK font that is really installed (Windows, macOS and Linux names) and use it;
when there is none, plots fall back to English labels, and CJK characters in
user text (task ids, for instance) are replaced by ``?``.
"""

from __future__ import annotations

import functools
import re
from contextlib import contextmanager
from collections.abc import Iterator
from typing import Optional

__all__ = ["CJK_FONTS", "cjk_font", "label", "safe_text", "plot_style"]

CJK_FONTS = (
    "Microsoft YaHei", "SimHei",  # Windows
    "PingFang SC", "Hiragino Sans GB",  # macOS
    "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC", "Noto Sans SC",  # Linux
)

_CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")


@functools.cache
def cjk_font() -> Optional[str]:
    """The first installed font of `CJK_FONTS`, or None."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def label(zh: str, en: str) -> str:
    """The Chinese label when a CJK font can draw it, else the English one."""
    return zh if cjk_font() else en


def safe_text(text: str) -> str:
    """*text* as is when CJK glyphs can be drawn; otherwise CJK characters become ``?``."""
    return text if cjk_font() else _CJK.sub("?", text)


@contextmanager
def plot_style() -> Iterator[None]:
    """matplotlib settings for the course's plots (CJK font first, if any)."""
    import matplotlib

    font = cjk_font()
    settings = {"axes.unicode_minus": False, "figure.dpi": 100}
    if font:
        settings["font.sans-serif"] = [font, *matplotlib.rcParams["font.sans-serif"]]
        settings["font.family"] = "sans-serif"
    with matplotlib.rc_context(settings):
        yield
