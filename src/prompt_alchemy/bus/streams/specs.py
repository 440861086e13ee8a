"""The durable streams of prompt-alchemy: shared by the publisher (front doors) and the consumer."""

from __future__ import annotations

from prompt_alchemy.bus.streams.model import StreamSpec
from prompt_alchemy.schemas.registry import LEARNING_FEEDBACK

__all__ = ["FEEDBACK_STREAM"]

FEEDBACK_STREAM = StreamSpec(
    name="FEEDBACK",
    subjects=(LEARNING_FEEDBACK.subject,),
    description="learning.feedback events, kept until the learning worker has applied them",
)
