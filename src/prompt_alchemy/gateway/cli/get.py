"""``prompt-alchemy get ID``: one stored prompt, its lineage fields and optionally its versions."""

from __future__ import annotations

import argparse
from typing import Any

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import indent, print_json, say
from prompt_alchemy.schemas.registry import STORAGE_GET
from prompt_alchemy.schemas.storage import GetReply, GetRequest

__all__ = ["register", "render_prompt", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("get", parents=[common_options()], help="show one stored prompt")
    parser.add_argument("id", help="the prompt id")
    parser.add_argument("--history", action="store_true", help="also show earlier versions")
    parser.set_defaults(run=guarded(run))


def render_prompt(reply: GetReply) -> None:
    record = reply.record
    lineage = record.lineage
    say(f"id:       {record.id} (version {record.version})")
    facts = [
        ("phase", lineage.phase.value if lineage.phase else None),
        ("provider", f"{lineage.provider}/{lineage.model}" if lineage.provider else None),
        ("persona", lineage.persona.value if lineage.persona else None),
        ("target", lineage.target_model),
        ("parent", lineage.parent_id),
        ("tags", ", ".join(record.tags) or None),
        ("rating", f"{record.mean_rating:.1f} ({record.rating_count})" if record.mean_rating is not None else None),
        ("created", record.created_at.isoformat(timespec="seconds")),
    ]
    for name, value in facts:
        if value:
            say(f"{name + ':':<9} {value}")
    if record.input:
        say(f"input:    {record.input}")
    say()
    say(record.content)
    for version in reply.history:
        say()
        say(f"-- version {version.version} ({version.updated_at.isoformat(timespec='seconds')})")
        say(indent(version.content))


async def run(args: argparse.Namespace, client: CliClient) -> int:
    request = request_from_flags(GetRequest, {"id": args.id, "include_history": args.history}, {"id": "ID"})
    reply = await client.bus.request(STORAGE_GET, request, timeout=args.timeout)
    if wants_json(args):
        print_json(reply)
    else:
        render_prompt(reply)
    return EXIT_OK
