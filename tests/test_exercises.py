"""Exercises are the learner's to do: shipped undone, checked without giving answers away, solvable.

Cell tags say what a cell is: ``exercise`` (the learner writes here, shipped
with ``...``), ``exercise-check`` (says ✅, 💡 or ⏳ 还没完成), ``solution`` (a
collapsed block the learner opens on purpose), ``stage-check`` (grades one
criterion of the challenge file) and ``total-check`` (grades all of it).
"""

import asyncio
import itertools
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
PATHS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = {"challenge1_scheduler.py": ROOT / "course_lib" / "solutions" / "challenge1_scheduler.py",
             "challenge2_agents.py": ROOT / "course_lib" / "solutions" / "challenge2_agents.py"}


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def _output_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def _solution_code(cell):
    return re.search(r"```python\n(.*?)\n```", "".join(cell["source"]), re.DOTALL).group(1)


def _exercises(notebook):
    """(exercise cell, its solution cell) pairs, each exercise followed by a check and a solution."""
    cells, pairs = notebook["cells"], []
    for i, cell in enumerate(cells):
        if "exercise" in _tags(cell):
            check = next(c for c in cells[i + 1:] if _tags(c) & {"exercise-check"})
            solution = next(c for c in cells[i + 1:] if "solution" in _tags(c))
            assert cells.index(check) < cells.index(solution), "the solution comes after the check"
            pairs.append((cell, solution))
    return pairs


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_every_exercise_is_shipped_undone_and_its_check_says_so(path):
    notebook = _load(path)
    pairs = _exercises(notebook)
    assert pairs, "every notebook has an exercise"
    for exercise, _ in pairs:
        assert "..." in "".join(exercise["source"]) or '""' in "".join(exercise["source"])
    for cell in notebook["cells"]:
        tags = _tags(cell)
        if tags & {"exercise-check", "stage-check", "total-check"}:
            assert not any(out["output_type"] == "error" for out in cell["outputs"])
        if tags & {"exercise-check", "stage-check"}:
            assert _output_text(cell).startswith("⏳ 还没完成"), _output_text(cell)[:200]
        if "total-check" in tags:
            assert "总分：0 / 100" in _output_text(cell)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_no_output_gives_an_answer_away(path):
    notebook = _load(path)
    outputs = "\n".join(_output_text(cell) for cell in notebook["cells"])
    for _, solution in _exercises(notebook):
        answer_lines = [line.strip() for line in _solution_code(solution).splitlines()
                        if line.strip().startswith(("return", "result =", "yield"))]
        for line in answer_lines:
            assert line not in outputs, f"{line!r} is printed in an output"
    assert "提示：return" not in outputs


def _run_solved(path, folder):
    """Run notebook *path* from *folder* with its exercises solved; the checks that did not pass."""
    notebook = nbformat.read(folder / path.name, as_version=4)
    for exercise, solution in _exercises(notebook):
        exercise.source = _solution_code(solution)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    asyncio.run(client.async_execute())  # its own loop, closed afterwards (execute() would leave one per thread)
    failures = []
    for index, cell in enumerate(notebook.cells):
        tags, text = _tags(cell), _output_text(cell)
        if tags & {"exercise-check", "stage-check"} and not text.startswith("✅"):
            failures.append(f"{path.name} cell {index}: {text[:300]}")
        if "total-check" in tags and "总分：100 / 100" not in text:
            failures.append(f"{path.name} cell {index}: {text[:300]}")
    return failures


@pytest.mark.timeout(900)
def test_with_the_solutions_put_in_every_check_passes(tmp_path):
    """Every notebook run top to bottom with its exercises solved and the challenge files done."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises",
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    for name, solution in SOLUTIONS.items():
        shutil.copy(solution, tmp_path / "exercises" / name)
    # One kernel per notebook, two at a time; the challenges (the slowest) go first.
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = pool.map(_run_solved, reversed(PATHS), itertools.repeat(tmp_path / "notebooks"))
        failures = [failure for run in runs for failure in run]
    assert not failures, "\n".join(failures)
