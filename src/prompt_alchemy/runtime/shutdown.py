"""Graceful shutdown of a long-running process: serve until SIGTERM/SIGINT, then drain, bounded.

The first signal starts the drain: front doors leave discovery and stop taking requests,
in-flight requests finish, workers ack what they processed, connections close — in the reverse
order of start-up (an ``AsyncExitStack``). The drain is bounded by ``SHUTDOWN_TIMEOUT``; a second
signal cuts it short. A clean drain exits 0; a cut one, or one during which the bus was lost, 1.
Once started, the process's start-up heap is frozen out of the garbage collector (``heap``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from prompt_alchemy.errors import BusError
from prompt_alchemy.runtime.heap import settle_heap

__all__ = ["EXIT_CUT_SHORT", "EXIT_DRAINED", "ShutdownSignals", "serve_until_signalled"]

log = logging.getLogger(__name__)

EXIT_DRAINED, EXIT_CUT_SHORT = 0, 1
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ShutdownSignals:
    """``requested`` is set by the first SIGTERM/SIGINT, ``forced`` by the second."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.forced = asyncio.Event()
        self.received = 0

    def _on_signal(self, signum: int) -> None:
        self.received += 1
        log.info("received %s", signal.Signals(signum).name)
        if self.requested.is_set():
            self.forced.set()
        self.requested.set()

    def __enter__(self) -> ShutdownSignals:
        loop = asyncio.get_running_loop()
        for signum in _SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        return self

    def __exit__(self, *_exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in _SIGNALS:
            loop.remove_signal_handler(signum)


async def _bounded(close: Awaitable[None], signals: ShutdownSignals, timeout: float) -> bool:
    """Run ``close`` until done (True), ``timeout`` seconds passed or a second signal came (False).

    ``close`` raising (the bus lost mid-drain) propagates: the caller logs it and exits 1.
    """
    closing = asyncio.ensure_future(close)
    forced = asyncio.ensure_future(signals.forced.wait())
    try:
        done, _ = await asyncio.wait({closing, forced}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        forced.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forced
    if closing in done:
        closing.result()
        return True
    closing.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await closing
    return False


async def serve_until_signalled(
    start: Callable[[AsyncExitStack], Awaitable[None]],
    *,
    shutdown_timeout: float,
    announce: Callable[[str], None],
) -> int:
    """``start`` enters everything the process runs into the stack; serve until a signal, then drain."""
    with ShutdownSignals() as signals:
        stack = AsyncExitStack()
        try:
            await start(stack)
        except BaseException:
            await _bounded(stack.aclose(), signals, shutdown_timeout)
            raise
        settle_heap()  # what start-up built lives as long as the process: out of the collector's way
        await signals.requested.wait()
        announce("shutting down: draining in-flight requests")
        try:
            drained = await _bounded(stack.aclose(), signals, shutdown_timeout)
        except BusError as error:
            log.error("shutdown: %s; in-flight work may not have been answered", error)
            announce(f"stopped early (the bus was lost during the drain: {error})")
            return EXIT_CUT_SHORT
        if drained:
            announce("stopped")
            return EXIT_DRAINED
        reason = "a second signal" if signals.forced.is_set() else f"the {shutdown_timeout:g}s shutdown timeout"
        log.error("shutdown cut short by %s: in-flight work may be lost (durable events are redelivered)", reason)
        announce(f"stopped early ({reason})")
        return EXIT_CUT_SHORT
