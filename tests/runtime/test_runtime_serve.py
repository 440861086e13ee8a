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


EVERY_INTERFACE = ".".join("0" * 4)  # refused before anything binds: no test here listens on it


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("argv", "env", "door"),
    [
        (["serve", "--all", "--host", EVERY_INTERFACE], {}, "the HTTP API"),
        (["serve", "--all", "--no-api"], {"MCP_HOST": EVERY_INTERFACE}, "the MCP server"),
        (["serve", "mcp"], {"MCP_HOST": EVERY_INTERFACE, "NATS_URL": "nats://127.0.0.1:1"}, "the MCP server"),
        (["mcp", "--http"], {"MCP_HOST": EVERY_INTERFACE}, "the MCP server"),
    ],
)
def test_a_door_beyond_loopback_without_keys_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    door: str,
) -> None:
    monkeypatch.delenv("ALCHEMY_API_KEYS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main([*argv, "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {door} would listen on {EVERY_INTERFACE}" in err
    assert "ALCHEMY_API_KEYS" in err
    assert "--insecure-no-auth" in err


def test_keys_or_the_explicit_flag_allow_a_wide_bind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from prompt_alchemy.runtime.processes import check_exposure, http_settings, mcp_access
    from prompt_alchemy.runtime.settings import Settings

    wide = {"http_host": EVERY_INTERFACE, "mcp_host": EVERY_INTERFACE, "data_dir": tmp_path}
    check_exposure(Settings(**wide, api_keys=("k",)), api=True, mcp=True)  # type: ignore[arg-type]
    check_exposure(Settings(**wide, insecure_no_auth=True), api=True, mcp=True)  # type: ignore[arg-type]
    exposed = Settings(**wide, allowed_hosts=("prompts.example.org",))  # type: ignore[arg-type]
    assert http_settings(exposed).allowed_hosts == ("prompts.example.org",)
    assert mcp_access(exposed).allowed_hosts == ("prompts.example.org",)
    default = Settings(**wide)  # type: ignore[arg-type]
    assert http_settings(default).allowed_hosts == ("localhost", "127.0.0.1", "::1")
