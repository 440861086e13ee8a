"""``validate_model`` reads what a door was given as the JSON a worker would, whichever encoder wrote it."""

from __future__ import annotations

import json
import math

import pytest

from prompt_alchemy.errors import Unprocessable
from prompt_alchemy.gateway.validation import validate_model
from prompt_alchemy.schemas.learning import FeedbackEvent

PROMPT = "a" * 32


def test_json_values_validate_strictly_as_json_schema_reads_them() -> None:
    event = validate_model(
        FeedbackEvent, {"prompt_id": PROMPT, "rating": 5.0, "comment": "é\u2028", "effectiveness": 1e-320}, strict=True
    )
    assert (event.rating, event.comment, event.effectiveness) == (5, "é\u2028", 1e-320)
    with pytest.raises(Unprocessable, match="rating: Input should be a valid integer"):
        validate_model(FeedbackEvent, {"prompt_id": PROMPT, "rating": True}, strict=True)


def test_a_lone_surrogate_is_refused_as_it_always_was() -> None:
    """pydantic-core's encoder refuses a lone surrogate (which ``json.loads`` lets into a body);
    ``json.dumps`` escapes it, and the validator then refuses the escape: a 422, never a 500."""
    payload = {"prompt_id": PROMPT, "rating": 5, "comment": json.loads('"x\\ud800y"')}
    with pytest.raises(Unprocessable, match="Invalid JSON"):
        validate_model(FeedbackEvent, payload, strict=True)


def test_non_finite_numbers_reach_the_models_bounds() -> None:
    with pytest.raises(Unprocessable, match="effectiveness: Input should be less than or equal to 1"):
        validate_model(FeedbackEvent, {"prompt_id": PROMPT, "effectiveness": math.nan}, strict=True)
