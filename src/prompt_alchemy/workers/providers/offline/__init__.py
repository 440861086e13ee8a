"""The offline prompt engineer: deterministic prompt engineering with no model and no network."""

from prompt_alchemy.workers.providers.offline.analysis import IdeaBrief, analyse
from prompt_alchemy.workers.providers.offline.judge import judge_reply, parse_candidates
from prompt_alchemy.workers.providers.offline.optimize import rewrite
from prompt_alchemy.workers.providers.offline.phases import write_phase
from prompt_alchemy.workers.providers.offline.prompt_reading import brief_from_text
from prompt_alchemy.workers.providers.offline.provider import OfflinePromptEngineer, OfflineProvider, variant_for

__all__ = [
    "IdeaBrief",
    "OfflinePromptEngineer",
    "OfflineProvider",
    "analyse",
    "brief_from_text",
    "judge_reply",
    "parse_candidates",
    "rewrite",
    "variant_for",
    "write_phase",
]
