"""``prompt-alchemy optimize PROMPT`` (or ``--id ID``): judge, critique and rewrite a prompt."""

from __future__ import annotations

import argparse
from typing import Any

from prompt_alchemy.errors import BadRequest
from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_OK, guarded
from prompt_alchemy.gateway.cli.generate import read_text_argument
from prompt_alchemy.gateway.cli.ids import full_id
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import indent, print_json, say
from prompt_alchemy.schemas.common import Persona
from prompt_alchemy.schemas.engine import OptimizeReply, OptimizeRequest
from prompt_alchemy.schemas.registry import ENGINE_OPTIMIZE

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("optimize", parents=[common_options()], help="improve a prompt")
    parser.add_argument("prompt", nargs="*", help="the prompt text ('-' reads stdin); or give --id")
    parser.add_argument("--id", dest="prompt_id", help="optimise a stored prompt")
    parser.add_argument("--task", help="what the prompt is for")
    parser.add_argument("--persona", choices=[persona.value for persona in Persona])
    parser.add_argument("--target-model")
    parser.add_argument("--target-score", type=float)
    parser.add_argument("--max-iterations", type=int)
    parser.add_argument("--provider")
    parser.add_argument("--model")
    parser.add_argument("--no-save", dest="save", action="store_false", default=None)
    parser.set_defaults(run=guarded(run))


def _render(reply: OptimizeReply) -> None:
    for iteration in reply.iterations:
        say(f"== iteration {iteration.iteration}: score {iteration.score:.2f}")
        if iteration.reasoning:
            say(indent(iteration.reasoning))
        for improvement in iteration.improvements:
            say(f"    + {improvement}")
    say()
    verdict = "improved" if reply.improved else "not improved"
    stored = f", stored as {reply.stored_id}" if reply.stored_id else ""
    say(f"== best ({verdict}, score {reply.best.score:.2f}{stored})")
    say(reply.best.prompt)


async def run(args: argparse.Namespace, client: CliClient) -> int:
    text = read_text_argument(args.prompt) if args.prompt else None
    request = request_from_flags(
        OptimizeRequest,
        {
            "prompt": text,
            "prompt_id": await full_id(client, args.prompt_id, args.timeout),
            "task": args.task,
            "persona": args.persona,
            "target_model": args.target_model,
            "target_score": args.target_score,
            "max_iterations": args.max_iterations,
            "provider": args.provider,
            "model": args.model,
            "save": args.save,
        },
        {"prompt": "PROMPT", "prompt_id": "--id"},
    )
    if request.prompt is None and request.prompt_id is None:
        raise BadRequest("give the prompt text or --id of a stored prompt")
    reply = await client.bus.request(ENGINE_OPTIMIZE, request, timeout=args.timeout)
    if wants_json(args):
        print_json(reply)
    else:
        _render(reply)
    return EXIT_OK
