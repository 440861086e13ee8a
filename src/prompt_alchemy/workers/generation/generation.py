"""``engine.generate``: the three alchemical phases over ``count`` parallel chains, ranked and saved.

One request runs phase by phase. In each phase every live chain sends its previous output (the
idea, for the first phase) to a provider; all chains of a phase finish before the next begins,
so history, progress and per-phase settings stay per phase. A chain whose provider fails is
dropped with a warning; the request fails only when no chain survives a phase. Then every
candidate is scored (ranker with the learned weights, plus the LLM judge when asked), and saved
phase by phase so each prompt's parent is already stored when the prompt is.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.errors import DeadlineExceeded, ProviderError, ServiceError
from prompt_alchemy.schemas.common import MAX_PROMPT_CHARS, Phase, PhaseSelection, TargetFamily, Usage
from prompt_alchemy.schemas.engine import GeneratedPrompt, GenerateReply, GenerateRequest, Scores
from prompt_alchemy.schemas.events import ProgressKind
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, GenerationHints
from prompt_alchemy.schemas.ranking import RankingInput
from prompt_alchemy.schemas.storage import Lineage, StoreRequest
from prompt_alchemy.workers.generation.call_plan import PhaseCall, chain_temperature, resolve_phase_call
from prompt_alchemy.workers.generation.completions import ProviderCaller
from prompt_alchemy.workers.generation.deadline import Budget
from prompt_alchemy.workers.generation.failures import as_service_error
from prompt_alchemy.workers.generation.guidance import (
    HistoryExample,
    chain_angle,
    phase_system_prompt,
    phase_user_message,
)
from prompt_alchemy.workers.generation.history import find_history
from prompt_alchemy.workers.generation.judge import JudgeRequest, LlmJudge
from prompt_alchemy.workers.generation.progress import ProgressReporter
from prompt_alchemy.workers.generation.ranker import score_candidate
from prompt_alchemy.workers.generation.settings import EngineSettings
from prompt_alchemy.workers.generation.storage_link import StorageLink
from prompt_alchemy.workers.generation.weights import WeightsBook

__all__ = ["Generator", "new_request_id"]


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True, eq=False)
class _Candidate:
    """One prompt produced by one phase of one chain, with everything its reply and record need."""

    phase: Phase
    chain: int
    content: str
    provider: str
    model: str
    temperature: float
    usage: Usage
    cost_usd: float
    latency_ms: float
    offline: bool
    parent: _Candidate | None
    scores: Scores = field(default_factory=Scores)
    judge_reason: str | None = None
    stored_id: str | None = None


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

    async def generate(self, request: GenerateRequest, context: RequestContext | None) -> GenerateReply:
        request_id = request.request_id or new_request_id()
        progress = ProgressReporter(self.bus, request_id)
        budget = Budget.from_context(context, self.settings.timeouts.deadline_margin_s, what=f"generation {request_id}")
        self.weights.refresh_if_stale()
        run = _GenerationRun(self, request, request_id, progress, budget)
        await progress.emit(
            ProgressKind.STARTED,
            message=f"generating {request.count} chain(s) through {len(request.phases)} phase(s)",
            data={
                "phases": [phase.value for phase in request.phases],
                "count": request.count,
                "persona": request.persona.value,
                "target_model": request.target_model,
            },
        )
        try:
            async with budget.scope("the generation finished"):
                reply = await run.execute()
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
        self.candidates: list[_Candidate] = []
        self.warnings: list[str] = []
        self.history_used: list[str] = []
        self.judge_usage = Usage()
        self.judge_cost = 0.0
        self.judge_offline = False
        self.stage = "starting"
        self.current_phase: Phase | None = None
        self.started = time.perf_counter()

    # -- phases ----------------------------------------------------------------------------
    async def execute(self) -> GenerateReply:
        request = self.request
        latest: dict[int, _Candidate | None] = dict.fromkeys(range(request.count))
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

    async def _run_phase(
        self, phase: Phase, latest: dict[int, _Candidate | None], *, final: bool
    ) -> dict[int, _Candidate | None]:
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
        history = await self._history(phase)
        chains = sorted(latest)
        results = await asyncio.gather(
            *(self._step(phase, call, chain, latest[chain], history, final=final) for chain in chains),
            return_exceptions=True,
        )
        survivors: dict[int, _Candidate | None] = {}
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

    async def _history(self, phase: Phase) -> list[HistoryExample]:
        request = self.request
        if not (request.use_history and self.settings.history_enabled):
            return []
        threshold = request.history_min_similarity
        if threshold is None:
            threshold = self.settings.history_min_similarity
        examples = await find_history(
            self.storage,
            idea=request.input,
            phase=phase,
            min_similarity=threshold,
            limit=self.settings.history_limit,
            exclude_request=self.request_id,
        )
        for example in examples:
            if example.id not in self.history_used:
                self.history_used.append(example.id)
        return examples

    async def _step(
        self,
        phase: Phase,
        call: PhaseCall,
        chain: int,
        previous: _Candidate | None,
        history: list[HistoryExample],
        *,
        final: bool,
    ) -> _Candidate:
        request = self.request
        system = phase_system_prompt(
            phase=phase,
            persona=request.persona,
            target_family=self.family,
            target_model=request.target_model,
            final=final,
            angle=chain_angle(chain, request.count),
            history=history,
            history_chars=self.settings.history_chars,
        )
        user = phase_user_message(phase, request.input, previous.content if previous else None)
        temperature = chain_temperature(call.temperature, chain, request.count, self.settings.chain_temperature_step)
        completion = await self.generator.caller.complete(
            CompletionRequest(
                provider=call.provider,
                model=call.model,
                messages=[
                    ChatMessage(role="system", content=system[:MAX_PROMPT_CHARS]),
                    ChatMessage(role="user", content=user[:MAX_PROMPT_CHARS]),
                ],
                temperature=temperature,
                max_tokens=call.max_tokens,
                use_cache=temperature == 0.0,  # sampling asks for a fresh answer; greedy decoding may reuse one
                hints=GenerationHints(
                    phase=phase,
                    persona=request.persona,
                    target_family=self.family,
                    idea=request.input,
                    task="generate",
                ),
            ),
            self.budget,
            doing=f"{phase.value} chain {chain}",
        )
        self.warnings.extend(completion.warnings)
        reply = completion.reply
        content = reply.content.strip()[:MAX_PROMPT_CHARS]
        if not content:
            raise ProviderError(f"{reply.provider}/{reply.model} returned an empty prompt")
        candidate = _Candidate(
            phase=phase,
            chain=chain,
            content=content,
            provider=reply.provider,
            model=reply.model,
            temperature=temperature,
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
        # Similarity to the idea stays the shared lexical one: the learner computes it that way from
        # stored records, and learned weights only mean something on the very same features.
        weights = self.generator.weights.current
        inputs = [
            RankingInput(
                content=candidate.content,
                input=self.request.input,
                phase=candidate.phase,
                provider=candidate.provider,
                persona=self.request.persona,
            )
            for candidate in self.candidates
        ]
        for candidate, ranking in zip(self.candidates, inputs, strict=True):
            candidate.scores = score_candidate(ranking, weights)
        if self.request.judge:
            await self._judge()
            for candidate, ranking in zip(self.candidates, inputs, strict=True):
                candidate.scores = score_candidate(ranking, weights, candidate.scores.judge)
        best = self._best()
        await self.progress.emit(
            ProgressKind.RANKED,
            phase=best.phase if best else None,
            chain=best.chain if best else None,
            message="candidates ranked" + (" and judged" if self.request.judge else ""),
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

    async def _judge(self) -> None:
        """Ask the judge about each phase's candidates (one call per phase, in parallel)."""
        if not self.settings.judge_enabled:
            self.warnings.append("the LLM judge is disabled on this engine; candidates are ranked without it")
            return
        phases = [phase for phase in self.request.phases if any(c.phase is phase for c in self.candidates)]

        async def judge_phase(phase: Phase) -> None:
            members = [candidate for candidate in self.candidates if candidate.phase is phase]
            try:
                outcome = await self.generator.judge.evaluate(
                    JudgeRequest(
                        task=self.request.input,
                        candidates=[candidate.content for candidate in members],
                        persona=self.request.persona,
                        target_model=self.request.target_model,
                    ),
                    [candidate.scores.ranker for candidate in members],
                    self.budget,
                )
            except DeadlineExceeded:
                raise
            except Exception as error:
                failure = as_service_error(error, doing=f"judging {phase.value}")
                self.warnings.append(f"judging {phase.value} failed ({failure.message}); ranker scores only")
                return
            self.warnings.extend(outcome.warnings)
            self.judge_usage = self.judge_usage + outcome.usage
            self.judge_cost += outcome.cost_usd
            self.judge_offline = self.judge_offline or outcome.offline
            for candidate, verdict, judged in zip(members, outcome.verdicts, outcome.judged, strict=True):
                if judged:
                    candidate.scores = candidate.scores.model_copy(update={"judge": verdict.score})
                candidate.judge_reason = verdict.reason

        await asyncio.gather(*(judge_phase(phase) for phase in phases))

    def _best(self) -> _Candidate | None:
        if not self.candidates:
            return None
        last_phase = max((candidate.phase for candidate in self.candidates), key=lambda phase: phase.order)
        finals = [candidate for candidate in self.candidates if candidate.phase is last_phase]
        return max(finals, key=lambda candidate: (candidate.scores.combined, -candidate.chain))

    # -- saving ----------------------------------------------------------------------------
    def _lineage(self, candidate: _Candidate) -> Lineage:
        return Lineage(
            parent_id=candidate.parent.stored_id if candidate.parent else None,
            generation_request_id=self.request_id,
            phase=candidate.phase,
            chain=candidate.chain,
            provider=candidate.provider,
            model=candidate.model,
            persona=self.request.persona,
            target_model=self.request.target_model,
            temperature=candidate.temperature,
            input_tokens=candidate.usage.input_tokens,
            output_tokens=candidate.usage.output_tokens,
            cost_usd=candidate.cost_usd,
            latency_ms=candidate.latency_ms,
        )

    async def _save(self) -> None:
        """Store phase by phase: a prompt's parent (same chain, previous phase) is stored before it."""
        for phase in self.request.phases:
            members = [candidate for candidate in self.candidates if candidate.phase is phase]
            await asyncio.gather(*(self._save_one(candidate) for candidate in members))

    async def _save_one(self, candidate: _Candidate) -> None:
        reply = await self.storage.store(
            StoreRequest(
                content=candidate.content,
                input=self.request.input,
                tags=self.request.tags,
                source="generate",
                lineage=self._lineage(candidate),
            )
        )
        if reply is None:
            return
        candidate.stored_id = reply.id
        await self.progress.emit(
            ProgressKind.SAVED,
            phase=candidate.phase,
            chain=candidate.chain,
            prompt_id=reply.id,
            message=f"saved {candidate.phase.value} chain {candidate.chain}",
            data={"created": reply.created, "parent_id": candidate.parent.stored_id if candidate.parent else None},
        )

    # -- the reply ---------------------------------------------------------------------------
    def _public(self, candidate: _Candidate) -> GeneratedPrompt:
        return GeneratedPrompt(
            id=candidate.stored_id,
            content=candidate.content,
            phase=candidate.phase,
            chain=candidate.chain,
            provider=candidate.provider,
            model=candidate.model,
            persona=self.request.persona,
            target_model=self.request.target_model,
            parent_id=candidate.parent.stored_id if candidate.parent else None,
            saved=candidate.stored_id is not None,
            scores=candidate.scores,
            judge_reason=candidate.judge_reason,
            usage=candidate.usage,
            cost_usd=candidate.cost_usd,
            latency_ms=candidate.latency_ms,
            lineage=self._lineage(candidate),
        )

    def _selected(self, public: dict[int, GeneratedPrompt], best: _Candidate | None) -> list[GeneratedPrompt]:
        selection = self.request.phase_selection
        by_score = sorted(
            range(len(self.candidates)),
            key=lambda index: (self.candidates[index].phase.order, -self.candidates[index].scores.combined),
        )
        if selection is PhaseSelection.ALL:
            return [public[index] for index in by_score]
        if selection is PhaseSelection.CASCADE:
            chosen: list[GeneratedPrompt] = []
            seen: set[Phase] = set()
            for index in by_score:
                phase = self.candidates[index].phase
                if phase not in seen:
                    seen.add(phase)
                    chosen.append(public[index])
            return chosen
        return [public[self.candidates.index(best)]] if best is not None else []

    def _reply(self, weights_version: int) -> GenerateReply:
        self.candidates.sort(key=lambda candidate: (candidate.phase.order, candidate.chain))
        public = {index: self._public(candidate) for index, candidate in enumerate(self.candidates)}
        best = self._best()
        warnings = list(dict.fromkeys([*self.warnings, *self.storage.warnings]))
        if self.request.save and any(candidate.stored_id is None for candidate in self.candidates):
            warnings.append("some prompts were not saved (saved=false); they are in this reply only")
        usage = sum((candidate.usage for candidate in self.candidates), Usage()) + self.judge_usage
        return GenerateReply(
            request_id=self.request_id,
            input=self.request.input,
            prompts=[public[index] for index in range(len(self.candidates))],
            best=public[self.candidates.index(best)] if best is not None else None,
            selected=self._selected(public, best),
            history_used=self.history_used,
            weights_version=weights_version,
            offline=any(candidate.offline for candidate in self.candidates) or self.judge_offline,
            warnings=warnings,
            usage=usage,
            cost_usd=sum(candidate.cost_usd for candidate in self.candidates) + self.judge_cost,
            duration_ms=(time.perf_counter() - self.started) * 1000.0,
        )
