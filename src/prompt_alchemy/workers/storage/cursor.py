"""Opaque pagination cursors: a keyset position bound to the query that produced it.

A cursor is URL-safe base64 of a small JSON object. It carries a fingerprint of the query
(everything but ``cursor`` and ``limit``), so a cursor replayed against another query is a
BadRequest rather than a silently wrong page.
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

__all__ = ["Cursor", "query_fingerprint"]

_VERSION = 1


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
        payload = {"v": _VERSION, "f": self.fingerprint, "k": self.sort_value, "i": self.last_id, "n": self.delivered}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, fingerprint: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            payload: Any = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(payload, dict) or payload.get("v") != _VERSION:
                raise ValueError("unknown cursor version")
            cursor = cls(
                fingerprint=str(payload["f"]),
                sort_value=int(payload["k"]),
                last_id=str(payload["i"]),
                delivered=int(payload["n"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as error:
            raise BadRequest("cursor is not a cursor this service issued", details={"field": "cursor"}) from error
        if cursor.fingerprint != fingerprint:
            raise BadRequest("cursor belongs to a different query", details={"field": "cursor"})
        return cursor
