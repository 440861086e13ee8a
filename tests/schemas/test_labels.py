"""The sticky A/B choice: the same key always gets the same version; keys split by weight."""

from __future__ import annotations

import math
from collections import Counter

import pydantic
import pytest

from prompt_alchemy.schemas.labels import LabelSetRequest, LabelVariant, choose_variant

DRAWS = 10_000


def counts(variants: list[LabelVariant], *, label: str = "prod") -> Counter[int]:
    return Counter(
        choose_variant(variants, name="support-triage", label=label, key=f"user-{index}").version
        for index in range(DRAWS)
    )


def within_five_sigma(observed: int, share: float) -> bool:
    """Binomial bound: a fair hash lands outside it with probability below 1e-6."""
    expected = DRAWS * share
    return abs(observed - expected) <= 5 * math.sqrt(DRAWS * share * (1 - share))


@pytest.mark.parametrize(
    "weights",
    [(90, 10), (50, 50), (50, 30, 20), (1, 1, 1, 1), (999, 1)],
)
def test_keys_split_in_proportion_to_the_weights(weights: tuple[int, ...]) -> None:
    variants = [LabelVariant(version=7 + index, weight=weight) for index, weight in enumerate(weights)]
    observed = counts(variants)
    assert sum(observed.values()) == DRAWS
    for variant in variants:
        share = variant.weight / sum(weights)
        assert within_five_sigma(observed[variant.version], share), (variant, observed)


def test_a_key_keeps_its_version() -> None:
    variants = [LabelVariant(version=7, weight=90), LabelVariant(version=8, weight=10)]
    first = [choose_variant(variants, name="n", label="prod", key=f"k{index}") for index in range(1000)]
    again = [choose_variant(variants, name="n", label="prod", key=f"k{index}") for index in range(1000)]
    assert first == again


def test_ramping_a_variant_up_keeps_everyone_it_already_had() -> None:
    ten = [LabelVariant(version=7, weight=90), LabelVariant(version=8, weight=10)]
    twenty = [LabelVariant(version=7, weight=80), LabelVariant(version=8, weight=20)]
    keys = [f"user-{index}" for index in range(DRAWS)]
    on_eight_before = {key for key in keys if choose_variant(ten, name="n", label="prod", key=key).version == 8}
    on_eight_after = {key for key in keys if choose_variant(twenty, name="n", label="prod", key=key).version == 8}
    assert on_eight_before < on_eight_after


def test_labels_and_names_draw_independently() -> None:
    variants = [LabelVariant(version=1, weight=50), LabelVariant(version=2, weight=50)]
    keys = [f"user-{index}" for index in range(DRAWS)]
    prod = [choose_variant(variants, name="n", label="prod", key=key).version for key in keys]
    beta = [choose_variant(variants, name="n", label="beta", key=key).version for key in keys]
    agree = sum(a == b for a, b in zip(prod, beta, strict=True))
    assert within_five_sigma(agree, 0.5)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "n", "label": "prod"},
        {"name": "n", "label": "prod", "version": 1, "prompt_id": "p"},
        {"name": "n", "label": "prod", "variants": [{"version": 1}, {"version": 1}]},
        {"name": "n", "label": "prod", "variants": [{"version": 1, "weight": 6000}, {"version": 2, "weight": 6000}]},
        {"name": "N", "label": "prod", "version": 1},
        {"name": "n", "label": "-prod", "version": 1},
        {"name": "n", "label": "prod", "version": 0},
    ],
)
def test_label_requests_reject_what_cannot_be_served(body: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        LabelSetRequest.model_validate(body)
