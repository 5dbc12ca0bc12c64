"""Chinese plots on every machine: the bundled font, its coverage, every render path.

pytest turns warnings into errors (pyproject.toml), so a "Glyph ... missing"
warning fails any test here that draws.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

from course_lib import run_virtual
from course_lib._jupyter import _figure_png
from course_lib.demos import agents_demo, scheduler_demo
from course_lib.viz import (
    agent_timeline, backoff_plot, counts_plot, dag_plot, interval_timeline, latency_plot,
    scheduler_timeline)
from course_lib.viz.fonts import (
    FONT_FAMILY, CourseFigure, cjk_characters_in, course_figure, font_families, font_path)

ROOT = Path(__file__).resolve().parent.parent
SCHEDULER = run_virtual(scheduler_demo())
COORDINATOR = run_virtual(agents_demo())


def _every_course_plot():
    return [
        scheduler_timeline(SCHEDULER), scheduler_timeline(SCHEDULER, by="slot"), dag_plot(SCHEDULER),
        agent_timeline(COORDINATOR), interval_timeline([("下载", 0, 1, "网络"), ("解析", 1, 2, "计算")]),
        backoff_plot({"不加抖动": [1, 2, 4]}), latency_plot([0.1, 0.2, 0.3], errors=1),
        counts_plot({"轮询": {"快": 3, "慢": 3}}),
    ]


def _font_of(text):
    """The file matplotlib draws *text*'s first glyphs with."""
    from matplotlib import font_manager

    with matplotlib.rc_context({"font.family": text.get_fontfamily()}):
        return Path(font_manager.findfont(text.get_fontproperties())).name


def test_the_bundled_font_is_first_in_the_fallback_list():
    families = font_families()
    assert families[0] == FONT_FAMILY and families[-1] == "DejaVu Sans"
    assert Path(font_path()).is_file()


def test_every_course_plot_is_labelled_in_chinese_with_the_bundled_font():
    for fig in _every_course_plot():
        assert isinstance(fig, CourseFigure)
        texts = [t for t in fig.findobj(matplotlib.text.Text) if cjk_characters_in(t.get_text())]
        assert texts, f"no Chinese text in {fig.axes[0].get_title()!r}"
        assert {_font_of(t) for t in texts} == {Path(font_path()).name}
        fig.savefig(io.BytesIO(), format="png")  # a missing glyph would warn, and fail


def test_a_course_figure_draws_chinese_whatever_the_users_settings():
    fig = course_figure(figsize=(4, 2))
    ax = fig.add_subplot()
    with matplotlib.rc_context({"font.family": "serif", "font.serif": ["DejaVu Serif"]}):
        ax.set_title("用户自己加的标题")  # made outside the course's style
        ax.set_yticks([0, 1], ["甲", "乙"])
        fig.savefig(io.BytesIO(), format="png")
        fig.savefig(io.BytesIO(), format="svg")


def test_notebook_display_of_a_plain_figure_uses_the_course_style():
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().set_title("学习者自己的图")
    assert _figure_png(fig).startswith(b"\x89PNG")


def test_english_is_an_option(english):
    fig = scheduler_timeline(SCHEDULER)
    assert fig.axes[0].get_title() == "Scheduler timeline"
    assert fig.axes[0].get_xlabel() == "time (s, since the first event)"


def _drawn_text():
    """Text that may end up in a plot: the library's source, the notebooks' code."""
    sources = [p.read_text(encoding="utf-8") for p in (ROOT / "course_lib").rglob("*.py")]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        sources += ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return "".join(sources)


def test_the_font_covers_every_chinese_character_the_course_uses():
    charmap = FT2Font(font_path()).get_charmap()
    missing = sorted(ch for ch in cjk_characters_in(_drawn_text()) if ord(ch) not in charmap)
    assert not missing, f"run tools/make_font.py: the font lacks {''.join(missing)}"


def test_the_font_covers_gb2312():
    charmap = FT2Font(font_path()).get_charmap()
    hanzi = [bytes([hi, lo]).decode("gb2312") for hi in range(0xB0, 0xF8) for lo in range(0xA1, 0xFF)
             if not (hi == 0xD7 and lo >= 0xFA)]  # the five unused codes of row 55
    assert len(hanzi) == 6763
    assert all(ord(ch) in charmap for ch in hanzi)


@pytest.fixture(scope="module")
def no_system_cjk_font(tmp_path_factory):
    """An MPLCONFIGDIR whose font list has no font with Chinese glyphs but ours."""
    config = tmp_path_factory.mktemp("mplconfig")
    hide = (
        "import json, os\n"
        "from matplotlib import font_manager as fm\n"
        "from matplotlib.ft2font import FT2Font\n"
        "def chinese(entry):\n"
        "    try:\n"
        "        return ord('中') in FT2Font(entry.fname).get_charmap()\n"
        "    except Exception:\n"
        "        return False\n"
        "fm.fontManager.ttflist = [f for f in fm.fontManager.ttflist if not chinese(f)]\n"
        "fm.json_dump(fm.fontManager, os.path.join(os.environ['MPLCONFIGDIR'],\n"
        "             f'fontlist-v{fm.FontManager.__version__}.json'))\n"
    )
    env = {**os.environ, "MPLCONFIGDIR": str(config)}
    subprocess.run([sys.executable, "-c", hide], env=env, check=True, timeout=300)
    return env


def test_plots_and_stored_outputs_pass_with_system_cjk_fonts_hidden(no_system_cjk_font):
    check = ("from course_lib.viz.fonts import font_families\n"
             "assert font_families() == ('CourseLib Sans SC', 'DejaVu Sans'), font_families()\n")
    subprocess.run([sys.executable, "-c", check], env=no_system_cjk_font, check=True, timeout=120)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q",
         "tests/test_fonts.py", "tests/test_notebook_outputs.py", "-k", "not hidden"],
        cwd=ROOT, env=no_system_cjk_font, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
