"""Streamed tokens in the browser: how long after the vendor writes a phase's first token the web app shows it.

The companion of ``bench/streaming.py`` (vendor -> SSE client), one hop further: the web app's
Generate page in Debian's chromium (headless, driven by Playwright) reading the same SSE stream
with ``fetch``. The fake vendor (OpenAI wire format) runs in this process and notes, on
``perf_counter``, when it wrote each reply's first word. In the page, a MutationObserver waits for
each phase's first text to enter the live view, then for the next animation frame (the frame
that paints it) and calls back into this process through a Playwright binding, where the time is
read on the same clock. 'added' therefore includes the callback's trip from the browser (a local
pipe), so it overstates what a user waits by that much. One generation at a time
(3 phases x 1 candidate, stored, typed into the page and started with its Generate button), on:

- monolithic: ``prompt-alchemy serve --all``;
- microservices: ``worker providers|storage|learning|generation`` and ``serve api`` on a
  bench-started nats-server and Redis.

    .venv/bin/python bench/webapp.py            # 30 generations per deployment (90 first tokens)
    .venv/bin/python bench/webapp.py --quick    # 5 generations per deployment

Target: ≤ 50 ms added at p99 (the issue's budget for the SSE client, here with a browser behind it).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright, expect

from _report import FirstTokens, Report, first_token_table, progress, quick_parser
from e2e import Cluster, Deployment, monolithic
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.testing.servers import NatsServer, RedisServer
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route

TIME_TO_FIRST_TOKEN_S = 0.05
TOKEN_INTERVAL_S = 0.02  # 50 tokens/s, as in bench/streaming.py
TEXT = (
    "You are a meticulous photo librarian. Rename every holiday photo by the date it was taken, "
    "keep the original extension, and report each rename you made."
)
TARGET_ADDED_S = 0.05
PAGE_WAIT_MS = 60_000

# Calls window.__firstShown(phase) once per phase and generation, in the frame that paints the text.
FIRST_SHOWN = """
const reported = new Set();
new MutationObserver(() => {
  for (const card of document.querySelectorAll('[data-testid="live-candidate"]')) {
    const key = `${document.body.dataset.run}/${card.dataset.phase}`;
    if (reported.has(key) || !card.querySelector(".text")?.textContent) continue;
    reported.add(key);
    requestAnimationFrame(() => window.__firstShown(card.dataset.phase));
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


async def one_generation(page: Page, index: int, shown: dict[str, float]) -> bool:
    shown.clear()
    await page.evaluate(f"document.body.dataset.run = '{index}'")
    await page.get_by_label("Idea").fill(f"rename holiday photos by date, run {index}")
    await page.get_by_role("button", name="Generate").click()
    await expect(page.get_by_test_id("comparison")).to_be_visible(timeout=PAGE_WAIT_MS)
    await expect(page.get_by_role("button", name="Generate")).to_be_enabled(timeout=PAGE_WAIT_MS)
    return set(shown) == {phase.value for phase in Phase}


async def measure(name: str, page: Page, url: str, vendor: FakeVendorServer, generations: int) -> FirstTokens:
    progress(f"{name}: {generations} generations in the browser, one at a time")
    shown: dict[str, float] = {}

    def first_shown(_source: Any, phase: str) -> None:
        shown.setdefault(phase, time.perf_counter())

    await page.expose_binding("__firstShown", first_shown)
    await page.goto(url)
    await page.get_by_label("Candidates per phase").fill("1")
    added: list[float] = []
    vendor_ttft: list[float] = []
    errors = 0
    for index in range(-2, generations):  # two warm-up generations first
        before = len(vendor.stream_timings)
        complete = await one_generation(page, index + 2, shown)
        timings = vendor.stream_timings[before:]
        if index < 0:
            continue
        if not complete or len(timings) != len(Phase):
            errors += 1
            continue
        for phase, timing in zip(Phase, timings, strict=True):  # phases run one after another
            added.append(shown[phase.value] - timing.first_token_at)
            vendor_ttft.append(timing.time_to_first_token)
    return FirstTokens(name, added, vendor_ttft, errors)


async def main(quick: bool) -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("Debian's chromium is missing: `just browser-deps` installs it", file=sys.stderr)
        return 1
    generations = 5 if quick else 30
    report = Report("webapp", "Web app streaming benchmark", quick, ["aiohttp", "nats-py", "playwright"])
    results: list[FirstTokens] = []
    async with AsyncExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-webapp-")))
        vendor = await stack.enter_async_context(FakeVendorServer())
        reply = FakeResponse.ok(TEXT).delayed(TIME_TO_FIRST_TOKEN_S).streamed(TOKEN_INTERVAL_S)
        vendor.script(Route.OPENAI_CHAT, *itertools.repeat(reply, 3 * (generations + 2) * 2 + 10))
        playwright = await stack.enter_async_context(async_playwright())
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        stack.push_async_callback(browser.close)

        async def in_a_page(name: str, deployment: Deployment) -> None:
            context = await browser.new_context()
            await context.add_init_script(FIRST_SHOWN)
            try:
                results.append(await measure(name, await context.new_page(), deployment.api_url, vendor, generations))
            finally:
                await context.close()

        progress("monolithic: starting serve --all")
        async with monolithic(vendor.url, work) as deployment:
            await in_a_page("monolithic (serve --all)", deployment)
        nats = stack.enter_context(NatsServer(work / "nats"))
        redis = stack.enter_context(RedisServer(work / "redis"))
        cluster = Cluster(vendor.url, nats, redis, work)
        stack.callback(cluster.stop)
        progress("microservices: starting nats-server, Redis and five processes")
        await in_a_page("microservices (NATS)", await cluster.start())
    words = len(TEXT.split())
    report.add(
        f"Fake OpenAI-wire vendor in the benchmark's process: first token {TIME_TO_FIRST_TOKEN_S * 1000:.0f} ms after"
        f" the request, then one word every {TOKEN_INTERVAL_S * 1000:.0f} ms ({words} words per completion).",
        "The web app's Generate page in headless chromium (Playwright), one generation at a time: 3 phases x 1",
        "candidate, stored. Per phase, 'added' is the time from the vendor writing its first token to the",
        "animation frame that paints that phase's first text in the page, reported back to this process",
        "through a Playwright binding (same clock; includes the binding's trip). Two warm-up generations",
        "are not counted. `bench/streaming.py` measures the same hop up to an SSE client.",
        "",
        first_token_table(results, TARGET_ADDED_S),
        "",
    )
    report.write()
    return 0


if __name__ == "__main__":
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "5 generations per deployment")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))
