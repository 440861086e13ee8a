"""The ``prompt-alchemy`` command as a user runs it: a subprocess, embedded, offline, in a temp data dir."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateReply

COMMAND = str(Path(sys.executable).parent / "prompt-alchemy")
RUN_TIMEOUT_S = 180


def offline_env(home: Path) -> dict[str, str]:
    """The environment of a user with no API keys and no config: the offline provider answers."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith(("_API_KEY", "_API_KEYS", "_BASE_URL")) and not name.startswith(("ALCHEMY_", "NATS_"))
    }
    env.update({"HOME": str(home), "XDG_DATA_HOME": str(home / "share"), "PYTHONUNBUFFERED": "1"})
    return env


def run_cli(home: Path, data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, "--data-dir", str(data_dir), *argv],
        capture_output=True,
        text=True,
        env=offline_env(home),
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_generate_offline_then_search_finds_it(tmp_path: Path, data_dir: Path) -> None:
    generated = run_cli(tmp_path, data_dir, "generate", "a haiku about volcanoes at dawn", "--json")
    assert generated.returncode == 0, generated.stderr
    reply = GenerateReply.model_validate_json(generated.stdout)
    assert {prompt.phase for prompt in reply.prompts} == set(Phase)
    assert reply.best is not None
    assert reply.best.id is not None
    assert reply.offline
    assert "Traceback" not in generated.stderr

    found = run_cli(tmp_path, data_dir, "search", "haiku about volcanoes", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert reply.best.id in [hit["record"]["id"] for hit in hits]

    shown = run_cli(tmp_path, data_dir, "get", reply.best.id)
    assert shown.returncode == 0, shown.stderr
    assert reply.best.content.strip().splitlines()[0] in shown.stdout
    by_prefix = run_cli(tmp_path, data_dir, "get", reply.best.id[:10])  # the prefix a terminal shows
    assert by_prefix.returncode == 0, by_prefix.stderr
    assert reply.best.id in by_prefix.stdout
    rated = run_cli(tmp_path, data_dir, "feedback", reply.best.id[:10], "--rating", "5")
    assert rated.returncode == 0, rated.stderr


def test_human_output_is_the_best_prompt_and_one_line_per_other_candidate(tmp_path: Path, data_dir: Path) -> None:
    generated = run_cli(tmp_path, data_dir, "generate", "a SQL query for monthly sales", "--count", "2")
    assert generated.returncode == 0, generated.stderr
    reply = GenerateReply.model_validate_json(
        run_cli(tmp_path, data_dir, "generate", "a SQL query for monthly sales", "--count", "2", "--json").stdout
    )
    assert reply.best is not None
    best_lines = len(reply.best.content.splitlines())
    others = len(reply.prompts) - 1
    # a header, the best prompt, a blank line, a header for the others, one line each
    assert len(generated.stdout.splitlines()) == 1 + best_lines + 2 + others
    assert generated.stdout.startswith("== best: id ")
    assert f"== {others} other candidates" in generated.stdout
    assert "offline provider" in generated.stderr
    every = run_cli(tmp_path, data_dir, "generate", "a SQL query for monthly sales", "--count", "2", "--all")
    for phase in Phase:
        assert f"== {phase.value} (2 candidates)" in every.stdout
    assert "== best: coagulatio" in every.stdout


def test_a_closed_pipe_is_a_clean_exit(tmp_path: Path, data_dir: Path) -> None:
    command = [COMMAND, "--data-dir", str(data_dir), "generate", "a limerick about a tired owl", "--all"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=offline_env(tmp_path), text=True
    ) as process:
        assert process.stdout is not None
        process.stdout.readline()
        process.stdout.close()  # what `| head -1` does
        assert process.wait(timeout=RUN_TIMEOUT_S) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()


def test_analyze_shows_the_brief_and_config_show_is_complete(tmp_path: Path, data_dir: Path) -> None:
    analysed = run_cli(tmp_path, data_dir, "analyze", "haiku about rust on a garden gate", "--json")
    assert analysed.returncode == 0, analysed.stderr
    brief = json.loads(analysed.stdout)
    assert brief["persona"] == "writing"
    assert brief["form"]["name"] == "haiku"
    text = run_cli(tmp_path, data_dir, "analyze", "haiku about rust on a garden gate")
    assert text.stdout.startswith("persona: writing")
    shown = run_cli(tmp_path, data_dir, "config", "show")
    config = json.loads(shown.stdout)
    assert "offline" in config["providers"]["providers"]
    assert config["providers"]["providers"]["openai"]["keys"] == {"OPENAI_API_KEY": "unset"}


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["generate", "an idea", "--count", "99"], 2, "error: --count"),
        (["generate", "an idea", "--persona", "pirate"], 2, "invalid choice"),
        (["generate", "an idea", "--bogus-flag"], 2, "unrecognized arguments"),
        (["generate"], 2, "error: the following arguments are required: idea"),
        (["no-such-command"], 2, "error: argument COMMAND: invalid choice"),
        (["get", "no-such-prompt"], 1, "error: "),
        (["feedback", "no-such-prompt", "--rating", "4"], 1, "no-such-prompt"),
        (["batch", "does-not-exist.jsonl"], 2, "error: cannot read"),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(
    tmp_path: Path, data_dir: Path, argv: list[str], code: int, needle: str
) -> None:
    result = run_cli(tmp_path, data_dir, *argv)
    assert result.returncode == code, result.stderr
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one `error:` line, never a usage block
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_batch_text_output_names_each_prompt_by_id(tmp_path: Path, data_dir: Path) -> None:
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text('{"input": "a haiku about snow on a tin roof"}\n{"input": "python function that sums a list"}\n')
    ran = run_cli(tmp_path, data_dir, "batch", str(ideas))
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.strip().splitlines()
    assert len(lines) == 2
    for number, line in enumerate(lines, start=1):
        assert re.match(rf"#{number} ok: [0-9a-f]{{32}}  ", line), line
        assert "You are" not in line  # the preview says what the prompt is about, not its role line


def test_named_prompts_and_the_semantic_cache_as_a_user_meets_them(tmp_path: Path, data_dir: Path) -> None:
    generated = run_cli(tmp_path, data_dir, "generate", "a haiku about volcanoes at dawn", "--count", "1", "--json")
    assert generated.returncode == 0, generated.stderr
    first = GenerateReply.model_validate_json(generated.stdout)
    assert first.best is not None
    assert first.best.id is not None
    again = run_cli(tmp_path, data_dir, "generate", "a haiku about the volcanoes at dawn", "--count", "1")
    assert again.returncode == 0, again.stderr
    assert f"answered from the semantic cache (generation {first.request_id})" in again.stderr
    fresh = run_cli(tmp_path, data_dir, "generate", "a haiku about the volcanoes at dawn", "--count", "1", "--no-cache")
    assert fresh.returncode == 0, fresh.stderr
    assert "semantic cache" not in fresh.stderr

    labelled = run_cli(tmp_path, data_dir, "label", "set", "dawn-haiku", "prod", first.best.id, "--reason", "first")
    assert labelled.returncode == 0, labelled.stderr
    assert "prod: (unset) -> v1 by cli (first)" in labelled.stdout
    served = run_cli(tmp_path, data_dir, "registry", "get", "dawn-haiku", "--label", "prod")
    assert served.returncode == 0, served.stderr
    assert served.stdout.startswith(f"dawn-haiku/prod: version 1 (prompt {first.best.id})")
    assert first.best.content in served.stdout
    missing = run_cli(tmp_path, data_dir, "registry", "get", "dawn-haiku", "--label", "canary")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ")
    assert "canary" in missing.stderr
