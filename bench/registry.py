"""Named prompts and the semantic cache, in one run of the product (`serve --all`, its own process).

Two rows:

- serving by label, ``GET /api/v1/registry/{name}?label=prod`` (answered from the gateway's label
  cache), beside ``GET /api/v1/prompts/{id}`` (a storage request over the bus) — same gateway,
  same prompt, interleaved rounds at 1 and 16 concurrent clients; target: p50 within 1.2x;
- a generation answered from the semantic cache (a reworded idea) beside one that is not
  (``cache: false``), the vendor (OpenAI wire format, the local fake) answering every
  completion after 200 ms.

    .venv/bin/python bench/registry.py            # 5 rounds of 2 s; 5 generation pairs
    .venv/bin/python bench/registry.py --quick    # 3 rounds of 0.3 s; 3 generation pairs
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp

from _load import Series, Variant, measure, rate_table
from _processes import PROMPT_ALCHEMY, Child
from _report import Report, markdown_table, median, millis, progress, quick_parser, ratio, target_mark
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route

CONCURRENCY = (1, 16)
VENDOR_LATENCY_S = 0.2
API_URL = r"HTTP API on (http://\S+)/api/v1"
IDEA = "Write a SQL query for monthly sales by region"
REWORDED = "write an SQL query for the monthly sales by region"
GENERATE = {"count": 1, "phases": ["prima-materia", "solutio", "coagulatio"]}


def product_env(vendor_url: str, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith(("_API_KEY", "_BASE_URL"))}
    env |= {
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "OPENAI_BASE_URL": f"{vendor_url}/v1",
        "PROVIDERS_DEFAULT": "openai",
        "PROVIDERS_FALLBACK": "none",
        "PROVIDERS_CACHE_SIZE": "0",
        "ALCHEMY_DATA_DIR": str(data_dir),
        "ENABLE_MCP": "false",
        "HTTP_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    return env


async def generate(session: aiohttp.ClientSession, api: str, idea: str, *, cache: bool) -> tuple[float, Any]:
    started = time.perf_counter()
    async with session.post(f"{api}/api/v1/prompts/generate", json={"input": idea, "cache": cache, **GENERATE}) as r:
        body = await r.json()
        if r.status != 200:
            raise RuntimeError(f"generate answered {r.status}: {body}")
    return time.perf_counter() - started, body


async def generation_pairs(session: aiohttp.ClientSession, api: str, pairs: int) -> tuple[list[float], list[float]]:
    """(uncached, cached) latencies: each pair a fresh generation, then the reworded idea."""
    fresh, cached = [], []
    for _ in range(pairs):
        seconds, body = await generate(session, api, IDEA, cache=False)
        if body["cached"]:
            raise RuntimeError("a cache: false generation came from the cache")
        fresh.append(seconds)
        seconds, body = await generate(session, api, REWORDED, cache=True)
        if not body["cached"]:
            raise RuntimeError("the reworded idea was not answered from the cache")
        cached.append(seconds)
    return fresh, cached


def serving_variants(session: aiohttp.ClientSession, api: str, prompt_id: str) -> list[Variant]:
    async def get(url: str) -> None:
        async with session.get(url) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")

    by_id, by_label = f"{api}/api/v1/prompts/{prompt_id}", f"{api}/api/v1/registry/bench?label=prod"
    return [
        Variant("by-id", "`GET /api/v1/prompts/{id}` (storage over the bus)", lambda: get(by_id)),
        Variant("by-label", "**`GET /api/v1/registry/{name}?label=prod`** (label cache)", lambda: get(by_label)),
    ]


async def main(quick: bool) -> int:
    rounds, seconds, pairs = (3, 0.3, 3) if quick else (5, 2.0, 5)
    report = Report("registry", "Named prompts and semantic cache benchmark", quick, ["aiohttp", "pydantic", "numpy"])
    async with AsyncExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-registry-")))
        vendor = await stack.enter_async_context(FakeVendorServer())
        vendor.script(Route.OPENAI_CHAT, *itertools.repeat(FakeResponse.ok().delayed(VENDOR_LATENCY_S), 100_000))
        progress("starting serve --all")
        child = stack.enter_context(
            Child("serve --all", [PROMPT_ALCHEMY, "serve", "--all"], product_env(vendor.url, work))
        )
        api = (await asyncio.to_thread(child.start, API_URL)).group(1)
        connector = aiohttp.TCPConnector(limit=max(CONCURRENCY))
        session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))

        progress(f"{pairs} generation pairs (vendor at {VENDOR_LATENCY_S * 1000:.0f} ms)")
        _, first = await generate(session, api, IDEA, cache=True)  # fills the cache
        fresh, cached = await generation_pairs(session, api, pairs)
        best = first["best"]["id"]
        async with session.put(f"{api}/api/v1/registry/bench/labels/prod", json={"prompt_id": best}) as response:
            if response.status != 200:
                raise RuntimeError(f"setting the label answered {response.status}")
        results: dict[str, Series] = await measure(
            serving_variants(session, api, best), CONCURRENCY, rounds, seconds, warmup=min(seconds, 0.5)
        )

    by_label, by_id = results["by-label"], results["by-id"]
    serving_ratios = []
    for c in CONCURRENCY:
        p50 = ratio(by_label.p50(c), by_id.p50(c))
        p99 = ratio(by_label.p99(c), by_id.p99(c))
        serving_ratios.append(
            [f"{c} task{'s' if c > 1 else ''}", f"{p50:.2f}x {target_mark(p50, 1.2, at_most=True)}", f"{p99:.2f}x"]
        )
    generation_rows = [
        ["fresh generation (`cache: false`), 3 phases x 1 chain", millis(median(fresh)), millis(max(fresh))],
        ["**reworded idea answered from the semantic cache**", millis(median(cached)), millis(max(cached))],
    ]
    report.add(
        "## Serving by label",
        "",
        f"`serve --all` (in-memory bus, SQLite) in its own process; one prompt, labelled `prod`. {rounds} interleaved",
        f"rounds of {seconds} s per variant and concurrency after a warm-up; medians.",
        "",
        rate_table(results, CONCURRENCY, first="request", unit="req"),
        "",
        markdown_table(["by label / by id", "p50 (target <= 1.2x)", "p99"], serving_ratios),
        "",
        "## Semantic cache",
        "",
        f"Every vendor completion answers after {VENDOR_LATENCY_S * 1000:.0f} ms. {pairs} pairs, each a fresh",
        f"generation of '{IDEA}' then '{REWORDED}' (cosine >= the 0.96 default).",
        "",
        markdown_table(["generation", "median", "max"], generation_rows),
        "",
        f"Cached / fresh (median): {ratio(median(cached), median(fresh)):.3f}x",
        "",
    )
    report.write()
    return 0


if __name__ == "__main__":
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "3 short rounds and 3 pairs")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))
