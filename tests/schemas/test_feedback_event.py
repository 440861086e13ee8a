"""A feedback event's default id is a random UUID4 in 32 hex digits: the idempotency key every door makes."""

from __future__ import annotations

import uuid

from prompt_alchemy.schemas.learning import FeedbackEvent


def test_the_default_event_id_is_a_uuid4_in_hex() -> None:
    ids = {FeedbackEvent(prompt_id="p1", rating=5).event_id for _ in range(1000)}
    assert len(ids) == 1000
    for event_id in ids:
        parsed = uuid.UUID(hex=event_id)
        assert (parsed.hex, parsed.version, parsed.variant) == (event_id, 4, uuid.RFC_4122)
