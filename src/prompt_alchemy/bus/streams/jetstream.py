"""The durable stream on NATS JetStream: a file-stored stream, pull consumers, ``Nats-Msg-Id`` dedup.

The stream and its dead-letter stream (``<NAME>_DLQ``) are created or updated idempotently on open,
so every replica may open them. In a cluster both are replicated (``replicas``): the server sends a
publish ack only once a quorum of replicas has stored the message, so an acknowledged event
survives the loss of any one node, the stream leader included. The server redelivers without
limit (its ``max_deliver`` is -1): ``max_deliver`` is enforced by ``park_exhausted`` so that an
exhausted message is dead-lettered rather than silently dropped. nats-py errors are translated
here and go no further.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType
from nats.js.api import StreamConfig as JsStreamConfig

from prompt_alchemy.bus.nats_transport import NatsTransport
from prompt_alchemy.bus.streams.model import (
    DEAD_LETTER_ATTEMPTS_HEADER,
    DEAD_LETTER_REASON_HEADER,
    DEAD_LETTER_SEQUENCE_HEADER,
    DEAD_LETTER_SUBJECT_HEADER,
    MSG_ID_HEADER,
    ConsumerState,
    DeadLetter,
    Delivery,
    PublishAck,
    StreamInfo,
    StreamSpec,
    check_publishable,
    park_exhausted,
    single_line,
)
from prompt_alchemy.bus.transport import DEFAULT_MAX_PAYLOAD
from prompt_alchemy.errors import (
    AlchemyError,
    BusClosed,
    BusError,
    ConfigError,
    NoResponders,
    PayloadTooLarge,
    RequestTimeout,
    Unavailable,
)

__all__ = ["JetStreamConsumer", "JetStreamStream"]

log = logging.getLogger(__name__)

_STREAM_NAME_IN_USE = 10058  # JetStream API error: stream exists with a different configuration
# A cluster that is starting or electing answers these for a moment: JetStream between leaders
# (10008), or no peers to place the replicas on because some are not known to be online yet (10005
# naming "peer offline"; without it, the cluster is simply smaller than the replica count).
_TEMPORARILY_UNAVAILABLE = 10008
_NO_SUITABLE_PEERS = 10005
SETUP_TIMEOUT_S = 30.0
_SETUP_RETRY_S = 0.25
DEFAULT_API_TIMEOUT_S = 5.0


def _translate(error: Exception, action: str) -> AlchemyError:
    """nats-py's exceptions as ours, most specific first."""
    if isinstance(error, nats.errors.MaxPayloadError):
        return PayloadTooLarge(f"{action}: over the server's payload limit")
    if isinstance(error, nats.errors.ConnectionClosedError | nats.errors.ConnectionDrainingError):
        return BusClosed(f"{action}: the NATS connection is closed")
    if isinstance(error, nats.js.errors.NoStreamResponseError | nats.js.errors.ServiceUnavailableError):
        return Unavailable(f"{action}: JetStream did not answer (is it enabled, is the stream there?)")
    if isinstance(error, nats.errors.TimeoutError | TimeoutError):
        return Unavailable(f"{action}: JetStream did not confirm in time; retrying with the same msg id is safe")
    if isinstance(error, nats.errors.NoRespondersError | nats.errors.ConnectionReconnectingError):
        return Unavailable(f"{action}: the NATS server is not reachable right now")
    if isinstance(error, nats.js.errors.APIError):
        description = error.description or type(error).__name__
        if error.err_code == 10054 or "maximum message size" in description.lower():
            return PayloadTooLarge(f"{action}: {description}")
        return BusError(f"{action}: JetStream error {error.err_code}: {description}")
    return BusError(f"{action}: {type(error).__name__}: {error}")


_NATS_ERRORS = (nats.errors.Error, TimeoutError)
EXPECTED_STREAM_HEADER = "Nats-Expected-Stream"  # the server refuses to store the message in another stream


def _cluster_forming(error: BaseException) -> bool:
    if isinstance(error, nats.js.errors.APIError):
        offline = "offline" in (error.description or "")
        return error.err_code == _TEMPORARILY_UNAVAILABLE or (error.err_code == _NO_SUITABLE_PEERS and offline)
    return isinstance(error, nats.errors.TimeoutError | TimeoutError)


class JetStreamStream:
    """A ``DurableStream`` on JetStream (file storage, limits retention)."""

    def __init__(
        self,
        transport: NatsTransport,
        js: JetStreamContext,
        spec: StreamSpec,
        *,
        max_payload: int,
        api_timeout: float = DEFAULT_API_TIMEOUT_S,
    ) -> None:
        self.spec = spec
        self.max_payload = max_payload
        self._transport = transport
        self._js = js
        self._api_timeout = api_timeout
        self._consumers: list[JetStreamConsumer] = []

    @classmethod
    async def open(
        cls,
        transport: NatsTransport,
        spec: StreamSpec,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        api_timeout: float = DEFAULT_API_TIMEOUT_S,
        replicas: int = 1,
    ) -> JetStreamStream:
        """``replicas``: copies of each stream in a cluster (R3 on three nodes, R1 on one server).

        The durable consumer inherits the stream's replica count, so its state (acked floor,
        redelivery counts) survives a change of stream leader as the messages do.
        """
        if not 1 <= replicas <= 5:
            raise ConfigError(f"stream replicas must be 1 to 5, not {replicas}")
        js = transport.client.jetstream(timeout=api_timeout)
        stream = cls(transport, js, spec, max_payload=min(max_payload, transport.max_payload), api_timeout=api_timeout)
        await stream._ensure(
            JsStreamConfig(
                name=spec.name,
                description=spec.description or None,
                subjects=list(spec.subjects),
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                duplicate_window=spec.duplicate_window,
                max_age=spec.max_age or 0,
                max_msg_size=stream.max_payload,
                num_replicas=replicas,
            )
        )
        await stream._ensure(
            JsStreamConfig(
                name=spec.dead_letter_name,
                description=f"dead letters of {spec.name}",
                subjects=[spec.dead_letter_subject],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                duplicate_window=spec.duplicate_window,
                num_replicas=replicas,
            )
        )
        return stream

    async def _ensure(self, config: JsStreamConfig) -> None:
        """Create or update; while a cluster is still forming or electing, try again (bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETUP_TIMEOUT_S
        while True:
            try:
                await self._create_or_update(config)
                return
            except _NATS_ERRORS as error:
                if not _cluster_forming(error) or loop.time() >= deadline:
                    raise ConfigError(
                        f"cannot create or update JetStream stream {config.name}: {_translate(error, 'setup')}"
                    ) from error
                log.info("JetStream stream %s: %s; trying again", config.name, _translate(error, "setup"))
                await asyncio.sleep(_SETUP_RETRY_S)

    async def _create_or_update(self, config: JsStreamConfig) -> None:
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError as error:
            if error.err_code != _STREAM_NAME_IN_USE:
                raise
            await self._js.update_stream(config)

    # -- publishing ----------------------------------------------------------------------------
    async def publish(
        self, subject: str, data: bytes, *, msg_id: str, headers: Mapping[str, str] | None = None
    ) -> PublishAck:
        """What ``JetStreamContext.publish`` does — a request on the subject that the stream
        answers with its ack once stored — on the transport's reply inbox (no inbox, future and
        timer per call), reading the ack's three fields from its JSON rather than building
        nats-py's ``PubAck`` by dataclass introspection on every event."""
        check_publishable(self.spec, subject, data, msg_id=msg_id, max_payload=self.max_payload)
        all_headers = {**(headers or {}), MSG_ID_HEADER: msg_id, EXPECTED_STREAM_HEADER: self.spec.name}
        action = f"publish on {subject}"
        try:
            reply = await self._transport.request(
                subject, data, headers=all_headers, timeout=self._api_timeout, watched=False
            )
            ack = json.loads(reply.data)
            if "error" in ack:
                nats.js.errors.APIError.from_error(ack["error"])  # raises the error the server named
        except NoResponders as error:  # no stream captures the subject
            raise _translate(nats.js.errors.NoStreamResponseError(), action) from error
        except RequestTimeout as error:
            raise _translate(nats.errors.TimeoutError(), action) from error
        except BusClosed as error:
            if self._transport.is_closed:
                raise _translate(nats.errors.ConnectionClosedError(), action) from error
            raise _translate(nats.errors.ConnectionReconnectingError(), action) from error
        except _NATS_ERRORS as error:
            raise _translate(error, action) from error
        return PublishAck(stream=ack["stream"], sequence=ack["seq"], duplicate=bool(ack.get("duplicate")))

    async def _publish_dead_letter(self, delivery: Delivery, reason: str) -> None:
        headers = {
            **{key: value for key, value in delivery.headers.items() if not key.startswith("Nats-")},
            MSG_ID_HEADER: delivery.msg_id or f"{self.spec.name}:{delivery.sequence}",
            DEAD_LETTER_REASON_HEADER: single_line(reason),
            DEAD_LETTER_ATTEMPTS_HEADER: str(delivery.attempt),
            DEAD_LETTER_SUBJECT_HEADER: delivery.subject,
            DEAD_LETTER_SEQUENCE_HEADER: str(delivery.sequence),
        }
        try:
            await self._js.publish(
                self.spec.dead_letter_subject, delivery.data, headers=headers, stream=self.spec.dead_letter_name
            )
        except _NATS_ERRORS as error:
            raise _translate(error, f"dead-letter {delivery!r}") from error

    # -- consuming -----------------------------------------------------------------------------
    async def consumer(self, durable_name: str, *, ack_wait: float, max_deliver: int) -> JetStreamConsumer:
        if ack_wait <= 0 or max_deliver < 1:
            raise ConfigError("ack_wait must be positive and max_deliver at least 1")
        config = ConsumerConfig(
            name=durable_name,
            durable_name=durable_name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_deliver=-1,
            max_ack_pending=-1,
        )
        try:
            await self._js.add_consumer(self.spec.name, config)
            subscription = await self._js.pull_subscribe_bind(durable=durable_name, stream=self.spec.name)
        except _NATS_ERRORS as error:
            raise _translate(error, f"open consumer {durable_name} of {self.spec.name}") from error
        consumer = JetStreamConsumer(self, durable_name, subscription, max_deliver=max_deliver)
        self._consumers.append(consumer)
        return consumer

    # -- inspection ----------------------------------------------------------------------------
    async def info(self) -> StreamInfo:
        try:
            stream = await self._js.stream_info(self.spec.name)
            dead = await self._js.stream_info(self.spec.dead_letter_name)
            consumers = await self._js.consumers_info(self.spec.name)
        except _NATS_ERRORS as error:
            raise _translate(error, f"info of {self.spec.name}") from error
        return StreamInfo(
            name=self.spec.name,
            messages=stream.state.messages,
            last_sequence=stream.state.last_seq,
            dead_letters=dead.state.messages,
            consumers={
                info.name: ConsumerState(
                    name=info.name, pending=info.num_pending or 0, ack_pending=info.num_ack_pending or 0
                )
                for info in consumers
            },
        )

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        try:
            state = (await self._js.stream_info(self.spec.dead_letter_name)).state
            letters: list[DeadLetter] = []
            sequence = state.first_seq
            while sequence and sequence <= state.last_seq and len(letters) < limit:
                with contextlib.suppress(nats.js.errors.NotFoundError):  # deleted by limits
                    raw = await self._js.get_msg(self.spec.dead_letter_name, sequence)
                    headers: dict[str, str] = dict(raw.headers or {})
                    letters.append(
                        DeadLetter(
                            subject=headers.get(DEAD_LETTER_SUBJECT_HEADER, ""),
                            data=raw.data or b"",
                            headers=headers,
                            msg_id=headers.get(MSG_ID_HEADER),
                            sequence=int(headers.get(DEAD_LETTER_SEQUENCE_HEADER, "0")),
                            attempts=int(headers.get(DEAD_LETTER_ATTEMPTS_HEADER, "0")),
                            reason=headers.get(DEAD_LETTER_REASON_HEADER, ""),
                            parked_at=raw.time,
                        )
                    )
                sequence += 1
        except _NATS_ERRORS as error:
            raise _translate(error, f"read dead letters of {self.spec.name}") from error
        return letters

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.close()
        self._consumers.clear()


class JetStreamConsumer:
    """A durable pull consumer; also the settler of its deliveries."""

    def __init__(
        self, stream: JetStreamStream, name: str, subscription: JetStreamContext.PullSubscription, *, max_deliver: int
    ) -> None:
        self.name = name
        self.max_deliver = max_deliver
        self._stream = stream
        self._subscription = subscription
        self._closed = False

    async def fetch(self, batch: int, *, timeout: float) -> list[Delivery]:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if self._closed:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            try:
                messages = await self._subscription.fetch(batch, timeout=max(remaining, 0.01))
            except (nats.errors.TimeoutError, TimeoutError):
                return []
            except _NATS_ERRORS as error:
                raise _translate(error, f"fetch from {self._stream.spec.name}/{self.name}") from error
            deliveries = await park_exhausted([self._delivery(message) for message in messages])
            if deliveries:
                return deliveries

    def _delivery(self, message: Msg) -> Delivery:
        metadata = message.metadata
        headers = dict(message.headers or {})
        return Delivery(
            self,
            subject=message.subject,
            data=message.data,
            headers=headers,
            msg_id=headers.get(MSG_ID_HEADER),
            sequence=metadata.sequence.stream,
            attempt=metadata.num_delivered,
            max_deliver=self.max_deliver,
            handle=message,
        )

    @staticmethod
    def _message(delivery: Delivery) -> Msg:
        if not isinstance(delivery.handle, Msg):
            raise BusError(f"{delivery!r} was not delivered by JetStream")
        return delivery.handle

    # -- settling (DeliverySettler) ------------------------------------------------------------
    async def _settle(self, delivery: Delivery, action: str, **kwargs: Any) -> None:
        message = self._message(delivery)
        try:
            await getattr(message, action)(**kwargs)
        except _NATS_ERRORS as error:
            raise _translate(error, f"{action} {delivery!r}") from error

    async def ack(self, delivery: Delivery) -> None:
        await self._settle(delivery, "ack")

    async def nak(self, delivery: Delivery, delay: float | None) -> None:
        await self._settle(delivery, "nak", delay=delay)

    async def in_progress(self, delivery: Delivery) -> None:
        try:
            await self._message(delivery).in_progress()
        except _NATS_ERRORS as error:
            raise _translate(error, f"in_progress {delivery!r}") from error

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        await self._stream._publish_dead_letter(delivery, reason)
        await self._settle(delivery, "term")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(*_NATS_ERRORS, ValueError):
            await self._subscription.unsubscribe()
