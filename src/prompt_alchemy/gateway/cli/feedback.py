"""``prompt-alchemy feedback ID --rating N``: record how good a prompt was, durably."""

from __future__ import annotations

import argparse
from typing import Any

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_OK, guarded
from prompt_alchemy.gateway.cli.ids import full_id
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import print_json, say
from prompt_alchemy.gateway.feedback import submit_feedback
from prompt_alchemy.schemas.learning import FeedbackEvent

__all__ = ["CLI_ORIGIN", "register", "run"]

CLI_ORIGIN = "cli"  # the local operator: one origin for learning's vote counting

FLAGS = {
    "prompt_id": "ID",
    "rating": "--rating",
    "effectiveness": "--effectiveness",
    "helpful": "--helpful/--not-helpful",
    "chosen_over": "--chosen-over",
    "comment": "--comment",
    "session_id": "--session-id",
    "event_id": "--event-id",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "feedback",
        parents=[common_options()],
        help="record how good a prompt was",
        description="Needs at least one of --rating, --effectiveness, --helpful/--not-helpful, --chosen-over.",
    )
    parser.add_argument("prompt_id", metavar="ID", help="the prompt id")
    parser.add_argument("--rating", type=int, help="1-5")
    parser.add_argument("--effectiveness", type=float, help="0-1")
    helpful = parser.add_mutually_exclusive_group()
    helpful.add_argument("--helpful", dest="helpful", action="store_true", default=None)
    helpful.add_argument("--not-helpful", dest="helpful", action="store_false")
    parser.add_argument("--chosen-over", metavar="OTHER_ID", help="this prompt was preferred to OTHER_ID")
    parser.add_argument("--comment")
    parser.add_argument("--session-id")
    parser.add_argument("--event-id", help="idempotency key: resending the same one records it once")
    parser.set_defaults(run=guarded(run))


async def run(args: argparse.Namespace, client: CliClient) -> int:
    event = request_from_flags(
        FeedbackEvent,
        {
            "prompt_id": await full_id(client, args.prompt_id, args.timeout),
            "rating": args.rating,
            "effectiveness": args.effectiveness,
            "helpful": args.helpful,
            "chosen_over": await full_id(client, args.chosen_over, args.timeout),
            "comment": args.comment,
            "session_id": args.session_id,
            "event_id": args.event_id,
            "source": "cli",
            "origin": CLI_ORIGIN,
        },
        FLAGS,
    )
    accepted = await submit_feedback(client.bus, client.feedback, event)
    if wants_json(args):
        print_json(accepted)
    elif accepted.duplicate:
        say(f"feedback {accepted.event_id} was already recorded")
    else:
        say(f"feedback recorded: event {accepted.event_id} (sequence {accepted.sequence})")
    return EXIT_OK
