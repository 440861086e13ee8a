"""``serve`` refuses clearly what it cannot do: a port in use is exit code 2 naming the door, no traceback."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompt_alchemy.runtime.cli import main


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("offline", "restore_logging")
@pytest.mark.parametrize(("flags", "door"), [(["--http-port"], "the HTTP API"), (["--mcp-port"], "the MCP server")])
def test_a_port_in_use_is_a_usage_error_naming_the_door(
    busy_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], door: str
) -> None:
    others = ["--mcp-port", "0"] if door == "the HTTP API" else ["--http-port", "0"]
    code = main(["serve", "--all", *flags, str(busy_port), *others, "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {door} cannot listen on 127.0.0.1:{busy_port}" in err
    assert "Traceback" not in err
