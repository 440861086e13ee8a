"""The HTTP gateway (aiohttp): ``/api/v1`` on the bus, plus health, metrics and OpenAPI 3.1."""

from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.gateway.http.app import create_app
from prompt_alchemy.gateway.http.openapi import openapi_document
from prompt_alchemy.gateway.http.server import HttpServer
from prompt_alchemy.gateway.http.settings import HttpSettings

__all__ = ["FeedbackSink", "HttpServer", "HttpSettings", "create_app", "openapi_document"]
