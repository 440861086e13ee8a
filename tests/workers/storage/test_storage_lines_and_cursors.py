"""JSON Lines export format and opaque cursors."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from prompt_alchemy.errors import BadRequest
from prompt_alchemy.schemas.common import utc_now
from prompt_alchemy.schemas.storage import Lineage, PromptRecord, PromptVersion, SearchRequest
from prompt_alchemy.workers.storage.backend import Embedding, StoredPrompt
from prompt_alchemy.workers.storage.cursor import Cursor, query_fingerprint
from prompt_alchemy.workers.storage.embedders import as_unit_vector
from prompt_alchemy.workers.storage.jsonl import LineError, decode_line, encode_line
from prompt_alchemy.workers.storage.records import content_hash


def sample_prompt() -> StoredPrompt:
    record = PromptRecord(
        id="p-1",
        content="Explain monads — with ünïcode",
        content_hash=content_hash("Explain monads — with ünïcode"),
        version=2,
        tags=["fp", "haskell"],
        lineage=Lineage(parent_id="p-0", phase="coagulatio", cost_usd=0.5),
        mean_rating=4.5,
        rating_count=2,
    )
    history = [PromptVersion(version=1, content="Explain monads", content_hash=content_hash("Explain monads"),
                             updated_at=utc_now())]  # fmt: skip
    vector = as_unit_vector(np.random.default_rng(3).normal(size=256), field="embedding")
    return StoredPrompt(record=record, history=history, embedding=Embedding("m", vector))


def test_a_line_round_trips_exactly() -> None:
    prompt = sample_prompt()
    decoded = decode_line(encode_line(prompt))
    assert decoded.record == prompt.record
    assert decoded.history == prompt.history
    assert decoded.embedding is not None
    assert prompt.embedding is not None
    assert decoded.embedding.model == "m"
    np.testing.assert_array_equal(decoded.embedding.vector, prompt.embedding.vector)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda body: body.update(format="x"), "not a prompt-alchemy"),
        (lambda body: body["record"].update(id="has space"), "record.id"),
        (lambda body: body["record"].update(content=""), "record.content"),
        (lambda body: body["record"].update(tags=["a b"]), "record.tags"),
        (lambda body: body["embedding"].update(dimension=3), "dimension"),
        (lambda body: body["embedding"].update(vector="@@@"), "base64"),
        (
            lambda body: body["embedding"].update(vector=base64.b64encode(np.zeros(256, "<f4").tobytes()).decode()),
            "zero vector",
        ),
    ],
)
def test_bad_lines_say_what_is_wrong(mutate: object, message: str) -> None:
    body = json.loads(encode_line(sample_prompt()))
    mutate(body)  # type: ignore[operator]
    with pytest.raises(LineError, match=message):
        decode_line(json.dumps(body))


def test_cursor_is_bound_to_its_query() -> None:
    request = SearchRequest(query="a", limit=5)
    fingerprint = query_fingerprint(request)
    assert fingerprint == query_fingerprint(request.model_copy(update={"limit": 50, "cursor": "x"}))
    token = Cursor(fingerprint, 123, "id-1", 5).encode()
    assert Cursor.decode(token, fingerprint=fingerprint) == Cursor(fingerprint, 123, "id-1", 5)
    with pytest.raises(BadRequest, match="different query"):
        Cursor.decode(token, fingerprint=query_fingerprint(SearchRequest(query="b")))
    for garbage in ("", "!!!", base64.urlsafe_b64encode(b'{"v": 9}').decode(), "e30"):
        with pytest.raises(BadRequest):
            Cursor.decode(garbage, fingerprint=fingerprint)
