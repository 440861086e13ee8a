"""``prompt-alchemy batch FILE``: generate for every idea in a JSON Lines or CSV file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prompt_alchemy.gateway.cli.batch_input import read_batch_file
from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_FAILURE, EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import first_line, note, print_json, say
from prompt_alchemy.schemas.engine import BatchItemResult, BatchReply, BatchRequest, GenerateRequest
from prompt_alchemy.schemas.registry import ENGINE_BATCH

__all__ = ["register", "run"]

CHUNK = 100  # BatchRequest's item limit


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "batch",
        parents=[common_options()],
        help="generate for many ideas from a file",
        description="FILE is JSON Lines (a generate request or an idea string per line) or CSV (header row "
        "naming request fields, 'input' required). Exit code 1 if any item failed.",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--concurrency", type=int, help="items generated at once (1-16)")
    parser.add_argument(
        "--candidates", action="store_true", help="list every candidate of each item, not only the selected ones"
    )
    parser.set_defaults(run=guarded(run))


async def _run_chunks(client: CliClient, items: list[GenerateRequest], args: argparse.Namespace) -> BatchReply:
    results: list[BatchItemResult] = []
    for start in range(0, len(items), CHUNK):
        request = request_from_flags(
            BatchRequest,
            {"items": items[start : start + CHUNK], "concurrency": args.concurrency, "candidates": args.candidates},
        )
        reply = await client.bus.request(ENGINE_BATCH, request, timeout=args.timeout)
        results.extend(result.model_copy(update={"index": result.index + start}) for result in reply.results)
    failed = sum(1 for result in results if not result.ok)
    return BatchReply(results=results, succeeded=len(results) - failed, failed=failed)


async def run(args: argparse.Namespace, client: CliClient) -> int:
    items = read_batch_file(args.file)
    reply = await _run_chunks(client, items, args)
    if wants_json(args):
        print_json(reply)
    else:
        for result in reply.results:
            if result.ok and result.reply is not None and result.reply.best is not None:
                best = result.reply.best
                say(f"#{result.index + 1} ok: {best.id or 'unsaved'}  {first_line(best.content)}")
            elif result.ok:
                say(f"#{result.index + 1} ok: no best prompt")
            else:
                say(f"#{result.index + 1} failed: {result.error.message if result.error else 'unknown error'}")
        note(f"{reply.succeeded} succeeded, {reply.failed} failed")
    return EXIT_FAILURE if reply.failed else EXIT_OK
