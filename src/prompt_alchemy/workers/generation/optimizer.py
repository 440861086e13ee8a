"""``engine.optimize``: the meta-prompt loop — judge and critique, rewrite, judge again.

Iteration 0 is the original prompt, judged. Each further iteration rewrites the best prompt so
far using the critique of it, until the best score reaches the target or the iterations run
out. The best is the highest-scoring iteration, so the answer is never worse than the original.
When the judge gives no readable critique the ranker's feature view stands in, so the loop still
knows what to improve. The optimised prompt is stored as a child of the original.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompt_alchemy.bus import Bus, RequestContext
from prompt_alchemy.bus.failures import as_service_error
from prompt_alchemy.errors import BadRequest, DeadlineExceeded
from prompt_alchemy.schemas.common import MAX_PROMPT_CHARS, Phase, TargetFamily, Usage
from prompt_alchemy.schemas.engine import OptimizeIteration, OptimizeReply, OptimizeRequest
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, GenerationHints
from prompt_alchemy.schemas.quoting import DATA_NOTICE, quoted_block, shortened_to_quote_within
from prompt_alchemy.schemas.ranking import RankingInput
from prompt_alchemy.schemas.storage import Lineage, StoreRequest
from prompt_alchemy.workers.generation.completions import ProviderCaller
from prompt_alchemy.workers.generation.deadline import Budget
from prompt_alchemy.workers.generation.guidance import PERSONA_GUIDANCE, TARGET_CONVENTIONS
from prompt_alchemy.workers.generation.judge import JudgeRequest, LlmJudge
from prompt_alchemy.workers.generation.ranker import explain_features, score_candidate
from prompt_alchemy.workers.generation.settings import EngineSettings
from prompt_alchemy.workers.generation.storage_link import StorageLink
from prompt_alchemy.workers.generation.weights import WeightsBook

__all__ = ["Optimizer"]

_OPTIMISER_ROLE = (
    "You are a prompt optimiser. Rewrite the prompt in <prompt> so that it answers the <critique> and scores "
    "higher with a strict judge: apply every listed improvement, keep the original intent and every "
    "requirement, and do not add requirements the <task> does not imply."
)
_OUTPUT_RULE = "Answer with the improved prompt only: no preamble, no commentary, no surrounding quotes."
_REWRITE_TEMPERATURE = 0.4


@dataclass(frozen=True, slots=True)
class _Origin:
    prompt: str
    task: str
    parent_id: str | None
    phase: Phase | None
    provider: str | None


@dataclass(frozen=True, slots=True)
class _Rewrite:
    prompt: str
    provider: str
    model: str
    usage: Usage
    cost_usd: float
    latency_ms: float


class Optimizer:
    def __init__(
        self, bus: Bus, settings: EngineSettings, caller: ProviderCaller, judge: LlmJudge, weights: WeightsBook
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.caller = caller
        self.judge = judge
        self.weights = weights

    async def optimize(self, request: OptimizeRequest, context: RequestContext | None) -> OptimizeReply:
        budget = Budget.current(what="optimisation")
        self.weights.refresh_if_stale()
        run = _OptimizationRun(self, request, budget)
        with budget.stops("the optimisation finished"):
            return await run.execute()


class _OptimizationRun:
    def __init__(self, optimizer: Optimizer, request: OptimizeRequest, budget: Budget) -> None:
        self.optimizer = optimizer
        self.request = request
        self.budget = budget
        self.storage = StorageLink(optimizer.bus, timeout_s=optimizer.settings.timeouts.storage_s)
        self.family = TargetFamily.for_model(request.target_model)
        self.usage = Usage()
        self.warnings: list[str] = []

    async def execute(self) -> OptimizeReply:
        request = self.request
        origin = await self._origin()
        first = await self._evaluate(origin.prompt, 0, origin.task, origin.provider, origin.phase)
        iterations = [first]
        best = first
        rewrites: dict[int, _Rewrite] = {}
        for step in range(1, request.max_iterations + 1):
            if best.score >= request.target_score:
                break
            try:
                rewrite = await self._rewrite(best, origin.task)
            except DeadlineExceeded:
                raise
            except Exception as error:
                failure = as_service_error(error, doing=f"rewriting (iteration {step})")
                self.warnings.append(f"stopped at iteration {step}: {failure.message}")
                break
            rewrites[step] = rewrite
            iteration = await self._evaluate(rewrite.prompt, step, origin.task, rewrite.provider, None)
            iterations.append(iteration)
            if iteration.score > best.score:
                best = iteration
        stored_id, parent_id = await self._save(origin, best, rewrites.get(best.iteration))
        return OptimizeReply(
            original=origin.prompt,
            best=best,
            iterations=iterations,
            improved=best.iteration != 0,
            stored_id=stored_id,
            parent_id=parent_id,
            usage=self.usage,
            warnings=list(dict.fromkeys([*self.warnings, *self.storage.warnings])),
        )

    async def _origin(self) -> _Origin:
        request = self.request
        if request.prompt_id is not None:
            record = (await self.storage.get(request.prompt_id)).record
            return _Origin(
                prompt=request.prompt or record.content,
                task=request.task or record.input or record.content,
                parent_id=record.id,
                phase=record.lineage.phase,
                provider=record.lineage.provider,
            )
        if request.prompt is None:
            raise BadRequest(
                "give the prompt to optimise, as text (prompt) or by id (prompt_id)",
                details={"errors": [{"field": "prompt", "message": "prompt or prompt_id is required"}]},
            )
        return _Origin(
            prompt=request.prompt, task=request.task or request.prompt, parent_id=None, phase=None, provider=None
        )

    async def _evaluate(
        self, prompt: str, iteration: int, task: str, provider: str | None, phase: Phase | None
    ) -> OptimizeIteration:
        request = self.request
        ranking = RankingInput(content=prompt, input=task, phase=phase, provider=provider, persona=request.persona)
        scores = score_candidate(ranking, self.optimizer.weights.current)
        reason, improvements = explain_features(scores.features)
        score = scores.ranker
        try:
            outcome = await self.optimizer.judge.evaluate(
                JudgeRequest(
                    task=task,
                    candidates=[prompt],
                    persona=request.persona,
                    target_model=request.target_model,
                    provider=request.provider,
                    model=request.model,
                    critique=True,
                ),
                [scores.ranker],
                self.budget,
            )
        except DeadlineExceeded:
            raise
        except Exception as error:
            failure = as_service_error(error, doing=f"judging iteration {iteration}")
            self.warnings.append(f"judging iteration {iteration} failed ({failure.message}); ranker score used")
        else:
            self.usage = self.usage + outcome.usage
            self.warnings.extend(outcome.warnings)
            if outcome.judged[0]:
                verdict = outcome.verdicts[0]
                score, reason = verdict.score, verdict.reason
                improvements = list(verdict.improvements) or improvements
        return OptimizeIteration(
            iteration=iteration, prompt=prompt, score=score, reasoning=reason, improvements=improvements
        )

    async def _rewrite(self, current: OptimizeIteration, task: str) -> _Rewrite:
        request = self.request
        system = "\n\n".join(
            [_OPTIMISER_ROLE, PERSONA_GUIDANCE[request.persona], TARGET_CONVENTIONS[self.family], _OUTPUT_RULE]
        )
        improvements = "\n".join(f"- {item}" for item in current.improvements) or "- make it clearer and more precise"
        # The task, the prompt and the judge's critique (which may echo the prompt) are quoted data.
        critique = f"Score {current.score:.2f}. {current.reasoning}\nImprovements to make:\n{improvements}"
        quarter = MAX_PROMPT_CHARS // 4
        head = "\n\n".join(
            [
                DATA_NOTICE,
                quoted_block("task", shortened_to_quote_within(task, quarter)),
                quoted_block("critique", shortened_to_quote_within(critique, quarter)),
            ]
        )
        room = MAX_PROMPT_CHARS - len(head) - len("\n\n<prompt></prompt>")
        user = f"{head}\n\n{quoted_block('prompt', shortened_to_quote_within(current.prompt, room))}"
        completion = await self.optimizer.caller.complete(
            CompletionRequest(
                provider=request.provider,
                model=request.model,
                messages=[
                    ChatMessage(role="system", content=system),
                    ChatMessage(role="user", content=user),
                ],
                temperature=_REWRITE_TEMPERATURE,
                max_tokens=min(32_768, max(1024, len(current.prompt) // 2 + 1024)),
                hints=GenerationHints(persona=request.persona, target_family=self.family, idea=task, task="optimize"),
            ),
            self.budget,
            doing=f"rewriting (iteration {current.iteration + 1})",
        )
        self.warnings.extend(completion.warnings)
        reply = completion.reply
        self.usage = self.usage + reply.usage
        content = reply.content.strip()[:MAX_PROMPT_CHARS]
        if not content:
            raise BadRequest(f"{reply.provider}/{reply.model} returned an empty rewrite")
        return _Rewrite(content, reply.provider, reply.model, reply.usage, reply.cost_usd, reply.latency_ms)

    async def _save(
        self, origin: _Origin, best: OptimizeIteration, rewrite: _Rewrite | None
    ) -> tuple[str | None, str | None]:
        """Store the best rewrite as a child of the original; the original itself if it was never stored."""
        parent_id = origin.parent_id
        if not self.request.save:
            return None, parent_id
        if rewrite is None:  # the original stayed best: nothing new to store
            return parent_id, parent_id
        request = self.request
        if parent_id is None:
            stored = await self.storage.store(
                StoreRequest(
                    content=origin.prompt,
                    input=origin.task,
                    source="optimize",
                    lineage=Lineage(persona=request.persona, target_model=request.target_model, optimiser_step=0),
                )
            )
            parent_id = stored.id if stored else None
        child = await self.storage.store(
            StoreRequest(
                content=best.prompt,
                input=origin.task,
                source="optimize",
                lineage=Lineage(
                    parent_id=parent_id,
                    phase=origin.phase,
                    provider=rewrite.provider,
                    model=rewrite.model,
                    persona=request.persona,
                    target_model=request.target_model,
                    optimiser_step=best.iteration,
                    temperature=_REWRITE_TEMPERATURE,
                    input_tokens=rewrite.usage.input_tokens,
                    output_tokens=rewrite.usage.output_tokens,
                    cost_usd=rewrite.cost_usd,
                    latency_ms=rewrite.latency_ms,
                ),
            )
        )
        if child is None:
            self.warnings.append("the optimised prompt was not saved")
        return (child.id if child else None), parent_id
