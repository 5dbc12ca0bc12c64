"""What learners see in the committed notebooks: outputs, structure and links.

nbval (run by the same pytest command) re-executes each notebook; these
tests look at the outputs stored in the files, which is what GitHub shows.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
MAX_OUTPUT_LINES = 60


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _expects_stderr(cell):
    """A cell tagged ``expected-stderr`` shows Python's own warning on purpose, as teaching output."""
    return "expected-stderr" in cell.get("metadata", {}).get("tags", [])


def _text(output):
    if "text" in output:
        return "".join(output["text"])
    return "".join(output.get("data", {}).get("text/plain", ""))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_stored_outputs_have_no_errors_warnings_or_walls_of_text(path):
    problems = []
    code_cells = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert any(c.get("outputs") for c in code_cells), "saved without outputs: run make notebooks"
    for i, cell in enumerate(code_cells):
        assert cell.get("execution_count") is not None, f"code cell {i} was never executed"
        stderr = [out for out in cell.get("outputs", []) if out.get("name") == "stderr"]
        if _expects_stderr(cell) and not stderr:
            problems.append(f"cell {i}: tagged expected-stderr but shows no warning")
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                problems.append(f"cell {i}: error {out.get('ename')}")
            if (out in stderr and not _expects_stderr(cell)
                    and re.search("warn", _text(out), re.IGNORECASE)):
                problems.append(f"cell {i}: a warning is shown to learners")
            if len(_text(out).splitlines()) > MAX_OUTPUT_LINES:
                problems.append(f"cell {i}: output longer than {MAX_OUTPUT_LINES} lines")
    assert not problems, problems


# What stored outputs must never show: matplotlib's warning for a missing
# glyph, a widget's repr instead of its text version, an English dashboard.
FORBIDDEN = {
    "a missing-glyph warning": re.compile(r"Glyph \d+ .* missing"),
    "a widget repr": re.compile(r"^(VBox|HBox|HTML|IntProgress|Accordion|Output)\(", re.MULTILINE),
    "English dashboard text": re.compile(r"tasks/s|<b>done</b>|\bqueued: |\brunning: "),
}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_stored_outputs_are_chinese_readable_text_and_fresh(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    state = notebook["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    widget_text = json.dumps(state, ensure_ascii=False)
    problems = [f"widget state: {what}" for what, pattern in FORBIDDEN.items()
                if pattern.search(widget_text)]
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code_cells]
    if counts != list(range(1, len(code_cells) + 1)):
        problems.append("not run top to bottom in one go: run make notebooks")
    for i, cell in enumerate(code_cells):
        if re.search(r"#\s*NBVAL", "".join(cell["source"])):
            problems.append(f"cell {i}: an nbval marker in the code (use a cell tag)")
        for out in cell.get("outputs", []):
            problems += [f"cell {i}: {what}" for what, pattern in FORBIDDEN.items()
                         if pattern.search(_text(out))]
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view and view["model_id"] not in state:
                problems.append(f"cell {i}: widget saved without its state")
    assert not problems, problems


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_every_notebook_has_goals_an_exercise_a_summary_and_a_next_link(path):
    markdown = "\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown")
    for heading in ("学习目标", "动手练习", "小结"):
        assert heading in markdown, f"{path.name} has no {heading}"
    number = int(path.name[:2])
    following = [p for p in PATHS if int(p.name[:2]) == number + 1]
    if following:
        assert f"({following[0].name})" in markdown, f"{path.name} does not link to {following[0].name}"


def test_the_first_notebook_lists_every_notebook_in_order_with_working_links():
    first = NOTEBOOKS / "00_getting_started.ipynb"
    if not PATHS:
        pytest.fail("no notebooks found")
    markdown = "".join("".join(c["source"]) for c in _cells(first) if c["cell_type"] == "markdown")
    links = re.findall(r"\]\((\d\d_[^)]+\.ipynb)\)", markdown)
    assert links == sorted(links), "notebooks are not listed in order"
    assert [p.name for p in PATHS] == [name for name in links if (NOTEBOOKS / name).exists()]
    assert all((NOTEBOOKS / name).exists() for name in links), "a link points to a missing notebook"
