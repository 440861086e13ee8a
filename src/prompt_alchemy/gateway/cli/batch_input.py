"""Batch input files: JSON Lines (one generate request, or just an idea string, per line) or CSV.

A CSV has a header row naming ``GenerateRequest`` fields (``input`` required); list fields
(``phases``, ``tags``) hold values separated by ``;`` or ``,``; empty cells are left out. Every
item is validated up front, so a bad line is reported by number before anything runs.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pydantic

from prompt_alchemy.bus.codec import field_errors
from prompt_alchemy.errors import BadRequest
from prompt_alchemy.schemas.engine import GenerateRequest

__all__ = ["read_batch_file"]

_LIST_FIELDS = frozenset({"phases", "tags"})


def _validated(item: Any, where: str) -> GenerateRequest:
    if isinstance(item, str):
        item = {"input": item}
    if not isinstance(item, dict):
        raise BadRequest(f"{where}: expected a JSON object or string, got {type(item).__name__}")
    try:
        return GenerateRequest.model_validate_json(json.dumps(item))
    except pydantic.ValidationError as error:
        problems = "; ".join(f"{e['field']}: {e['message']}" for e in field_errors(error))
        raise BadRequest(f"{where}: {problems}") from error


def _json_lines(text: str) -> list[GenerateRequest]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as error:
            raise BadRequest(f"line {number}: not JSON ({error})") from error
        items.append(_validated(item, f"line {number}"))
    return items


def _csv_rows(text: str) -> list[GenerateRequest]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "input" not in reader.fieldnames:
        raise BadRequest("the CSV needs a header row with an 'input' column")
    items = []
    for number, row in enumerate(reader, start=2):
        item: dict[str, Any] = {}
        for name, value in row.items():
            if name is None or value is None or not value.strip():
                continue
            cleaned = value.strip()
            if name in _LIST_FIELDS:
                item[name] = [part.strip() for part in cleaned.replace(";", ",").split(",") if part.strip()]
            else:
                item[name] = cleaned
        items.append(_validated(item, f"row {number}"))
    return items


def read_batch_file(path: Path) -> list[GenerateRequest]:
    """The requests in ``path`` (``.csv`` by extension, JSON Lines otherwise); BadRequest if unusable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise BadRequest(f"cannot read {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise BadRequest(f"{path} is not UTF-8 text") from error
    items = _csv_rows(text) if path.suffix.lower() == ".csv" else _json_lines(text)
    if not items:
        raise BadRequest(f"{path} holds no requests")
    return items
