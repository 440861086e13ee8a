"""The composition root: settings, start-up of every worker and front door, the ``prompt-alchemy`` command.

The only package that imports both ``gateway`` and ``workers``. Monolithic mode runs everything
on one in-memory bus (``EmbeddedRuntime``, ``serve --all``); microservice mode runs one worker or
front door per process on NATS (``worker X``, ``serve api|mcp``; ``LocalCluster`` runs them all).
"""

from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.client import Client, open_client
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.local_cluster import ClusterLayout, LocalCluster
from prompt_alchemy.runtime.metrics import ProcessMetrics
from prompt_alchemy.runtime.service_registry import ServiceRegistry
from prompt_alchemy.runtime.settings import ENVIRONMENT_VARIABLES, DeploymentMode, ServiceType, Settings
from prompt_alchemy.runtime.telemetry import Telemetry

__all__ = [
    "ENVIRONMENT_VARIABLES",
    "ChildProcess",
    "Client",
    "ClusterLayout",
    "DeploymentMode",
    "EmbeddedRuntime",
    "LocalCluster",
    "ProcessMetrics",
    "ServiceRegistry",
    "ServiceType",
    "Settings",
    "Telemetry",
    "open_client",
]
