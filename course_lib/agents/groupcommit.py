"""Group commit: many callers' writes go out together, in rounds.

A caller puts its work where its owner keeps pending work (an outbox, a
list of commands), then awaits `GroupCommit.commit`, which returns once a
round that started *after* the work was queued has ended.  Rounds run one
at a time, and each takes everything queued by the time it starts:

* a caller that finds no round under way runs one itself, in its own task
  (when the write does not wait, as in memory, that costs nothing extra);
* callers that come while a round is under way wait together for the next
  one, which a task runs for them as soon as the current one ends.

So N concurrent callers cost about two rounds, not N: the pattern databases
use to write their logs, and the reason fifty concurrent ``assign_task``
calls on Redis cost one round trip.

If a round raises, its callers get the error; callers waiting for the next
round get a round of their own.  The owner's round decides what happens to
the work it took when it fails (the coordinator puts it back, to go out
with the next round).  No polling: waiters are woken by a future.
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
        self._busy_in: Optional[asyncio.AbstractEventLoop] = None  # a round is under way there
        self._next: Optional[asyncio.Future] = None  # the round that waiting callers share
        self._rounds_task: Optional[asyncio.Task] = None  # runs the shared rounds

    async def commit(self) -> None:
        """Return once a round that started after this call has ended (or raise its error).

        Cancelling a caller that waits for a shared round does not cancel
        that round: the others still need it.
        """
        loop = asyncio.get_running_loop()
        if self._busy_in is not None and self._busy_in is not loop:
            self._busy_in = self._next = self._rounds_task = None  # left by a closed loop
        if self._busy_in is not None:  # share the next round
            if self._next is None:
                self._next = loop.create_future()
            await asyncio.shield(self._next)
            return
        self._busy_in = loop
        try:
            await self._run_round()  # none under way: run it here
        finally:
            self._busy_in = None
            if self._next is not None and not loop.is_closed():
                self._busy_in = loop  # callers came meanwhile: a task runs their rounds
                self._rounds_task = loop.create_task(self._rounds(), name=self._name)

    async def wait_idle(self) -> None:
        """Return once no shared round is under way (before closing what rounds use)."""
        if self._rounds_task is not None:
            await asyncio.gather(self._rounds_task, return_exceptions=True)

    async def _rounds(self) -> None:
        this_round = None
        try:
            while (this_round := self._next) is not None:
                self._next = None
                try:
                    await self._run_round()
                except Exception as exc:
                    this_round.set_exception(exc)
                    this_round.exception()  # raised in its callers: not "never retrieved"
                else:
                    this_round.set_result(None)
        except BaseException:  # cancelled (the loop is ending): so are its waiters
            for waiting in (this_round, self._next):
                if waiting is not None and not waiting.get_loop().is_closed():
                    waiting.cancel()
            self._next = None
            raise
        finally:
            self._busy_in = self._rounds_task = None
