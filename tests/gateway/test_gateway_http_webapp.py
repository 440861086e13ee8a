"""The web app's files as the gateway serves them: public, from the package only, under a strict CSP.

What the pages do is tested in a real browser (``tests/e2e/test_e2e_webapp_browser.py``);
here: the HTTP contract of the files themselves.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from prompt_alchemy.gateway.http import HttpSettings
from prompt_alchemy.gateway.http.webapp import CONTENT_SECURITY_POLICY, load_webapp_files

REFERENCE = re.compile(r'from "\./([\w.-]+)"|"/app/([\w.-]+)"')  # a module import or a file the page links
GatewayFactory = Callable[..., Awaitable[aiohttp.ClientSession]]


async def test_the_root_is_the_app_under_a_policy_allowing_only_its_own_origin(http: aiohttp.ClientSession) -> None:
    async with http.get("/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        page = await response.text()
    assert policy == CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert directives[directive] == "'self'", directive  # no 'unsafe-inline', no other host
    assert '<script type="module" src="/app/main.js">' in page
    assert "<style" not in page
    assert " style=" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "an inline script would be refused by the CSP"


async def test_every_file_the_pages_reference_is_served(http: aiohttp.ClientSession) -> None:
    referenced: set[str] = set()
    for name, file in load_webapp_files().items():
        if name.endswith((".js", ".html")):
            referenced |= {a or b for a, b in REFERENCE.findall(file.body.decode())}
    assert {"main.js", "style.css", "api.js", "generate.js"} <= referenced
    for name in sorted(referenced):
        async with http.get(f"/app/{name}") as response:
            assert response.status == 200, name
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            expected = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[name.rsplit(".", 1)[1]]
            assert response.content_type == expected


async def test_an_unchanged_file_is_revalidated_with_its_etag(http: aiohttp.ClientSession) -> None:
    async with http.get("/app/main.js") as response:
        etag = response.headers["ETag"]
        assert response.headers["Cache-Control"] == "no-cache"
    async with http.get("/app/main.js", headers={"If-None-Match": etag}) as response:
        assert response.status == 304
        assert await response.read() == b""


@pytest.mark.parametrize(
    "path", ["/app/nothing.js", "/app/..%2Fwebapp.py", "/app/../webapp.py", "/app/%2E%2E/app.py", "/app/web/main.js"]
)
async def test_only_the_packaged_files_are_reachable(http: aiohttp.ClientSession, path: str) -> None:
    async with http.get(path) as response:
        assert response.status == 404
        body = await response.json()
    assert body["kind"] == "not_found"


async def test_the_pages_need_no_key_but_the_api_still_does(start_gateway: GatewayFactory) -> None:
    http = await start_gateway(HttpSettings(port=0, api_keys=("right-key",)))
    for path in ("/", "/app/main.js"):
        async with http.get(path) as response:
            assert response.status == 200, path
    async with http.get("/api/v1/providers") as response:
        assert response.status == 401
    async with http.get("/api/v1/learning/stats", headers={"Authorization": "Bearer wrong-key"}) as response:
        assert response.status == 401
        assert (await response.json())["message"] == "authentication required: invalid API key"
