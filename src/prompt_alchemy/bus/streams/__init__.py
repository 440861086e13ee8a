"""Durable event streams: at-least-once delivery with ack, redelivery and dead letters, on two peers.

``JetStreamStream`` (NATS) and ``SqliteLog`` (embedded) implement ``DurableStream``; ``open_stream``
picks the one that matches the bus; ``publish_event`` / ``decode_delivery`` type them by contract.
"""

from prompt_alchemy.bus.streams.factory import open_stream
from prompt_alchemy.bus.streams.jetstream import JetStreamConsumer, JetStreamStream
from prompt_alchemy.bus.streams.model import (
    ConsumerState,
    DeadLetter,
    Delivery,
    DurableConsumer,
    DurableStream,
    PublishAck,
    StreamInfo,
    StreamSpec,
)
from prompt_alchemy.bus.streams.sqlite_log import SqliteLog, SqliteLogConsumer
from prompt_alchemy.bus.streams.typed import decode_delivery, publish_event

__all__ = [
    "ConsumerState",
    "DeadLetter",
    "Delivery",
    "DurableConsumer",
    "DurableStream",
    "JetStreamConsumer",
    "JetStreamStream",
    "PublishAck",
    "SqliteLog",
    "SqliteLogConsumer",
    "StreamInfo",
    "StreamSpec",
    "decode_delivery",
    "open_stream",
    "publish_event",
]
