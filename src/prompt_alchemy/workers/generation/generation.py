"""``engine.generate``: the three alchemical phases over ``count`` parallel chains, ranked and saved.

One request runs phase by phase. In each phase every live chain sends its previous output (the
idea, for the first phase) to a provider, all of them in one ``providers.complete_batch`` (one
request per phase, not one per chain); all chains of a phase finish before the next begins,
so history, progress and per-phase settings stay per phase. A chain whose provider fails is
dropped with a warning; the request fails only when no chain survives a phase. Then every
candidate is scored (ranker with the learned weights, plus the LLM judge when asked), and saved
phase by phase so each prompt's parent is already stored when the prompt is. Every phase call
asks the providers worker to stream: it publishes the text as ``TOKEN`` events on this request's
events subject while the vendor writes it (the engine only names the request, phase and chain).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.errors import BadRequest, BusError, DeadlineExceeded, ProviderError, ServiceError
from prompt_alchemy.schemas.brief import AnalyzeRequest, Brief
from prompt_alchemy.schemas.common import MAX_PROMPT_CHARS, Persona, Phase, TargetFamily, Usage
from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
from prompt_alchemy.schemas.events import ProgressKind
from prompt_alchemy.schemas.providers import (
    ChatMessage,
    CompletionReply,
    CompletionRequest,
    GenerationHints,
    TokenStream,
)
from prompt_alchemy.schemas.registry import ENGINE_ANALYZE
from prompt_alchemy.schemas.storage import MAX_STORE_BATCH, StoreBatchItem, StoreBatchRequest, StoreRequest
from prompt_alchemy.workers.generation.call_plan import PhaseCall, chain_temperature, resolve_phase_call
from prompt_alchemy.workers.generation.candidate_ranking import JudgingCost, apply_brief_coverage, rank_candidates
from prompt_alchemy.workers.generation.candidates import (
    Candidate,
    best_of,
    lineage_of,
    selected,
    to_generated_prompt,
)
from prompt_alchemy.workers.generation.completions import ProviderCaller
from prompt_alchemy.workers.generation.deadline import Budget
from prompt_alchemy.workers.generation.guidance import (
    HistoryExample,
    chain_approach,
    phase_system_prompt,
    phase_user_message,
)
from prompt_alchemy.workers.generation.history import find_history
from prompt_alchemy.workers.generation.judge import LlmJudge
from prompt_alchemy.workers.generation.progress import ProgressReporter
from prompt_alchemy.workers.generation.semantic_cache import SemanticCacheLink
from prompt_alchemy.workers.generation.settings import EngineSettings
from prompt_alchemy.workers.generation.storage_link import StorageLink
from prompt_alchemy.workers.generation.weights import WeightsBook

REPLY_HEADROOM_BYTES = 4096  # the bus envelope around the reply JSON

__all__ = ["OFFLINE_WARNING", "Generator", "fitting", "new_request_id"]

OFFLINE_WARNING = (
    "offline: these prompts come from the built-in offline provider (rules, no LLM); "
    "set a provider API key (e.g. ANTHROPIC_API_KEY or OPENAI_API_KEY) for LLM-written prompts"
)


def new_request_id() -> str:
    return uuid.uuid4().hex


BATCH_HEADROOM_BYTES = 64 * 1024  # headers and the batch's own JSON around its items


def _stored_size(candidate: Candidate, request: GenerateRequest) -> int:
    """A generous bound on the bytes one candidate adds to a store batch and to its reply (which
    carries the record back): its texts twice (JSON escapes), and room for lineage and tags."""
    return 2 * (len(candidate.content.encode()) + len((request.input or "").encode())) + 2048


def fitting(reply: GenerateReply, max_payload: int) -> GenerateReply:
    """A reply one bus message can carry: every candidate when they fit, else only ``selected``.

    Long inputs times many chains times three phases can outgrow the message limit (1 MiB on a
    default nats-server). ``prompts`` then keeps the selected candidates — or nothing when they
    are all selected (``phase_selection=all``): ``selected`` holds them already. With ``save``
    every candidate is stored either way.
    """
    if len(reply.__pydantic_serializer__.to_json(reply)) <= max_payload - REPLY_HEADROOM_BYTES:
        return reply
    everything = [prompt.id for prompt in reply.selected] == [prompt.id for prompt in reply.prompts]
    kept = [] if everything else list(reply.selected)
    where = "they are all in selected" if everything else "the selected ones are kept"
    note = (
        f"{len(reply.prompts) - len(kept)} candidate(s) left out of prompts to fit the "
        f"{max_payload}-byte message limit; {where}"
    )
    return reply.model_copy(update={"prompts": kept, "warnings": [*reply.warnings, note]})


class Generator:
    """Runs ``engine.generate`` requests; shared by the generate and batch endpoints."""

    def __init__(
        self, bus: Bus, settings: EngineSettings, caller: ProviderCaller, judge: LlmJudge, weights: WeightsBook
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.caller = caller
        self.judge = judge
        self.weights = weights
        self.cache = SemanticCacheLink(bus, settings)

    async def generate(self, request: GenerateRequest, context: RequestContext | None) -> GenerateReply:
        if request.request_id is not None and "." in request.request_id:
            message = "request_id may not contain '.': it is the last token of the progress events subject"
            raise BadRequest(message, details={"errors": [{"field": "request_id", "message": message}]})
        request_id = request.request_id or new_request_id()
        progress = ProgressReporter(
            self.bus, request_id, token=request.progress_token, attempt=context.attempt if context else 1
        )
        budget = Budget.current(what=f"generation {request_id}")
        self.weights.refresh_if_stale()
        cached = await self._from_cache(request, request_id, progress)
        if cached is not None:
            return cached
        run = _GenerationRun(self, request, request_id, progress, budget)
        await progress.emit(
            ProgressKind.STARTED,
            message=f"generating {request.count} chain(s) through {len(request.phases)} phase(s)",
            data={
                "phases": [phase.value for phase in request.phases],
                "count": request.count,
                "persona": request.persona.value if request.persona else None,
                "target_model": request.target_model,
            },
        )
        try:
            with budget.stops("the generation finished"):
                reply = fitting(await run.execute(), self.bus.max_payload)
        except Exception as error:
            failure = as_service_error(error, doing="generation")
            if isinstance(failure, DeadlineExceeded):
                failure = DeadlineExceeded(
                    f"the caller's deadline passed during {run.stage}; generation {request_id} stopped "
                    "without further provider calls",
                    details={**failure.details, "stage": run.stage, "request_id": request_id},
                )
            await progress.emit(
                ProgressKind.FAILED,
                phase=run.current_phase,
                message=failure.message,
                data={"code": failure.code, "kind": failure.kind, "stage": run.stage},
            )
            if failure is error:
                raise
            raise failure from error
        await progress.emit(
            ProgressKind.COMPLETED,
            prompt_id=reply.best.id if reply.best else None,
            message=f"{len(reply.prompts)} prompt(s) in {reply.duration_ms:.0f} ms",
            data={
                "prompts": len(reply.prompts),
                "saved": sum(1 for prompt in reply.prompts if prompt.saved),
                "best_phase": reply.best.phase.value if reply.best else None,
                "best_chain": reply.best.chain if reply.best else None,
                "warnings": reply.warnings,
                "duration_ms": reply.duration_ms,
            },
        )
        if request.save:
            await self.cache.remember(request, reply, timeout=self.settings.timeouts.storage_s)
        return reply

    async def _from_cache(
        self, request: GenerateRequest, request_id: str, progress: ProgressReporter
    ) -> GenerateReply | None:
        started = time.perf_counter()
        reply = await self.cache.lookup(request, request_id, timeout=self.settings.timeouts.storage_s)
        if reply is None:
            return None
        reply = reply.model_copy(update={"duration_ms": (time.perf_counter() - started) * 1000})
        await progress.emit(ProgressKind.STARTED, message="answering from the semantic cache", data={"cached": True})
        await progress.emit(
            ProgressKind.COMPLETED,
            prompt_id=reply.best.id if reply.best else None,
            message=f"{len(reply.prompts)} prompt(s) from generation {reply.cached_from} (cached)",
            data={"prompts": len(reply.prompts), "cached_from": reply.cached_from, "duration_ms": reply.duration_ms},
        )
        return reply


class _GenerationRun:
    """The state of one generate request while it runs."""

    def __init__(
        self,
        generator: Generator,
        request: GenerateRequest,
        request_id: str,
        progress: ProgressReporter,
        budget: Budget,
    ) -> None:
        self.generator = generator
        self.settings = generator.settings
        self.request = request
        self.request_id = request_id
        self.progress = progress
        self.budget = budget
        self.family = TargetFamily.for_model(request.target_model)
        self.storage = StorageLink(generator.bus, timeout_s=self.settings.timeouts.storage_s)
        self.candidates: list[Candidate] = []
        self.warnings: list[str] = []
        self.history_used: list[str] = []
        self.history: dict[Phase, list[HistoryExample]] = {}
        self.judging = JudgingCost()
        self.brief: Brief | None = None
        self.stage = "starting"
        self.current_phase: Phase | None = None
        self.started = time.perf_counter()

    # -- phases ----------------------------------------------------------------------------
    async def execute(self) -> GenerateReply:
        self.stage = "analysing the idea"
        await self._read_brief()
        self.stage = "searching history"
        await self._find_history()
        request = self.request
        latest: dict[int, Candidate | None] = dict.fromkeys(range(request.count))
        for phase in request.phases:
            self.current_phase = phase
            self.stage = f"phase {phase.value}"
            latest = await self._run_phase(phase, latest, final=phase is request.phases[-1])
        self.current_phase = None
        self.stage = "ranking"
        weights_version = await self._rank()
        if request.save:
            self.stage = "saving"
            await self._save()
        self.stage = "answering"
        return self._reply(weights_version)

    async def _read_brief(self) -> None:
        """What the analyser reads in the idea: the persona a request leaves open, and the brief ranking checks.

        With an LLM as the first phase's provider the brief is that LLM's structured output (the
        offline analyser's when it fails, with a warning). Every phase call carries the brief, and
        every phase, the ranking, the stored records and the reply name the persona actually used.
        If the analyser cannot answer, generation goes on (generic persona, no coverage check), with
        a warning.
        """
        # the first phase's provider reads the idea: an LLM answers with the brief as structured output
        call = resolve_phase_call(self.request, self.request.phases[0], self.settings)
        timeout = self.settings.timeouts.analyze_s
        remaining = self.budget.remaining()
        if remaining is not None:
            timeout = max(0.0, min(timeout, remaining))
        asked = self.request.persona
        try:
            brief = await self.generator.bus.request(
                ENGINE_ANALYZE,
                AnalyzeRequest(
                    input=self.request.input,
                    persona=asked or Persona.GENERIC,
                    provider=call.provider,
                    model=call.model,
                ),
                timeout=timeout,
            )
        except (ServiceError, BusError) as error:
            remaining = self.budget.remaining()
            if isinstance(error, BusError) and remaining is not None and remaining <= 0:
                raise  # the caller's own deadline passed: nothing is left to generate with
            failure = as_service_error(error, doing="reading the idea")
            self.warnings.append(f"the idea analyser did not answer ({failure.message}); the persona is generic")
            brief = None
        if brief is not None:
            assert isinstance(brief, Brief)
            self.brief = brief
            self.warnings.extend(brief.warnings)
        if asked is None:
            persona = brief.persona if brief is not None else Persona.GENERIC
            self.request = self.request.model_copy(update={"persona": persona})

    async def _run_phase(
        self, phase: Phase, latest: dict[int, Candidate | None], *, final: bool
    ) -> dict[int, Candidate | None]:
        call = resolve_phase_call(self.request, phase, self.settings)
        await self.progress.emit(
            ProgressKind.PHASE_STARTED,
            phase=phase,
            message=f"{phase.value}: {len(latest)} chain(s)",
            data={
                "provider": call.provider,
                "model": call.model,
                "temperature": call.temperature,
                "max_tokens": call.max_tokens,
                "chains": sorted(latest),
            },
        )
        history = self.history.get(phase, [])
        chains = sorted(latest)
        asked = [self._completion_request(phase, call, chain, latest[chain], history, final=final) for chain in chains]
        results = await self._complete(phase, chains, asked, latest)
        survivors: dict[int, Candidate | None] = {}
        failures: list[ServiceError] = []
        for chain, result in zip(chains, results, strict=True):
            if isinstance(result, DeadlineExceeded | asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                failure = as_service_error(result, doing=f"{phase.value} chain {chain}")
                failures.append(failure)
                self.warnings.append(f"chain {chain} stopped in {phase.value}: {failure.message}")
                continue
            self.candidates.append(result)
            survivors[chain] = result
        if not survivors:
            raise failures[0]
        await self.progress.emit(
            ProgressKind.PHASE_DONE,
            phase=phase,
            message=f"{phase.value}: {len(survivors)} candidate(s)",
            data={"candidates": len(survivors), "failed": len(failures)},
        )
        return survivors

    async def _find_history(self) -> None:
        """Every phase's history examples, found before the first phase (one storage request)."""
        request = self.request
        if not (request.use_history and self.settings.history_enabled):
            return
        threshold = request.history_min_similarity
        if threshold is None:
            threshold = self.settings.history_min_similarity
        self.history = await find_history(
            self.storage,
            idea=request.input,
            phases=request.phases,
            min_similarity=threshold,
            limit=self.settings.history_limit,
            exclude_request=self.request_id,
        )
        for examples in self.history.values():
            for example in examples:
                if example.id not in self.history_used:
                    self.history_used.append(example.id)

    def _completion_request(
        self,
        phase: Phase,
        call: PhaseCall,
        chain: int,
        previous: Candidate | None,
        history: list[HistoryExample],
        *,
        final: bool,
    ) -> CompletionRequest:
        request = self.request
        system = phase_system_prompt(
            phase=phase,
            persona=request.persona or Persona.GENERIC,
            target_family=self.family,
            target_model=request.target_model,
            final=final,
            approach=chain_approach(chain, request.count),
            history=history,
            history_chars=self.settings.history_chars,
        )
        user = phase_user_message(phase, request.input, previous.content if previous else None, brief=self.brief)
        temperature = chain_temperature(call.temperature, chain, request.count, self.settings.chain_temperature_step)
        return CompletionRequest(
            provider=call.provider,
            model=call.model,
            messages=[
                ChatMessage(role="system", content=system[:MAX_PROMPT_CHARS]),
                ChatMessage(role="user", content=user[:MAX_PROMPT_CHARS]),
            ],
            temperature=temperature,
            max_tokens=call.max_tokens,
            use_cache=temperature == 0.0,  # sampling asks for a fresh answer; greedy decoding may reuse one
            stream=TokenStream(  # streamed from the vendor only for a request someone follows
                request_id=self.request_id, progress_token=request.progress_token, phase=phase, chain=chain
            )
            if self.progress.followed
            else None,
            hints=GenerationHints(
                phase=phase,
                persona=request.persona or Persona.GENERIC,
                persona_fixed=True,
                target_family=self.family,
                idea=request.input,
                task="generate",
            ),
        )

    async def _complete(
        self, phase: Phase, chains: list[int], asked: list[CompletionRequest], latest: dict[int, Candidate | None]
    ) -> list[Candidate | BaseException]:
        """Every chain's candidate, or what stopped it (the deadline or a cancellation is raised)."""
        doing = [f"{phase.value} chain {chain}" for chain in chains]
        answers = await self.generator.caller.complete_batch(asked, self.budget, doing=doing)
        results: list[Candidate | BaseException] = []
        for chain, request, answer in zip(chains, asked, answers, strict=True):
            if isinstance(answer, ServiceError):
                results.append(answer)
                continue
            self.warnings.extend(answer.warnings)
            try:
                results.append(await self._candidate(phase, chain, request, answer.reply, latest[chain]))
            except ProviderError as error:
                results.append(error)
        return results

    async def _candidate(
        self, phase: Phase, chain: int, request: CompletionRequest, reply: CompletionReply, previous: Candidate | None
    ) -> Candidate:
        content = reply.content.strip()[:MAX_PROMPT_CHARS]
        if not content:
            raise ProviderError(f"{reply.provider}/{reply.model} returned an empty prompt")
        candidate = Candidate(
            phase=phase,
            chain=chain,
            content=content,
            provider=reply.provider,
            model=reply.model,
            temperature=request.temperature,
            usage=reply.usage,
            cost_usd=reply.cost_usd,
            latency_ms=reply.latency_ms,
            offline=reply.offline,
            parent=previous,
        )
        await self.progress.emit(
            ProgressKind.CANDIDATE,
            phase=phase,
            chain=chain,
            message=f"{phase.value} chain {chain} from {reply.provider}/{reply.model}",
            data={
                "content": content,
                "provider": reply.provider,
                "model": reply.model,
                "latency_ms": reply.latency_ms,
                "offline": reply.offline,
            },
        )
        return candidate

    # -- ranking ---------------------------------------------------------------------------
    async def _rank(self) -> int:
        weights = self.generator.weights.current
        judge: LlmJudge | None = None
        if self.request.judge:
            if self.settings.judge_enabled:
                judge = self.generator.judge
            else:
                self.warnings.append("the LLM judge is disabled on this engine; candidates are ranked without it")
        self.judging = await rank_candidates(self.candidates, self.request, weights, judge, self.budget)
        if self.brief is not None:
            apply_brief_coverage(self.candidates, self.brief)
        self.warnings.extend(self.judging.warnings)
        best = best_of(self.candidates)
        await self.progress.emit(
            ProgressKind.RANKED,
            phase=best.phase if best else None,
            chain=best.chain if best else None,
            message="candidates ranked" + (" and judged" if judge else ""),
            data={
                "weights_version": weights.version,
                "scores": [
                    {
                        "phase": candidate.phase.value,
                        "chain": candidate.chain,
                        "ranker": candidate.scores.ranker,
                        "judge": candidate.scores.judge,
                        "combined": candidate.scores.combined,
                    }
                    for candidate in self.candidates
                ],
            },
        )
        return weights.version

    # -- saving ----------------------------------------------------------------------------
    async def _save(self) -> None:
        """Store the candidates in as few ``storage.store_batch`` requests as fit a message (one,
        in practice), phase by phase: a prompt's parent (same chain, previous phase) is stored
        before it, in the same request or an earlier one."""
        order = {phase: position for position, phase in enumerate(self.request.phases)}
        pending = sorted(self.candidates, key=lambda candidate: (order[candidate.phase], candidate.chain))
        budget = self.storage.bus.max_payload - BATCH_HEADROOM_BYTES
        while pending:
            size, count = 0, 0
            for candidate in pending[:MAX_STORE_BATCH]:
                size += _stored_size(candidate, self.request)
                if count and size > budget:
                    break
                count += 1
            chunk, pending = pending[:count], pending[count:]
            await self._save_batch(chunk)

    async def _save_batch(self, chunk: list[Candidate]) -> None:
        position = {id(candidate): index for index, candidate in enumerate(chunk)}
        items = [
            StoreBatchItem(
                prompt=StoreRequest(
                    content=candidate.content,
                    input=self.request.input,
                    tags=self.request.tags,
                    source="generate",
                    lineage=lineage_of(candidate, self.request, self.request_id),  # a parent stored earlier
                ),
                parent=position.get(id(candidate.parent)) if candidate.parent is not None else None,
            )
            for candidate in chunk
        ]
        reply = await self.storage.store_batch(StoreBatchRequest(items=items))
        if reply is None:
            return
        for candidate, stored in zip(chunk, reply.results, strict=True):
            candidate.stored_id = stored.id
            await self.progress.emit(
                ProgressKind.SAVED,
                phase=candidate.phase,
                chain=candidate.chain,
                prompt_id=stored.id,
                message=f"saved {candidate.phase.value} chain {candidate.chain}",
                data={"created": stored.created, "parent_id": candidate.parent_id},
            )

    # -- the reply ---------------------------------------------------------------------------
    def _reply(self, weights_version: int) -> GenerateReply:
        self.candidates.sort(key=lambda candidate: (candidate.phase.order, candidate.chain))
        public = {id(c): to_generated_prompt(c, self.request, self.request_id) for c in self.candidates}
        best = best_of(self.candidates)
        warnings = list(dict.fromkeys([*self.warnings, *self.storage.warnings]))
        if self.request.save and any(candidate.stored_id is None for candidate in self.candidates):
            warnings.append("some prompts were not saved (saved=false); they are in this reply only")
        offline = any(candidate.offline for candidate in self.candidates) or self.judging.offline
        if offline:
            warnings.append(OFFLINE_WARNING)
        return GenerateReply(
            request_id=self.request_id,
            input=self.request.input,
            prompts=[public[id(candidate)] for candidate in self.candidates],
            best=public[id(best)] if best is not None else None,
            selected=[public[id(candidate)] for candidate in selected(self.candidates, self.request.phase_selection)],
            history_used=self.history_used,
            weights_version=weights_version,
            offline=offline,
            warnings=warnings,
            usage=sum((candidate.usage for candidate in self.candidates), Usage()) + self.judging.usage,
            cost_usd=sum(candidate.cost_usd for candidate in self.candidates) + self.judging.cost_usd,
            duration_ms=(time.perf_counter() - self.started) * 1000.0,
        )
