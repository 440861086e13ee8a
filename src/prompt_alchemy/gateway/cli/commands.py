"""``register_commands``: every client command on the runtime's subparsers.

Each command module has ``register(subparsers)``, which sets ``args.run``; the runtime builds
the top-level parser (global flags) and then calls ``await args.run(args, client)``.
"""

from __future__ import annotations

from typing import Any

from prompt_alchemy.gateway.cli import (
    analyze,
    batch,
    export_prompts,
    feedback,
    generate,
    get,
    health,
    import_prompts,
    label,
    optimize,
    providers,
    registry,
    search,
)

__all__ = ["COMMANDS", "register_commands"]

COMMANDS = (
    generate, analyze, search, get, optimize, batch, feedback, providers, health, export_prompts, import_prompts,
    label, registry,
)  # fmt: skip


def register_commands(subparsers: Any) -> None:
    """Add generate, analyze, search, get, optimize, batch, feedback, providers, health, export, import, label,
    registry."""
    for command in COMMANDS:
        command.register(subparsers)
