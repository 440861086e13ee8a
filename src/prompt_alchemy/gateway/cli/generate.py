"""``prompt-alchemy generate IDEA``: run the phases; show the best prompt and one line per other (``--all``: all)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import comma_list, common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import indent, note, print_json, say
from prompt_alchemy.gateway.cli.progress_display import ProgressDisplay
from prompt_alchemy.gateway.generation import generate_with_progress
from prompt_alchemy.gateway.reply_summary import candidate_line, sibling
from prompt_alchemy.schemas.common import Persona, Phase, PhaseSelection
from prompt_alchemy.schemas.engine import GeneratedPrompt, GenerateReply, GenerateRequest

__all__ = ["read_text_argument", "register", "render_best", "render_generation", "run"]

FLAGS = {
    "input": "IDEA",
    "phases": "--phases",
    "count": "--count",
    "persona": "--persona",
    "target_model": "--target-model",
    "provider": "--provider",
    "temperature": "--temperature",
    "max_tokens": "--max-tokens",
    "phase_selection": "--phase-selection",
    "tags": "--tag",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        parents=[common_options()],
        help="turn an idea into prompts through the three phases",
        description="Run prima-materia -> solutio -> coagulatio on an idea; show every phase and the best prompt.",
    )
    parser.add_argument("idea", nargs="+", help="the idea (several words are joined; '-' reads stdin)")
    parser.add_argument("--phases", type=comma_list, help="comma-separated, e.g. prima-materia,solutio")
    parser.add_argument("--count", type=int, help="candidates per phase (1-10, default 3)")
    parser.add_argument("--persona", choices=[persona.value for persona in Persona])
    parser.add_argument("--target-model", help="the model the prompt is for, e.g. claude-sonnet-4")
    parser.add_argument("--provider", help="the provider to generate with (default: configured order)")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--phase-selection", choices=[selection.value for selection in PhaseSelection])
    parser.add_argument("--tag", dest="tags", action="append", help="tag the stored prompts (repeatable)")
    parser.add_argument("--judge", action="store_true", default=None, help="also score candidates with an LLM judge")
    parser.add_argument("--no-save", dest="save", action="store_false", default=None, help="do not store the prompts")
    parser.add_argument(
        "--no-history", dest="use_history", action="store_false", default=None, help="do not reuse stored prompts"
    )
    parser.add_argument("--all", action="store_true", help="show every candidate of every phase in full")
    parser.add_argument(
        "--no-cache", dest="cache", action="store_false", default=None, help="never answer from an earlier generation"
    )
    parser.set_defaults(run=guarded(run))


def read_text_argument(words: list[str]) -> str:
    """Words joined by spaces; a single ``-`` reads standard input."""
    if words == ["-"]:
        return sys.stdin.read().strip()
    return " ".join(words).strip()


def _prompt_line(index: int, prompt: GeneratedPrompt) -> str:
    score = f"score {prompt.scores.combined:.2f}"
    ident = f", id {prompt.id}" if prompt.id else ""
    return f"  [{index}] {prompt.provider}/{prompt.model}, {score}{ident}"


def render_best(reply: GenerateReply) -> None:
    """The default view: the best prompt in full, then one line per other candidate, then warnings."""
    best = reply.best
    if best is None:
        say("No best prompt: no candidate survived.")
    else:
        saved = f"id {best.id}" if best.id else "not saved"
        say(f"== best: {saved}, {best.phase.value}, persona {best.persona.value}, score {best.scores.combined:.2f}")
        say(best.content)
    others = [p for p in reply.prompts if best is None or (p.phase, p.chain) != (best.phase, best.chain)]
    if others:
        say()
        say(f"== {len(others)} other candidate{'s' if len(others) != 1 else ''} (--all shows them in full):")
        for prompt in others:
            line = candidate_line(prompt, sibling(prompt, reply.prompts))
            ident = (line.id or "unsaved")[:12]
            say(f"  {ident:<12}  {line.phase.value:<13}  {line.score:.2f}  {line.apart}")
    if reply.cached:
        note(f"note: answered from the semantic cache (generation {reply.cached_from}); --no-cache for a new one")
    for warning in reply.warnings:
        note(f"warning: {warning}")


def render_generation(reply: GenerateReply) -> None:
    """``--all``: every phase's candidates in full, then the best one."""
    for phase in Phase:
        prompts = [prompt for prompt in reply.prompts if prompt.phase is phase]
        if not prompts:
            continue
        say(f"== {phase.value} ({len(prompts)} candidate{'s' if len(prompts) != 1 else ''})")
        for index, prompt in enumerate(prompts, start=1):
            say(_prompt_line(index, prompt))
            say(indent(prompt.content))
        say()
    best = reply.best
    if best is None:
        say("No best prompt: no candidate survived.")
    else:
        saved = f", id {best.id}" if best.id else ", not saved"
        say(f"== best: {best.phase.value}, {best.provider}/{best.model}, score {best.scores.combined:.2f}{saved}")
        say(best.content)
    if reply.cached:
        note(f"note: answered from the semantic cache (generation {reply.cached_from}); --no-cache for a new one")
    for warning in reply.warnings:
        note(f"warning: {warning}")


async def run(args: argparse.Namespace, client: CliClient) -> int:
    request = request_from_flags(
        GenerateRequest,
        {
            "input": read_text_argument(args.idea),
            "phases": args.phases,
            "count": args.count,
            "persona": args.persona,
            "target_model": args.target_model,
            "provider": args.provider,
            "temperature": args.temperature,
            "max_tokens": args.max_tokens,
            "phase_selection": args.phase_selection,
            "tags": args.tags,
            "judge": args.judge,
            "save": args.save,
            "use_history": args.use_history,
            "cache": args.cache,
        },
        FLAGS,
    )
    display = ProgressDisplay()
    reply = await generate_with_progress(client.bus, request, display, timeout=args.timeout, on_token=display.token)
    if wants_json(args):
        print_json(reply)
    elif args.all:
        render_generation(reply)
    else:
        render_best(reply)
    return EXIT_OK
