"""The caller's deadline as a work budget: stop spending provider calls once it is gone.

The bus bounds every handler: its ``Deadline`` layer cancels the handler a margin before the
caller's deadline (so the answer arrives while the caller still listens), and clips every nested
request to that deadline. The engine only adds what the layer cannot know: no new provider call
starts once the budget is spent, and the ``DeadlineExceeded`` it answers names the stage that ran
out. It reads the layer's bound (``handler_deadline``) rather than keeping a second timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prompt_alchemy.bus.middleware import HandlerDeadline, handler_deadline
from prompt_alchemy.errors import DeadlineExceeded

__all__ = ["Budget"]


@dataclass(frozen=True, slots=True)
class Budget:
    """What the bus's ``Deadline`` layer leaves the running handler (``bound`` None: no deadline)."""

    bound: HandlerDeadline | None
    what: str = "the request"

    @classmethod
    def current(cls, what: str = "the request") -> Budget:
        """The budget of the handler running now, as the ``Deadline`` layer bounds it."""
        return cls(handler_deadline(), what)

    def remaining(self) -> float | None:
        return None if self.bound is None else self.bound.remaining()

    def exceeded(self, doing: str) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"the caller's deadline passed before {doing}; {self.what} stopped without finishing",
            details={"stage": doing},
        )

    def check(self, doing: str) -> None:
        """Raise DeadlineExceeded if no time is left to start ``doing``."""
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise self.exceeded(doing)

    def expired(self) -> bool:
        """The ``Deadline`` layer has cancelled this handler for its deadline (and nothing else has)."""
        return self.bound is not None and self.bound.expired()

    @contextmanager
    def stops(self, doing: str) -> Iterator[None]:
        """Where the layer's cancellation of the enclosed work becomes DeadlineExceeded naming ``doing``.

        As ``asyncio.timeout`` turns its own cancellation into ``TimeoutError`` where its scope
        ends; any other cancellation (a shutdown) passes through as it is.
        """
        self.check(doing)
        try:
            yield
        except asyncio.CancelledError:
            if not self.expired():
                raise
            raise self.exceeded(doing) from None
