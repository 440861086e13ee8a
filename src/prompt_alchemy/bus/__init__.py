"""The message bus: one typed ``Bus`` on two peer transports, plus the ADR-32 service runner."""

from prompt_alchemy.bus.context import RequestContext, current_context
from prompt_alchemy.bus.core import Bus, EventHandler, InMemoryBus, NatsBus, RequestHandler
from prompt_alchemy.bus.discovery import discovery_subject
from prompt_alchemy.bus.nats_transport import NatsOptions
from prompt_alchemy.bus.service import ServiceRunner
from prompt_alchemy.bus.transport import DEFAULT_MAX_PAYLOAD, RawMessage, Subscription, Transport

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "Bus",
    "EventHandler",
    "InMemoryBus",
    "NatsBus",
    "NatsOptions",
    "RawMessage",
    "RequestContext",
    "RequestHandler",
    "ServiceRunner",
    "Subscription",
    "Transport",
    "current_context",
    "discovery_subject",
]
