"""Credentials inside connection URLs, masked wherever a URL is shown (``config show``, start-up lines, logs).

``nats://alice:s3cret@host`` becomes ``nats://alice:***@host``, ``redis://:s3cret@host`` becomes
``redis://:***@host``. A user part without a password is masked whole (``nats://***@host``): for
NATS it is a token. Query parameters that carry secrets (``password``, ``token``, ``secret``, any
``*key``) are masked too.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "mask_url", "mask_urls_in"]

MASK = "***"
_SECRET_PARAM = re.compile(r"(?i)pass(word)?|token|secret|key$|credentials?")
# scheme://userinfo@ inside any text; userinfo stops at whitespace, '/', '@' or a quote
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^\s/@'\"<>]+)@")
_QUERY_SECRET = re.compile(
    r"(?i)(?P<name>[?&](?:[\w.\-]*pass(?:word)?|[\w.\-]*token|[\w.\-]*secret|[\w.\-]*key)=)[^&\s'\"]*"
)


def _masked_userinfo(userinfo: str) -> str:
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}" if colon else MASK


def mask_url(url: str) -> str:
    """``url`` (or a comma-separated list of URLs, as ``NATS_URL`` may be) with its credentials masked."""
    if "," in url:
        return ",".join(mask_url(part) for part in url.split(","))
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_urls_in(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{_masked_userinfo(userinfo)}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(name, MASK if _SECRET_PARAM.search(name) else value) for name, value in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_urls_in(text: str) -> str:
    """Every ``scheme://user:password@`` and secret query parameter inside free text, masked."""
    text = _USERINFO.sub(lambda match: f"{match['scheme']}{_masked_userinfo(match['userinfo'])}@", text)
    return _QUERY_SECRET.sub(lambda match: f"{match['name']}{MASK}", text)
