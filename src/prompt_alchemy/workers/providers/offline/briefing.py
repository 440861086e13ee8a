"""``engine.analyze``: the offline analyser's reading of an idea as the structured ``Brief`` contract."""

from __future__ import annotations

from prompt_alchemy.schemas.brief import AnalyzeRequest, Brief, BriefConstraint, ConstraintKind, FormRules, InputSlot
from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief, analyse

__all__ = ["analyze_idea", "brief_of"]

_KINDS = {kind.value: kind for kind in ConstraintKind}


def _constraints(brief: IdeaBrief) -> list[BriefConstraint]:
    found = [BriefConstraint(kind=_KINDS.get(kind, ConstraintKind.DETAIL), text=text) for kind, text in brief.typed]
    if brief.length_rule:
        found.append(BriefConstraint(kind=ConstraintKind.LENGTH, text=brief.length_rule))
    typed = {item.text for item in found}
    for text in brief.constraints:
        if text not in typed:
            kind = ConstraintKind.QUANTITY if text.startswith("Give ") else ConstraintKind.DETAIL
            found.append(BriefConstraint(kind=kind, text=text))
    found += [BriefConstraint(kind=ConstraintKind.EDGE_CASE, text=case) for case in brief.edge_cases]
    return found


def brief_of(brief: IdeaBrief) -> Brief:
    """The bus contract of an analysed idea."""
    return Brief(
        idea=brief.idea,
        task=brief.task,
        deliverable=brief.form.name if brief.form else brief.deliverable,
        audience=brief.audience,
        constraints=_constraints(brief),
        details=list(brief.facts),
        tone=list(brief.tones),
        form=FormRules(name=brief.form.name, rules=list(brief.form.rules)) if brief.form else None,
        input=InputSlot(description=brief.input_slot[0], placeholder=f"{{{{{brief.input_slot[1]}}}}}")
        if brief.input_slot
        else None,
        persona=brief.persona,
        persona_reason=brief.persona_reason,
        code_language=brief.language if brief.persona is Persona.CODE else None,
        key_terms=list(brief.key_terms),
    )


def analyze_idea(request: AnalyzeRequest) -> Brief:
    return brief_of(analyse(request.input, request.persona))
