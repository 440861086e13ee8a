"""Every operation of an app with these settings: the API, then health, metrics, the document."""

from __future__ import annotations

from typing import Any

from prompt_alchemy.gateway.http.api_routes import API_OPERATIONS
from prompt_alchemy.gateway.http.operations import Operation
from prompt_alchemy.gateway.http.registry_routes import REGISTRY_OPERATIONS
from prompt_alchemy.gateway.http.settings import HttpSettings
from prompt_alchemy.gateway.http.system_routes import HEALTH, METRICS_OPERATION, OPENAPI_OPERATION

__all__ = ["operations"]


def operations(settings: HttpSettings) -> tuple[Operation[Any, Any], ...]:
    system = (HEALTH, METRICS_OPERATION, OPENAPI_OPERATION) if settings.metrics else (HEALTH, OPENAPI_OPERATION)
    return (*API_OPERATIONS, *REGISTRY_OPERATIONS, *system)
