"""The typed bus: contracts in, models out, the same on every transport.

``Bus`` does everything that must not differ between transports — validation, serialisation,
size limits, ADR-32 error replies, trace and deadline headers, handler isolation — and leaves
bytes to a ``Transport``. ``InMemoryBus`` and ``NatsBus`` are that class with their transport.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from pydantic import BaseModel

from prompt_alchemy.bus.codec import (
    decode,
    encode,
    encode_error,
    error_from_reply,
    internal_error,
    validate,
)
from prompt_alchemy.bus.context import (
    DEADLINE_HEADER,
    RequestContext,
    outgoing_headers,
    parse_deadline,
    reset_current,
    set_current,
)
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.bus.liveness import ATTEMPT_HEADER, Liveness
from prompt_alchemy.bus.memory_transport import InMemoryTransport
from prompt_alchemy.bus.nats_transport import NatsOptions, NatsTransport
from prompt_alchemy.bus.transport import DEFAULT_MAX_PAYLOAD, RawHandler, RawMessage, Subscription, Transport
from prompt_alchemy.errors import (
    BadRequest,
    BusError,
    DeadlineExceeded,
    InternalError,
    NoResponders,
    PayloadTooLarge,
    RequestTimeout,
    ResponderLost,
    ServiceError,
    UnknownSubject,
)
from prompt_alchemy.schemas.registry import Contract, ContractKind, contract_for
from prompt_alchemy.schemas.subjects import matches

__all__ = ["Bus", "EventHandler", "InMemoryBus", "NatsBus", "RequestHandler", "ServeObserver"]

log = logging.getLogger(__name__)

ReqT = TypeVar("ReqT", bound=BaseModel)
RepT = TypeVar("RepT", bound=BaseModel)
EventT = TypeVar("EventT", bound=BaseModel)

RequestHandler = Callable[[ReqT, RequestContext], Awaitable[RepT]]
EventHandler = Callable[[EventT, RequestContext], Awaitable[None]]

DEFAULT_TIMEOUT_S = 30.0
_FIRST_RESEND_PAUSE_S = 0.01  # before resending a declined or lost request; doubles per decline
_LAST_RESEND_PAUSE_S = 0.16


ServeObserver = Callable[[str, int, ServiceError | None], None]
"""Told about every handled request (subject, elapsed ns, error): endpoint stats and metrics."""


class Bus:
    """Request/reply and pub/sub with typed contracts over any ``Transport``."""

    def __init__(
        self,
        transport: Transport,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        default_timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.transport = transport
        self.max_payload = min(max_payload, transport.max_payload)
        self.default_timeout = default_timeout
        self.observers: list[ServeObserver] = []  # told about every request this bus serves (metrics)
        self.in_flight: Counter[str] = Counter()  # requests being handled now, by subject (metrics)

    @property
    def is_closed(self) -> bool:
        return self.transport.is_closed

    # -- request/reply ---------------------------------------------------------------------
    async def request(
        self,
        contract: Contract[ReqT, RepT],
        payload: ReqT | Mapping[str, Any],
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RepT:
        if contract.kind is not ContractKind.REQUEST or contract.reply is None:
            raise BusError(f"{contract.subject} is a {contract.kind.value}, not a request/reply subject")
        request = validate(contract.request, payload)
        data = encode(request, max_payload=self.max_payload)
        raw = await self._send(contract.subject, data, timeout, headers, retry_safe=contract.retry_safe)
        try:
            return decode(contract.reply, raw.data)
        except BadRequest as error:
            raise InternalError(
                f"invalid reply on {contract.subject}: {error.message}", details=error.details
            ) from error

    async def request_encoded(
        self,
        contract: Contract[ReqT, RepT],
        payload: ReqT | Mapping[str, Any],
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Like ``request``, but the reply stays the JSON its responder encoded.

        For a front door that only passes the reply on: the serving bus already checked it is the
        contract's reply model, so decoding and re-encoding it would only cost time.
        """
        if contract.kind is not ContractKind.REQUEST or contract.reply is None:
            raise BusError(f"{contract.subject} is a {contract.kind.value}, not a request/reply subject")
        request = validate(contract.request, payload)
        data = encode(request, max_payload=self.max_payload)
        raw = await self._send(contract.subject, data, timeout, headers, retry_safe=contract.retry_safe)
        return raw.data

    async def request_raw(
        self,
        subject: str,
        data: bytes,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RawMessage:
        """Send bytes as they are (the server validates them); error replies still raise.

        Only registry subjects and ADR-32 discovery (``$SRV.``) are allowed.
        """
        retry_safe = False
        if not subject.startswith("$SRV."):
            retry_safe = contract_for(subject).retry_safe  # raises UnknownSubject
        if len(data) > self.max_payload:
            raise PayloadTooLarge.over_limit("payload", len(data), self.max_payload)
        return await self._send(subject, data, timeout, headers, retry_safe=retry_safe)

    async def _send(
        self,
        subject: str,
        data: bytes,
        timeout: float | None,
        headers: Mapping[str, str] | None,
        *,
        retry_safe: bool,
    ) -> RawMessage:
        """Send and wait for the reply, resending when the responder is lost and that is safe.

        A declined request (its handler never ran) is resent after a short jittered pause, as
        often as the deadline allows; a lost one is resent, at most ``max_attempts`` sends in
        all, when the contract says a retry is safe or it was never started. Every resend goes
        back to the queue group, whose live members share it; ``Alchemy-Attempt`` counts the sends
        that may have started the work (a declined one never did).
        """
        out_headers, effective = outgoing_headers(timeout if timeout is not None else self.default_timeout, headers)
        if effective is not None and effective <= 0:
            raise DeadlineExceeded(f"the deadline passed before {subject} could be requested")
        deadline = time.monotonic() + (effective or 0.001)
        lost, pause = 0, _FIRST_RESEND_PAUSE_S
        while True:
            try:
                raw = await self.transport.request(subject, data, headers=out_headers, timeout=effective or 0.001)
                break
            except ResponderLost as error:
                if not error.declined:
                    lost += 1
                    if lost >= self.transport.liveness.max_attempts or not (retry_safe or error.resendable):
                        raise
                # A declined request goes back at once, then less eagerly while every instance is
                # full; a lost one waits half a heartbeat, time for nats-server to drop a frozen
                # replica from the queue group (its ping_interval), so the resend reaches a live one.
                pause = min(pause * 2, _LAST_RESEND_PAUSE_S) if error.declined else self.transport.liveness.interval / 2
                wait = pause * (0.5 + random.random())
                effective = deadline - time.monotonic() - wait
                if effective <= 0:
                    raise
                if error.declined:
                    log.debug("%s; resending", error)
                else:  # the work may have started: the next send is the next attempt at it
                    log.info("%s; resending (attempt %d)", error, lost + 1)
                    out_headers[ATTEMPT_HEADER] = str(lost + 1)
                await asyncio.sleep(wait)
        failure = error_from_reply(raw.data, raw.headers)
        if failure is not None:
            raise failure
        return raw

    async def serve(
        self,
        contract: Contract[ReqT, RepT],
        handler: RequestHandler[ReqT, RepT],
        *,
        queue: str | None = "q",
        concurrency: int = 16,
        backlog: int | None = None,
        observer: ServeObserver | None = None,
    ) -> Subscription:
        """Answer requests on a contract's subject with ``handler``; used by ``ServiceRunner``.

        At most ``concurrency`` handlers run; at most ``backlog`` requests (default: as many)
        wait for a slot; the rest are declined so that another instance takes them.
        """
        if contract.kind is not ContractKind.REQUEST or contract.reply is None:
            raise BusError(f"{contract.subject} is a {contract.kind.value}, not a request/reply subject")
        reply_model = contract.reply

        async def on_message(message: RawMessage) -> None:
            started = time.perf_counter_ns()
            context = RequestContext.from_headers(message.subject, message.headers)
            token = set_current(context)
            failure: ServiceError | None = None
            self.in_flight[contract.subject] += 1
            try:
                try:
                    if len(message.data) > self.max_payload:
                        raise PayloadTooLarge.over_limit("request", len(message.data), self.max_payload)
                    if context.deadline is None and DEADLINE_HEADER in message.headers:
                        parse_deadline(message.headers[DEADLINE_HEADER])  # raises BadRequest naming it
                    if context.expired:
                        raise DeadlineExceeded(f"the caller's deadline passed before {contract.subject} was handled")
                    request = decode(contract.request, message.data)
                    result = await handler(request, context)
                    if not isinstance(result, reply_model):
                        raise TypeError(f"handler returned {type(result).__name__}, not {reply_model.__name__}")
                    data, headers = encode(result, max_payload=self.max_payload), dict[str, str]()
                except (ServiceError, NoResponders, RequestTimeout) as error:
                    failure = as_service_error(error)
                except Exception as error:
                    log.exception("handler of %s failed (trace %s)", contract.subject, context.trace_id)
                    failure = internal_error(contract.subject, error)
                if failure is not None:
                    data, headers = encode_error(failure)
                await self._reply(message, data, headers, failure)
            finally:
                self.in_flight[contract.subject] -= 1
                elapsed = time.perf_counter_ns() - started
                try:  # observers run inside the request's context: what they log carries its trace id
                    if observer is not None:
                        observer(contract.subject, elapsed, failure)
                    for bus_observer in self.observers:
                        bus_observer(contract.subject, elapsed, failure)
                finally:
                    reset_current(token)

        return await self.transport.subscribe(
            contract.subject,
            on_message,
            queue=queue,
            concurrency=concurrency,
            backlog=concurrency if backlog is None else backlog,
        )

    async def serve_raw(self, subject: str, handler: RawHandler) -> Subscription:
        """Subscribe a bytes-level handler (ADR-32 discovery replies)."""
        return await self.transport.subscribe(subject, handler)

    async def respond(self, message: RawMessage, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        if message.reply:
            await self._reply(message, data, dict(headers or {}), None)

    async def _reply(
        self, message: RawMessage, data: bytes, headers: dict[str, str], failure: ServiceError | None
    ) -> None:
        if not message.reply:
            if failure is not None:
                log.warning("request on %s without reply subject failed: %s", message.subject, failure.message)
            return
        try:
            await self.transport.publish(message.reply, data, headers=headers)
        except BusError as error:
            log.warning("could not reply on %s: %s", message.subject, error)

    # -- pub/sub ---------------------------------------------------------------------------
    def _event_subject(self, contract: Contract[Any, Any], subject: str | None) -> str:
        if contract.kind is ContractKind.REQUEST:
            raise BusError(f"{contract.subject} is a request/reply subject; use request()")
        if contract.kind is ContractKind.DURABLE_EVENT:
            raise BusError(f"{contract.subject} is durable: publish it through its durable stream")
        target = subject or contract.subject
        if not matches(contract.subject, target) and target != contract.subject:
            raise UnknownSubject(f"{target!r} is not a subject of {contract.subject}", subject=target)
        return target

    async def publish(
        self,
        contract: Contract[EventT, Any],
        event: EventT | Mapping[str, Any],
        *,
        subject: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        target = self._event_subject(contract, subject)
        if contract.is_pattern and subject is None:
            raise BusError(f"{contract.subject} needs a concrete subject to publish on")
        data = encode(validate(contract.request, event), max_payload=self.max_payload)
        out_headers, _ = outgoing_headers(None, headers)
        await self.transport.publish(target, data, headers=out_headers)

    async def subscribe(
        self,
        contract: Contract[EventT, Any],
        handler: EventHandler[EventT],
        *,
        subject: str | None = None,
        queue: str | None = None,
        concurrency: int = 1,
    ) -> Subscription:
        target = self._event_subject(contract, subject)
        event_model = contract.request

        async def on_message(message: RawMessage) -> None:
            context = RequestContext.from_headers(message.subject, message.headers)
            try:
                event = decode(event_model, message.data)
            except BadRequest as error:
                log.warning("dropped an invalid event on %s: %s", message.subject, error.message)
                return
            token = set_current(context)
            try:
                await handler(event, context)
            finally:
                reset_current(token)

        return await self.transport.subscribe(target, on_message, queue=queue, concurrency=concurrency)

    # -- lifecycle -------------------------------------------------------------------------
    async def drain(self) -> None:
        """Stop taking messages, let in-flight handlers finish and reply, then close."""
        await self.transport.drain()

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.drain()


class InMemoryBus(Bus):
    """Everything in one process, with the wire semantics of NATS."""

    def __init__(
        self,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        default_timeout: float = DEFAULT_TIMEOUT_S,
        liveness: Liveness | None = None,
    ) -> None:
        super().__init__(
            InMemoryTransport(max_payload=max_payload, liveness=liveness),
            max_payload=max_payload,
            default_timeout=default_timeout,
        )


class NatsBus(Bus):
    """The bus on a NATS server: workers in separate processes, scaled with queue groups."""

    transport: NatsTransport

    @classmethod
    async def connect(
        cls,
        url: str | list[str],
        options: NatsOptions | None = None,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        default_timeout: float = DEFAULT_TIMEOUT_S,
        liveness: Liveness | None = None,
    ) -> NatsBus:
        transport = await NatsTransport.connect(url, options, liveness=liveness)
        return cls(transport, max_payload=max_payload, default_timeout=default_timeout)
