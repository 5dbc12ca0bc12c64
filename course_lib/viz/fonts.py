"""Chinese text in matplotlib plots, on every machine.

matplotlib's default font (DejaVu Sans) has no Chinese glyphs: Chinese labels
come out as empty boxes under a "Glyph ... missing" warning.  So the course
ships its own font: ``CourseLib Sans SC``, a subset of Noto Sans CJK SC
(OFL-1.1) with every character of GB 2312, made by ``tools/make_font.py``.

Example use::

    from course_lib.viz.fonts import course_figure, plot_style

    fig = course_figure(figsize=(6, 3))     # draws with the course's fonts, wherever it is saved
    fig.add_subplot().set_title("我的图")

    with plot_style():                       # or any matplotlib code, pyplot included
        ...

Nothing global changes: the font is added to matplotlib's font list (never
to the user's configuration), and the settings apply inside `plot_style`
only.  A `CourseFigure` applies them whenever it is drawn, so notebook
display, ``fig.savefig`` and ``make images`` all look the same.  Characters
the subset lacks fall back, glyph by glyph, to a Chinese font of the
system when there is one, then to DejaVu Sans.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

__all__ = [
    "FONT_FAMILY", "CourseFigure", "cjk_characters_in", "course_figure", "font_families",
    "font_path", "plot_style",
]

FONT_FAMILY = "CourseLib Sans SC"
FONT_FILE = "CourseLibSansSC-Regular.otf"

# System fonts with Chinese glyphs, tried (after ours) for characters outside the subset.
SYSTEM_CJK_FONTS = (
    "Microsoft YaHei", "SimHei", "DengXian",  # Windows
    "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti",  # macOS
    "Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Droid Sans Fallback",  # Linux
)

_CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")


def cjk_characters_in(text: str) -> set[str]:
    """The CJK characters (ideographs, CJK punctuation, full-width forms) in *text*."""
    return set(_CJK.findall(text))


def font_path() -> str:
    """Where the bundled font file is."""
    return str(Path(__file__).with_name("fontdata") / FONT_FILE)


@functools.cache
def font_families() -> tuple[str, ...]:
    """The font fallback list of the course's plots: ours, system CJK fonts, DejaVu Sans.

    The first call adds the bundled font to matplotlib's font manager (in
    memory only; the user's matplotlib configuration is not touched).
    """
    from matplotlib import font_manager

    font_manager.fontManager.addfont(font_path())
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    system = [name for name in SYSTEM_CJK_FONTS if name in installed]
    return (FONT_FAMILY, *system, "DejaVu Sans")


@contextmanager
def plot_style() -> Iterator[None]:
    """matplotlib settings of the course's plots, for the duration of the block."""
    import matplotlib

    families = list(font_families())
    with matplotlib.rc_context({
        "font.family": families,
        "font.sans-serif": families,  # for text that asks for the generic family
        "axes.unicode_minus": False,
        "figure.dpi": 100,
    }):
        yield


class CourseFigure(Figure):
    """A Figure that is always drawn in the course's style (see `plot_style`).

    Text made outside `plot_style` and tick labels made while drawing get
    the Chinese font too, however and wherever the figure is rendered.
    """

    def draw(self, renderer: Any) -> None:
        with plot_style():
            super().draw(renderer)


def course_figure(**kwargs: Any) -> CourseFigure:
    """A new `CourseFigure` (keyword arguments as for ``matplotlib.figure.Figure``)."""
    with plot_style():
        return CourseFigure(**kwargs)
