"""Turn a scheduler's event list into per-task tracks of time spans.

This is the one model every scheduler view draws from: timelines, the DAG
plot, dashboards and the text report.  It reads `TaskEvent` records only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from ..scheduler.task import TaskEvent, TaskStatus

__all__ = ["Span", "TaskTrack", "build_tracks", "events_of"]


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of one task's life.

    ``kind`` is "waiting" (for dependencies), "queued" (ready, no free slot),
    "backoff" (between a failed attempt and its retry) or "run" (an attempt;
    ``outcome`` says how it ended, ``None`` while it is still running).
    """

    kind: str
    start: float
    end: float
    attempt: int = 0
    slot: Optional[int] = None
    outcome: Optional[TaskStatus] = None


@dataclass(slots=True)
class TaskTrack:
    id: str
    priority: Optional[float]
    dependencies: tuple[str, ...]
    added: float
    spans: list[Span] = field(default_factory=list)
    status: TaskStatus = TaskStatus.PENDING
    ended: Optional[float] = None

    @property
    def runs(self) -> list[Span]:
        return [s for s in self.spans if s.kind == "run"]


def events_of(source: Any) -> list[TaskEvent]:
    """Accept a scheduler (its ``event_log``) or an iterable of events."""
    log = getattr(source, "event_log", source)
    if log is None:
        raise ValueError("this scheduler was created with record_events=False; nothing to draw")
    return list(log)


def build_tracks(events: Iterable[TaskEvent], now: Optional[float] = None) -> dict[str, TaskTrack]:
    """Tracks in the order tasks were added.

    A state still open at the end (a task running or queued when the events
    were recorded) is closed at *now*, or at the last event's time.
    """
    tracks: dict[str, TaskTrack] = {}
    # Per task: (state entered, time entered, attempt, slot, retry_at of the entering event)
    open_state: dict[str, tuple[TaskStatus, float, int, Optional[int], Optional[float]]] = {}
    last_time = 0.0
    for ev in events:
        last_time = max(last_time, ev.time)
        if ev.old is None:
            tracks[ev.task_id] = TaskTrack(ev.task_id, ev.priority, tuple(ev.dependencies), ev.time)
        track = tracks[ev.task_id]
        if ev.task_id in open_state:
            _close(track, open_state.pop(ev.task_id), ev.time, ev.outcome)
        track.status = ev.new
        if ev.new.is_terminal:
            track.ended = ev.time
        else:
            open_state[ev.task_id] = (ev.new, ev.time, ev.attempt, ev.slot, ev.retry_at)
    end = last_time if now is None else now
    for task_id, state in open_state.items():
        _close(tracks[task_id], state, end, None)
    return tracks


def _close(track: TaskTrack, state: tuple, end: float, outcome: Optional[TaskStatus]) -> None:
    status, start, attempt, slot, retry_at = state
    if status is TaskStatus.RUNNING:
        track.spans.append(Span("run", start, end, attempt, slot, outcome))
    elif status is TaskStatus.WAITING:
        track.spans.append(Span("waiting", start, end))
    elif retry_at is not None:  # PENDING after a failed attempt: backoff, then queued
        split = min(retry_at, end)
        track.spans.append(Span("backoff", start, split, attempt))
        if end > split:
            track.spans.append(Span("queued", split, end))
    elif end > start:
        track.spans.append(Span("queued", start, end))
