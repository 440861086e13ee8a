"""``prompt-alchemy health``: every service's state, from discovery and its own health check."""

from __future__ import annotations

import argparse
from typing import Any

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_FAILURE, EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import comma_list, common_options, wants_json
from prompt_alchemy.gateway.cli.output import print_json, say
from prompt_alchemy.gateway.health import DEFAULT_SERVICES, GatewayHealth, check_health

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "health", parents=[common_options()], help="are the services running? (exit code 1 if not)"
    )
    parser.add_argument(
        "--services",
        type=comma_list,
        default=list(DEFAULT_SERVICES),
        help=f"the services that must answer (default {','.join(DEFAULT_SERVICES)})",
    )
    parser.set_defaults(run=guarded(run))


def _render(report: GatewayHealth) -> None:
    say(f"status: {report.status}")
    for service in report.services:
        version = f" {service.version}" if service.version else ""
        instances = f", {len(service.instances)} instance{'s' if len(service.instances) != 1 else ''}"
        say(f"  {service.name}{version}: {service.status}{instances if service.instances else ''}")
        for name, check in service.checks.items():
            say(f"      {name}: {'ok' if check.ok else 'failing'}{' - ' + check.message if check.message else ''}")
        if service.message and service.status != "ok":
            say(f"      {service.message}")
    if report.missing:
        say(f"missing: {', '.join(report.missing)}")
    if report.instances:
        say("instances:")
    for instance in report.instances:
        say(f"  {instance.service} {instance.version} {instance.id} (since {instance.started})")
        for endpoint in instance.endpoints:
            failed = f", last error {endpoint.last_error}" if endpoint.errors and endpoint.last_error else ""
            say(
                f"      {endpoint.name:<16} {endpoint.requests:>6} requests {endpoint.errors:>4} errors"
                f"  avg {endpoint.average_ms:.2f} ms{failed}"
            )


async def run(args: argparse.Namespace, client: CliClient) -> int:
    report = await check_health(client.bus, tuple(args.services), timeout=min(args.timeout, 5.0))
    if wants_json(args):
        print_json(report)
    else:
        _render(report)
    return EXIT_OK if report.serving else EXIT_FAILURE
