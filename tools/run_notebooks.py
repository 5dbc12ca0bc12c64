"""Re-execute every course notebook in place, saving its outputs (make notebooks).

Notebooks are committed with their outputs so that plots show on GitHub; the
tests check those stored outputs for errors, warnings and overlong output.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    # What JupyterLab's kernel picker writes: opening the notebook then changes nothing.
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                       "name": "python3"}
    nbformat.write(notebook, path)
    return time.perf_counter() - started


def main(names: list[str]) -> None:
    paths = [NOTEBOOKS / n for n in names] if names else sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        print(f"{path.name}: {run(path):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
