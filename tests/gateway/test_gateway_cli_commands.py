"""CLI client commands in-process: parsed like the runtime parses them, run on a real bus and storage.

Output goes to the real stdout/stderr (captured by pytest); exit codes are 0 ok, 1 failure,
2 usage error, with ``error: <message>`` on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from prompt_alchemy.bus import Bus, ServiceRunner
from prompt_alchemy.gateway.cli import CliClient, register_commands
from prompt_alchemy.gateway.cli.analyze import render_brief
from prompt_alchemy.gateway.cli.progress_display import ProgressDisplay
from prompt_alchemy.gateway.feedback import FeedbackSink
from prompt_alchemy.schemas.brief import Brief
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateReply
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.registry import STORAGE_STORE
from prompt_alchemy.schemas.storage import StoreRequest
from prompt_alchemy.workers.providers import ProviderRegistry, build_providers_service


@dataclass(frozen=True)
class LocalClient:
    """What the runtime hands a command: a bus and the durable feedback publisher."""

    bus: Bus
    feedback: FeedbackSink


def _parser() -> argparse.ArgumentParser:
    """Like the runtime's: global flags, then the gateway's commands on its subparsers."""
    parser = argparse.ArgumentParser(prog="prompt-alchemy")
    parser.add_argument("--json", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    register_commands(commands)
    return parser


@pytest.fixture
def cli(gateway_bus: Bus, feedback_sink: FeedbackSink) -> CliClient:
    return LocalClient(gateway_bus, feedback_sink)


async def _run(cli: CliClient, *argv: str) -> int:
    args = _parser().parse_args(list(argv))
    code: int = await args.run(args, cli)
    return code


async def _store(bus: Bus, content: str, tags: list[str] | None = None) -> str:
    return (await bus.request(STORAGE_STORE, StoreRequest(content=content, tags=tags or []), timeout=30)).id


def test_every_command_of_the_issue_is_registered() -> None:
    parser = _parser()
    subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    assert set(subparsers.choices) == {
        "generate", "analyze", "search", "get", "optimize", "batch", "feedback", "providers", "health", "export",
        "import", "label", "registry",
    }  # fmt: skip


def test_global_json_flag_is_not_overwritten_by_the_command() -> None:
    assert _parser().parse_args(["--json", "health"]).json is True
    assert _parser().parse_args(["health", "--json"]).json is True
    assert _parser().parse_args(["health"]).json is False


def test_bad_flags_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["generate", "an idea", "--count", "many"])
    assert exit_info.value.code == 2
    assert "--count: invalid int value" in capsys.readouterr().err


async def test_out_of_range_value_exits_2_naming_the_flag(cli: CliClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(cli, "generate", "an", "idea", "--count", "99") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --count: ")
    assert "less than or equal to 10" in err
    assert "Traceback" not in err


async def test_unknown_phase_exits_2(cli: CliClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(cli, "generate", "an idea", "--phases", "prima-materia,distillatio") == 2
    assert "--phases" in capsys.readouterr().err


async def test_a_service_not_running_exits_1_saying_which(cli: CliClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(cli, "generate", "an idea") == 1
    assert capsys.readouterr().err.startswith("error: the engine service is not running")


@pytest.mark.usefixtures("storage_service")
async def test_unknown_id_exits_1(cli: CliClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(cli, "get", "no-such-prompt") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "no-such-prompt" in err


@pytest.mark.usefixtures("storage_service")
async def test_search_then_get(cli: CliClient, gateway_bus: Bus, capsys: pytest.CaptureFixture[str]) -> None:
    haiku = await _store(gateway_bus, "Write a haiku about volcanoes")
    await _store(gateway_bus, "Create a SQL query for monthly sales")
    assert await _run(cli, "search", "volcano", "poem", "--limit", "1") == 0
    out = capsys.readouterr().out
    assert out.startswith(haiku)
    assert "Write a haiku about volcanoes" in out

    assert await _run(cli, "search", "volcano", "--json") == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["hits"][0]["record"]["id"] == haiku

    assert await _run(cli, "get", haiku) == 0
    out = capsys.readouterr().out
    assert f"id:       {haiku} (version 1)" in out
    assert out.rstrip().endswith("Write a haiku about volcanoes")


@pytest.mark.usefixtures("storage_service")
async def test_search_with_filters_and_bad_date(
    cli: CliClient, gateway_bus: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    tagged = await _store(gateway_bus, "Plan a workout routine", tags=["fitness"])
    await _store(gateway_bus, "Compose a birthday song")
    assert await _run(cli, "search", "--tag", "fitness", "--json") == 0
    assert [hit["record"]["id"] for hit in json.loads(capsys.readouterr().out)["hits"]] == [tagged]
    assert await _run(cli, "search", "--since", "last tuesday") == 2
    assert "--since" in capsys.readouterr().err


@pytest.mark.usefixtures("storage_service")
async def test_feedback(cli: CliClient, gateway_bus: Bus, capsys: pytest.CaptureFixture[str]) -> None:
    prompt_id = await _store(gateway_bus, "Summarise a research paper")
    assert await _run(cli, "feedback", prompt_id, "--rating", "5", "--event-id", "cli-1") == 0
    assert "feedback recorded: event cli-1 (sequence 1)" in capsys.readouterr().out
    assert await _run(cli, "feedback", prompt_id, "--rating", "5", "--event-id", "cli-1", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"event_id": "cli-1", "sequence": 1, "duplicate": True}
    assert await _run(cli, "feedback", prompt_id) == 2
    assert "at least one of rating" in capsys.readouterr().err
    assert await _run(cli, "feedback", prompt_id, "--rating", "7") == 2
    assert "--rating" in capsys.readouterr().err
    assert await _run(cli, "feedback", "missing-prompt", "--helpful") == 1
    assert "missing-prompt" in capsys.readouterr().err


@pytest.mark.usefixtures("storage_service")
async def test_export_then_import_round_trip(
    cli: CliClient, gateway_bus: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for content in ("first prompt to keep", "second prompt to keep", "third prompt to keep"):
        await _store(gateway_bus, content)
    exported = tmp_path / "prompts.jsonl"
    assert await _run(cli, "export", str(exported)) == 0
    assert "exported 3 prompts" in capsys.readouterr().err
    lines = exported.read_text().splitlines()
    assert len(lines) == 3
    assert await _run(cli, "import", str(exported), "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"imported": 0, "duplicates": 3, "errors": []}

    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n{not json}\n")
    assert await _run(cli, "import", str(broken)) == 1
    captured = capsys.readouterr()
    assert "imported 0, duplicates 1, errors 1" in captured.out
    assert "line 2:" in captured.err
    assert await _run(cli, "import", str(tmp_path / "absent.jsonl")) == 2
    assert "cannot read" in capsys.readouterr().err


async def test_batch_input_errors_name_the_line(
    cli: CliClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl = tmp_path / "ideas.jsonl"
    jsonl.write_text('{"input": "one idea"}\n"a bare idea"\n{"input": "x", "count": 50}\n')
    assert await _run(cli, "batch", str(jsonl)) == 2
    assert capsys.readouterr().err.startswith("error: line 3: count:")
    csv_file = tmp_path / "ideas.csv"
    csv_file.write_text("idea,count\nsomething,2\n")
    assert await _run(cli, "batch", str(csv_file)) == 2
    assert "'input' column" in capsys.readouterr().err
    csv_file.write_text('input,phases,count\n"an idea, with a comma",prima-materia;solutio,2\nother,bogus,1\n')
    assert await _run(cli, "batch", str(csv_file)) == 2
    assert "row 3: phases" in capsys.readouterr().err


async def test_health_without_workers_exits_1(cli: CliClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(cli, "health", "--services", "storage", "--timeout", "1") == 1
    out = capsys.readouterr().out
    assert "status: unavailable" in out
    assert "missing: storage" in out


async def test_health_with_storage(
    cli: CliClient, storage_service: ServiceRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(cli, "health", "--services", "storage", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["serving"] is True
    assert report["services"][0]["instances"] == [storage_service.id]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_progress_shows_on_a_terminal_only() -> None:
    events = [
        GenerationProgress(request_id="r", seq=0, kind=ProgressKind.STARTED, message="3 phases"),
        GenerationProgress(request_id="r", seq=1, kind=ProgressKind.PHASE_STARTED, phase=Phase.PRIMA_MATERIA),
        GenerationProgress(request_id="r", seq=2, kind=ProgressKind.CANDIDATE, phase=Phase.PRIMA_MATERIA, chain=0),
        GenerationProgress(request_id="r", seq=3, kind=ProgressKind.COMPLETED, message="best chosen"),
    ]
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        display = ProgressDisplay(stream)
        for event in events:
            await display(event)
    assert pipe.getvalue() == ""
    assert terminal.getvalue().splitlines() == [
        "…: 3 phases",
        "▸ prima-materia: phase started",
        " · prima-materia #1: candidate",
        "✔: best chosen",
    ]


async def test_streamed_text_shows_on_a_terminal_as_it_arrives() -> None:
    def token(seq: int, chain: int, delta: str) -> GenerationProgress:
        return GenerationProgress(
            request_id="r", seq=seq, kind=ProgressKind.TOKEN, phase=Phase.SOLUTIO, chain=chain, delta=delta
        )

    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        display = ProgressDisplay(stream)
        await display.token(token(0, 0, "You are"))
        await display.token(token(1, 0, " a guide.\nBe brief."))
        await display.token(token(0, 1, "Act as"))
        await display(GenerationProgress(request_id="r", seq=5, kind=ProgressKind.PHASE_DONE, phase=Phase.SOLUTIO))
    assert pipe.getvalue() == ""
    assert terminal.getvalue().splitlines() == [
        "  solutio #1> You are a guide.",
        "    Be brief.",
        "  solutio #2> Act as",
        "✓ solutio: phase done",
    ]


@pytest.mark.usefixtures("engine_worker")
async def test_generate_on_a_terminal_streams_the_prompt_text(
    cli: CliClient, gateway_bus: Bus, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = ProviderRegistry(environ={})
    providers = build_providers_service(gateway_bus, registry)
    await providers.start()
    terminal = _Terminal()
    try:
        monkeypatch.setattr("sys.stderr", terminal)
        args = ("generate", "a haiku about tides", "--count", "1", "--phases", "prima-materia", "--no-save")
        assert await _run(cli, *args, "--json") == 0
    finally:
        await providers.stop()
        await registry.aclose()
    reply = GenerateReply.model_validate_json(capsys.readouterr().out)
    lines = terminal.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  prima-materia #1> "))
    end = next(i for i, line in enumerate(lines) if line.startswith(" · prima-materia #1"))
    streamed = [lines[start].removeprefix("  prima-materia #1> ")]
    streamed += [line.removeprefix("    ") for line in lines[start + 1 : end]]
    assert "\n".join(streamed).strip() == reply.prompts[0].content


def test_analyze_text_names_an_llm_reader_and_prints_the_briefs_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    render_brief(Brief(idea="x", task="Do x.", source="openai/gpt-4o-mini"))
    assert "read by: openai/gpt-4o-mini (structured output)" in capsys.readouterr().out
    fallback = "the offline analyser read the idea: openai could not write the brief (timeout)"
    render_brief(Brief(idea="x", task="Do x.", warnings=[fallback]))
    out = capsys.readouterr().out
    assert f"warning: {fallback}" in out
    assert "read by" not in out  # the offline reading is the default: no line for it
