"""Which failures mean "a dependency is down" (wait and retry) rather than "this event is bad" (reject it)."""

from __future__ import annotations

from prompt_alchemy.errors import BusClosed, DeadlineExceeded, NoResponders, RequestTimeout, Unavailable

__all__ = ["OUTAGES"]

OUTAGES = (Unavailable, NoResponders, RequestTimeout, DeadlineExceeded, BusClosed)
