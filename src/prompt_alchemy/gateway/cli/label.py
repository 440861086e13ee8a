"""``prompt-alchemy label set NAME LABEL ID`` moves a label; ``label history NAME`` shows the moves.

``ID`` is a stored prompt id (named on the way if it is not a version of NAME yet) or ``vN`` for
version N of the name. Moves made here are recorded as made by ``cli``.
"""

from __future__ import annotations

import argparse
from typing import Any

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import print_json, say
from prompt_alchemy.schemas.labels import LabelHistoryRequest, LabelMoved, LabelSetRequest, LabelVariant
from prompt_alchemy.schemas.registry import STORAGE_LABEL_HISTORY, STORAGE_LABEL_SET

__all__ = ["register", "run_history", "run_set"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("label", help="move a label of a named prompt, or show its history")
    actions = parser.add_subparsers(dest="label_action", required=True, metavar="ACTION")
    move = actions.add_parser("set", parents=[common_options()], help="point NAME's LABEL at a prompt or version")
    move.add_argument("name", help="the prompt's name (a slug, e.g. support-triage)")
    move.add_argument("label", help="the label (a slug, e.g. prod, staging)")
    move.add_argument("id", help="a stored prompt id, or vN for version N of the name")
    move.add_argument("--reason", help="why (kept in the history)")
    move.set_defaults(run=guarded(run_set))
    history = actions.add_parser("history", parents=[common_options()], help="every move of NAME's labels")
    history.add_argument("name")
    history.add_argument("--label", help="only this label's moves")
    history.add_argument("--limit", type=int, default=50)
    history.set_defaults(run=guarded(run_history))


def _target(raw: str) -> dict[str, Any]:
    if raw[:1] == "v" and raw[1:].isdigit():
        return {"version": int(raw[1:])}
    return {"prompt_id": raw}


def _arms(variants: list[LabelVariant]) -> str:
    if not variants:
        return "(unset)"
    if len(variants) == 1:
        return f"v{variants[0].version}"
    return ", ".join(f"v{variant.version} {variant.weight}" for variant in variants)


def describe(move: LabelMoved) -> str:
    why = f" ({move.reason})" if move.reason else ""
    return (
        f"{move.at.isoformat(timespec='seconds')} {move.label}: {_arms(move.from_variants)} -> "
        f"{_arms(move.to_variants)} by {move.actor}{why}"
    )


async def run_set(args: argparse.Namespace, client: CliClient) -> int:
    values = {"name": args.name, "label": args.label, "reason": args.reason, "actor": "cli", **_target(args.id)}
    request = request_from_flags(LabelSetRequest, values, {"name": "NAME", "label": "LABEL", "prompt_id": "ID"})
    reply = await client.bus.request(STORAGE_LABEL_SET, request, timeout=args.timeout)
    if wants_json(args):
        print_json(reply)
    elif reply.move is None:
        say(f"{args.name}/{args.label} already points there: nothing moved")
    else:
        say(describe(reply.move))
    return EXIT_OK


async def run_history(args: argparse.Namespace, client: CliClient) -> int:
    request = request_from_flags(
        LabelHistoryRequest, {"name": args.name, "label": args.label, "limit": args.limit}, {"name": "NAME"}
    )
    reply = await client.bus.request(STORAGE_LABEL_HISTORY, request, timeout=args.timeout)
    if wants_json(args):
        print_json(reply)
    else:
        for move in reply.moves:
            say(describe(move))
    return EXIT_OK
