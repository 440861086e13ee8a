"""The ``prompt-alchemy`` command: parses flags, builds the runtime, hands over to a command.

Client commands (generate, search, feedback, ...) live in ``gateway.cli`` and only talk to a
bus; this module decides which bus: an embedded one with every worker in this process (the
default, no server needed) or a NATS cluster (``--nats URL``). Process commands (serve, worker,
mcp) and documents (schema, config) are defined here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prompt_alchemy import __version__
from prompt_alchemy.errors import AlchemyError, BusError, ConfigError, ServiceError
from prompt_alchemy.gateway.cli import register_commands
from prompt_alchemy.runtime.client import open_client
from prompt_alchemy.runtime.logs import configure as configure_logging
from prompt_alchemy.runtime.settings import ServiceType, Settings
from prompt_alchemy.schemas.documents import asyncapi_document, json_schema_document

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prompt-alchemy",
        description="Turn a rough idea into production-ready LLM prompts (prima-materia -> solutio -> coagulatio).",
    )
    parser.add_argument("--version", action="version", version=f"prompt-alchemy {__version__}")
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file (env vars win)")
    parser.add_argument("--data-dir", type=Path, default=None, help="embedded data dir (default: XDG data home)")
    parser.add_argument("--nats", metavar="URL", default=None, help="talk to a running cluster instead of embedded")
    parser.add_argument("--redis", metavar="URL", default=None, help="Redis for storage/learning state (workers)")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_commands(commands)
    _register_process_commands(commands)
    _register_document_commands(commands)
    return parser


def _register_process_commands(commands: Any) -> None:
    from prompt_alchemy.runtime import processes

    serve = commands.add_parser("serve", help="run the service: --all in one process, or one front door on NATS")
    serve.add_argument("role", nargs="?", choices=["api", "mcp"], help="microservice front door to run")
    serve.add_argument("--all", action="store_true", help="monolithic: every worker, HTTP and MCP in one process")
    serve.add_argument("--http-port", type=int, default=None)
    serve.add_argument("--mcp-port", type=int, default=None)
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.set_defaults(handler=processes.run_serve)

    worker = commands.add_parser("worker", help="run one worker on NATS (microservice mode)")
    worker.add_argument("kind", choices=[t.value for t in ServiceType if t not in (ServiceType.API, ServiceType.MCP)])
    worker.add_argument("--metrics-port", type=int, default=None, help="serve /metrics on this port")
    worker.set_defaults(handler=processes.run_worker)

    mcp = commands.add_parser("mcp", help="MCP server on stdio (embedded unless --nats), for Claude Desktop / IDEs")
    mcp.add_argument("--http", action="store_true", help="serve streamable HTTP on --mcp-port instead of stdio")
    mcp.add_argument("--mcp-port", type=int, default=None)
    mcp.set_defaults(handler=processes.run_mcp)


def _register_document_commands(commands: Any) -> None:
    schema = commands.add_parser("schema", help="print a machine-readable document of every contract")
    schema.add_argument("format", choices=["asyncapi", "jsonschema", "openapi"])
    schema.set_defaults(handler=_print_schema)

    config = commands.add_parser("config", help="settings")
    config.add_argument("action", choices=["show"])
    config.set_defaults(handler=_show_config)


def _print_schema(args: argparse.Namespace, _settings: Settings) -> int:
    document: dict[str, Any]
    if args.format == "asyncapi":
        document = asyncapi_document()
    elif args.format == "jsonschema":
        document = json_schema_document()
    else:
        from prompt_alchemy.gateway.http import openapi_document

        document = openapi_document()
    print(json.dumps(document, indent=2))
    return EXIT_OK


def _show_config(_args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(settings.masked(), indent=2))
    return EXIT_OK


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"data_dir": args.data_dir, "nats_url": args.nats, "redis_url": args.redis}
    if args.debug:
        overrides["debug_mode"] = True
    for flag, setting in (("http_port", "http_port"), ("mcp_port", "mcp_port"), ("metrics_port", "metrics_port")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[setting] = value
    host = getattr(args, "host", None)
    if host:
        overrides["http_host"] = host
        overrides["mcp_host"] = host
    return Settings.load(config_file=args.config, overrides=overrides)


async def _run_client_command(args: argparse.Namespace, settings: Settings) -> int:
    async with open_client(settings) as client:
        result: int = await args.run(args, client)
        return result


def _service_type_command(service_type: ServiceType) -> list[str]:
    """``SERVICE_TYPE=storage prompt-alchemy`` runs what ``prompt-alchemy worker storage`` runs."""
    if service_type in (ServiceType.API, ServiceType.MCP):
        return ["serve", service_type.value]
    return ["worker", service_type.value]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
        if args.command is None:
            if settings.service_type is None:
                parser.error("a COMMAND is required (or SERVICE_TYPE in the environment)")
            args = parser.parse_args(_service_type_command(settings.service_type))
        configure_logging(settings, quiet=not hasattr(args, "handler"))
        if hasattr(args, "handler"):
            result: int = args.handler(args, settings)
            return result
        return asyncio.run(_run_client_command(args, settings))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return EXIT_FAILURE
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ServiceError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return EXIT_FAILURE
    except (BusError, AlchemyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
