"""``label set`` / ``label history`` / ``registry get`` in-process, on a real bus and storage worker."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import pytest

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.cli import CliClient, register_commands
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.schemas.labels import (
    LabelHistoryRequest,
    LabelSetRequest,
    LabelVariant,
    NameGetRequest,
    choose_variant,
)
from prompt_alchemy.schemas.registry import STORAGE_LABEL_HISTORY, STORAGE_LABEL_SET, STORAGE_NAME_GET, STORAGE_STORE
from prompt_alchemy.schemas.storage import StoreRequest


@dataclass(frozen=True)
class LocalClient:
    bus: Bus
    feedback: FeedbackSink


@pytest.fixture
def cli(gateway_bus: Bus, feedback_sink: FeedbackSink) -> CliClient:
    return LocalClient(gateway_bus, feedback_sink)


async def run(cli: CliClient, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="prompt-alchemy")
    parser.add_argument("--json", action="store_true")
    register_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = await args.run(args, cli)
    return code


@pytest.mark.usefixtures("storage_service")
async def test_label_set_then_registry_get(
    cli: CliClient, gateway_bus: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    first = (await gateway_bus.request(STORAGE_STORE, StoreRequest(content="Escalate an outage"), timeout=30)).id
    second = (
        await gateway_bus.request(STORAGE_STORE, StoreRequest(content="Escalate an outage calmly"), timeout=30)
    ).id
    assert await run(cli, "label", "set", "outage", "prod", first, "--reason", "first cut") == 0
    assert "prod: (unset) -> v1 by cli (first cut)" in capsys.readouterr().out
    assert await run(cli, "label", "set", "outage", "prod", second) == 0
    assert "prod: v1 -> v2 by cli" in capsys.readouterr().out
    assert await run(cli, "label", "set", "outage", "staging", "v1") == 0
    capsys.readouterr()
    assert await run(cli, "registry", "get", "outage", "--label", "prod") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"outage/prod: version 2 (prompt {second})")
    assert "Escalate an outage calmly" in out
    assert await run(cli, "--json", "registry", "get", "outage", "--label", "staging") == 0
    assert json.loads(capsys.readouterr().out)["prompt_id"] == first
    history = await gateway_bus.request(STORAGE_LABEL_HISTORY, LabelHistoryRequest(name="outage"), timeout=30)
    assert [(move.label, move.actor) for move in history.moves] == [
        ("staging", "cli"),
        ("prod", "cli"),
        ("prod", "cli"),
    ]
    assert await run(cli, "label", "history", "outage", "--label", "prod") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "v1 -> v2" in lines[0]


@pytest.mark.usefixtures("storage_service")
async def test_a_split_is_served_by_key(cli: CliClient, gateway_bus: Bus, capsys: pytest.CaptureFixture[str]) -> None:
    for index in range(2):
        prompt_id = (
            await gateway_bus.request(STORAGE_STORE, StoreRequest(content=f"Onboard, v{index}"), timeout=30)
        ).id
        await run(cli, "label", "set", "onboard", "prod", prompt_id)
    split = [LabelVariant(version=1, weight=30), LabelVariant(version=2, weight=70)]
    await gateway_bus.request(
        STORAGE_LABEL_SET, LabelSetRequest(name="onboard", label="prod", variants=split), timeout=30
    )
    capsys.readouterr()
    for key in ("u1", "u2", "u3"):
        assert await run(cli, "--json", "registry", "get", "onboard", "--key", key) == 0
        expected = choose_variant(split, name="onboard", label="prod", key=key).version
        assert json.loads(capsys.readouterr().out)["version"] == expected
    named = await gateway_bus.request(STORAGE_NAME_GET, NameGetRequest(name="onboard"), timeout=30)
    assert sum(named.labels["prod"].served.values()) == 3


@pytest.mark.usefixtures("storage_service")
async def test_bad_names_and_unknown_labels_exit_with_the_problem(
    cli: CliClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(cli, "label", "set", "Bad Name", "prod", "v1") == 2
    assert "NAME" in capsys.readouterr().err
    assert await run(cli, "registry", "get", "nobody") == 1
    assert "nobody" in capsys.readouterr().err
