"""Opaque pagination cursors: a keyset position bound to the query that produced it.

A cursor is URL-safe base64 of a small JSON object. It carries a fingerprint of the query
(everything but ``cursor`` and ``limit``), so a cursor replayed against another query is a
BadRequest rather than a silently wrong page. Anyone can forge one, so every field is checked
to be of its type and within what the backends can take (SQLite integers are signed 64-bit):
a forged cursor is a 400 naming ``cursor``, never an overflow in a backend.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from prompt_alchemy.errors import BadRequest

__all__ = ["MAX_DELIVERED", "Cursor", "query_fingerprint"]

_VERSION = 1
_SORT_MIN, _SORT_MAX = -(2**63), 2**63 - 1
MAX_DELIVERED = 1_000_000  # hits before a page: deeper than any paging a client does
_MAX_ID_CHARS = 256


def _integer(payload: dict[str, Any], name: str, low: int, high: int) -> int:
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"cursor field {name!r} is out of range")
    return value


def query_fingerprint(request: BaseModel, *, extra: str = "") -> str:
    """A short hash of the request without its paging fields."""
    body = request.model_dump(mode="json", exclude={"cursor", "limit"})
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode() + extra.encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Keyset position ``key`` (a sort value and an id) plus how many hits came before it."""

    fingerprint: str
    sort_value: int
    last_id: str
    delivered: int

    def encode(self) -> str:
        # the count only sizes a semantic search's window, which stops at MAX_DELIVERED anyway
        delivered = min(self.delivered, MAX_DELIVERED - 1)
        payload = {"v": _VERSION, "f": self.fingerprint, "k": self.sort_value, "i": self.last_id, "n": delivered}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, fingerprint: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            payload: Any = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(payload, dict) or payload.get("v") != _VERSION:
                raise ValueError("unknown cursor version")
            fingerprint_value, last_id = payload["f"], payload["i"]
            if not isinstance(fingerprint_value, str) or not isinstance(last_id, str) or len(last_id) > _MAX_ID_CHARS:
                raise ValueError("cursor fields of the wrong type")
            cursor = cls(
                fingerprint=fingerprint_value,
                sort_value=_integer(payload, "k", _SORT_MIN, _SORT_MAX),
                last_id=last_id,
                delivered=_integer(payload, "n", 0, MAX_DELIVERED - 1),
            )
        except (ValueError, KeyError, TypeError, RecursionError, binascii.Error, UnicodeDecodeError) as error:
            raise BadRequest("cursor is not a cursor this service issued", details={"field": "cursor"}) from error
        if cursor.fingerprint != fingerprint:
            raise BadRequest("cursor belongs to a different query", details={"field": "cursor"})
        return cursor
