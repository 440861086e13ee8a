"""The providers worker: vendor LLM clients and the offline provider behind one registry.

``ProviderRegistry`` holds every provider with its policy (timeout, retries, circuit breaker,
concurrency, fallback order); ``ProvidersWorker`` serves it on the bus as
``alchemy.v1.providers.{list,get,test,complete,embed,health}``.
"""

from prompt_alchemy.workers.providers.offline import OfflinePromptEngineer, OfflineProvider
from prompt_alchemy.workers.providers.registry import ProviderRegistry
from prompt_alchemy.workers.providers.service import (
    PROVIDERS_SERVICE_NAME,
    ProvidersWorker,
    build_providers_service,
)
from prompt_alchemy.workers.providers.settings import (
    OFFLINE_EMBEDDING_MODEL,
    OFFLINE_MODEL,
    OFFLINE_PROVIDER,
    ProviderKind,
    ProviderPolicy,
    ProvidersConfig,
    ProviderSettings,
    from_env,
)

__all__ = [
    "OFFLINE_EMBEDDING_MODEL",
    "OFFLINE_MODEL",
    "OFFLINE_PROVIDER",
    "PROVIDERS_SERVICE_NAME",
    "OfflinePromptEngineer",
    "OfflineProvider",
    "ProviderKind",
    "ProviderPolicy",
    "ProviderRegistry",
    "ProviderSettings",
    "ProvidersConfig",
    "ProvidersWorker",
    "build_providers_service",
    "from_env",
]
