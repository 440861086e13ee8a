"""One ``prompt-alchemy`` command run as a child OS process, for ``cluster`` and the end-to-end tests.

A long-running command prints one line per thing it opened (``HTTP API on http://...``,
``worker generation serving ...``) on stdout, once it is reachable; ``wait_for`` reads them, so
readiness is observed, never guessed with a sleep. stderr (JSON log lines) goes to a file.
Every wait is bounded, and a child that exits while awaited is an error naming its last log lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.private_files import private_dir, private_file

__all__ = ["ChildProcess", "prompt_alchemy_command"]

STOP_TIMEOUT_S = 30.0


def prompt_alchemy_command() -> list[str]:
    """The ``prompt-alchemy`` entry point of this interpreter's environment."""
    script = Path(sys.executable).parent / "prompt-alchemy"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from prompt_alchemy.runtime.cli import main; sys.exit(main())"]


class ChildProcess:
    """``await ChildProcess(name, args, env=..., log_dir=...).start()``; ``wait_for`` a line; ``terminate``."""

    def __init__(self, name: str, args: Sequence[str], *, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = [*prompt_alchemy_command(), *args]
        self.env = dict(env)
        self.log_dir = log_dir
        self.stderr_path = log_dir / f"{name}.log"
        self.lines: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ConfigError(f"{self.name} is not started")
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    @property
    def started(self) -> bool:
        return self._process is not None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> Self:
        private_dir(self.log_dir)
        with private_file(self.stderr_path).open("ab") as stderr:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=self.env,
                start_new_session=True,  # a terminal's Ctrl-C reaches the supervisor, which stops us in order
            )
        assert self._process.stdout is not None  # asked for with PIPE
        self._reader = asyncio.create_task(self._read(self._process.stdout), name=f"read-{self.name}")
        return self

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        while True:
            raw = await stdout.readline()
            async with self._changed:
                if raw:
                    self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
            if not raw:
                return

    def _find(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        for line in self.lines:
            match = pattern.search(line)
            if match:
                return match
        return None

    def log_tail(self, count: int = 8) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-count:])

    async def wait_for(self, pattern: str | re.Pattern[str], *, timeout: float) -> re.Match[str]:
        """The first stdout line matching ``pattern``, waiting up to ``timeout`` seconds for it."""
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        reader = self._reader

        def settled() -> bool:
            return self._find(compiled) is not None or reader is None or reader.done()

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(settled)
        except TimeoutError:
            raise ConfigError(
                f"{self.name} did not print /{compiled.pattern}/ within {timeout:g}s; it printed {self.lines}\n"
                f"{self.log_tail()}"
            ) from None
        match = self._find(compiled)
        if match is None:
            await self.wait(timeout=STOP_TIMEOUT_S)
            exited = f"{self.name} exited with {self.returncode}"
            raise ConfigError(f"{exited} before printing /{compiled.pattern}/:\n{self.log_tail()}")
        return match

    def send_signal(self, signum: int) -> None:
        if self.running:
            assert self._process is not None
            self._process.send_signal(signum)

    async def wait(self, *, timeout: float = STOP_TIMEOUT_S) -> int:
        """Wait for the exit (and the end of its output); SIGKILL it if ``timeout`` passes first."""
        if self._process is None:
            raise ConfigError(f"{self.name} is not started")
        try:
            async with asyncio.timeout(timeout):
                code = await self._process.wait()
        except TimeoutError:
            self._process.kill()
            code = await self._process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        return code

    async def terminate(self, *, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM (a graceful drain), then the exit code; SIGKILL after ``timeout``."""
        self.send_signal(signal.SIGTERM)
        return await self.wait(timeout=timeout)

    async def kill(self) -> int:
        """SIGKILL: a crash, nothing drained."""
        self.send_signal(signal.SIGKILL)
        return await self.wait()
