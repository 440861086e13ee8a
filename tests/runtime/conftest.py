"""Runtime fixtures: settings in a temp dir, an environment without vendor keys, a fake vendor.

The runtime is the composition root, so these tests start the real workers (through the same
``start_*`` functions the processes use) on the shared ``bus_factory`` buses — in-memory and
real NATS — and observe them through the bus, discovery and metrics.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.testing.vendors import FakeVendorServer

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No vendor key or URL from the developer's shell: the offline provider answers."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_API_KEYS", "_BASE_URL")) or name.startswith(("PROVIDERS_", "OLLAMA")):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """``make_settings(enable_learning=False, ...)``: settings over a temp data dir, nothing from the shell."""

    def make(**overrides: Any) -> Settings:
        return Settings.load(env={"HOME": str(tmp_path)}, overrides={"data_dir": tmp_path / "data", **overrides})

    return make


@pytest.fixture
async def vendor() -> AsyncIterator[FakeVendorServer]:
    async with FakeVendorServer() as server:
        yield server
