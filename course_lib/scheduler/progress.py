"""A one-line text progress display for terminals (a view over scheduler events)."""

from __future__ import annotations

import time
from typing import Any, TextIO

from ..i18n import tr

__all__ = ["format_progress", "ProgressLine"]

BAR_WIDTH = 20


def format_progress(stats: dict[str, Any]) -> str:
    """Render a `SmartScheduler.get_stats` snapshot as one short line."""
    total = stats["total"]
    done = total - stats["queued"] - stats["running"]
    filled = round(BAR_WIDTH * stats["progress"])
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return tr("[{bar}] 已结束 {done}/{total} | 运行中 {running} | 排队 {queued}"
              " | 完成 {completed} | 失败 {failed} | 取消 {cancelled}",
              bar=bar, done=done, total=total, running=stats["running"], queued=stats["queued"],
              completed=stats["completed"], failed=stats["failed"], cancelled=stats["cancelled"])


class ProgressLine:
    """Redraws `format_progress` in place (``\\r``), at most ~10 times per real second."""

    def __init__(self, scheduler: Any, stream: TextIO, min_interval: float = 0.1) -> None:
        self._scheduler = scheduler
        self._stream = stream
        self._min_interval = min_interval
        self._last = float("-inf")

    def __call__(self, _event: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self._min_interval:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        self._stream.write("\r" + format_progress(self._scheduler.get_stats()))
        self._stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw()
        self._stream.write("\n")
        self._stream.flush()
