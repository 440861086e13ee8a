"""Child processes for the end-to-end benchmarks: start, wait for the line that says ready, account CPU, stop.

The product's processes (``prompt-alchemy serve --all``, ``worker X``, ``serve api``) each print a line
once they serve; a benchmark waits for that line instead of sleeping, keeps reading their output so a
full pipe never stalls them, and stops them with SIGTERM (they drain) before SIGKILL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

PROMPT_ALCHEMY = str(Path(sys.executable).parent / "prompt-alchemy")
_TICKS = os.sysconf("SC_CLK_TCK")


def stop_all(children: Sequence[Child]) -> None:
    """Signal every child first, then wait for each: they drain in parallel."""
    for child in children:
        child.terminate()
    for child in children:
        child.stop()


def thread_cpu_seconds(pid: int) -> float:
    """CPU time of a process's live threads so far, in nanosecond resolution (/proc/*/task/*/schedstat).

    For short measurements where ``cpu_seconds``' 10 ms ticks are too coarse; threads that already
    exited are not counted.
    """
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
    return total / 1e9


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, exited threads included (Linux /proc, 10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class Child:
    """A child process whose merged stdout/stderr is read line by line in a thread."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.lines: deque[str] = deque(maxlen=200)
        self._seen = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, ready: str, timeout: float = 60.0) -> re.Match[str]:
        """Start and return the match of ``ready`` (a regex) in the first output line that has it."""
        self.spawn()
        return self.wait_for(ready, timeout)

    def spawn(self) -> None:
        """Start without waiting (start several, then ``wait_for`` each: they boot in parallel)."""
        self._process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(self._process.stdout,), name=f"{self.name}-output", daemon=True
        )
        self._reader.start()

    def wait_for(self, ready: str, timeout: float = 60.0) -> re.Match[str]:
        """The match of ``ready`` in the first output line that has it (lines already seen count)."""
        assert self._process is not None
        pattern = re.compile(ready)
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.lines:
                    found = pattern.search(line)
                    if found:
                        return found
                if self._process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self._process.returncode}: {self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop()
                    raise RuntimeError(f"{self.name} did not say {ready!r} within {timeout}s: {self.tail()}")
                self._seen.wait(min(left, 0.5))

    def _read(self, output: IO[str]) -> None:
        for line in output:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()

    def tail(self, count: int = 8) -> str:
        return " | ".join(list(self.lines)[-count:])

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def terminate(self) -> None:
        """SIGTERM without waiting: the process starts draining."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (the process drains and exits), SIGKILL after ``timeout``; returns the exit code."""
        if self._process is None:
            return None
        self.terminate()
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        code = self._process.returncode
        self._process = None
        return code

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
