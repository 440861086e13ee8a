"""Exit codes and the one place a command's failure becomes ``error: <message>`` on stderr.

0 success; 2 a usage error (bad flag values, invalid input files, input a service rejected as
invalid); 1 any other failure (a service not running or too slow, an unknown id, a provider
failing). Never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Awaitable, Callable

from prompt_alchemy.errors import BadRequest, Unprocessable
from prompt_alchemy.gateway.cli.client import CliClient
from prompt_alchemy.gateway.failures import as_service_error

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "Command", "exit_code_for", "guarded", "report_error"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

Command = Callable[[argparse.Namespace, CliClient], Awaitable[int]]


def exit_code_for(error: BaseException) -> int:
    return EXIT_USAGE if isinstance(as_service_error(error), BadRequest | Unprocessable) else EXIT_FAILURE


def report_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def guarded(run: Command) -> Command:
    """The command with every failure turned into a message and an exit code."""

    @functools.wraps(run)
    async def guarded_run(args: argparse.Namespace, client: CliClient) -> int:
        try:
            return await run(args, client)
        except BrokenPipeError:
            raise  # the reader went away (``| head``): the entry point exits quietly
        except Exception as error:
            report_error(as_service_error(error).message)
            return exit_code_for(error)

    return guarded_run
