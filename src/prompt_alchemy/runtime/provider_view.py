"""The providers' effective settings for ``config show``: models, URLs, policies, and which keys are set.

Keys are read by the providers worker from the environment; this view names the variables and
says whether each is set, never a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from prompt_alchemy.redaction import mask_url
from prompt_alchemy.workers.providers.settings import ProvidersConfig

__all__ = ["providers_view"]


def providers_view(config: ProvidersConfig, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Each provider as ``config`` makes it; whether each key variable is set in ``environ``."""
    env = os.environ if environ is None else environ
    providers: dict[str, Any] = {}
    for settings in config.providers:
        keys = {name: ("set" if env.get(name) else "unset") for name in settings.api_key_env}
        providers[settings.name] = {
            "kind": settings.kind.value,
            "default_model": settings.default_model,
            "embedding_model": settings.embedding_model,
            "models": list(settings.models),
            "base_url": mask_url(settings.base_url) if settings.base_url else None,  # may carry a password
            "keys": keys,
            "key_required": settings.key_required,
            "policy": asdict(settings.policy),
        }
    return {
        "default": config.default,
        "fallback_order": list(config.fallback_order) if config.fallback_order is not None else None,
        "embed_default": config.embed_default,
        "cache_size": config.cache_size,
        "providers": providers,
    }
