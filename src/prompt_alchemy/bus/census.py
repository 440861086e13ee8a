"""Whether a service instance has peers: a full instance declines a request only if another could take it.

A full request endpoint declines what it cannot hold so that the requester resends it to another
instance of the queue group (``bus.dispatch``). An instance with no peer receives every resend
itself: each decline then costs the request two messages and a resend pause and gains nothing.
At one engine replica and 16 clients (``bench/e2e.py``) nearly every generate request was
declined twice before it was held, which was about a sixth of the CPU of a generation.

So a ``Census`` counts the other instances of its service when one of its endpoints is full, no
more often than every ``interval`` seconds, through ADR-32 discovery (``$SRV.PING.<name>``,
which every instance answers). While it finds none, the endpoints hold what they would have
declined, within the bound that a request declined by every instance already has
(``OVERFLOW_PER_SLOT``); the census goes on while they are full, so a replica that joins is
found within an interval. Until the first census answers, and when it fails, an instance
assumes it has peers and declines as before: a wrong "peers" costs messages, a wrong "alone"
would keep requests from a free replica. So an instance that found peers counts again only every
``RECOUNT_WITH_PEERS_S``: every instance answers every count, and n full replicas counting each
other every 5 s would cost n² messages per count.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
from collections.abc import Awaitable, Callable

from prompt_alchemy.errors import AlchemyError

__all__ = ["CENSUS_INTERVAL_S", "RECOUNT_WITH_PEERS_S", "Census"]

log = logging.getLogger(__name__)

CENSUS_INTERVAL_S = 5.0
RECOUNT_WITH_PEERS_S = 30.0


class Census:
    """``count`` answers how many other instances of the service there are now."""

    def __init__(
        self,
        count: Callable[[], Awaitable[int]],
        *,
        name: str = "",
        interval: float = CENSUS_INTERVAL_S,
        with_peers: float = RECOUNT_WITH_PEERS_S,
    ) -> None:
        """``interval``: the least time between two counts; ``with_peers``: the same once one found peers."""
        self.alone = False  # peers assumed until a census finds none
        self.taken = 0  # censuses that answered
        self._count = count
        self._name = name
        self._interval = interval
        self._with_peers = with_peers
        self._last = -math.inf  # loop time the last census started
        self._task: asyncio.Task[None] | None = None

    def full(self) -> None:
        """An endpoint has more requests than its backlog holds: count the peers, unless a count
        is under way or started less than ``interval`` ago (``with_peers`` after peers were found)."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self._last < (self._interval if self.alone or not self.taken else self._with_peers):
            return
        self._last = now
        # a context of its own: not the trace or deadline of the request that found the endpoint full
        self._task = loop.create_task(self._take(), name=f"census:{self._name}", context=contextvars.Context())

    async def _take(self) -> None:
        try:
            peers = await self._count()
        except AlchemyError as error:  # the bus is closing, or discovery failed: keep what we knew
            log.warning("census of %s failed, keeping %s: %s", self._name, _said(self.alone), error)
        except Exception:  # a task nobody awaits: its failure is logged here or nowhere
            log.exception("census of %s failed, keeping %s", self._name, _said(self.alone))
        else:
            alone = peers == 0
            if alone != self.alone:
                log.info("census of %s: %d other instances; a full endpoint now %s", self._name, peers, _said(alone))
            self.alone = alone
            self.taken += 1
        finally:
            self._task = None

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _said(alone: bool) -> str:
    return "holds what it cannot start (no other instance)" if alone else "declines what it cannot hold"
