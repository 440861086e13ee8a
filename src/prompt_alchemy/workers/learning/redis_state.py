"""The distributed learning state in Redis, shared by every learning replica.

Keys under one prefix: ``facts`` (hash event id -> fact), ``aggregates`` (hash prompt id -> JSON row),
``unsynced`` (set of prompt ids), ``features`` (hash), ``counters`` (hash), ``weights`` (current JSON)
and ``weights:history`` (the last versions). ``apply`` and ``refit`` hold a Redis lock, read what they
need, then write everything in one MULTI/EXEC: two replicas never apply the same event twice and
never lose each other's weight updates. redis-py errors become ``Unavailable`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence

import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from redis.asyncio.lock import Lock

from prompt_alchemy.errors import ConfigError, Unavailable
from prompt_alchemy.redis_target import RedisTarget, WriteProof, close_client
from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.ranking import DEFAULT_WEIGHTS
from prompt_alchemy.workers.learning.aggregates import PromptAggregate
from prompt_alchemy.workers.learning.facts import FeedbackFact
from prompt_alchemy.workers.learning.ledger import (
    DUPLICATES,
    VotePolicy,
    admit_votes,
    fold_admission,
    influence_key,
    vote_key,
)
from prompt_alchemy.workers.learning.sqlite_state import DEFAULT_HALF_LIFE_S
from prompt_alchemy.workers.learning.state import ApplyOutcome, OnlineTrainer, Refitter, StateStats

__all__ = ["DEFAULT_PREFIX", "RedisLearningState"]

DEFAULT_PREFIX = "alchemy:learning"
_LOCK_TIMEOUT_S = 60.0
_LOCK_POLL_S = 0.1
_SOCKET_TIMEOUT_S = 10.0
_WEIGHT_VERSIONS_KEPT = 100


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLearningState:
    """``LearningState`` in Redis under ``prefix``."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        half_life: float = DEFAULT_HALF_LIFE_S,
        votes: VotePolicy | None = None,
        target: RedisTarget | None = None,
    ):
        self.target = target
        self.half_life = half_life
        self.votes = votes or VotePolicy()
        self.prefix = prefix
        self._redis = client
        self._facts = f"{prefix}:facts"
        self._aggregates = f"{prefix}:aggregates"
        self._unsynced = f"{prefix}:unsynced"
        self._features = f"{prefix}:features"
        self._counters = f"{prefix}:counters"
        self._weights = f"{prefix}:weights"
        self._history = f"{prefix}:weights:history"
        self._lock_name = f"{prefix}:lock"
        self._finished_locks: dict[bytes, float] = {}  # token of a lock section that is over -> end of its lease
        self._votes = f"{prefix}:votes"
        self._influence = f"{prefix}:influence"

    @classmethod
    async def open(
        cls,
        target: RedisTarget | str,
        *,
        prefix: str = DEFAULT_PREFIX,
        half_life: float = DEFAULT_HALF_LIFE_S,
        votes: VotePolicy | None = None,
    ) -> RedisLearningState:
        """``target``: a URL, or a ``RedisTarget`` (Sentinels; writes confirmed on replicas)."""
        target = RedisTarget(url=target) if isinstance(target, str) else target
        client = target.client(socket_timeout=_SOCKET_TIMEOUT_S, socket_connect_timeout=_SOCKET_TIMEOUT_S)
        state = cls(client, prefix=prefix, half_life=half_life, votes=votes, target=target)
        try:
            async with state._guard():
                await client.ping()
        except Unavailable as error:
            await close_client(client)
            raise ConfigError(f"cannot reach the learning state: {error}") from error
        return state

    async def close(self) -> None:
        await close_client(self._redis)

    async def drop(self) -> None:
        """Delete every key of this state (tests and resets)."""
        async with self._guard():
            await self._redis.delete(
                self._facts,
                self._aggregates,
                self._unsynced,
                self._features,
                self._counters,
                self._weights,
                self._history,
                self._votes,
                self._influence,
            )

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, TimeoutError, OSError) as error:
            raise Unavailable(f"the learning state in Redis is unreachable: {error}") from error
        except redis_errors.LockError as error:
            raise Unavailable(f"the learning state lock could not be taken: {error}") from error
        except redis_errors.RedisError as error:
            raise Unavailable(f"the learning state in Redis failed: {error}") from error

    @contextlib.asynccontextmanager
    async def _locked(self, *, recorded: Sequence[str] = ()) -> AsyncIterator[WriteProof]:
        """Exclusive among replicas; on success, confirmed on the target's replicas before the lock
        goes, so an event is acked on the stream only once a failover cannot lose its effect.
        ``recorded``: event ids the block leaves in ``facts`` — confirmed as read back from the node
        that replicated them (``_confirm_recorded``), not merely as written. Else the block executes
        its write through the proof yielded, and it is confirmed on the node that took it
        (``RedisTarget.confirm_written``).

        The lock of a section that is over can come back: its release never reached Redis (the
        primary died), or reached a primary whose data a failover then discarded for a replica's
        copy, taken before the release. Its token is remembered until its lease ends, and a lock
        found held under such a token is released at once, so learning resumes right after a
        failover rather than a lease (60 s) later.
        """
        async with self._guard():
            lock = self._redis.lock(self._lock_name, timeout=_LOCK_TIMEOUT_S)
            token = secrets.token_hex(16).encode()
            await self._acquire(lock, token)
            proof = self._write_proof()
            try:
                yield proof
                if recorded:
                    await self._confirm_recorded(recorded)
                elif self.target is not None:
                    await self.target.confirm_written(self._redis, proof)
            finally:
                self._remember_finished(token)
                await lock.release()

    async def _acquire(self, lock: Lock, token: bytes) -> None:
        """Take ``lock`` with ``token``, releasing a comeback of a finished section's lock on the way."""
        deadline = time.monotonic() + _LOCK_TIMEOUT_S
        while not await lock.acquire(token=token, blocking=False):
            now = time.monotonic()
            held = await self._redis.get(self._lock_name)
            holder = held.encode() if isinstance(held, str) else held
            if holder is not None and self._finished_locks.get(holder, 0.0) > now:
                with contextlib.suppress(redis_errors.LockNotOwnedError):  # expired or released meanwhile
                    await lock.do_release(holder)
                continue
            if now >= deadline:
                raise redis_errors.LockError("timed out waiting for another learning replica")
            await asyncio.sleep(_LOCK_POLL_S)  # another replica holds it: ask again, as redis-py does

    def _write_proof(self) -> WriteProof:
        return WriteProof(None) if self.target is None else self.target.write_proof()

    def _remember_finished(self, token: bytes) -> None:
        now = time.monotonic()
        self._finished_locks = {held: end for held, end in self._finished_locks.items() if end > now}
        self._finished_locks[token] = now + _LOCK_TIMEOUT_S

    async def _read_facts(self, ids: list[str]) -> list[bytes | str | None]:
        """``facts`` of ``ids``, from a node whose data the target's replicas hold (``read_confirmed``).

        What decides that an event was applied — and so may be acked — must survive a failover. A
        fact a node holds unconfirmed (its batch's ``WAIT`` failed, the batch is being retried) is no
        proof: a failover to a replica that never got it discards it, and the event with it.
        """
        if self.target is None:
            values: list[bytes | str | None] = await self._redis.hmget(self._facts, ids)
            return values
        (values,) = await self.target.read_confirmed(self._redis, lambda pipe: pipe.hmget(self._facts, ids))
        return list(values)

    async def _confirm_recorded(self, event_ids: Sequence[str]) -> None:
        """``Unavailable`` unless every one of ``event_ids`` is in ``facts`` on a confirmed node.

        The writes of ``apply`` and its confirmation can reach different nodes (a pooled connection to
        a demoted primary, a reconnect to the promoted one): reading the facts back in the
        confirmation itself is what proves the confirmed node holds them.
        """
        ids = list(dict.fromkeys(event_ids))
        missing = sum(1 for value in await self._read_facts(ids) if value is None)
        if missing:
            raise Unavailable(
                f"{missing} of {len(ids)} feedback events are not recorded on the Redis primary that confirmed "
                "the batch (a failover in between); retrying is safe"
            )

    # -- reads ---------------------------------------------------------------------------------
    async def unseen(self, event_ids: Sequence[str]) -> set[str]:
        """The events not applied yet; an event reported applied is so on the target's replicas too."""
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return set()
        async with self._guard():
            present = await self._read_facts(ids)
        return {event_id for event_id, value in zip(ids, present, strict=True) if value is None}

    async def features(self, prompt_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        ids = list(dict.fromkeys(prompt_ids))
        if not ids:
            return {}
        async with self._guard():
            values = await self._redis.hmget(self._features, ids)
        return {pid: json.loads(value) for pid, value in zip(ids, values, strict=True) if value is not None}

    async def aggregates(self, prompt_ids: Sequence[str]) -> dict[str, PromptAggregate]:
        async with self._guard():
            return await self._load_aggregates(list(dict.fromkeys(prompt_ids)))

    async def _load_aggregates(self, ids: Sequence[str]) -> dict[str, PromptAggregate]:
        if not ids:
            return {}
        values = await self._redis.hmget(self._aggregates, list(ids))
        return {
            pid: PromptAggregate.from_row(json.loads(value))
            for pid, value in zip(ids, values, strict=True)
            if value is not None
        }

    async def weights(self) -> Weights:
        async with self._guard():
            return await self._current_weights()

    async def _current_weights(self) -> Weights:
        body = await self._redis.get(self._weights)
        return DEFAULT_WEIGHTS if body is None else Weights.model_validate_json(body)

    async def facts(self) -> list[FeedbackFact]:
        async with self._guard():
            values = await self._redis.hvals(self._facts)
        facts = [FeedbackFact.from_json(value) for value in values]
        facts.sort(key=lambda fact: (fact.created_at, fact.event_id))
        return facts

    async def unsynced(self, limit: int) -> list[PromptAggregate]:
        async with self._guard():
            ids = [_text(member) for member in await self._redis.srandmember(self._unsynced, limit) or []]
            return list((await self._load_aggregates(ids)).values())

    async def stats(self) -> StateStats:
        async with self._guard():
            counters = await self._redis.hgetall(self._counters)
            prompts = await self._redis.hlen(self._aggregates)
            unsynced = await self._redis.scard(self._unsynced)
            weights = await self._current_weights()
        return StateStats(
            counters={_text(name): int(value) for name, value in counters.items()},
            weights_version=weights.version,
            prompts=int(prompts),
            unsynced_prompts=int(unsynced),
        )

    # -- writes --------------------------------------------------------------------------------
    async def save_features(self, features: Mapping[str, Mapping[str, float]]) -> None:
        if not features:
            return
        async with self._guard():
            await self._redis.hset(
                self._features, mapping={pid: json.dumps(dict(values)) for pid, values in features.items()}
            )

    async def count_duplicates(self, count: int) -> None:
        """Count ``count`` redelivered events; confirmed like ``apply`` (they are acked after this), on
        the node that took the count. No lock: ``HINCRBY`` is atomic on its own."""
        if count:
            async with self._guard():
                proof = self._write_proof()
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.hincrby(self._counters, DUPLICATES, count)
                    await proof.execute(pipe)
                if self.target is not None:
                    await self.target.confirm_written(self._redis, proof)

    async def apply(self, facts: Sequence[FeedbackFact], trainer: OnlineTrainer | None = None) -> ApplyOutcome:
        batch = list(facts)
        if not batch:
            return ApplyOutcome(applied=0, duplicates=0)
        async with self._locked(recorded=[fact.event_id for fact in batch]):
            unique = list({fact.event_id: fact for fact in batch}.values())
            present = await self._redis.hmget(self._facts, [fact.event_id for fact in unique])
            new = [fact for fact, value in zip(unique, present, strict=True) if value is None]
            duplicates = len(batch) - len(new)
            admission = admit_votes(new, await self._known_votes(new), await self._origin_influence(new), self.votes)
            counted = admission.counted
            prompt_ids = list(dict.fromkeys(pid for fact in counted for pid in fact.prompt_ids))
            aggregates = await self._load_aggregates(prompt_ids)
            counters = fold_admission(admission, aggregates, half_life=self.half_life)
            if duplicates:
                counters[DUPLICATES] += duplicates
            weights: Weights | None = None
            if counted and trainer is not None:
                weights = await asyncio.to_thread(trainer, await self._current_weights(), counted)
            async with self._redis.pipeline(transaction=True) as pipe:
                if new:
                    pipe.hset(self._facts, mapping={fact.event_id: fact.to_json() for fact in admission.recorded})
                if admission.new_votes:
                    pipe.hset(self._votes, mapping=dict.fromkeys(admission.new_votes, 1))
                for key, votes in admission.influence.items():
                    pipe.hincrby(self._influence, key, votes)
                if prompt_ids:
                    pipe.hset(
                        self._aggregates, mapping={pid: json.dumps(aggregates[pid].to_row()) for pid in prompt_ids}
                    )
                    pipe.sadd(self._unsynced, *prompt_ids)
                for name, value in counters.items():
                    pipe.hincrby(self._counters, name, value)
                if weights is not None:
                    self._queue_weights(pipe, weights)
                await pipe.execute()
        return ApplyOutcome(applied=len(new), duplicates=duplicates, weights=weights)

    async def _known_votes(self, facts: Sequence[FeedbackFact]) -> set[str]:
        keys = list({key for key in map(vote_key, facts) if key is not None})
        if not keys:
            return set()
        present = await self._redis.hmget(self._votes, keys)
        return {key for key, value in zip(keys, present, strict=True) if value is not None}

    async def _origin_influence(self, facts: Sequence[FeedbackFact]) -> dict[str, int]:
        keys = list({key for key in map(influence_key, facts) if key is not None})
        if not keys:
            return {}
        values = await self._redis.hmget(self._influence, keys)
        return {key: int(value) for key, value in zip(keys, values, strict=True) if value is not None}

    def _queue_weights(self, pipe: aioredis.client.Pipeline, weights: Weights) -> None:
        body = weights.model_dump_json()
        pipe.set(self._weights, body)
        pipe.lpush(self._history, body)
        pipe.ltrim(self._history, 0, _WEIGHT_VERSIONS_KEPT - 1)

    async def mark_synced(self, revisions: Mapping[str, int]) -> None:
        if not revisions:
            return
        async with self._locked() as proof:
            current = await self._load_aggregates(list(revisions))
            done = [
                pid for pid, revision in revisions.items() if pid not in current or current[pid].revision <= revision
            ]
            if done:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.srem(self._unsynced, *done)
                    await proof.execute(pipe)

    async def refit(self, refitter: Refitter) -> Weights:
        async with self._locked() as proof:
            facts = await self.facts()
            version = (await self._current_weights()).version + 1
            weights = await asyncio.to_thread(refitter, facts, version)
            async with self._redis.pipeline(transaction=True) as pipe:
                self._queue_weights(pipe, weights)
                await proof.execute(pipe)
        return weights
