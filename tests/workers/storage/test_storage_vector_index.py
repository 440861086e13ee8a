"""The exact numpy index: incremental updates equal a fresh brute-force ranking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prompt_alchemy.workers.storage.vector_index import ExactVectorIndex, SearchAfter, similarity_key

DIM = 8


def unit(values: np.ndarray) -> np.ndarray:
    normalised: np.ndarray = (values / np.linalg.norm(values)).astype(np.float32)
    return normalised


def brute_force(vectors: dict[str, np.ndarray], query: np.ndarray, min_similarity: float) -> list[str]:
    scored = [(similarity_key(float(vector @ query)), prompt_id) for prompt_id, vector in vectors.items()]
    kept = [item for item in scored if item[0] >= similarity_key(min_similarity)]
    return [prompt_id for _key, prompt_id in sorted(kept, key=lambda item: (-item[0], item[1]))]


operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove"]), st.integers(0, 40), st.integers(0, 2**32 - 1)), max_size=120
)


@settings(max_examples=60, deadline=None)
@given(operations, st.integers(0, 2**32 - 1), st.sampled_from([-1.0, 0.0, 0.3]))
def test_incremental_index_ranks_like_brute_force(
    ops: list[tuple[str, int, int]], query_seed: int, min_similarity: float
) -> None:
    index = ExactVectorIndex(DIM)
    truth: dict[str, np.ndarray] = {}
    for action, key, seed in ops:
        prompt_id = f"p{key:02d}"
        if action == "add":
            # few distinct vectors, so ties (equal similarity) happen often
            vector = unit(np.random.default_rng(seed % 5).normal(size=DIM))
            index.add(prompt_id, vector)
            truth[prompt_id] = vector
        else:
            assert index.remove(prompt_id) == (prompt_id in truth)
            truth.pop(prompt_id, None)
    assert len(index) == len(truth)
    query = unit(np.random.default_rng(query_seed).normal(size=DIM))
    expected = brute_force(truth, query, min_similarity)
    assert [hit.id for hit in index.search(query, 1000, min_similarity=min_similarity)] == expected
    # paging with the keyset cursor walks the same order, 3 at a time
    paged: list[str] = []
    after = None
    while True:
        page = index.search(query, 3, min_similarity=min_similarity, after=after)
        paged += [hit.id for hit in page]
        if len(page) < 3:
            break
        after = SearchAfter(page[-1].key, page[-1].id)
    assert paged == expected


def test_candidates_restrict_the_search_and_growth_keeps_vectors() -> None:
    index = ExactVectorIndex(DIM)
    rng = np.random.default_rng(1)
    vectors = {f"id{n:04d}": unit(rng.normal(size=DIM)) for n in range(3000)}  # grows past the initial capacity
    index.add_many(vectors.items())
    query = vectors["id0042"]
    assert index.search(query, 1)[0].id == "id0042"
    assert index.search(query, 1)[0].similarity == pytest.approx(1.0, abs=1e-6)
    subset = index.rows_of(["id0001", "id0002", "missing"])
    assert {hit.id for hit in index.search(query, 10, candidates=subset, min_similarity=-1)} == {"id0001", "id0002"}
    index.remove("id0042")
    assert "id0042" not in index
    assert index.search(query, 1)[0].id != "id0042"


def test_wrong_shape_is_refused() -> None:
    index = ExactVectorIndex(DIM)
    with pytest.raises(ValueError, match="8-dimension"):
        index.add("x", np.ones(3, dtype=np.float32))
