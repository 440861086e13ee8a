"""Learning to rank from feedback: logistic regression on pairwise differences and absolute ratings.

Two kinds of training examples come from feedback facts and the prompts' ranking features
(``schemas.ranking``):

- a pairwise preference "A chosen over B" gives ``x = f(A) - f(B)`` with label 1 (no bias term:
  only differences matter for ordering);
- a rating / effectiveness / helpful signal gives ``x = f(A)`` with its target in [0, 1] as a soft label.

Both minimise the logistic loss, with an L2 penalty that pulls towards the hand-set
``DEFAULT_WEIGHTS`` rather than towards zero: a feature the feedback says nothing about keeps its
default weight. ``online_update`` takes one SGD pass over a new batch; ``fit`` recomputes from the
prior over every example (mini-batch SGD, deterministic order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from prompt_alchemy.schemas.common import utc_now
from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS, FEATURE_NAMES, feature_vector
from prompt_alchemy.workers.learning.facts import FeedbackFact

__all__ = ["Examples", "TrainingSettings", "build_examples", "fit", "online_update", "weights_as_arrays"]

FloatArray = npt.NDArray[np.float64]
FeatureTable = Mapping[str, Mapping[str, float]]
_MINI_BATCH = 32
_MAX_MARGIN = 30.0  # logistic saturates long before; keeps exp() finite


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    learning_rate: float = 0.05
    l2: float = 0.01


@dataclass(frozen=True, slots=True)
class Examples:
    """Stacked training examples: ``pairs`` (label 1, no bias) and ``points`` with soft ``targets``."""

    pairs: FloatArray
    points: FloatArray
    targets: FloatArray

    @property
    def count(self) -> int:
        return int(self.pairs.shape[0] + self.points.shape[0])


def build_examples(facts: Iterable[FeedbackFact], features: FeatureTable) -> Examples:
    """Examples from ``facts`` whose prompts have known features (the others are skipped)."""
    vectors: dict[str, FloatArray] = {}

    def vector(prompt_id: str) -> FloatArray | None:
        if prompt_id not in vectors:
            known = features.get(prompt_id)
            if known is None:
                return None
            vectors[prompt_id] = np.asarray(feature_vector(known), dtype=np.float64)
        return vectors[prompt_id]

    pairs: list[FloatArray] = []
    points: list[FloatArray] = []
    targets: list[float] = []
    for fact in facts:
        chosen = vector(fact.prompt_id)
        if chosen is None:
            continue
        if fact.chosen_over is not None:
            rejected = vector(fact.chosen_over)
            if rejected is not None:
                pairs.append(chosen - rejected)
        target = fact.target()
        if target is not None:
            points.append(chosen)
            targets.append(target)
    width = len(FEATURE_NAMES)
    return Examples(
        pairs=np.vstack(pairs) if pairs else np.zeros((0, width)),
        points=np.vstack(points) if points else np.zeros((0, width)),
        targets=np.asarray(targets, dtype=np.float64),
    )


def weights_as_arrays(weights: Weights) -> tuple[FloatArray, float]:
    return np.asarray(feature_vector(weights.weights), dtype=np.float64), float(weights.bias)


def _as_weights(vector: FloatArray, bias: float, *, version: int, trained_on: int) -> Weights:
    return Weights(
        version=version,
        weights={name: round(float(value), 6) for name, value in zip(FEATURE_NAMES, vector, strict=True)},
        bias=round(float(bias), 6),
        trained_on=trained_on,
        updated_at=utc_now(),
    )


def _sigmoid(margin: FloatArray) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(margin, -_MAX_MARGIN, _MAX_MARGIN)))
    return result


class _Model:
    """Weights, bias and the prior they are pulled towards; one gradient step at a time."""

    def __init__(self, start: Weights, settings: TrainingSettings) -> None:
        self.w, self.b = weights_as_arrays(start)
        self.prior_w, self.prior_b = weights_as_arrays(DEFAULT_WEIGHTS)
        self.settings = settings

    def step(self, pairs: FloatArray, points: FloatArray, targets: FloatArray) -> None:
        count = pairs.shape[0] + points.shape[0]
        if count == 0:
            return
        grad_w = self.settings.l2 * (self.w - self.prior_w)
        grad_b = self.settings.l2 * (self.b - self.prior_b)
        if pairs.shape[0]:
            errors = _sigmoid(pairs @ self.w) - 1.0
            grad_w = grad_w + (errors @ pairs) / count
        if points.shape[0]:
            errors = _sigmoid(points @ self.w + self.b) - targets
            grad_w = grad_w + (errors @ points) / count
            grad_b = grad_b + float(errors.sum()) / count
        self.w = self.w - self.settings.learning_rate * grad_w
        self.b = self.b - self.settings.learning_rate * grad_b


def online_update(current: Weights, examples: Examples, settings: TrainingSettings) -> Weights | None:
    """One SGD pass over a new batch (one example per step); None when the batch teaches nothing."""
    if examples.count == 0:
        return None
    model = _Model(current, settings)
    empty = np.zeros((0, len(FEATURE_NAMES)))
    no_targets = np.zeros(0)
    for row in examples.pairs:
        model.step(row[np.newaxis, :], empty, no_targets)
    for row, target in zip(examples.points, examples.targets, strict=True):
        model.step(empty, row[np.newaxis, :], np.asarray([target]))
    return _as_weights(model.w, model.b, version=current.version + 1, trained_on=current.trained_on + examples.count)


def fit(examples: Examples, settings: TrainingSettings, *, epochs: int, version: int, seed: int = 0) -> Weights:
    """Recompute from the prior over every example: ``epochs`` passes of shuffled mini-batch SGD."""
    model = _Model(DEFAULT_WEIGHTS, settings)
    generator = np.random.default_rng(seed)
    n_pairs, n_points = examples.pairs.shape[0], examples.points.shape[0]
    total = n_pairs + n_points
    if total:
        batches = max(1, -(-total // _MINI_BATCH))
        for _ in range(epochs):
            pair_order = np.array_split(generator.permutation(n_pairs), batches)
            point_order = np.array_split(generator.permutation(n_points), batches)
            for pair_index, point_index in zip(pair_order, point_order, strict=True):
                model.step(examples.pairs[pair_index], examples.points[point_index], examples.targets[point_index])
    return _as_weights(model.w, model.b, version=version, trained_on=total)
