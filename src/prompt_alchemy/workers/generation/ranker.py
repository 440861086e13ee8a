"""Scores of one candidate: the learned ranker alone, and combined with the LLM judge.

Features and the scoring function are the shared ones (``schemas.ranking``), so the weights the
learning worker fits apply unchanged here. The judge enters as the ``judge_score`` feature: the
ranker score leaves it neutral, the combined score includes it, and the learned weight decides
how much the judge counts.
"""

from __future__ import annotations

from collections.abc import Mapping

from prompt_alchemy.schemas.engine import Scores
from prompt_alchemy.schemas.learning import Weights
from prompt_alchemy.schemas.ranking import RankingInput, extract_features, score

__all__ = ["explain_features", "score_candidate"]


def score_candidate(candidate: RankingInput, weights: Weights, judge_score: float | None = None) -> Scores:
    base = extract_features(candidate.model_copy(update={"judge_score": None}))
    ranker = score(base, weights)
    if judge_score is None:
        return Scores(ranker=ranker, judge=None, combined=ranker, features=base)
    judged = extract_features(candidate.model_copy(update={"judge_score": judge_score}))
    return Scores(ranker=ranker, judge=judge_score, combined=score(judged, weights), features=judged)


_ADVICE: tuple[tuple[str, str], ...] = (
    ("structure", "organise the prompt into clearly labelled sections (context, task, constraints, output format)"),
    ("has_output_format", "specify the exact output format the model must return"),
    ("has_constraints", "state explicit constraints: what the model must always and never do"),
    ("has_examples", "add a short example of a good answer"),
)


def explain_features(features: Mapping[str, float]) -> tuple[str, list[str]]:
    """A critique from the ranker's features: what the prompt has, and what would improve it.

    The optimise loop uses it when the judge gives no readable critique, so it can still improve.
    """
    improvements = [advice for name, advice in _ADVICE if features.get(name, 0.0) < 0.5]
    length_fit = features.get("length_fit", 1.0)
    if length_fit < 1.0:
        if features.get("length", 0.0) < 0.6:
            improvements.append("expand it with the specifics a model needs: audience, inputs, success criteria")
        else:
            improvements.append("cut repetition and padding; keep every requirement once")
    if features.get("similarity_to_input", 1.0) < 0.3:
        improvements.append("make it address the original task more directly")
    reason = (
        f"ranker view: structure {features.get('structure', 0.0):.2f}, length fit {length_fit:.2f}, "
        f"output format {'yes' if features.get('has_output_format') else 'no'}, "
        f"constraints {'yes' if features.get('has_constraints') else 'no'}, "
        f"examples {'yes' if features.get('has_examples') else 'no'}, "
        f"similarity to the task {features.get('similarity_to_input', 0.0):.2f}"
    )
    return reason, improvements
