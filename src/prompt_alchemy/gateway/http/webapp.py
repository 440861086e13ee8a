"""The web app at ``/``: static files shipped in the package, served with a strict CSP.

The app is a front door like the CLI and MCP: plain JS modules in ``web/`` that call only the
public ``/api/v1`` (and ``/health``). Its files are read once, when the gateway is built, from a
fixed folder; a request names one file of that set (one path segment, never a path), so
nothing outside the folder can be reached. The pages are public: the API key, when the server
demands one, is typed into the page and sent by it as a bearer header.

The files, all ES modules without a build step or a third-party library: ``index.html`` (the
shell), ``main.js`` (hash routing, the API-key panel, error notices), ``api.js`` (the only code
that talks to the server: fetch with the bearer key, SSE parsing), one module per page
(``generate.js``, ``library.js``, ``prompt.js``, ``system.js``), ``dom.js`` (elements from
text), ``diff.js`` (word diff), ``options.js`` (the schema's choices), ``style.css``.

The Content-Security-Policy allows only this origin and no inline code or style, so an injected
string can never run: the pages build every element with ``textContent``, never HTML.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

__all__ = ["CONTENT_SECURITY_POLICY", "WEBAPP_PATHS", "StaticFile", "add_webapp_routes", "load_webapp_files"]

INDEX = "index.html"
ASSET_PREFIX = "/app/"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # a new release must reach the browser at once: revalidate every time (an ETag makes that cheap)
    "Cache-Control": "no-cache",
}

_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


WEBAPP_FILES: web.AppKey[dict[str, StaticFile]] = web.AppKey("webapp_files")


def load_webapp_files() -> dict[str, StaticFile]:
    """Every file of the packaged ``web/`` folder (flat), by name."""
    files: dict[str, StaticFile] = {}
    for entry in resources.files("prompt_alchemy.gateway.http").joinpath("web").iterdir():
        if not entry.is_file() or entry.name.startswith("."):
            continue
        body = entry.read_bytes()
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        content_type = _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        files[entry.name] = StaticFile(body, content_type, etag)
    return files


def _file_response(request: web.Request, file: StaticFile) -> web.StreamResponse:
    headers = {**_SECURITY_HEADERS, "ETag": file.etag}
    if file.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if file.content_type.startswith("text/") else None
    return web.Response(body=file.body, content_type=file.content_type, charset=charset, headers=headers)


async def index(request: web.Request) -> web.StreamResponse:
    return _file_response(request, request.app[WEBAPP_FILES][INDEX])


async def asset(request: web.Request) -> web.StreamResponse:
    file = request.app[WEBAPP_FILES].get(request.match_info["name"])
    if file is None:
        raise web.HTTPNotFound()
    return _file_response(request, file)


WEBAPP_PATHS: tuple[str, ...] = ("/", ASSET_PREFIX + "{name}")
"""Pages, not API: public like ``/health``, and left out of the OpenAPI document."""


def add_webapp_routes(app: web.Application) -> None:
    app[WEBAPP_FILES] = load_webapp_files()
    app.router.add_get("/", index, name="webApp")
    app.router.add_get(ASSET_PREFIX + "{name}", asset, name="webAppFile")
