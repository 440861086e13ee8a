"""``prompt-alchemy providers``: the providers and their availability; ``--test NAME`` calls one."""

from __future__ import annotations

import argparse
from typing import Any

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.exits import EXIT_FAILURE, EXIT_OK, guarded
from prompt_alchemy.gateway.cli.options import common_options, request_from_flags, wants_json
from prompt_alchemy.gateway.cli.output import print_json, say
from prompt_alchemy.schemas.providers import ProvidersListReply, ProvidersListRequest, ProviderTestRequest
from prompt_alchemy.schemas.registry import PROVIDERS_LIST, PROVIDERS_TEST

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("providers", parents=[common_options()], help="list or test LLM providers")
    parser.add_argument("--test", metavar="NAME", help="make a real minimal call to this provider")
    parser.add_argument("--model", help="the model to test with (with --test)")
    parser.set_defaults(run=guarded(run))


def _render(reply: ProvidersListReply) -> None:
    for provider in reply.providers:
        state = "available" if provider.available else f"unavailable ({provider.reason or 'no reason given'})"
        default = " [default]" if provider.name == reply.default else ""
        model = f", model {provider.default_model}" if provider.default_model else ""
        circuit = f", circuit {provider.circuit.value}" if provider.circuit.value != "closed" else ""
        offline = ", offline" if provider.offline else ""
        say(f"{provider.name}{default}: {provider.kind}, {state}{model}{circuit}{offline}")
    if reply.fallback_order:
        say(f"fallback order: {' -> '.join(reply.fallback_order)}")


async def run(args: argparse.Namespace, client: CliClient) -> int:
    if args.test is None:
        if args.model is not None:
            request_from_flags(ProviderTestRequest, {"name": None, "model": args.model}, {"name": "--test"})
        listing = await client.bus.request(PROVIDERS_LIST, ProvidersListRequest(), timeout=args.timeout)
        if wants_json(args):
            print_json(listing)
        else:
            _render(listing)
        return EXIT_OK
    request = request_from_flags(ProviderTestRequest, {"name": args.test, "model": args.model}, {"name": "--test"})
    result = await client.bus.request(PROVIDERS_TEST, request, timeout=args.timeout)
    if wants_json(args):
        print_json(result)
    else:
        verdict = "ok" if result.ok else "failed"
        model = f" ({result.model})" if result.model else ""
        detail = f": {result.message}" if result.message else ""
        say(f"{result.name}{model}: {verdict} in {result.latency_ms:.0f} ms{detail}")
    return EXIT_OK if result.ok else EXIT_FAILURE
