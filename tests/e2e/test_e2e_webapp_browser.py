"""The web app in a real browser (Debian's chromium driven by Playwright), on both deployments.

One walk-through, run against a ``serve --all`` process and, at phone width, against the
microservice topology (workers and the HTTP gateway as separate processes on nats-server and
Redis): type an idea, see its tokens stream into the page before the result, compare the
candidates, choose one and rate it, see ``/api/v1/learning/stats`` count both events on the
System page, find the new prompt in the Library, open its lineage, edit its tags and optimise
it. With ``ALCHEMY_API_KEYS`` set, a wrong key shows a clear message and no data.

The vendor is the fake OpenAI server streaming its answers word by word (slowly in the first
phase), so the page is seen mid-stream. Nothing sleeps: every step waits on what the page shows
(Playwright's ``expect``), and "tokens before the result" is read from a log the page's own DOM
changes write (a MutationObserver installed before the app loads), not from timing. The
monolith run also takes the README's screenshots (kept in ``docs/screenshots/`` by
``just screenshots``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.local_cluster import ClusterLayout, LocalCluster
from prompt_alchemy.testing.servers import NatsServer, RedisServer
from prompt_alchemy.testing.vendors import FakeResponse, FakeVendorServer, Route

pytestmark = pytest.mark.slow

UI_WAIT_MS = 60_000  # the longest any step may take on a loaded 2-core machine
START_WAIT_S = 60.0
# The vendor streams a word per interval: slowly in the first phase (the page is seen, and
# photographed, mid-stream), faster after it.
FIRST_PHASE_WORD_S = 0.15
WORD_S = 0.03
# The README's screenshots: every run takes them; `just screenshots` (UPDATE_SCREENSHOTS=1) keeps them.
README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HTTP_LINE = r"^HTTP API on (?P<url>http://\S+)/api/v1"
SERVING_LINE = r"^prompt-alchemy serving \(monolithic"
API_KEY = "web-app-test-key"

# Written into the page before the app's scripts run: the order in which things first showed up
# (by mutation batch, so two things rendered in one batch are not ordered), and CSP violations.
OBSERVER = """
window.__seen = {};
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
let batch = 0;
const marks = {
  live: '[data-testid="live-candidate"]:not([data-state="waiting"])',
  result: '[data-testid="comparison"]',
};
new MutationObserver((records) => {
  batch += 1;
  for (const [name, selector] of Object.entries(marks)) {
    if (!(name in window.__seen) && document.querySelector(selector)) window.__seen[name] = batch;
  }
  // a card that streamed and completed within one batch still left its "streaming" state in a record
  const streamed = records.some((r) => r.attributeName === "data-state" &&
    (r.oldValue === "streaming" || r.target.dataset.state === "streaming"));
  if (streamed && !("streaming" in window.__seen)) window.__seen.streaming = batch;
}).observe(document, {
  subtree: true, childList: true, attributes: true, attributeOldValue: true, attributeFilter: ["data-state"],
});
"""

PHASE_TEXTS = (
    "Goal: review a pull request like a senior engineer.\nAudience: the author.\nOutput: findings by severity.",
    "You are a senior engineer reviewing a colleague's pull request. Explain each finding kindly and say why.",
    "You are a senior engineer reviewing a pull request.\n1. List findings by severity.\n"
    "2. For each, quote the line and explain the risk.\n3. End with one sentence on what is good.",
)
OPTIMIZED_TEXT = (
    "You are a senior engineer reviewing a colleague's pull request for its author.\n"
    "1. List findings by severity (high, medium, low).\n"
    "2. For each, quote the line, explain the risk and suggest a concrete fix.\n"
    "3. End with one sentence on what is good.\n"
    "Output format: a numbered list grouped by severity; no preamble.\n"
    "Before answering, check that every finding quotes a real line of the diff."
)
JUDGE_REPLY = json.dumps(
    {
        "scores": [
            {"index": 0, "score": 0.82, "reason": "Precise steps and a clear output format."},
            {"index": 1, "score": 0.64, "reason": "Clear, but the severity scale is not defined."},
        ]
    }
)


def script_vendor(vendor: FakeVendorServer) -> None:
    """Three phases of two chains, streamed word by word, then the judge (one call per phase)."""
    answers = [
        FakeResponse.ok(f"{text}\n(variant {chain + 1})").streamed(WORD_S if phase else FIRST_PHASE_WORD_S)
        for phase, text in enumerate(PHASE_TEXTS)
        for chain in range(2)
    ]
    # then the optimizer's rewrites: the chosen prompt with what its critique asks for, so the
    # judge (coverage-aware since the idea analyser) rates the rewrite above the original
    vendor.script(
        Route.OPENAI_CHAT,
        *answers,
        *[FakeResponse.ok(JUDGE_REPLY)] * len(PHASE_TEXTS),
        *[FakeResponse.ok(OPTIMIZED_TEXT)] * 3,
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: `just browser-deps` installs it (the test command runs it)"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


PageFactory = Callable[..., Awaitable[Page]]
Eventually = Callable[..., Awaitable[Any]]


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[PageFactory]:
    """A page in a fresh context (its own sessionStorage), failing the test on any script error."""
    errors: list[str] = []
    contexts = []

    async def make(*, width: int = 1280, height: int = 900) -> Page:
        context = await browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        await context.add_init_script(OBSERVER)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        return page

    expect.set_options(timeout=UI_WAIT_MS)
    yield make
    for context in contexts:
        await context.close()
    assert errors == []


def vendor_settings(vendor: FakeVendorServer) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-webapp-fake",
        "OPENAI_BASE_URL": vendor.base_url("openai"),
        "PROVIDERS_DEFAULT": "openai",
        "PROVIDERS_FALLBACK": "none",
        "PROVIDERS_CACHE_SIZE": "0",
    }


async def start_monolith(tmp_path: Path, env: dict[str, str], started: list[ChildProcess]) -> str:
    args = ["serve", "--all", "--http-port", "0", "--mcp-port", "0", "--data-dir", str(tmp_path / "data")]
    process = ChildProcess("monolith", args, env=env, log_dir=tmp_path / "logs")
    started.append(process)
    await process.start()
    url = (await process.wait_for(HTTP_LINE, timeout=START_WAIT_S))["url"]
    await process.wait_for(SERVING_LINE, timeout=START_WAIT_S)
    return str(url)


@pytest.fixture
async def monoliths() -> AsyncIterator[list[ChildProcess]]:
    started: list[ChildProcess] = []
    yield started
    for process in started:
        if process.started:
            await process.terminate()


@pytest.fixture
async def cluster_url(
    tmp_path: Path,
    private_nats_server: NatsServer,
    private_redis_server: RedisServer,
    child_env: Callable[..., dict[str, str]],
    vendor: FakeVendorServer,
) -> AsyncIterator[str]:
    cluster = LocalCluster(
        nats_url=private_nats_server.url,
        redis_url=private_redis_server.url,
        data_dir=tmp_path / "cluster",
        env=child_env(**vendor_settings(vendor)),
        layout=ClusterLayout(generation_replicas=1, mcp=False),
    )
    await cluster.start()
    try:
        assert cluster.http_url is not None
        yield cluster.http_url
    finally:
        await cluster.stop()


async def seen(page: Page) -> dict[str, int]:
    marks: dict[str, int] = await page.evaluate("window.__seen")
    return marks


async def get_json(base_url: str, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}{path}") as response:
        assert response.status == 200
        return await response.json()


UNLABELLED = """
[...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => !(el.labels?.length || el.getAttribute("aria-label") || el.textContent.trim()))
  .map((el) => el.outerHTML)
"""


async def assert_labelled(page: Page) -> None:
    """Every control has a name a screen reader can say (a label, aria-label or its own text),
    and the page is no wider than the window (usable at phone width: nothing scrolls sideways)."""
    assert await page.evaluate(UNLABELLED) == []
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the window"


async def walk_through(page: Page, base_url: str, eventually: Eventually, *, screenshots: Path | None = None) -> None:
    idea = "a code reviewer that explains its reasoning"

    # -- Generate: the form, live candidates, then the comparison ---------------------------------
    await page.goto(base_url)
    await page.get_by_label("Idea").fill(idea)
    await page.get_by_label("Candidates per phase").fill("2")
    await page.get_by_label("Persona").select_option("code")
    await page.get_by_label("Ask an LLM judge").check()
    await assert_labelled(page)
    await page.get_by_role("button", name="Generate").press("Enter")  # keyboard-usable

    first_live = page.locator('[data-testid="live-candidate"]:not([data-state="waiting"])').first
    await expect(first_live).to_contain_text("Goal: review a pull request")
    if screenshots is not None:
        await page.get_by_test_id("live").scroll_into_view_if_needed()
        await page.screenshot(path=screenshots / "generate-live.png")

    comparison = page.get_by_test_id("comparison")
    await expect(comparison).to_be_visible()
    marks = await seen(page)
    assert marks["live"] < marks["result"], f"the result came before any live candidate: {marks}"
    assert marks["streaming"] < marks["result"], f"no token was shown before the result: {marks}"
    await expect(page.get_by_test_id("status")).to_contain_text("Done: 6 prompt(s)")
    live_cards = page.get_by_test_id("live-candidate")
    await expect(live_cards).to_have_count(6)

    candidates = comparison.get_by_test_id("candidate")
    await expect(candidates).to_have_count(2)
    best = candidates.first
    await expect(best).to_contain_text("best")
    await expect(best).to_contain_text("Precise steps and a clear output format.")  # the judge's reason
    await best.get_by_text("Changes from Solutio").click()
    await expect(best.get_by_test_id("diff").locator("ins").first).to_be_visible()
    if screenshots is not None:
        await comparison.screenshot(path=screenshots / "generate-compare.png")
    chosen_id = await best.get_attribute("data-prompt-id")
    assert chosen_id
    await assert_labelled(page)

    # -- choose and rate: two feedback events, acknowledged on screen -----------------------------
    await best.get_by_role("button", name="Choose this one").click()
    await expect(best.get_by_test_id("feedback-ack")).to_have_text("Chosen over 1 other candidate: recorded.")
    await best.get_by_role("radio", name="4").check()
    await best.get_by_label("Comment (optional)").fill("clear and kind")
    await best.get_by_role("button", name="Send rating").click()
    await expect(best.get_by_test_id("feedback-ack")).to_have_text("Rating 4 recorded. Thank you.")

    # -- System: learning counted both (the page refreshes itself) ---------------------------------
    await page.get_by_role("link", name="System").click()
    await expect(page.get_by_test_id("events-processed")).to_have_text("2")
    await expect(page.get_by_test_id("pairwise")).to_have_text("1")
    await expect(page.get_by_test_id("ratings")).to_have_text("4: 1")
    await expect(page.get_by_test_id("instances")).to_contain_text("engine")
    await expect(page.get_by_test_id("providers")).to_contain_text("closed")
    await assert_labelled(page)
    stats = await get_json(base_url, "/api/v1/learning/stats")
    assert stats["events_processed"] == 2
    assert stats["by_source"] == {"http": 2}
    # learning counts an event before it writes the prompt's aggregates back to storage
    await eventually(
        lambda: get_json(base_url, f"/api/v1/prompts/{chosen_id}"),
        lambda reply: reply["record"]["rating_count"] == 1,
        what="the rating in the prompt's aggregates",
    )

    # -- Library: the new prompt is found; its page shows the lineage --------------------------------
    await page.get_by_role("link", name="Library").click()
    await page.get_by_label("Search", exact=True).fill("reviewing a pull request by severity")
    await page.get_by_label("Phase", exact=True).select_option("coagulatio")
    await page.get_by_role("button", name="Search").click()
    await expect(page).to_have_url(re.compile(r"#/library\?q=reviewing.*phase=coagulatio"))
    hit = page.locator(f'[data-testid="hit"][data-prompt-id="{chosen_id}"]')
    await expect(hit).to_be_visible()
    await expect(page.get_by_test_id("hit")).to_have_count(2)  # only this generation's two final prompts
    await assert_labelled(page)
    await hit.get_by_role("link").click()

    await expect(page.get_by_test_id("prompt-content")).to_contain_text("List findings by severity")
    lineage = page.get_by_test_id("lineage")
    await expect(lineage.get_by_test_id("ancestor")).to_have_count(2)
    await expect(lineage.get_by_test_id("ancestor").first).to_contain_text("Prima materia")
    await expect(lineage.get_by_test_id("self")).to_contain_text("Coagulatio")
    await expect(page.get_by_test_id("aggregates")).to_contain_text("Ratings1")
    await assert_labelled(page)

    # -- Prompt: edit tags, optimise into a child -------------------------------------------------------
    await page.get_by_label("Tags (comma-separated)").fill("review, kind")
    await page.get_by_role("button", name="Save tags").click()
    await expect(page.get_by_test_id("tags-ack")).to_have_text("Tags saved.")
    await page.get_by_role("button", name="Optimize").click()
    await expect(page.get_by_test_id("optimized")).to_contain_text("best score")
    await page.get_by_role("link", name="Open the optimized prompt").click()
    await expect(page.get_by_test_id("lineage").get_by_test_id("ancestor")).to_have_count(3)
    await page.get_by_test_id("lineage").get_by_role("link", name=re.compile("Solutio")).click()
    await expect(page.get_by_test_id("lineage").get_by_test_id("descendant")).to_have_count(2)
    await page.reload()  # the tags were stored, not only shown
    await page.get_by_test_id("lineage").get_by_role("link", name=re.compile("Coagulatio")).first.click()
    await expect(page.get_by_label("Tags (comma-separated)")).to_have_value("review, kind")

    assert await page.evaluate("window.__csp") == []


async def test_the_web_app_on_serve_all(
    tmp_path: Path,
    new_page: PageFactory,
    vendor: FakeVendorServer,
    monoliths: list[ChildProcess],
    child_env: Callable[..., dict[str, str]],
    eventually: Eventually,
) -> None:
    script_vendor(vendor)
    base_url = await start_monolith(tmp_path, child_env(**vendor_settings(vendor)), monoliths)
    screenshots = README_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    await walk_through(await new_page(), base_url, eventually, screenshots=screenshots)
    assert {path.name for path in screenshots.glob("*.png")} >= {"generate-live.png", "generate-compare.png"}


async def test_the_web_app_on_the_microservice_gateway(
    cluster_url: str, new_page: PageFactory, vendor: FakeVendorServer, eventually: Eventually
) -> None:
    script_vendor(vendor)
    await walk_through(await new_page(width=390, height=844), cluster_url, eventually)  # at phone width


async def test_a_wrong_key_shows_a_clear_message_and_no_data_at_phone_width(
    tmp_path: Path,
    new_page: PageFactory,
    monoliths: list[ChildProcess],
    child_env: Callable[..., dict[str, str]],
) -> None:
    base_url = await start_monolith(tmp_path, child_env(ALCHEMY_API_KEYS=API_KEY), monoliths)
    async with aiohttp.ClientSession() as http:  # something in the library to (not) see
        headers = {"Authorization": f"Bearer {API_KEY}"}
        body = {"input": "a limerick about a careful cat", "count": 1, "phases": ["coagulatio"]}
        async with http.post(f"{base_url}/api/v1/prompts/generate", json=body, headers=headers) as response:
            assert response.status == 200
    page = await new_page(width=390, height=844)

    await page.goto(f"{base_url}/#/library")
    panel_message = page.get_by_test_id("auth-error")
    await expect(panel_message).to_contain_text("missing bearer token")
    await assert_labelled(page)
    await page.locator("input[name=api-key]").fill("not-the-key")
    await page.get_by_role("button", name="Use this key").click()
    await expect(panel_message).to_have_text(
        "The server refused the request: authentication required: invalid API key. Enter a valid API key."
    )
    await expect(page.get_by_test_id("hit")).to_have_count(0)
    await expect(page.get_by_test_id("results")).to_have_count(0)
    await page.get_by_role("link", name="System").click()
    await expect(panel_message).to_contain_text("invalid API key")
    await expect(page.get_by_test_id("instances")).to_have_count(0)

    await page.locator("input[name=api-key]").fill(API_KEY)
    await page.get_by_role("button", name="Use this key").click()
    await expect(page.get_by_test_id("instances")).to_contain_text("engine")
    await page.get_by_role("link", name="Library").click()
    await expect(page.get_by_test_id("hit")).to_have_count(1)
    assert await page.evaluate("sessionStorage.getItem('prompt-alchemy.api-key')") == API_KEY
    await assert_labelled(page)
    await page.get_by_role("link", name="Generate").click()
    await expect(page.get_by_label("Idea")).to_be_focused()
    await assert_labelled(page)
    assert await page.evaluate("window.__csp") == []


async def test_library_pages_by_cursor_copies_and_api_errors_read_as_sentences(
    tmp_path: Path,
    new_page: PageFactory,
    monoliths: list[ChildProcess],
    child_env: Callable[..., dict[str, str]],
) -> None:
    base_url = await start_monolith(tmp_path, child_env(), monoliths)  # the offline provider
    items = [{"input": f"a release checklist for service {n}", "count": 1, "phases": ["coagulatio"]} for n in range(12)]
    batch = {"items": items}
    async with aiohttp.ClientSession() as http, http.post(f"{base_url}/api/v1/prompts/batch", json=batch) as response:
        assert response.status == 200
        assert (await response.json())["succeeded"] == 12
    page = await new_page()
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    await page.goto(f"{base_url}/#/library")
    hits = page.get_by_test_id("hit")
    await expect(hits).to_have_count(10)
    first_page = {await hit.get_attribute("data-prompt-id") for hit in await hits.all()}
    await page.get_by_role("button", name="Next").click()
    await expect(page.get_by_text("Page 2")).to_be_visible()
    await expect(hits).to_have_count(2)
    second_page = {await hit.get_attribute("data-prompt-id") for hit in await hits.all()}
    assert len(first_page | second_page) == 12
    await expect(page.get_by_role("button", name="Next")).to_be_disabled()
    await page.get_by_role("button", name="Previous").click()
    await expect(hits).to_have_count(10)
    assert {await hit.get_attribute("data-prompt-id") for hit in await hits.all()} == first_page

    await page.goto(f"{base_url}/#/library?provider=openai")  # a filter in the URL applies at once
    await expect(page.get_by_test_id("no-results")).to_be_visible()
    await expect(page.get_by_label("Provider")).to_have_value("openai")
    await page.goto(f"{base_url}/#/library?provider=offline")
    await expect(hits).to_have_count(10)

    await hits.first.get_by_role("button", name=re.compile("^Copy")).click()
    await expect(hits.first.get_by_role("button", name=re.compile("^Copy"))).to_have_text("Copied")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied == await hits.first.locator("pre").text_content()
    assert copied.startswith("You are")  # the prompt itself, not its card

    await page.get_by_role("link", name="Generate").click()
    await page.get_by_label("Idea").fill("a release checklist")
    await page.get_by_label("Provider").select_option("anthropic")
    await page.get_by_role("button", name="Generate").click()
    await expect(page.get_by_test_id("error-message")).to_have_text(
        "Provider 'anthropic' is not available: no API key: set ANTHROPIC_API_KEY"
    )
    await expect(page.get_by_test_id("status")).to_contain_text("Failed: Provider 'anthropic' is not available")
    await expect(page.get_by_test_id("comparison")).to_have_count(0)
