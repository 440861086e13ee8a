"""Data on disk is the owner's alone: the data dir 0700, database and log files 0600, under any umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompt_alchemy.private_files import private_dir, private_file
from prompt_alchemy.runtime.child_process import ChildProcess
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.learning import FeedbackEvent
from prompt_alchemy.schemas.registry import ENGINE_GENERATE
from prompt_alchemy.testing.servers import NatsServer, RedisServer


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common 022 umask, under which plain mkdir/open gave 0755 and 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_a_private_dir_and_file_are_created_or_tightened(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    assert mode(private_dir(loose)) == 0o700
    assert mode(private_dir(tmp_path / "new" / "deeper")) == 0o700
    existing = loose / "db"
    existing.write_text("kept")
    existing.chmod(0o644)
    assert mode(private_file(existing)) == 0o600
    assert existing.read_text() == "kept"
    assert mode(private_file(loose / "fresh")) == 0o600


@pytest.mark.usefixtures("permissive_umask")
async def test_the_monolith_keeps_its_data_dir_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: the data dir and the database files were created 0755/0644."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_API_KEYS", "_BASE_URL")):
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    settings = Settings.load(env={"HOME": str(tmp_path)}, overrides={"data_dir": data})
    async with EmbeddedRuntime(settings) as runtime:
        reply = await runtime.bus.request(ENGINE_GENERATE, GenerateRequest(input="Plan a picnic", count=1), timeout=60)
        await runtime.feedback(FeedbackEvent(prompt_id=str(reply.prompts[0].id), rating=5))
    files = [path for path in data.rglob("*") if path.is_file()]
    assert any(path.suffix == ".sqlite3" for path in files)
    assert {str(path.relative_to(data)): oct(mode(path)) for path in files if mode(path) != 0o600} == {}
    dirs = [data, *(path for path in data.rglob("*") if path.is_dir())]
    assert {str(path): oct(mode(path)) for path in dirs if mode(path) != 0o700} == {}


@pytest.mark.usefixtures("permissive_umask")
async def test_a_child_process_log_is_private(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    child = ChildProcess("config", ["config", "show"], env=env, log_dir=tmp_path / "logs")
    await child.start()
    assert await child.wait() == 0
    assert mode(tmp_path / "logs") == 0o700
    assert mode(child.stderr_path) == 0o600


@pytest.mark.usefixtures("permissive_umask")
def test_the_dev_servers_keep_their_logs_private(tmp_path: Path) -> None:
    """``prompt-alchemy cluster`` starts these servers under the data dir when none is given."""
    with NatsServer(tmp_path / "nats") as nats, RedisServer(tmp_path / "redis") as redis:
        for server in (nats, redis):
            assert mode(server.data_dir) == 0o700
            logs = [path for path in server.data_dir.iterdir() if path.suffix in (".log", ".stdout")]
            assert logs
            assert {path.name: oct(mode(path)) for path in logs if mode(path) != 0o600} == {}
