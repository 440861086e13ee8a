"""The cyclic garbage collector of a long-running process, tuned once start-up is done.

A served process builds almost everything it keeps during start-up (modules, pydantic schemas,
the app, its connections: ~150k tracked objects in ``serve api``), then makes short-lived objects
per request that reference counting frees. CPython's collector still rescans the start-up objects
on every full collection (~90 ms of CPU each in ``serve api``) and, with 64 requests in flight,
runs a young collection every few requests: the live-object count swings by more than the
default threshold of 700 as requests come and go. Under feedback load (``bench/feedback.py``)
that was ~50 µs of ``serve api``'s CPU per event, an eighth of it.

``settle_heap`` collects what start-up left behind, freezes the rest into the permanent
generation (what ``gc.freeze`` is for, per the gc documentation: "to speed up collection"), and
raises the young threshold above the swing. Cycles made later are still collected; only the
objects alive at start-up are never rescanned, and those live as long as the process.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

YOUNG_THRESHOLD = 10_000
"""Allocations (net of frees) between young collections; CPython's default is 700."""


def settle_heap() -> None:
    """Start-up is over: collect its garbage, freeze what remains, collect the young less often."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(YOUNG_THRESHOLD, young), middle, old)
