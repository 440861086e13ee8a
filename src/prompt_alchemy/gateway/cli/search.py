"""``prompt-alchemy search [QUERY]``: find stored prompts by meaning, substring or filters."""

from __future__ import annotations

import argparse
from typing import Any

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import first_line, print_json, say
from prompt_alchemy.schemas.common import Persona, Phase
from prompt_alchemy.schemas.registry import STORAGE_SEARCH
from prompt_alchemy.schemas.storage import SearchFilters, SearchReply, SearchRequest

__all__ = ["register", "render_hits", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "search", parents=[common_options()], help="find stored prompts", description="Semantic and filtered search."
    )
    parser.add_argument("query", nargs="*", help="what the prompt should be about (semantic)")
    parser.add_argument("--text", help="plain substring match instead of meaning")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--cursor", help="the cursor printed after the previous page")
    parser.add_argument("--min-similarity", type=float)
    parser.add_argument("--phase", choices=[phase.value for phase in Phase])
    parser.add_argument("--provider")
    parser.add_argument("--persona", choices=[persona.value for persona in Persona])
    parser.add_argument("--target-model")
    parser.add_argument("--tag", dest="tags", action="append", help="every tag must match (repeatable)")
    parser.add_argument("--since", dest="created_since", help="created at or after (ISO 8601)")
    parser.set_defaults(run=guarded(run))


def render_hits(reply: SearchReply) -> None:
    if not reply.hits:
        say("No prompts found.")
        return
    for hit in reply.hits:
        record = hit.record
        similarity = f"{hit.similarity:.2f}" if hit.similarity is not None else "  - "
        phase = record.lineage.phase.value if record.lineage.phase else "-"
        say(f"{record.id}  {similarity}  {phase:<13} {first_line(record.content)}")
    if reply.next_cursor:
        say(f"(more: --cursor {reply.next_cursor})")


async def run(args: argparse.Namespace, client: CliClient) -> int:
    filters = request_from_flags(
        SearchFilters,
        {
            "phase": args.phase,
            "provider": args.provider,
            "persona": args.persona,
            "target_model": args.target_model,
            "tags": args.tags,
            "created_since": args.created_since,
        },
        {"created_since": "--since", "tags": "--tag"},
    )
    request = request_from_flags(
        SearchRequest,
        {
            "query": " ".join(args.query).strip() or None,
            "text": args.text,
            "limit": args.limit,
            "cursor": args.cursor,
            "min_similarity": args.min_similarity,
            "filters": filters,
        },
        {"query": "QUERY"},
    )
    reply = await client.bus.request(STORAGE_SEARCH, request, timeout=args.timeout)
    if wants_json(args):
        print_json(reply)
    else:
        render_hits(reply)
    return EXIT_OK
