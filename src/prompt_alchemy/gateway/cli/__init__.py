"""CLI client commands: argparse parsers and async runners that only talk to the bus."""

from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.cli.commands import register_commands
from prompt_alchemy.gateway.cli.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "CliClient", "register_commands"]
