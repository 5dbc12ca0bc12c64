"""One cross-platform entry point for the course's set-up, tests and benchmarks.

    python tools/dev.py lab     # create .venv if needed, install, open JupyterLab
    python tools/dev.py test    # create .venv if needed, install, run every test
    python tools/dev.py bench   # run the benchmark scripts in bench/
    python tools/dev.py images  # regenerate the example images in docs/img
    python tools/dev.py notebooks  # re-execute every notebook and save its outputs

`make lab` / `make test` call this file; on Windows run `py tools\\dev.py lab`.
The virtual environment is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".course_lib-installed"
EXTRAS = "lab,test"


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _run(*cmd: object) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def ensure_env() -> Path:
    """Create .venv when missing and (re)install the package when pyproject.toml changed."""
    if sys.version_info < (3, 11):
        sys.exit(f"course_lib needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    python = _venv_python()
    if not python.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest() + EXTRAS
    if not STAMP.exists() or STAMP.read_text() != wanted:
        _run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        _run(python, "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS}]")
        STAMP.write_text(wanted)
    return python


def lab() -> None:
    python = ensure_env()
    first = sorted((ROOT / "notebooks").glob("00*.ipynb"))
    target = first[0].relative_to(ROOT) if first else Path("notebooks")
    _run(python, "-m", "jupyter", "lab", target)


def test() -> None:
    python = ensure_env()
    _run(python, "-m", "pytest", *sys.argv[2:])


def bench() -> None:
    python = ensure_env()
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        _run(python, script)


def images() -> None:
    python = ensure_env()
    _run(python, ROOT / "tools" / "make_images.py")


def notebooks() -> None:
    python = ensure_env()
    _run(python, ROOT / "tools" / "run_notebooks.py", *sys.argv[2:])


def clean() -> None:
    shutil.rmtree(VENV, ignore_errors=True)


COMMANDS = {
    "lab": lab, "test": test, "bench": bench, "images": images, "notebooks": notebooks, "clean": clean,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python tools/dev.py {{{'|'.join(COMMANDS)}}}")
    try:
        COMMANDS[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
