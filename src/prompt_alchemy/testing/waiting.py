"""Waiting on a condition in tests: poll it with short async pauses until it holds, within one bound.

``await eventually(probe)`` calls ``probe`` (a function, or a coroutine function) until its value
holds — is truthy, or satisfies ``accept`` — and returns that value. The pause between two
polls is not synchronisation: the wait ends at the first poll that sees the condition, and the
bound only decides when to give up. Giving up is an ``AssertionError`` naming what was waited
for and the last value seen, or the last exception when ``ignoring`` let the probe fail.

``EVENTUALLY_S`` is the one bound for every wait: generous, because the suite runs on a loaded
two-core machine beside other suites. It is a liveness bound, never a statement about speed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["EVENTUALLY_S", "POLL_S", "eventually"]

EVENTUALLY_S = 120.0
"""How long any condition may take to hold before a test fails."""
POLL_S = 0.05
"""The pause between two polls."""

T = TypeVar("T")

_NOTHING_SEEN = object()


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], object] = ...,
    *,
    what: str | None = None,
    timeout: float = EVENTUALLY_S,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T],
    accept: Callable[[T], object] = ...,
    *,
    what: str | None = None,
    timeout: float = EVENTUALLY_S,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    accept: Callable[[Any], object] = bool,
    *,
    what: str | None = None,
    timeout: float = EVENTUALLY_S,
    ignoring: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll ``probe`` until ``accept`` takes its value (truthy by default); return that value.

    ``what`` names the condition in the failure (by default the probe's name); ``ignoring`` lists
    exceptions that mean "not yet" (a server still restarting), any other one fails at once.
    """
    last: Any = _NOTHING_SEEN
    failure: BaseException | None = None
    bound = asyncio.timeout(timeout)
    try:
        async with bound:
            while True:
                try:
                    value = probe()
                    if inspect.isawaitable(value):
                        value = await value
                except ignoring as error:
                    last, failure = error, error
                else:
                    last, failure = value, None
                    if accept(value):
                        return value
                await asyncio.sleep(POLL_S)
    except TimeoutError:
        if not bound.expired():
            raise  # the probe's own timeout, not ours
        name = what or getattr(probe, "__qualname__", repr(probe))
        seen = "nothing (the first poll never finished)" if last is _NOTHING_SEEN else repr(last)
        raise AssertionError(f"{name}: not reached within {timeout:g} s; last seen: {seen}") from failure
