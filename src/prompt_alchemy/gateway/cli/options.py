"""Flags every client command shares, and turning flag values into a validated request model.

``--json`` is declared with a suppressed default, so it never overwrites a global ``--json``
the top-level parser may define. A model that rejects a flag's value is a usage error naming
the flag (``--count: Input should be less than or equal to 10``), exit code 2.
"""

from __future__ import annotations

import argparse
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel

from prompt_alchemy.bus.codec import field_errors
from prompt_alchemy.errors import BadRequest

__all__ = ["DEFAULT_TIMEOUT_S", "comma_list", "common_options", "request_from_flags", "wants_json"]

DEFAULT_TIMEOUT_S = 300.0

ModelT = TypeVar("ModelT", bound=BaseModel)


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the reply as JSON (the bus model)"
    )
    parent.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS", help="give up after this long"
    )
    return parent


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def comma_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def request_from_flags(model: type[ModelT], values: dict[str, Any], flags: dict[str, str] | None = None) -> ModelT:
    """Validate the given values (None: not given) into ``model``; a BadRequest naming flags otherwise."""
    given = {name: value for name, value in values.items() if value is not None}
    try:
        return model.model_validate(given)
    except pydantic.ValidationError as error:
        names = flags or {}
        problems = []
        for item in field_errors(error):
            head = item["field"].split(".")[0]
            if head == "(body)":  # a rule across fields: the message says which
                problems.append(item["message"].removeprefix("Value error, "))
                continue
            flag = names.get(head, "--" + head.replace("_", "-"))
            problems.append(f"{flag}: {item['message']}")
        raise BadRequest("; ".join(problems), details={"errors": field_errors(error)}) from error
