"""``prompt-alchemy export [FILE]``: every stored prompt as JSON Lines (stdout without FILE)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from prompt_alchemy.errors import BadRequest
from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags
from prompt_alchemy.gateway.cli.output import note
from prompt_alchemy.schemas.registry import STORAGE_EXPORT
from prompt_alchemy.schemas.storage import ExportRequest, SearchFilters

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("export", parents=[common_options()], help="write every stored prompt as JSON Lines")
    parser.add_argument("file", nargs="?", type=Path, help="output file (default: stdout)")
    parser.add_argument("--no-embeddings", dest="include_embeddings", action="store_false", default=None)
    parser.add_argument("--tag", dest="tags", action="append", help="only prompts with every tag")
    parser.set_defaults(run=guarded(run))


async def _export(client: CliClient, args: argparse.Namespace, out: TextIO) -> int:
    filters = request_from_flags(SearchFilters, {"tags": args.tags}, {"tags": "--tag"})
    cursor: str | None = None
    written = 0
    while True:
        request = request_from_flags(
            ExportRequest, {"cursor": cursor, "include_embeddings": args.include_embeddings, "filters": filters}
        )
        page = await client.bus.request(STORAGE_EXPORT, request, timeout=args.timeout)
        for line in page.lines:
            out.write(line.rstrip("\n") + "\n")
        written += len(page.lines)
        cursor = page.next_cursor
        if cursor is None:
            return written


async def run(args: argparse.Namespace, client: CliClient) -> int:
    if args.file is None or str(args.file) == "-":
        written = await _export(client, args, sys.stdout)
        sys.stdout.flush()
        note(f"exported {written} prompts")
        return EXIT_OK
    try:
        handle = args.file.open("w", encoding="utf-8")
    except OSError as error:
        raise BadRequest(f"cannot write {args.file}: {error.strerror or error}") from error
    with handle:
        written = await _export(client, args, handle)
    note(f"exported {written} prompts to {args.file}")
    return EXIT_OK
