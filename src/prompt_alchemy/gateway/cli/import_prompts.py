"""``prompt-alchemy import FILE``: load JSON Lines written by ``export`` (duplicates are skipped)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prompt_alchemy.errors import BadRequest
from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_FAILURE, EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import common_options, wants_json
from prompt_alchemy.gateway.cli.output import note, print_json, say
from prompt_alchemy.schemas.registry import STORAGE_IMPORT
from prompt_alchemy.schemas.storage import ImportLineError, ImportReply, ImportRequest

__all__ = ["register", "run"]

MAX_LINES = 1000  # ImportRequest's limit
CHUNK_BYTES_FRACTION = 0.5  # of the bus payload limit: room for JSON escaping of the lines


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("import", parents=[common_options()], help="load prompts from JSON Lines")
    parser.add_argument("file", type=Path, help="a JSON Lines file ('-' reads stdin)")
    parser.set_defaults(run=guarded(run))


def _read_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadRequest(f"cannot read {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise BadRequest(f"{path} is not UTF-8 text") from error
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _chunks(lines: list[tuple[int, str]], max_bytes: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    size = 0
    for number, line in lines:
        line_size = len(line.encode())
        if chunk and (len(chunk) >= MAX_LINES or size + line_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append((number, line))
        size += line_size
    if chunk:
        yield chunk


async def run(args: argparse.Namespace, client: CliClient) -> int:
    lines = _read_lines(args.file)
    if not lines:
        raise BadRequest(f"{args.file} holds no lines to import")
    imported = duplicates = 0
    errors: list[ImportLineError] = []
    for chunk in _chunks(lines, int(client.bus.max_payload * CHUNK_BYTES_FRACTION)):
        request = ImportRequest(lines=[line for _, line in chunk])
        reply = await client.bus.request(STORAGE_IMPORT, request, timeout=args.timeout)
        imported += reply.imported
        duplicates += reply.duplicates
        file_lines = [number for number, _ in chunk]
        errors.extend(
            error.model_copy(
                update={"line": file_lines[error.line - 1] if 0 < error.line <= len(chunk) else error.line}
            )
            for error in reply.errors
        )
    total = ImportReply(imported=imported, duplicates=duplicates, errors=errors)
    if wants_json(args):
        print_json(total)
    else:
        say(f"imported {total.imported}, duplicates {total.duplicates}, errors {len(total.errors)}")
        for error in total.errors:
            note(f"line {error.line}: {error.message}")
    return EXIT_FAILURE if total.errors else EXIT_OK
