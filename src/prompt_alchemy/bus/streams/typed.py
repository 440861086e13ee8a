"""Durable events typed by their contract: validate, size-check and de-duplicate by ``event_id``.

``publish_event`` is what a front door calls for ``learning.feedback``: it returns the contract's
reply (``FeedbackAccepted``) only once the event is durably stored, so "accepted" means "will be
applied", whatever state the consuming worker is in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from prompt_alchemy.bus.codec import decode, encode, validate
from prompt_alchemy.bus.context import TRACEPARENT_HEADER, current_context, new_traceparent
from prompt_alchemy.bus.streams.model import Delivery, DurableStream
from prompt_alchemy.errors import BusError
from prompt_alchemy.schemas.contract import DurableEventContract, wrong_kind

__all__ = ["decode_delivery", "publish_event"]

EventT = TypeVar("EventT", bound=BaseModel)
AcceptedT = TypeVar("AcceptedT", bound=BaseModel)


def _durable(contract: object) -> None:
    if not isinstance(contract, DurableEventContract):
        raise wrong_kind("a durable event contract", contract)


async def publish_event(
    stream: DurableStream,
    contract: DurableEventContract[EventT, AcceptedT],
    event: EventT | Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
) -> AcceptedT:
    """Validate ``event`` with the contract's model and store it; its ``event_id`` is the msg id.

    Raises BadRequest (invalid event), PayloadTooLarge, Unavailable (stream unreachable: retry
    with the same event, it is stored once) or BusClosed.
    """
    _durable(contract)
    model = validate(contract.event, event)
    event_id = getattr(model, "event_id", None)
    if not isinstance(event_id, str) or not event_id:
        raise BusError(f"{type(model).__name__} has no event_id to de-duplicate by", subject=contract.subject)
    data = encode(model, max_payload=stream.max_payload)
    out_headers = dict(headers or {})
    if TRACEPARENT_HEADER not in out_headers:
        parent = current_context()
        out_headers[TRACEPARENT_HEADER] = new_traceparent(parent.trace_id if parent else None)
    ack = await stream.publish(contract.subject, data, msg_id=event_id, headers=out_headers)
    return contract.reply.model_validate({"event_id": event_id, "sequence": ack.sequence, "duplicate": ack.duplicate})


def decode_delivery(contract: DurableEventContract[EventT, Any], delivery: Delivery) -> EventT:
    """The delivered event as its model; BadRequest naming the fields when it does not validate."""
    _durable(contract)
    return decode(contract.event, delivery.data)
