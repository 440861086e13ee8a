"""``prompt-alchemy analyze IDEA``: what the engine understands of an idea, before generating."""

from __future__ import annotations

import argparse
from typing import Any

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_OK, guarded
from prompt_alchemy.gateway.cli.generate import read_text_argument
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import print_json, say
from prompt_alchemy.schemas.brief import AnalyzeRequest, Brief
from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.schemas.registry import ENGINE_ANALYZE

__all__ = ["register", "render_brief", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze",
        parents=[common_options()],
        help="show what the engine reads in an idea (persona, audience, constraints, form, input)",
        description="Read an idea into the structured brief the phases work from, without generating.",
    )
    parser.add_argument("idea", nargs="+", help="the idea (several words are joined; '-' reads stdin)")
    parser.add_argument("--persona", choices=[persona.value for persona in Persona], help="force a persona")
    parser.set_defaults(run=guarded(run))


def render_brief(brief: Brief) -> None:
    """One labelled line per element; lists indented beneath their label."""
    say(f"persona: {brief.persona.value} ({brief.persona_reason})" if brief.persona_reason else brief.persona.value)
    say(f"task: {brief.task}")
    if brief.deliverable:
        say(f"deliverable: {brief.deliverable}")
    say(f"audience: {brief.audience or 'not stated'}")
    if brief.tone:
        say(f"tone: {', '.join(brief.tone)}")
    if brief.code_language:
        say(f"language: {brief.code_language}")
    if brief.form:
        say(f"form: {brief.form.name}")
        for rule in brief.form.rules:
            say(f"  - {rule}")
    if brief.input:
        say(f"input: {brief.input.description} as {brief.input.placeholder}")
    if brief.constraints:
        say("constraints:")
        for constraint in brief.constraints:
            say(f"  - [{constraint.kind.value}] {constraint.text}")
    if brief.details:
        say("details:")
        for detail in brief.details:
            say(f"  - {detail}")
    if brief.source != "offline":
        say(f"read by: {brief.source} (structured output)")
    for warning in brief.warnings:
        say(f"warning: {warning}")


async def run(args: argparse.Namespace, client: CliClient) -> int:
    request = request_from_flags(
        AnalyzeRequest, {"input": read_text_argument(args.idea), "persona": args.persona}, {"input": "IDEA"}
    )
    brief = await client.bus.request(ENGINE_ANALYZE, request, timeout=args.timeout)
    if wants_json(args):
        print_json(brief)
    else:
        render_brief(brief)
    return EXIT_OK
