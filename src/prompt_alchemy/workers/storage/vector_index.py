"""Exact cosine search over unit vectors held in one contiguous numpy matrix.

The matrix grows by doubling, so an insert costs O(dim) amortised; a delete moves the last row
into the hole. Ranking is by similarity rounded to 1e-6 (descending), then id (ascending): that
order is total and reproducible, which is what makes keyset pagination stable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from prompt_alchemy.workers.storage.embedders import FloatVector

__all__ = ["SIMILARITY_SCALE", "ExactVectorIndex", "RankedHit", "SearchAfter", "similarity_key"]

SIMILARITY_SCALE = 1_000_000
_INITIAL_CAPACITY = 1024


def similarity_key(similarity: float) -> int:
    """The rank key of a similarity: integer micro-units, so equal keys compare exactly."""
    return round(similarity * SIMILARITY_SCALE)


@dataclass(frozen=True, slots=True)
class SearchAfter:
    """Keyset position: only hits ranked strictly after (key, id) are returned."""

    key: int
    id: str


@dataclass(frozen=True, slots=True)
class RankedHit:
    id: str
    similarity: float

    @property
    def key(self) -> int:
        return similarity_key(self.similarity)


class ExactVectorIndex:
    """Brute-force cosine index: every query is compared with every candidate row."""

    def __init__(self, dimension: int) -> None:
        if dimension < 1:
            raise ValueError("dimension must be positive")
        self.dimension = dimension
        self._matrix: npt.NDArray[np.float32] = np.zeros((_INITIAL_CAPACITY, dimension), dtype=np.float32)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._rows

    def add(self, prompt_id: str, unit_vector: FloatVector) -> None:
        """Insert or replace the vector of ``prompt_id`` (expected L2-normalised)."""
        if unit_vector.shape != (self.dimension,):
            raise ValueError(f"expected a {self.dimension}-dimension vector, got shape {unit_vector.shape}")
        row = self._rows.get(prompt_id)
        if row is None:
            row = len(self._ids)
            if row == self._matrix.shape[0]:
                grown = np.zeros((row * 2, self.dimension), dtype=np.float32)
                grown[:row] = self._matrix[:row]
                self._matrix = grown
            self._ids.append(prompt_id)
            self._rows[prompt_id] = row
        self._matrix[row] = unit_vector

    def add_many(self, items: Iterable[tuple[str, FloatVector]]) -> None:
        for prompt_id, vector in items:
            self.add(prompt_id, vector)

    def remove(self, prompt_id: str) -> bool:
        row = self._rows.pop(prompt_id, None)
        if row is None:
            return False
        last = len(self._ids) - 1
        if row != last:
            moved = self._ids[last]
            self._matrix[row] = self._matrix[last]
            self._ids[row] = moved
            self._rows[moved] = row
        self._ids.pop()
        return True

    def rows_of(self, prompt_ids: Iterable[str]) -> npt.NDArray[np.int64]:
        """Row numbers of the ids present in the index (unknown ids are skipped)."""
        rows = [row for row in (self._rows.get(prompt_id) for prompt_id in prompt_ids) if row is not None]
        return np.asarray(rows, dtype=np.int64)

    def search(
        self,
        unit_query: FloatVector,
        limit: int,
        *,
        candidates: npt.NDArray[np.int64] | None = None,
        min_similarity: float = -1.0,
        after: SearchAfter | None = None,
    ) -> list[RankedHit]:
        """Up to ``limit`` hits in rank order, among ``candidates`` rows (all rows when None)."""
        count = len(self._ids)
        if count == 0 or limit <= 0:
            return []
        if candidates is None:
            rows = np.arange(count, dtype=np.int64)
            similarities = self._matrix[:count] @ unit_query
        else:
            rows = candidates
            if rows.size == 0:
                return []
            similarities = self._matrix[rows] @ unit_query
        keys = np.rint(similarities.astype(np.float64) * SIMILARITY_SCALE).astype(np.int64)
        keep = keys >= similarity_key(min_similarity)
        if after is not None:
            keep &= keys <= after.key
            for index in np.flatnonzero(keep & (keys == after.key)):
                if self._ids[int(rows[index])] <= after.id:
                    keep[index] = False
        selected = np.flatnonzero(keep)
        if selected.size > limit:
            # argpartition picks an arbitrary subset among ties at the boundary, so take every row
            # whose key reaches the limit-th best key, then order that small set exactly.
            threshold = np.partition(keys[selected], selected.size - limit)[selected.size - limit]
            selected = selected[keys[selected] >= threshold]
        ranked = sorted(
            ((int(keys[index]), self._ids[int(rows[index])], float(similarities[index])) for index in selected),
            key=lambda item: (-item[0], item[1]),
        )
        return [RankedHit(prompt_id, similarity) for _key, prompt_id, similarity in ranked[:limit]]
