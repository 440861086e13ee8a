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
from typing import Any, NoReturn

from prompt_alchemy import __version__
from prompt_alchemy.errors import AlchemyError, BusError, ConfigError, ServiceError
from prompt_alchemy.gateway.cli import register_commands
from prompt_alchemy.redaction import mask_urls_in
from prompt_alchemy.runtime.client import open_client
from prompt_alchemy.runtime.logs import configure as configure_logging
from prompt_alchemy.runtime.provider_view import providers_view
from prompt_alchemy.runtime.settings import ServiceType, Settings
from prompt_alchemy.schemas.documents import asyncapi_document, json_schema_document

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _global_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """Options every command takes, before or after its name (``serve --all --data-dir D``).

    On the subcommands they default to SUPPRESS, so leaving them out keeps the top-level value.
    """
    parser.add_argument("--config", type=Path, default=default, help="TOML settings file (env vars win)")
    parser.add_argument("--data-dir", type=Path, default=default, help="embedded data dir (default: XDG data home)")
    parser.add_argument("--nats", metavar="URL", default=default, help="NATS server: microservice mode / a cluster")
    parser.add_argument("--redis", metavar="URL", default=default, help="Redis for storage and learning state")
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS if default is argparse.SUPPRESS else False,
        help="debug logging (DEBUG_MODE)",
    )  # fmt: skip


def _feature_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    """``--api/--no-api`` and friends: override ENABLE_API, ENABLE_MCP, ENABLE_LEARNING, ENABLE_METRICS."""
    for name in names:
        parser.add_argument(
            f"--{name}", action=argparse.BooleanOptionalAction, default=None, help=f"ENABLE_{name.upper()}"
        )


class _OneLineErrors(argparse.ArgumentParser):
    """Usage errors as the one documented ``error:`` line (exit 2), not a usage block; ``-h`` shows usage."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("prompt-alchemy").strip()
        where = f" (prompt-alchemy {command} -h for help)" if command else " (prompt-alchemy -h for help)"
        self.exit(EXIT_USAGE, f"error: {message}{where}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog="prompt-alchemy",
        description="Turn a rough idea into production-ready LLM prompts (prima-materia -> solutio -> coagulatio).",
    )
    parser.add_argument("--version", action="version", version=f"prompt-alchemy {__version__}")
    _global_options(parser, default=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_commands(commands)
    _register_process_commands(commands)
    _register_document_commands(commands)
    for subparser in commands.choices.values():
        _global_options(subparser, default=argparse.SUPPRESS)
    return parser


def _process_handler(name: str) -> Any:
    """A process command's handler, imported when it runs: serving pulls in uvicorn and the MCP
    SDK, which a client command such as ``generate`` should not pay for at start-up."""

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        from prompt_alchemy.runtime import processes

        result: int = getattr(processes, name)(args, settings)
        return result

    return handler


INSECURE_HELP = "serve a non-loopback --host without ALCHEMY_API_KEYS: anyone who reaches the port may use it"


def _worker_kind(raw: str) -> str:
    try:
        kind = ServiceType.parse(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    if kind in (ServiceType.API, ServiceType.MCP):
        raise argparse.ArgumentTypeError(f"{raw!r} is a front door, not a worker: use `serve {kind.value}`")
    return kind.value


def _register_process_commands(commands: Any) -> None:
    from prompt_alchemy.runtime import cluster_command

    serve = commands.add_parser("serve", help="run the service: --all in one process, or one front door on NATS")
    serve.add_argument("role", nargs="?", choices=["api", "mcp"], help="microservice front door to run")
    serve.add_argument("--all", action="store_true", help="monolithic: every worker, HTTP and MCP in one process")
    serve.add_argument("--http-port", type=int, default=None, help="HTTP API port (0: any free port)")
    serve.add_argument("--mcp-port", type=int, default=None, help="MCP port (0: any free port)")
    serve.add_argument("--metrics-port", type=int, default=None, help="/metrics port when the HTTP API is off")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--insecure-no-auth", action="store_true", default=None, help=INSECURE_HELP)
    _feature_flags(serve, "api", "mcp", "learning", "metrics")
    serve.set_defaults(handler=_process_handler("run_serve"))

    worker = commands.add_parser("worker", help="run one worker on NATS (microservice mode)")
    worker.add_argument(
        "kind", type=_worker_kind, metavar="{generation,providers,storage,learning}",
        help="the worker to run (the seed's names work too: engine, provider-manager, storage-layer, learning-engine)",
    )  # fmt: skip
    worker.add_argument("--metrics-port", type=int, default=None, help="serve /metrics on this port (0: any)")
    worker.add_argument("--host", default=None, help="bind address of /metrics (default 127.0.0.1)")
    _feature_flags(worker, "learning", "metrics")
    worker.set_defaults(handler=_process_handler("run_worker"))

    mcp = commands.add_parser("mcp", help="MCP server on stdio (embedded unless --nats), for Claude Desktop / IDEs")
    mcp.add_argument("--http", action="store_true", help="serve streamable HTTP on --mcp-port instead of stdio")
    mcp.add_argument("--mcp-port", type=int, default=None)
    mcp.add_argument("--insecure-no-auth", action="store_true", default=None, help=INSECURE_HELP)
    _feature_flags(mcp, "learning")
    mcp.set_defaults(handler=_process_handler("run_mcp"))

    cluster_command.register(commands)


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
    """Every effective setting, the providers' included; keys show as a count or set/unset, never their value."""
    shown = settings.masked()
    shown["providers"] = {**shown["providers"], **providers_view(settings.providers_config())}
    print(json.dumps(shown, indent=2))
    return EXIT_OK


_FLAG_SETTINGS = {
    "http_port": "http_port",
    "mcp_port": "mcp_port",
    "metrics_port": "metrics_port",
    "api": "enable_api",
    "mcp": "enable_mcp",
    "learning": "enable_learning",
    "metrics": "enable_metrics",
    "insecure_no_auth": "insecure_no_auth",
}


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Command-line flags win over the environment, which wins over the config file."""
    overrides: dict[str, Any] = {"data_dir": args.data_dir, "nats_url": args.nats, "redis_url": args.redis}
    if args.debug:
        overrides["debug_mode"] = True
    for flag, setting in _FLAG_SETTINGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[setting] = value
    host = getattr(args, "host", None)
    if host:
        overrides.update(http_host=host, mcp_host=host, metrics_host=host)
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
    except BrokenPipeError:  # output piped into e.g. `head`, which read what it wanted: not a failure
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return EXIT_OK
    except ConfigError as error:
        print(f"error: {mask_urls_in(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except ServiceError as error:
        print(f"error: {mask_urls_in(error.message)}", file=sys.stderr)
        return EXIT_FAILURE
    except (BusError, AlchemyError) as error:
        print(f"error: {mask_urls_in(str(error))}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
