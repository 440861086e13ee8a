"""Contracts of named prompts: names, their versions, labels (with A/B splits) and label moves.

A *name* (``support-triage``) collects numbered versions, each pinning one stored prompt at one
of its content versions. A *label* (``prod``, ``staging``) of a name points at one version, or
splits its traffic between several by integer weight (``v7: 90, v8: 10``). Moving a label is a
``LabelMoved`` event: stored in the name's history and published on the bus, so every gateway
drops what it cached. The sticky choice of a split variant (``choose_variant``) lives here
because the gateway serves it and the tests and learning must agree with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from prompt_alchemy.schemas.common import Event, Identifier, Reply, Request, utc_now
from prompt_alchemy.schemas.storage import PromptRecord

__all__ = [
    "Actor",
    "AutoPromotePolicy",
    "LabelGetRequest",
    "LabelHistoryReply",
    "LabelHistoryRequest",
    "LabelMoved",
    "LabelPoliciesReply",
    "LabelPoliciesRequest",
    "LabelServedReply",
    "LabelServedRequest",
    "LabelServing",
    "LabelSetReply",
    "LabelSetRequest",
    "LabelState",
    "LabelStatsReply",
    "LabelStatsRequest",
    "LabelVariant",
    "NameGetRequest",
    "NameSetReply",
    "NameSetRequest",
    "NameVersion",
    "PromptName",
    "ServeRequest",
    "ServedCount",
    "ServedPrompt",
    "ServingVariant",
    "Slug",
    "VariantStats",
    "choose_variant",
]

Slug = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")]
"""Lower-case letters, digits, ``.``, ``_`` and ``-``; starts and ends with a letter or digit."""

Actor = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9:._@-]+$")]
"""Who did it: ``key:<index>`` for an API key, ``cli``, ``mcp``, ``auto_promote``, ``address:...``."""

Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
MAX_VARIANTS = 8
TOTAL_WEIGHT_LIMIT = 10_000


class NameVersion(Reply):
    """Version ``version`` of a name: the prompt ``prompt_id`` as it was at its ``prompt_version``."""

    version: int
    prompt_id: str
    prompt_version: int
    added_at: datetime
    added_by: str


class LabelVariant(Request):
    """One arm of a label: a version of the name and its share (weight over the sum of weights)."""

    version: int = Field(ge=1)
    weight: int = Field(default=100, ge=1, le=TOTAL_WEIGHT_LIMIT)


class AutoPromotePolicy(Request):
    """Learning may move the label to the version feedback favours — only when all of this holds.

    Every compared variant has at least ``min_events`` rated events, the favoured version's mean
    rating beats the label's current main version by at least ``margin`` (on the 1-5 scale) and
    learning's confidence that it is better is at least ``confidence``.
    """

    min_events: int = Field(ge=1, le=1_000_000)
    margin: float = Field(default=0.0, ge=0.0, le=4.0)
    confidence: float = Field(default=0.95, ge=0.5, le=0.9999)


class LabelState(Reply):
    variants: list[LabelVariant]
    auto_promote: AutoPromotePolicy | None = None
    moved_at: datetime
    moved_by: str
    served: dict[int, int] = Field(default_factory=dict)
    """How often each version was served under this label (filled on read)."""

    @property
    def main_version(self) -> int:
        """The heaviest variant (the first of equals): what the label 'is' outside a test."""
        return max(self.variants, key=lambda variant: variant.weight).version


class PromptName(Reply):
    name: str
    versions: list[NameVersion]
    labels: dict[str, LabelState] = Field(default_factory=dict)
    created_at: datetime
    revision: int = 0
    """Counts changes to the name; each change is one compare-and-set."""

    def version(self, number: int) -> NameVersion | None:
        return next((version for version in self.versions if version.version == number), None)


class LabelMoved(Event):
    """One move of a label: the audit record and the bus event are the same thing."""

    name: str
    label: str
    from_variants: list[LabelVariant] = Field(default_factory=list)
    to_variants: list[LabelVariant]
    actor: str
    reason: str | None = None
    at: datetime = Field(default_factory=utc_now)
    automatic: bool = False
    revision: int = 0


class NameSetRequest(Request):
    """Give a stored prompt (at its current content version) a name: the name's next version.

    Naming the same prompt at the same content version again returns the version it already is.
    """

    name: Slug
    prompt_id: Identifier
    actor: Actor = "cli"


class NameSetReply(Reply):
    name: PromptName
    version: int
    created: bool


class NameGetRequest(Request):
    name: Slug


class LabelSetRequest(Request):
    """Point ``label`` of ``name`` at one version, at a prompt (named on the way) or at a split.

    Give exactly one of ``version``, ``prompt_id`` or ``variants``. Setting a label to what it
    already is records nothing (so a retry is harmless); ``auto_promote`` replaces the label's
    policy (omit it to keep the policy, set ``clear_auto_promote`` to drop it).
    """

    # "exactly one of" stated in the schema too, so a client (and schemathesis) sees the rule
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["version"], "properties": {"version": {"type": "integer"}}},
                {"required": ["prompt_id"], "properties": {"prompt_id": {"type": "string"}}},
                {"required": ["variants"], "properties": {"variants": {"type": "array"}}},
            ]
        }
    )

    name: Slug
    label: Slug
    version: int | None = Field(default=None, ge=1)
    prompt_id: Identifier | None = None
    variants: list[LabelVariant] | None = Field(default=None, min_length=1, max_length=MAX_VARIANTS)
    auto_promote: AutoPromotePolicy | None = None
    clear_auto_promote: bool = False
    actor: Actor = "cli"
    reason: Reason | None = None
    automatic: bool = False
    expected_revision: int | None = Field(default=None, ge=0)
    """Only move if the name is still at this revision (learning's auto-promotion uses it)."""

    @model_validator(mode="after")
    def _one_target(self) -> LabelSetRequest:
        given = [self.version is not None, self.prompt_id is not None, self.variants is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of version, prompt_id or variants")
        if self.variants is not None:
            versions = [variant.version for variant in self.variants]
            if len(set(versions)) != len(versions):
                raise ValueError("variants name a version twice")
            if sum(variant.weight for variant in self.variants) > TOTAL_WEIGHT_LIMIT:
                raise ValueError(f"variant weights add up to more than {TOTAL_WEIGHT_LIMIT}")
        if self.auto_promote is not None and self.clear_auto_promote:
            raise ValueError("give auto_promote or clear_auto_promote, not both")
        return self


class LabelSetReply(Reply):
    moved: bool
    move: LabelMoved | None = None
    name: PromptName


class LabelGetRequest(Request):
    name: Slug
    label: Slug


class ServingVariant(Reply):
    version: int
    weight: int
    record: PromptRecord
    """The pinned prompt with ``content`` (and ``version``) as of the pinned content version."""


class LabelServing(Reply):
    """What serving ``name``/``label`` needs: every variant's prompt, and the name's revision."""

    name: str
    label: str
    revision: int
    variants: list[ServingVariant]


class LabelHistoryRequest(Request):
    name: Slug
    label: Slug | None = None
    limit: int = Field(default=50, ge=1, le=500)


class LabelHistoryReply(Reply):
    name: str
    moves: list[LabelMoved]
    """Newest first."""


class ServedCount(Request):
    name: Slug
    label: Slug
    version: int = Field(ge=1)
    count: int = Field(ge=1, le=1_000_000_000)


class LabelServedRequest(Request):
    """Counts of versions served by label since the gateway's last report."""

    counts: list[ServedCount] = Field(min_length=1, max_length=1000)


class LabelServedReply(Reply):
    recorded: int


class ServeRequest(Request):
    """Serve a name by label; ``key`` (a user or session id) makes an A/B split sticky."""

    name: Slug
    label: Slug = "prod"
    key: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class ServedPrompt(Reply):
    """What serving a name by label answers: the chosen version's prompt and how it was chosen.

    Send feedback on it to ``prompt_id`` as usual: every version is its own prompt, so learning
    keeps the variants' feedback apart and the name's stats compare them.
    """

    name: str
    label: str
    version: int
    prompt_id: str
    content: str
    record: PromptRecord
    weight: int
    """This variant's weight; ``split`` says whether the label has several."""
    split: bool = False
    key: str | None = None
    """The caller's stickiness key, when one was given (the same key always gets the same version)."""
    revision: int


class LabelPoliciesRequest(Request):
    """Every label that has an ``auto_promote`` policy (learning reviews them)."""

    limit: int = Field(default=1000, ge=1, le=10_000)


class LabelPoliciesReply(Reply):
    labels: list[LabelGetRequest]
    """(name, label) pairs, by name then label."""


class LabelStatsRequest(Request):
    name: Slug
    label: Slug = "prod"


class VariantStats(Reply):
    """One version of the name: ``weight`` 0 when the label does not serve it."""

    version: int
    prompt_id: str
    weight: int
    served: int = 0
    rated: int = 0
    mean_rating: float | None = None


class LabelStatsReply(Reply):
    """The label's variants side by side, which one feedback favours, and how sure learning is."""

    name: str
    label: str
    variants: list[VariantStats]
    favoured_version: int | None = None
    confidence: float | None = None
    """Probability that the favoured version's rating beats the runner-up's (normal approximation)."""
    auto_promote: AutoPromotePolicy | None = None
    promoted: LabelMoved | None = None
    """The move the label's ``auto_promote`` policy made on this call, if any."""


def choose_variant(variants: Sequence[LabelVariant], *, name: str, label: str, key: str) -> LabelVariant:
    """The variant ``key`` always gets for ``name``/``label``: a hash bucket over the weights.

    The bucket is the SHA-256 of the name, label and key, so a caller keeps its variant across
    gateways and restarts, and keys spread over variants in proportion to their weights.
    """
    if not variants:
        raise ValueError("a label has at least one variant")
    total = sum(variant.weight for variant in variants)
    digest = hashlib.sha256(f"{name}\x00{label}\x00{key}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % total
    for variant in variants:
        if bucket < variant.weight:
            return variant
        bucket -= variant.weight
    raise AssertionError("unreachable: the buckets cover the total weight")
