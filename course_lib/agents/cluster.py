"""Worker processes on this machine, for lessons, tests and benchmarks: `LocalCluster`.

Example use::

    with local_redis() as url, LocalCluster(url, namespace="lesson") as cluster:
        cluster.start("SearchAgent", "search-1")
        cluster.start("SearchAgent", "search-2", capacity=2)
        ...                          # a Coordinator(bus=RedisBus(url, namespace="lesson"))
        cluster.kill("search-1")     # SIGKILL: no goodbye, as a crash or a power cut
        cluster.start("SearchAgent", "search-1")   # the same id again: a new run of it
        cluster.stop("search-2")     # SIGTERM: finish, say goodbye, exit 0

Each worker is ``python -m course_lib.agents worker ...`` in a process of its
own, exactly as you would start it on another machine (`command` shows the
line).  Its output goes to a log file in a temporary folder (`log`).
Leaving the ``with`` block stops every worker still running (SIGTERM, then
SIGKILL after ``grace`` seconds).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

__all__ = ["LocalCluster"]


class LocalCluster:
    """Starts, kills and stops worker processes that share one Redis namespace."""

    def __init__(self, url: str, namespace: str = "course", *, grace: float = 10.0,
                 cwd: Optional[str] = None) -> None:
        self.url = url
        self.namespace = namespace
        self.grace = grace
        self.cwd = cwd
        self.workers: dict[str, subprocess.Popen] = {}
        self._logs = tempfile.TemporaryDirectory(prefix="course-workers-")
        self.kills = 0  # SIGKILLs sent so far

    def command(self, agent: str, agent_id: str, capacity: Optional[int] = None) -> list[str]:
        """The command line that starts this worker (the same on any machine)."""
        line = [sys.executable, "-m", "course_lib.agents", "worker", "--redis", self.url,
                "--namespace", self.namespace, "--agent", agent, "--id", agent_id,
                "--grace", f"{self.grace:g}"]
        if capacity is not None:
            line += ["--capacity", str(capacity)]
        return line

    def start(self, agent: str, agent_id: str, capacity: Optional[int] = None) -> subprocess.Popen:
        """Start a worker running *agent* (a class name) under *agent_id*."""
        old = self.workers.get(agent_id)
        if old is not None and old.poll() is None:
            raise RuntimeError(f"worker {agent_id!r} is running; kill() or stop() it first")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
        with open(self.log(agent_id), "ab") as log:
            process = subprocess.Popen(
                self.command(agent, agent_id, capacity), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.cwd, env=env,
                # Its own process group on Windows, so that it can be sent CTRL_BREAK.
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0))
        self.workers[agent_id] = process
        return process

    def kill(self, agent_id: str) -> None:
        """Kill the worker at once (SIGKILL): it says nothing, its tasks are cut off."""
        process = self.workers[agent_id]
        if process.poll() is None:
            process.kill()
            self.kills += 1
        process.wait()

    def stop(self, agent_id: str, timeout: Optional[float] = None) -> int:
        """Ask the worker to stop (SIGTERM; CTRL_BREAK on Windows) and wait for it;
        kill it if it has not exited after *timeout* (default: grace + 10) seconds.
        Returns its exit status (0: it stopped cleanly)."""
        process = self.workers[agent_id]
        if process.poll() is None:
            process.send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
            try:
                process.wait(self.grace + 10 if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def running(self) -> list[str]:
        """Ids of the workers whose process is alive."""
        return [agent_id for agent_id, p in self.workers.items() if p.poll() is None]

    def log(self, agent_id: str) -> Path:
        """The file where the worker's output goes (every run of that id appends)."""
        return Path(self._logs.name) / f"{agent_id.replace('/', '_')}.log"

    def close(self) -> None:
        """Stop every worker still running, then delete the logs."""
        for agent_id in self.running():
            self.workers[agent_id].send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
        for agent_id, process in self.workers.items():
            try:
                process.wait(self.grace + 10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._logs.cleanup()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<LocalCluster namespace={self.namespace!r} running={self.running()} "
                f"kills={self.kills}>")
