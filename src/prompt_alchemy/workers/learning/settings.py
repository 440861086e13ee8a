"""Settings of the learning worker, one value object (the composition root fills it from the environment)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.workers.learning.training import TrainingSettings

__all__ = ["LearningSettings"]


@dataclass(frozen=True, slots=True)
class LearningSettings:
    """``enabled=False`` (ENABLE_LEARNING=false): the endpoints answer, nothing is consumed, and the
    feedback stays in the durable stream until a worker with learning enabled comes.

    ``max_deliver``: deliveries of one event before it is dead-lettered (an event naming a prompt
    storage does not know is retried ``retry_delay`` seconds later until then). ``outage_backoff``:
    wait between retries while storage or the state is down; the batch is held, not failed.
    """

    enabled: bool = True
    durable_name: str = "learning"
    batch_size: int = 256
    fetch_timeout: float = 1.0
    ack_wait: float = 30.0
    max_deliver: int = 5
    retry_delay: float = 2.0
    outage_backoff: float = 0.5
    storage_timeout: float = 10.0
    storage_concurrency: int = 16
    sync_batch: int = 1000
    training: TrainingSettings = field(default_factory=TrainingSettings)
    endpoint_concurrency: int = 8
    label_review_interval: float = 60.0
    """Seconds between reviews of the labels that have an ``auto_promote`` policy (0: never)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_deliver < 1 or self.storage_concurrency < 1 or self.sync_batch < 1:
            raise ConfigError("learning batch_size, max_deliver, storage_concurrency and sync_batch must be >= 1")
        if min(self.fetch_timeout, self.ack_wait, self.storage_timeout, self.outage_backoff) <= 0:
            raise ConfigError("learning timeouts and backoff must be positive")
        if self.retry_delay < 0:
            raise ConfigError("learning retry_delay must not be negative")
        if self.label_review_interval < 0:
            raise ConfigError("learning label_review_interval must not be negative")
        if self.ack_wait <= self.storage_timeout:
            raise ConfigError("learning ack_wait must exceed storage_timeout, or batches would be redelivered")
