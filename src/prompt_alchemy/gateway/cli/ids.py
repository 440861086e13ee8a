"""Prompt ids on the command line: a unique prefix (what a terminal shows) stands for the full id."""

from __future__ import annotations

import re

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.schemas.registry import STORAGE_GET
from prompt_alchemy.schemas.storage import GetRequest

__all__ = ["full_id"]

_FULL_ID = re.compile(r"[0-9a-f]{32}")


async def full_id(client: CliClient, given: str | None, timeout: float | None) -> str | None:
    """The stored prompt's full id for ``given`` (an id or a unique prefix); storage says if there is none."""
    if given is None or _FULL_ID.fullmatch(given):  # a whole id needs no lookup (feedback works without storage)
        return given
    reply = await client.bus.request(STORAGE_GET, GetRequest(id=given), timeout=timeout)
    return reply.record.id
