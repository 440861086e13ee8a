"""What travels with every message (``bus.context``), as its hot path writes and reads it.

Trace ids come from one draw of random bits split by ``bytes.hex``; the deadline a process wrote
last is read back without parsing; a served handler's context is bound with no reset, because the
transport runs every request handler in a context of its own. These tests pin that none of it
changes what a caller or a handler sees.
"""

from __future__ import annotations

import pytest

from prompt_alchemy import schemas
from prompt_alchemy.bus import Bus, RequestContext, ServiceRunner
from prompt_alchemy.bus import context as bus_context
from prompt_alchemy.bus.context import (
    DEADLINE_HEADER,
    TRACEPARENT_HEADER,
    bound_context,
    current_context,
    header_deadline,
    new_traceparent,
    outgoing_headers,
)
from prompt_alchemy.errors import BadRequest
from prompt_alchemy.schemas.storage import GetReply, GetRequest, PromptRecord

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_new_traceparent_is_a_valid_w3c_header_with_its_own_trace_and_span() -> None:
    first, second = new_traceparent(), new_traceparent()
    for value in (first, second):
        assert bus_context._TRACEPARENT.match(value), value
    assert first[3:35] != second[3:35]
    child = new_traceparent(TRACE)
    assert bus_context._TRACEPARENT.match(child)
    assert child[3:35] == TRACE
    assert child[36:52] != new_traceparent(TRACE)[36:52]


@pytest.mark.parametrize(
    ("bits", "trace", "span"),
    [
        (0, "0" * 31 + "1", "0" * 15 + "1"),
        (5, "0" * 31 + "1", "0" * 15 + "5"),
        (7 << 64, "0" * 31 + "7", "0" * 15 + "1"),
    ],
)
def test_an_all_zero_trace_or_span_id_drawn_is_never_sent(
    monkeypatch: pytest.MonkeyPatch, bits: int, trace: str, span: str
) -> None:
    monkeypatch.setattr(bus_context, "_random_bits", lambda _count: bits)
    assert new_traceparent() == f"00-{trace}-{span}-01"


def test_an_all_zero_span_id_drawn_in_a_trace_is_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus_context, "_random_bits", lambda _count: 0)
    assert new_traceparent(TRACE) == f"00-{TRACE}-{'0' * 15}1-01"


def test_the_deadline_written_last_reads_back_as_the_value_its_digits_say() -> None:
    headers, left = outgoing_headers(5.0)
    assert left is not None
    written = headers[DEADLINE_HEADER]
    assert header_deadline(headers) == int(written) / 1000.0
    assert header_deadline({DEADLINE_HEADER: str(written)}) == int(written) / 1000.0  # a copy of the text
    assert header_deadline({DEADLINE_HEADER: f" {written} "}) == int(written) / 1000.0  # padded on the wire


@pytest.mark.parametrize("raw", ["", "abc", "12.5", "١٢٣", "²", "1" * 16, "-5"])
def test_a_deadline_header_that_is_not_ascii_milliseconds_is_no_deadline(raw: str) -> None:
    outgoing_headers(5.0)  # whatever this process wrote last does not change what another value means
    assert header_deadline({DEADLINE_HEADER: raw}) is None
    assert RequestContext.from_headers("a.b", {DEADLINE_HEADER: raw}).deadline is None


def test_a_context_made_from_headers_reads_them_lazily_and_equals_one_given_its_values() -> None:
    traceparent = f"00-{TRACE}-00f067aa0ba902b7-01"
    headers = {TRACEPARENT_HEADER: traceparent, DEADLINE_HEADER: "1700000000000"}
    context = RequestContext.from_headers("a.b", headers)
    assert (context.subject, context.traceparent, context.deadline) == ("a.b", traceparent, 1_700_000_000.0)
    assert context == RequestContext("a.b", traceparent, 1_700_000_000.0, headers)
    assert RequestContext.from_headers("a.b", None).headers == {}


async def test_a_served_handlers_context_is_its_own_and_the_requesters_is_unchanged_after(bus: Bus) -> None:
    seen: list[RequestContext | None] = []

    async def handle(request: GetRequest, context: RequestContext) -> GetReply:
        seen.append(current_context())
        assert current_context() is context
        return GetReply(record=PromptRecord(id=request.id, content="x", content_hash="0" * 64))

    service = ServiceRunner(bus, name="storage", version="1.0.0")
    service.add_endpoint(schemas.STORAGE_GET, handle)
    await service.start()
    mine = RequestContext("caller.subject", f"00-{TRACE}-00f067aa0ba902b7-01", None)
    with bound_context(mine):
        await bus.request(schemas.STORAGE_GET, GetRequest(id="a"))
        assert current_context() is mine
        await bus.request(schemas.STORAGE_GET, GetRequest(id="b"))
        assert current_context() is mine
    assert current_context() is None
    await bus.request(schemas.STORAGE_GET, GetRequest(id="c"))
    assert current_context() is None
    assert len(seen) == 3
    assert all(context is not None and context.trace_id == TRACE for context in seen[:2])
    assert seen[2] is not None
    assert seen[2].trace_id != TRACE
    with pytest.raises(BadRequest):
        bus_context.parse_deadline("soon")
    await service.stop()
