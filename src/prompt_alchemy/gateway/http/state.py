"""What handlers and middleware read from the application: typed aiohttp ``AppKey``s."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.feedback import FeedbackGate, FeedbackSink
from prompt_alchemy.gateway.http.metrics import HttpMetrics
from prompt_alchemy.gateway.http.settings import HttpSettings
from prompt_alchemy.gateway.known_prompts import KnownPrompts
from prompt_alchemy.gateway.label_cache import LabelCache

__all__ = [
    "BUS",
    "FEEDBACK",
    "FEEDBACK_GATE",
    "KNOWN_PROMPTS",
    "LABELS",
    "METRICS",
    "OPENAPI",
    "PUBLIC_ROUTES",
    "SETTINGS",
]

BUS = web.AppKey("bus", Bus)
FEEDBACK: web.AppKey[FeedbackSink] = web.AppKey("feedback")
FEEDBACK_GATE = web.AppKey("feedback_gate", FeedbackGate)
KNOWN_PROMPTS = web.AppKey("known_prompts", KnownPrompts)
SETTINGS = web.AppKey("settings", HttpSettings)
METRICS = web.AppKey("metrics", HttpMetrics)
PUBLIC_ROUTES = web.AppKey("public_routes", frozenset[str])
OPENAPI = web.AppKey("openapi", dict[str, Any])
LABELS = web.AppKey("labels", LabelCache)
