"""One cross-platform entry point for the course's set-up, tests and benchmarks.

    python tools/dev.py lab     # create .venv if needed, install, open JupyterLab
    python tools/dev.py test    # create .venv if needed, install, run every test
    python tools/dev.py bench   # run the benchmark scripts in bench/
    python tools/dev.py images  # regenerate the example images in docs/img
    python tools/dev.py notebooks  # re-execute every notebook and save its outputs

`make lab` / `make test` call this file; on Windows run `py tools\\dev.py lab`.
`lab` installs what the course needs; `test` adds the test tools.  The
virtual environment is reinstalled only when pyproject.toml changes or an
extra is missing.  pip reads PIP_INDEX_URL and PIP_EXTRA_INDEX_URL (a PyPI
mirror) from the environment.  LAB_ARGS adds options to ``jupyter lab``,
for example ``LAB_ARGS="--no-browser --port=8890"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".course_lib-installed"
FIRST_NOTEBOOK = "notebooks/00_getting_started.ipynb"
# JupyterLab defaults for the course (in .venv only): menus in Chinese, no "get Jupyter
# news?" prompt, Markdown files (README.md) opened as rendered pages.
LAB_SETTINGS = {
    "@jupyterlab/translation-extension:plugin": {"locale": "zh_CN"},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}},
}
HIDDEN = ["__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "*.egg-info"]  # in the file browser


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _run(*cmd: object, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, env=env)


def ensure_env(*extras: str) -> Path:
    """Create .venv when missing; (re)install the package with *extras* when
    pyproject.toml changed or one of them is not installed yet."""
    if sys.version_info < (3, 11):
        sys.exit(f"course_lib needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    python = _venv_python()
    if not python.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed = STAMP.read_text().split() if STAMP.exists() else []
    if installed[:1] != [digest] or not set(extras) <= set(installed[1:]):
        wanted = sorted(set(extras) | (set(installed[1:]) if installed[:1] == [digest] else set()))
        # setuptools prints an "Editable installation" notice box that does not apply here.
        env = {**os.environ, "PYTHONWARNINGS": "ignore:Editable installation"}
        _run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip", env=env)
        _run(python, "-m", "pip", "install", "--quiet", "-e", f".[{','.join(wanted)}]", env=env)
        STAMP.write_text(" ".join([digest, *wanted]))
    return python


def lab_command(python: Path) -> list[str]:
    """``jupyter lab`` at the repository root, opening the first notebook."""
    command = [str(python), "-m", "jupyter", "lab", f"--ServerApp.root_dir={ROOT}",
               f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}",
               f"--ContentsManager.hide_globs={HIDDEN!r}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Docker, WSL, cloud machines
        command.append("--allow-root")
    return command + shlex.split(os.environ.get("LAB_ARGS", ""), posix=os.name != "nt")


def prepare_lab(python: Path) -> None:
    """Trust the course's notebooks, so JupyterLab draws their saved widgets
    before they are run, and turn off the Jupyter-news prompt."""
    notebooks = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    subprocess.run([str(python), "-m", "jupyter", "trust", *notebooks], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    settings = VENV / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(LAB_SETTINGS, indent=2), encoding="utf-8")


def lab() -> None:
    python = ensure_env("lab")
    prepare_lab(python)
    # JupyterLab's terminals then find the course's python (and course_lib) first.
    env = {**os.environ, "VIRTUAL_ENV": str(VENV),
           "PATH": os.pathsep.join([str(python.parent), os.environ.get("PATH", "")])}
    _run(*lab_command(python), env=env)


def test() -> None:
    python = ensure_env("lab", "test")
    _run(python, "-m", "pytest", *sys.argv[2:])


def bench() -> None:
    python = ensure_env("lab")
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        _run(python, script)


def images() -> None:
    python = ensure_env("lab")
    _run(python, ROOT / "tools" / "make_images.py")


def notebooks() -> None:
    python = ensure_env("lab", "test")
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
