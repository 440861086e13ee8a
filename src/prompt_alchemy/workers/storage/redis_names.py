"""Named prompts on Redis, shared by every storage replica: a hash per name, a list of moves.

The compare-and-set of a name and the append of its move run in one Lua script, so they are
atomic across replicas; with a ``RedisTarget``, the script runs in the pipeline that confirms it
(``read_confirmed``), so a move is acknowledged only from the node that ran it. Keys live under
the prompt store's prefix (``drop()`` removes them too).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as redis_errors

from prompt_alchemy.errors import Unavailable
from prompt_alchemy.redis_target import RedisTarget
from prompt_alchemy.schemas.labels import LabelMoved, PromptName, ServedCount

__all__ = ["RedisNameStore"]

# KEYS: name hash, moves list. ARGV: expected revision ('' = must not exist), document, new revision, move ('' = none)
_SAVE = """
local current = redis.call('HGET', KEYS[1], 'revision')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'document', ARGV[2], 'revision', ARGV[3])
if ARGV[4] ~= '' then redis.call('LPUSH', KEYS[2], ARGV[4]) end
return 1
"""

_HISTORY_SCAN = 5000  # moves read per name when filtering by label


class RedisNameStore:
    def __init__(self, client: aioredis.Redis, *, prefix: str, target: RedisTarget | None = None) -> None:
        """``target``: where the client points; a label move is acknowledged once its replicas hold it."""
        self._client = client
        self._target = target
        self._prefix = prefix
        self._save_script: Any = None

    def _name_key(self, name: str) -> str:
        return f"{self._prefix}:name:{name}"

    def _moves_key(self, name: str) -> str:
        return f"{self._prefix}:name-moves:{name}"

    def _served_key(self, name: str) -> str:
        return f"{self._prefix}:name-served:{name}"

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, TimeoutError, OSError) as error:
            raise Unavailable(f"Redis is unreachable for named prompts: {error}") from error

    async def open(self) -> None:
        self._save_script = self._client.register_script(_SAVE)

    async def close(self) -> None:
        """The client belongs to the prompt store, which closes it."""

    async def load(self, name: str) -> PromptName | None:
        async with self._guard():
            raw = await self._client.hget(self._name_key(name), "document")
        return None if raw is None else PromptName.model_validate_json(raw)

    async def save(self, document: PromptName, *, expected_revision: int | None, move: LabelMoved | None) -> bool:
        if self._save_script is None:
            await self.open()
        body = document.model_dump_json(exclude={"labels": {"__all__": {"served"}}})
        args = [
            "" if expected_revision is None else str(expected_revision),
            body,
            str(document.revision),
            "" if move is None else move.model_dump_json(),
        ]
        keys = [self._name_key(document.name), self._moves_key(document.name)]
        async with self._guard():
            if self._target is None:
                done = await self._save_script(keys=keys, args=args)
            else:  # the script, the barrier and WAIT on one connection: confirmed where it ran
                (done,) = await self._target.read_confirmed(
                    self._client, lambda pipe: pipe.eval(_SAVE, len(keys), *keys, *args)
                )
        return bool(done)

    async def names(self, limit: int) -> list[str]:
        start = len(self._name_key(""))
        found: set[str] = set()
        async with self._guard():
            async for key in self._client.scan_iter(match=self._name_key("*"), count=1000):
                found.add((key.decode() if isinstance(key, bytes) else str(key))[start:])
        return sorted(found)[:limit]

    async def history(self, name: str, label: str | None, limit: int) -> list[LabelMoved]:
        async with self._guard():
            raw = await self._client.lrange(self._moves_key(name), 0, (limit if label is None else _HISTORY_SCAN) - 1)
        moves = [LabelMoved.model_validate_json(item) for item in raw]
        if label is not None:
            moves = [move for move in moves if move.label == label]
        return moves[:limit]

    async def add_served(self, counts: Sequence[ServedCount]) -> None:
        async with self._guard():
            pipe = self._client.pipeline(transaction=True)
            for item in counts:
                pipe.hincrby(self._served_key(item.name), f"{item.label}\x00{item.version}", item.count)
            await pipe.execute()

    async def served(self, name: str) -> dict[str, dict[int, int]]:
        async with self._guard():
            raw = await self._client.hgetall(self._served_key(name))
        served: dict[str, dict[int, int]] = {}
        for field, count in raw.items():
            text = field.decode() if isinstance(field, bytes) else field
            label, _, version = text.partition("\x00")
            served.setdefault(label, {})[int(version)] = int(count)
        return served
