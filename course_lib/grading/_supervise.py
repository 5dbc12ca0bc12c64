"""Run one check's child process and leave nothing of it behind (POSIX).

    python -I -S _supervise.py SECONDS MAX_PROCESSES -- COMMAND...

Started by `sandbox.run_check` in a session of its own, this process runs
COMMAND (the child that imports the submission), stops it after SECONDS of
wall-clock time, and then kills every process the child started: forks,
double forks and ``setsid()`` daemons included.  On Linux it is a *child
subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``), so orphans of the child are
re-parented to it instead of to init, and it can find them as its own
children; where a cgroup pids controller is writable (root, or a delegated
cgroup) the child also runs in a fresh cgroup with ``pids.max`` set, which
caps a fork bomb and lists every process for the sweep.

It imports only the standard library and runs no submission code, so a
submission can change nothing here; if the submission kills this process,
the grader sweeps by the marker in the environment (see sandbox.py).

Exit status: the child's exit code; 124 when SECONDS ran out; 125 when the
grader stopped it (SIGTERM); 128 + N when the child died of signal N.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
TIMED_OUT = 124
STOPPED = 125
SWEEP_ROUNDS = 1000  # each round kills every child left; a fork bomb dies out in a few


def become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def make_cgroup(max_processes: int) -> str | None:
    """A fresh cgroup with a pids limit, or None where none can be made."""
    name = f"course-grading-{os.getpid()}"
    for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        path = os.path.join(base, name)
        try:
            os.mkdir(path)
        except OSError:
            continue
        try:
            with open(os.path.join(path, "pids.max"), "w") as limit:
                limit.write(str(max_processes))
            return path
        except OSError:
            os.rmdir(path)
    return None


def cgroup_pids(cgroup: str | None) -> list[int]:
    if cgroup is None:
        return []
    try:
        with open(os.path.join(cgroup, "cgroup.procs")) as procs:
            return [int(line) for line in procs if line.strip()]
    except OSError:
        return []


def my_children() -> list[int]:
    """Processes whose parent is this one (adopted orphans included), from /proc."""
    me, found = os.getpid(), []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.append(int(entry))
    return found


def sweep(child: int, cgroup: str | None) -> None:
    """Kill and reap every process left: the child's group, its cgroup, adopted orphans."""
    _kill_group(child)
    for _ in range(SWEEP_ROUNDS):
        left = set(my_children()) | set(cgroup_pids(cgroup))
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap()
    _reap()
    if cgroup is not None:
        try:
            os.rmdir(cgroup)
        except OSError:
            pass


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv: list[str]) -> int:
    seconds, max_processes, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit("usage: _supervise.py SECONDS MAX_PROCESSES -- COMMAND...")
    become_subreaper()
    cgroup = make_cgroup(int(max_processes))
    child = os.fork()
    if child == 0:  # the child: its own process group, its cgroup, then the command
        try:
            os.setpgid(0, 0)
            if cgroup is not None:
                with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
                    procs.write(str(os.getpid()))
            os.execv(command[0], command)
        finally:
            os._exit(127)
    stopped = 0

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopped
        stopped = signum
        _kill_group(child)  # waitpid below returns once it is gone

    signal.signal(signal.SIGALRM, stop)  # time is up
    signal.signal(signal.SIGTERM, stop)  # the grader asks (too much output, say)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    _, status = os.waitpid(child, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    sweep(child, cgroup)
    if stopped == signal.SIGALRM:
        return TIMED_OUT
    if stopped == signal.SIGTERM:
        return STOPPED
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _kill_group(child: int) -> None:
    for kill in (os.killpg, os.kill):  # the group may not exist yet
        try:
            kill(child, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
