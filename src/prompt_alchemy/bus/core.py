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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

from pydantic import BaseModel

from prompt_alchemy.bus.census import Census
from prompt_alchemy.bus.codec import (
    ERROR_CODE_HEADER,
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
    bind_context,
    bound_context,
    outgoing_headers,
    parse_deadline,
)
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.bus.liveness import ATTEMPT_HEADER, DECLINED_HEADER, Liveness
from prompt_alchemy.bus.memory_transport import InMemoryTransport
from prompt_alchemy.bus.middleware import Middleware, Sending, SendNext, Serving, compose_send, compose_serve
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
from prompt_alchemy.schemas.contract import EventContract, RequestContract, wrong_kind
from prompt_alchemy.schemas.subjects import matches

__all__ = ["Bus", "EventHandler", "InMemoryBus", "NatsBus", "RequestHandler", "ServeStats"]

log = logging.getLogger(__name__)

ReqT = TypeVar("ReqT", bound=BaseModel)
RepT = TypeVar("RepT", bound=BaseModel)
EventT = TypeVar("EventT", bound=BaseModel)

RequestHandler = Callable[[ReqT, RequestContext], Awaitable[RepT]]
EventHandler = Callable[[EventT, RequestContext], Awaitable[None]]

DEFAULT_TIMEOUT_S = 30.0
_FIRST_RESEND_PAUSE_S = 0.01  # before resending a declined or lost request; doubles per decline
_LAST_RESEND_PAUSE_S = 0.16
_DISCOVERY_PREFIX = "$SRV."
_NO_HEADERS: Mapping[str, str] = {}
_from_headers = RequestContext.from_headers
_perf_counter_ns = time.perf_counter_ns
_wall_clock = time.time


def _name_service(error: BusError, contract: RequestContract[Any, Any] | None) -> None:
    """A failure names the service that should have answered (from the contract) unless it already does."""
    if error.service is None and contract is not None:
        error.service = contract.service


@dataclass(slots=True)
class ServeStats:
    """What one served endpoint has done (ADR-32 ``$SRV.STATS``); ``processing_time`` in nanoseconds."""

    num_requests: int = 0
    num_errors: int = 0
    processing_time: int = 0
    last_error: str = ""

    def failed(self, error: ServiceError) -> None:
        self.num_errors += 1
        self.last_error = f"{error.code}:{error.message}"


class Bus:
    """Request/reply and pub/sub with typed contracts over any ``Transport``.

    ``middleware``: the chain around every request served and sent (``bus.middleware``); the
    runtime composes it once. Endpoints take the chain as it is when they start serving.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        default_timeout: float = DEFAULT_TIMEOUT_S,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        self.transport = transport
        self.max_payload = min(max_payload, transport.max_payload)
        self.default_timeout = default_timeout
        self.middleware: tuple[Middleware, ...] = ()
        self._send_chain: SendNext | None = None
        self.use(*middleware)

    def use(self, *layers: Middleware) -> None:
        """Add layers at the inner end of the chain (the first layer ever added is outermost)."""
        self.middleware = (*self.middleware, *layers)
        self._send_chain = compose_send(self.middleware, self._send_call)

    @property
    def is_closed(self) -> bool:
        return self.transport.is_closed

    # -- request/reply ---------------------------------------------------------------------
    async def request(
        self,
        contract: RequestContract[ReqT, RepT],
        payload: ReqT | Mapping[str, Any],
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RepT:
        if not isinstance(contract, RequestContract):
            raise wrong_kind("a request contract", contract)
        model = contract.request
        data = encode(payload if type(payload) is model else validate(model, payload), max_payload=self.max_payload)
        if self._send_chain is None:  # no layer sends: straight to the transport (one call less)
            raw = await self._send(contract, contract.subject, data, timeout, headers)
        else:
            sending = Sending(contract, contract.subject, data, headers, timeout)
            raw = await self._chained(contract, self._send_chain(sending))
        try:
            return decode(contract.reply, raw.data)
        except BadRequest as error:
            raise InternalError(
                f"invalid reply on {contract.subject}: {error.message}", details=error.details
            ) from error

    async def request_encoded(
        self,
        contract: RequestContract[ReqT, RepT],
        payload: ReqT | Mapping[str, Any],
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Like ``request``, but the reply stays the JSON its responder encoded.

        For a front door that only passes the reply on: the serving bus already checked it is the
        contract's reply model, so decoding and re-encoding it would only cost time.
        """
        if not isinstance(contract, RequestContract):
            raise wrong_kind("a request contract", contract)
        data = encode(validate(contract.request, payload), max_payload=self.max_payload)
        return (await self._request(contract, contract.subject, data, timeout, headers)).data

    async def request_raw(
        self,
        target: RequestContract[Any, Any] | str,
        data: bytes,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RawMessage:
        """Send bytes as they are (the server validates them); error replies still raise.

        ``target``: a request contract, or an ADR-32 discovery subject (``$SRV.``).
        """
        contract: RequestContract[Any, Any] | None = None
        if isinstance(target, RequestContract):
            contract, subject = target, target.subject
        elif isinstance(target, str):
            if not target.startswith(_DISCOVERY_PREFIX):
                raise UnknownSubject(
                    f"{target!r} is not a discovery subject: send a contract's request with its contract",
                    subject=target,
                )
            subject = target
        else:
            raise wrong_kind("a request contract or a discovery subject", target)
        if len(data) > self.max_payload:
            raise PayloadTooLarge.over_limit("payload", len(data), self.max_payload)
        return await self._request(contract, subject, data, timeout, headers)

    def _request(
        self,
        contract: RequestContract[Any, Any] | None,
        subject: str,
        data: bytes,
        timeout: float | None,
        headers: Mapping[str, str] | None,
    ) -> Awaitable[RawMessage]:
        if self._send_chain is None:  # no layer sends: nothing to go through (one coroutine less)
            return self._send(contract, subject, data, timeout, headers)
        return self._chained(contract, self._send_chain(Sending(contract, subject, data, headers, timeout)))

    @staticmethod
    async def _chained(contract: RequestContract[Any, Any] | None, sent: Awaitable[RawMessage]) -> RawMessage:
        try:
            return await sent
        except BusError as error:  # a layer's own error: the request's service is its service too
            _name_service(error, contract)
            raise

    def _send_call(self, call: Sending) -> Awaitable[RawMessage]:
        return self._send(call.contract, call.subject, call.data, call.timeout, call.headers)

    async def _send(
        self,
        contract: RequestContract[Any, Any] | None,
        subject: str,
        data: bytes,
        timeout: float | None,
        headers: Mapping[str, str] | None,
    ) -> RawMessage:
        """Send and wait for the reply, resending when the responder is lost and that is safe (``_resend``)."""
        try:
            out_headers, effective = outgoing_headers(self.default_timeout if timeout is None else timeout, headers)
            if effective is not None and effective <= 0:
                raise DeadlineExceeded(f"the deadline passed before {subject} could be requested")
            sent_at = time.monotonic()
            try:
                raw = await self.transport.request(subject, data, headers=out_headers, timeout=effective or 0.001)
            except ResponderLost as error:
                raw = await self._resend(contract, subject, data, out_headers, sent_at + (effective or 0.001), error)
            if raw.headers and ERROR_CODE_HEADER in raw.headers:
                failure = error_from_reply(raw.data, raw.headers)
                if failure is not None:
                    raise failure
            return raw
        except BusError as error:  # which service failed, for the caller's error (and the gateway's status)
            _name_service(error, contract)
            raise

    async def _resend(
        self,
        contract: RequestContract[Any, Any] | None,
        subject: str,
        data: bytes,
        out_headers: dict[str, str],
        deadline: float,
        error: ResponderLost,
    ) -> RawMessage:
        """Resend a request whose first send failed with ``error``, until one is answered.

        A declined request (its handler never ran) is resent after a short jittered pause, as
        often as the deadline (``time.monotonic``) allows; a lost one is resent, at most
        ``max_attempts`` sends in all, when the contract says a retry is safe or it was never
        started. Every resend goes back to the queue group, whose live members share it;
        ``Alchemy-Attempt`` counts the sends that may have started the work (a declined one never did).
        """
        retry_safe = contract is not None and contract.retry_safe
        liveness = self.transport.liveness
        lost, declined, pause = 0, 0, _FIRST_RESEND_PAUSE_S
        while True:
            if not error.declined:
                lost += 1
                if lost >= liveness.max_attempts or not (retry_safe or error.resendable):
                    raise error
            # A declined request goes back at once, then less eagerly while every instance is
            # full; a lost one waits half a heartbeat, time for nats-server to drop a frozen
            # replica from the queue group (its ping_interval), so the resend reaches a live one.
            pause = min(pause * 2, _LAST_RESEND_PAUSE_S) if error.declined else liveness.interval / 2
            wait = pause * (0.5 + random.random())
            effective = deadline - time.monotonic() - wait
            if effective <= 0:
                raise error
            if error.declined:
                declined += 1
                log.debug("%s; resending", error)
                # a new dict: the last send may be held; the count lets a full instance
                # queue a request that found every instance full (``Dispatcher``)
                out_headers = {**out_headers, DECLINED_HEADER: str(declined)}
            else:  # the work may have started: the next send is the next attempt at it
                log.info("%s; resending (attempt %d)", error, lost + 1)
                out_headers = {**out_headers, ATTEMPT_HEADER: str(lost + 1)}  # a new dict: the last send may be held
            await asyncio.sleep(wait)
            try:
                return await self.transport.request(subject, data, headers=out_headers, timeout=effective)
            except ResponderLost as again:
                error = again

    async def serve(
        self,
        contract: RequestContract[ReqT, RepT],
        handler: RequestHandler[ReqT, RepT],
        *,
        queue: str | None = "q",
        concurrency: int = 16,
        backlog: int | None = None,
        middleware: Sequence[Middleware] = (),
        stats: ServeStats | None = None,
        census: Census | None = None,
    ) -> Subscription:
        """Answer requests on a contract's subject with ``handler``; used by ``ServiceRunner``.

        The handler runs inside the bus's chain, then ``middleware`` (this endpoint's own layers).
        ``stats`` counts every request handled and every error answered (ADR-32's endpoint
        statistics), kept by the innermost step itself: a layer would cost a coroutine per request.
        At most ``concurrency`` handlers run; at most ``backlog`` requests (default: as many)
        wait for a slot; the rest are declined so that another instance takes them (held
        instead while the ``census`` finds no other instance).
        """
        if not isinstance(contract, RequestContract):
            raise wrong_kind("a request contract", contract)
        served = ServeStats() if stats is None else stats
        subject, request_model, reply_model, max_payload = (
            contract.subject,
            contract.request,
            contract.reply,
            self.max_payload,
        )

        async def answer(message: RawMessage, context: RequestContext) -> bytes:
            """The innermost step: check, decode, handle, encode; every failure a ServiceError."""
            started = _perf_counter_ns()
            try:
                data = message.data
                if len(data) > max_payload:
                    raise PayloadTooLarge.over_limit("request", len(data), max_payload)
                deadline = context.deadline
                if deadline is None:
                    if DEADLINE_HEADER in message.headers:
                        parse_deadline(message.headers[DEADLINE_HEADER])  # raises BadRequest naming it
                elif deadline <= _wall_clock():
                    raise DeadlineExceeded(f"the caller's deadline passed before {subject} was handled")
                result = await handler(decode(request_model, data), context)
                if not isinstance(result, reply_model):
                    raise TypeError(f"handler returned {type(result).__name__}, not {reply_model.__name__}")
                return encode(result, max_payload=max_payload)
            except (ServiceError, NoResponders, RequestTimeout) as error:
                failure = as_service_error(error)
                served.failed(failure)
                raise failure from error
            except Exception as error:
                log.exception("handler of %s failed (trace %s)", subject, context.trace_id)
                failure = internal_error(subject, error)
                served.failed(failure)
                raise failure from error
            finally:
                served.num_requests += 1
                served.processing_time += _perf_counter_ns() - started

        def endpoint(call: Serving) -> Awaitable[bytes]:
            return answer(call.message, call.context)

        chain = compose_serve((*self.middleware, *middleware), endpoint)
        layered = chain is not endpoint  # without a layer that serves, no ``Serving`` is made
        transport = self.transport

        async def on_message(message: RawMessage) -> None:
            context = _from_headers(message.subject, message.headers)
            # The transport's Dispatcher runs every request handler in a context of its own (a copy
            # of the subscriber's), which ends with it: bound for good, no reset to pay for.
            bind_context(context)
            try:
                data = await (chain(Serving(contract, message, context)) if layered else answer(message, context))
            except ServiceError as error:
                failure = error
            except Exception as error:  # a middleware failed
                log.exception("middleware around %s failed (trace %s)", subject, context.trace_id)
                failure = internal_error(subject, error)
            else:
                if message.reply:  # the reply, sent here rather than through _reply: one coroutine less
                    try:
                        await transport.reply(message.reply, data, headers=_NO_HEADERS)
                    except BusError as error:
                        log.warning("could not reply on %s: %s", subject, error)
                return
            data, headers = encode_error(failure)
            if not message.reply:
                log.warning("request on %s without reply subject failed: %s", subject, failure.message)
                return
            try:
                await transport.reply(message.reply, data, headers=headers)
            except BusError as error:
                log.warning("could not reply on %s: %s", subject, error)

        return await self.transport.subscribe(
            subject,
            on_message,
            queue=queue,
            concurrency=concurrency,
            backlog=concurrency if backlog is None else backlog,
            census=census,
        )

    async def serve_raw(self, subject: str, handler: RawHandler) -> Subscription:
        """Subscribe a bytes-level handler (ADR-32 discovery replies)."""
        return await self.transport.subscribe(subject, handler)

    async def respond(self, message: RawMessage, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        if message.reply:
            await self._reply(message, data, headers or _NO_HEADERS, None)

    async def _reply(
        self, message: RawMessage, data: bytes, headers: Mapping[str, str], failure: ServiceError | None
    ) -> None:
        if not message.reply:
            if failure is not None:
                log.warning("request on %s without reply subject failed: %s", message.subject, failure.message)
            return
        try:
            await self.transport.reply(message.reply, data, headers=headers)
        except BusError as error:
            log.warning("could not reply on %s: %s", message.subject, error)

    # -- pub/sub ---------------------------------------------------------------------------
    def _event_subject(self, contract: EventContract[Any], subject: str | None) -> str:
        if not isinstance(contract, EventContract):
            raise wrong_kind("an event contract (durable events go through their stream)", contract)
        target = subject or contract.subject
        if not matches(contract.subject, target) and target != contract.subject:
            raise UnknownSubject(f"{target!r} is not a subject of {contract.subject}", subject=target)
        return target

    async def publish(
        self,
        contract: EventContract[EventT],
        event: EventT | Mapping[str, Any],
        *,
        subject: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        target = self._event_subject(contract, subject)
        if contract.is_pattern and subject is None:
            raise BusError(f"{contract.subject} needs a concrete subject to publish on")
        data = encode(validate(contract.event, event), max_payload=self.max_payload)
        out_headers, _ = outgoing_headers(None, headers)
        await self.transport.publish(target, data, headers=out_headers)

    async def subscribe(
        self,
        contract: EventContract[EventT],
        handler: EventHandler[EventT],
        *,
        subject: str | None = None,
        queue: str | None = None,
        concurrency: int = 1,
    ) -> Subscription:
        target = self._event_subject(contract, subject)
        event_model = contract.event

        async def on_message(message: RawMessage) -> None:
            context = RequestContext.from_headers(message.subject, message.headers)
            try:
                event = decode(event_model, message.data)
            except BadRequest as error:
                log.warning("dropped an invalid event on %s: %s", message.subject, error.message)
                return
            with bound_context(context):
                await handler(event, context)

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
        middleware: Sequence[Middleware] = (),
    ) -> None:
        super().__init__(
            InMemoryTransport(max_payload=max_payload, liveness=liveness),
            max_payload=max_payload,
            default_timeout=default_timeout,
            middleware=middleware,
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
        middleware: Sequence[Middleware] = (),
    ) -> NatsBus:
        transport = await NatsTransport.connect(url, options, liveness=liveness)
        return cls(transport, max_payload=max_payload, default_timeout=default_timeout, middleware=middleware)
