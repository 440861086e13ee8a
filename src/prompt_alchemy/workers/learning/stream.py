"""The learning worker's durable stream: feedback events, kept until the worker has applied them.

The bus knows streams only as the ``StreamSpec`` it is handed; this one is the learning
worker's, opened by the runtime for the worker (consumer) and the front doors (publishers).
"""

from __future__ import annotations

from prompt_alchemy.bus.streams.model import StreamSpec
from prompt_alchemy.schemas.registry import LEARNING_FEEDBACK

__all__ = ["FEEDBACK_STREAM"]

FEEDBACK_STREAM = StreamSpec(
    name="FEEDBACK",
    subjects=(LEARNING_FEEDBACK.subject,),
    description="learning.feedback events, kept until the learning worker has applied them",
)
