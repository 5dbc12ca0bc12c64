"""Group commit: many callers' writes go out together, in rounds.

A caller puts its work where its owner keeps pending work (an outbox, a
list of commands), then awaits `GroupCommit.commit`, which returns once a
round that started *after* the work was queued has ended.  One task runs
the rounds, one at a time; each round takes everything queued by the time
it starts.  Callers that come while a round is under way all wait for the
next one, so N concurrent callers cost about two rounds, not N: the
pattern databases use to write their logs, and the reason fifty concurrent
``assign_task`` calls on Redis cost one round trip.

If a round raises an `Exception`, every caller of that round gets it, and
so do callers already waiting for the next round, which is not started
(their work is still queued: the owner's round puts back what it took, and
the next ``commit`` tries again).  No polling: a round is started by the
first caller that needs it, and waiters are woken by its future.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Optional

__all__ = ["GroupCommit"]


class GroupCommit:
    """Runs ``run_round()`` in rounds for the callers of `commit` (see the module docstring)."""

    def __init__(self, run_round: Callable[[], Awaitable[None]], *, name: str) -> None:
        self._run_round = run_round
        self._name = name
        self._next: Optional[asyncio.Future] = None  # the round that callers wait for
        self._rounds_task: Optional[asyncio.Task] = None

    async def commit(self) -> None:
        """Return once a round that started after this call has ended (or raise its error).

        Cancelling the caller does not cancel the round: other callers share it.
        """
        await asyncio.shield(self._join())

    async def wait_idle(self) -> None:
        """Return once no round is under way (before closing what the rounds use)."""
        if self._rounds_task is not None:
            await asyncio.gather(self._rounds_task, return_exceptions=True)

    def _join(self) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        if self._rounds_task is not None and self._rounds_task.get_loop() is not loop:
            self._rounds_task = self._next = None  # left behind by a closed event loop
        if self._next is None:
            self._next = loop.create_future()
        if self._rounds_task is None:
            self._rounds_task = loop.create_task(self._rounds(), name=self._name)
        return self._next

    async def _rounds(self) -> None:
        try:
            while (this_round := self._next) is not None:
                self._next = None
                try:
                    await self._run_round()
                except BaseException as exc:
                    self._fail((this_round, self._next), exc)
                    self._next = None
                    if not isinstance(exc, Exception):
                        raise
                    return
                this_round.set_result(None)
        finally:
            self._rounds_task = None

    @staticmethod
    def _fail(rounds: tuple[Optional[asyncio.Future], ...], exc: BaseException) -> None:
        for waiting in rounds:
            if waiting is None or waiting.done() or waiting.get_loop().is_closed():
                continue  # (a closed loop: its callers are gone with it)
            if isinstance(exc, Exception):
                waiting.set_exception(exc)
                waiting.exception()  # raised in its callers: not "never retrieved"
            else:
                waiting.cancel()
