"""The worker's command line: a bad argument or environment gives one clear line
and a non-zero status, never a traceback or a hang."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def worker(*args, cwd=ROOT, env=None, **popen):
    return [sys.executable, "-m", "course_lib.agents", "worker", *args]


def run_worker(*args, cwd=ROOT, extra_path=None):
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    return subprocess.run(worker(*args), capture_output=True, text=True, timeout=60,
                          cwd=cwd, env=env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


GOOD = ("--agent", "SearchAgent")


@pytest.mark.parametrize("args, message", [
    (("--redis", "http://localhost:6379", "--id", "s1", *GOOD), "redis://"),
    (("--redis", "", "--id", "s1", *GOOD), "redis://"),
    (("--redis", "redis://localhost:1", "--id", "", *GOOD), "--id 不能为空"),
    (("--redis", "redis://localhost:1", "--id", " s1", *GOOD), "--id 不能为空"),
    (("--redis", "redis://localhost:1", "--id", "s1", "--namespace", "", *GOOD), "--namespace"),
    (("--redis", "redis://localhost:1", "--id", "s1", "--grace", "-1", *GOOD), "--grace"),
    (("--redis", "redis://localhost:1", "--id", "s1", "--grace", "nan", *GOOD), "--grace"),
])
def test_a_bad_command_line_gets_one_clear_line_and_status_2(args, message):
    done = run_worker(*args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert message in done.stderr


def test_a_module_that_fails_at_import_is_named_with_its_error(tmp_path):
    (tmp_path / "broken_agents.py").write_text("raise RuntimeError('half-written file')\n")
    (tmp_path / "typo_agents.py").write_text("def oops(:\n")
    for module, kind in (("broken_agents", "RuntimeError"), ("typo_agents", "SyntaxError")):
        done = run_worker("--redis", "redis://localhost:1", "--id", "w1",
                          "--agent", f"{module}:Agent", extra_path=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert module in done.stderr and kind in done.stderr


@pytest.mark.timeout(90)
def test_sigterm_stops_a_worker_whose_redis_is_unreachable_promptly():
    url = f"redis://127.0.0.1:{free_port()}"
    process = subprocess.Popen(worker("--redis", url, "--id", "w1", "--grace", "1", *GOOD),
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "已启动" in process.stdout.readline()  # running, its handlers in place
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)  # a hang bound: the bus alone retries 30 s
    finally:
        process.kill()
    assert "Traceback" not in err
    assert process.returncode in (0, 1) and ("已停止" in out or "出错停止" in err)
