"""What both backends keep for named prompts: one document per name, its moves, served counts.

A name is small (its versions and labels), so a backend stores it whole and replaces it with a
compare-and-set on its ``revision``: two storage replicas moving the same label at once cannot
both win, and the loser re-reads and tries again (``NameRegistry``). The move that a change
makes is written in the same atomic step as the document, so the audit trail never misses one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from prompt_alchemy.schemas.labels import LabelMoved, PromptName, ServedCount

__all__ = ["NameStore"]


class NameStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def load(self, name: str) -> PromptName | None:
        """The name's document (``served`` not filled in), None for an unknown name."""

    async def save(self, document: PromptName, *, expected_revision: int | None, move: LabelMoved | None) -> bool:
        """Replace the document if it is still at ``expected_revision`` (None: if it does not
        exist yet), appending ``move`` to the history in the same step; False on a conflict."""

    async def names(self, limit: int) -> list[str]:
        """Every name, sorted (at most ``limit``)."""

    async def history(self, name: str, label: str | None, limit: int) -> list[LabelMoved]:
        """Moves of the name (of one label when given), newest first."""

    async def add_served(self, counts: Sequence[ServedCount]) -> None: ...

    async def served(self, name: str) -> dict[str, dict[int, int]]:
        """Label -> version -> how often it was served."""
