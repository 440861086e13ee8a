"""``prompt-alchemy registry get NAME --label prod``: the prompt a label serves (``--key`` for a split)."""

from __future__ import annotations

import argparse
from typing import Any

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import print_json, say
from prompt_alchemy.gateway.label_cache import serve_uncached
from prompt_alchemy.schemas.labels import ServeRequest

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("registry", help="named prompts: serve one by label")
    actions = parser.add_subparsers(dest="registry_action", required=True, metavar="ACTION")
    get = actions.add_parser("get", parents=[common_options()], help="the prompt NAME's label serves")
    get.add_argument("name", help="the prompt's name")
    get.add_argument("--label", default="prod", help="the label (default prod)")
    get.add_argument("--key", help="a stable caller id: the same key always gets the same version of a split")
    get.set_defaults(run=guarded(run))


async def run(args: argparse.Namespace, client: CliClient) -> int:
    request = request_from_flags(
        ServeRequest, {"name": args.name, "label": args.label, "key": args.key}, {"name": "NAME", "label": "--label"}
    )
    served = await serve_uncached(client.bus, request, timeout=args.timeout)
    if wants_json(args):
        print_json(served)
    else:
        split = f", split weight {served.weight}" if served.split else ""
        say(f"{served.name}/{served.label}: version {served.version} (prompt {served.prompt_id}{split})")
        say()
        say(served.content)
    return EXIT_OK
