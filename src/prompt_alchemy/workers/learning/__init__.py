"""The learning worker: consumes feedback durably, learns ranking weights and per-prompt aggregates.

``build_learning_worker(bus, stream, state, settings)`` gives a ``LearningWorker`` (``start`` /
``stop``); ``state`` is a ``SqliteLearningState`` (embedded) or a ``RedisLearningState`` (replicas).
"""

from prompt_alchemy.workers.learning.aggregates import PromptAggregate
from prompt_alchemy.workers.learning.facts import FeedbackFact
from prompt_alchemy.workers.learning.ledger import VotePolicy
from prompt_alchemy.workers.learning.redis_state import RedisLearningState
from prompt_alchemy.workers.learning.service import (
    LEARNING_SERVICE_NAME,
    LearningWorker,
    build_learning_worker,
)
from prompt_alchemy.workers.learning.settings import LearningSettings
from prompt_alchemy.workers.learning.sqlite_state import SqliteLearningState
from prompt_alchemy.workers.learning.state import ApplyOutcome, LearningState, StateStats
from prompt_alchemy.workers.learning.training import TrainingSettings

__all__ = [
    "LEARNING_SERVICE_NAME",
    "ApplyOutcome",
    "FeedbackFact",
    "LearningSettings",
    "LearningState",
    "LearningWorker",
    "PromptAggregate",
    "RedisLearningState",
    "SqliteLearningState",
    "StateStats",
    "TrainingSettings",
    "VotePolicy",
    "build_learning_worker",
]
