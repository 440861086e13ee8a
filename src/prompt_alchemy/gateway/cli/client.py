"""What a CLI command needs from the runtime: a bus, and the durable feedback publisher."""

from __future__ import annotations

from typing import Protocol

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.feedback import FeedbackSink

__all__ = ["CliClient"]


class CliClient(Protocol):
    """Built by the runtime: an embedded bus with every worker, or a NATS connection (``--nats``)."""

    @property
    def bus(self) -> Bus: ...

    @property
    def feedback(self) -> FeedbackSink: ...
