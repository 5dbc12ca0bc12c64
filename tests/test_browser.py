"""The whole course in a real browser, the way a learner meets it.

JupyterLab is started by ``tools/dev.py lab``, as ``make lab`` does (with
its own settings folder: autosave off, so nothing the browser does is saved
into the notebooks).  Chromium, driven by Playwright, opens each notebook, checks
that its saved widgets are drawn before anything runs, runs every cell and
checks what a learner would see: no error, no stderr output except the
warning a cell tagged ``expected-stderr`` shows on purpose, every widget
drawn, the quiz answering a click, the dashboards' rows, the self-check
report opening.  A screenshot of each notebook goes to
test-artifacts/screenshots/.

Needs Chromium (Debian and Ubuntu: ``sudo apt-get install chromium``; its
path can be given in COURSE_CHROMIUM).  Without it the test is skipped,
except under CI=true, where it fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [  # headless, and quiet on a machine with no way out to the internet
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
RUN_TIMEOUT_MS = 240_000

pytestmark = pytest.mark.timeout(600)


def _chromium() -> str:
    found = os.environ.get("COURSE_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    try:
        import playwright  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        reason = ("no Chromium for the browser test: install it (Debian/Ubuntu: "
                  "sudo apt-get install chromium) or set COURSE_CHROMIUM to its path")
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " -- CI must run this test")
        pytest.skip(reason)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab started by tools/dev.py; yields its base URL, token and the Chromium to use."""
    chromium = _chromium()
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path_factory.mktemp("jupyterlab")
    # The learner's own JupyterLab settings and workspaces stay untouched, and
    # nothing the browser does is saved into the notebooks (no autosave).
    settings = home / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    env = {
        **os.environ,
        "LAB_ARGS": f"--no-browser --port={port} --IdentityProvider.token={token} "
                    "--LabApp.expose_app_in_browser=True",
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
    }
    log_path = home / "lab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, str(ROOT / "tools" / "dev.py"), "lab"], cwd=ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(base, token, server, log_path)
        yield {"base": base, "token": token, "chromium": chromium}
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """Stop tools/dev.py, JupyterLab and its kernels (one process group)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_for_server(base: str, token: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"tools/dev.py lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return
        except OSError:
            time.sleep(0.5)  # the server is starting: nothing to wait on but the port
    pytest.fail(f"JupyterLab did not answer within 180 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=lab["chromium"], args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def test_make_lab_opens_the_first_notebook_at_the_repository_root(lab):
    with urllib.request.urlopen(f"{lab['base']}/api/contents/exercises?token={lab['token']}") as reply:
        names = {item["name"] for item in json.load(reply)["content"]}
    assert "challenge1_scheduler.py" in names  # exercises/ is one click away
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(f"{lab['base']}/?token={lab['token']}")
    redirect.value.close()
    assert redirect.value.headers["Location"].startswith("/lab/tree/notebooks/00_getting_started.ipynb")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# In-page helpers: the notebook panel of the current tab, its code cells and outputs.
STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const outputs = cells.map(c => c.model.outputs.toJSON());
  // Cells tagged expected-stderr show one of Python's warnings on purpose.
  const expected = c => (c.model.getMetadata('tags') ?? []).includes('expected-stderr');
  return {
    kernel: panel.sessionContext.session?.kernel?.status ?? 'none',
    counts: cells.map(c => c.model.executionCount),
    errors: outputs.flat().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
    stderr: cells.filter(c => !expected(c)).flatMap(c => c.model.outputs.toJSON())
      .filter(o => o.output_type === 'stream' && o.name === 'stderr').map(o => o.text),
    silent: cells.map((c, i) => expected(c) && !c.model.outputs.toJSON().some(
      o => o.output_type === 'stream' && o.name === 'stderr') ? i : -1).filter(i => i >= 0),
  };
}"""
FINISHED_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const kernel = panel.sessionContext.session?.kernel?.status;
  const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  const busy = cells.some(c => c.promptNode && c.promptNode.textContent.includes('*'));
  return kernel === 'idle' && !busy && (failed || cells.every(c => c.model.executionCount !== null));
}"""


def _open(browser, lab, name):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    workspace = f"test-{name[:2]}-{secrets.token_hex(3)}"
    page.goto(f"{lab['base']}/lab/workspaces/{workspace}/tree/notebooks/{name}"
              f"?reset&token={lab['token']}")
    page.wait_for_function("""() => {
      const panel = window.jupyterapp?.shell.currentWidget;
      return panel?.context?.isReady && panel.sessionContext?.session?.kernel?.status === 'idle';
    }""", timeout=120_000)
    return page


SHOW_CELL_JS = """async (index) => {
  // JupyterLab only draws the cells near the viewport: bring one in, and tag its node.
  const notebook = window.jupyterapp.shell.currentWidget.content;
  await notebook.scrollToItem(index, 'start');
  notebook.widgets[index].node.dataset.testCell = String(index);
}"""
WIDGET_CELLS_JS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .map((cell, i) => cell.model.type === 'code' && cell.model.outputs.toJSON().some(
      o => o.data && o.data['application/vnd.jupyter.widget-view+json']) ? i : -1)
  .filter(i => i >= 0)"""
FIND_CELL_JS = """(needle) => window.jupyterapp.shell.currentWidget.content.widgets
  .findIndex(cell => cell.model.type === 'code' && cell.model.sharedModel.getSource().includes(needle))"""


def _show_cell(page, index):
    """The node of code cell *index*, scrolled into view."""
    page.evaluate(SHOW_CELL_JS, index)
    return page.locator(f'[data-test-cell="{index}"]')


def _cell_with(page, needle):
    index = page.evaluate(FIND_CELL_JS, needle)
    assert index >= 0, f"no cell contains {needle!r}"
    return _show_cell(page, index)


def _widgets_are_drawn(page):
    """Every widget output shows a widget: not 'Loading widget', an error or a repr."""
    for index in page.evaluate(WIDGET_CELLS_JS):
        cell = _show_cell(page, index)
        cell.locator(".jp-OutputArea-output .jupyter-widgets").first.wait_for(timeout=15_000)
        text = cell.locator(".jp-OutputArea").text_content()
        for bad in ("Loading widget", "Error displaying widget", "VBox("):
            assert bad not in text, f"cell {index}: {bad}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_runs_cleanly_in_jupyterlab(browser, lab, name):
    page = _open(browser, lab, name)
    try:
        # Opening a notebook changes nothing in it (no "save changes?" on closing it).
        assert not page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")
        _widgets_are_drawn(page)  # the saved ones, before anything runs
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(FINISHED_JS, timeout=RUN_TIMEOUT_MS, polling=250)
        state = page.evaluate(STATE_JS)
        assert state["errors"] == [], state["errors"]
        assert state["stderr"] == [], state["stderr"]
        assert state["silent"] == [], "cells tagged expected-stderr showed no warning"
        assert None not in state["counts"], "some cells did not run"
        _widgets_are_drawn(page)
        CHECKS.get(name[:2], _no_check)(page)
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name[:-6]}.png"))
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        page.close()


def _no_check(page):
    pass


def _quiz_answers_a_click(page):
    cell = _cell_with(page, "quiz.show()")
    assert cell.locator(".widget-html code").count() > 0, "code spans in the quiz are not rendered"
    assert "`" not in cell.locator(".widget-html").first.text_content()
    card = cell.locator(".widget-vbox:has(> .widget-toggle-buttons)").first
    card.locator(".widget-toggle-button").first.click()
    card.locator("button:has-text('提交')").click()
    feedback = card.locator(".widget-html").last
    page.wait_for_function("(node) => /[✅❌]/.test(node.textContent)",
                           arg=feedback.element_handle(), timeout=10_000)


def _scheduler_dashboard_and_report(page):
    table = _cell_with(page, "monitor=True").locator(".jupyter-widgets table").first
    assert table.locator("tr").count() > 1, "the dashboard shows no task rows"
    _report_expands(page)


def _agent_dashboard_and_report(page):
    lanes = _cell_with(page, ".dashboard()").locator(".widget-hbox:has(.widget-hprogress)")
    assert lanes.count() >= 3 and "search-1" in lanes.first.text_content()
    _report_expands(page)


def _report_expands(page):
    report = _cell_with(page, "show_report(").locator(".widget-vbox:has(h4)").first
    report.locator(".jupyter-widget-Collapse-header").first.click()
    contents = report.locator(".jupyter-widget-Collapse-contents").first
    contents.wait_for(state="visible", timeout=10_000)
    assert any(word in contents.text_content() for word in ("下一步", "原因", "✔"))


CHECKS = {"04": _quiz_answers_a_click, "05": _scheduler_dashboard_and_report,
          "06": _agent_dashboard_and_report}
