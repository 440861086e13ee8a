"""The idea evaluation set through the real embedded generate path: the quality targets hold.

The set is ``tests/data/ideas-dev.jsonl``, a copy of the team's ``shared/eval/ideas-dev.jsonl``
kept in the repository so that a clone anywhere runs the gate. Without it this test fails: a
quality gate that silently skips is no gate.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prompt_alchemy.testing.idea_eval import (
    EVAL_FILE,
    EXCLUDE_LIMIT,
    INCLUDE_TARGET,
    PERSONA_TARGET,
    EvalLine,
    load_eval_set,
    run_eval,
    score_line,
    without_idea,
)

_VENDOR_SETTINGS = ("_API_KEY", "_API_KEYS", "_BASE_URL")


# Fifteen more ideas of other kinds (agents, lay explanations, a backup script, a quiz), written
# while checking the analyser by hand; the same targets hold on them.
PROBE_FILE = Path(__file__).parent / "data" / "ideas-probe.jsonl"


@pytest.mark.parametrize("eval_file", [EVAL_FILE, PROBE_FILE], ids=["dev", "probe"])
def test_the_eval_set_meets_the_quality_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, eval_file: Path
) -> None:
    for name in list(os.environ):  # the offline provider is measured: no vendor key reaches the providers
        if name.endswith(_VENDOR_SETTINGS):
            monkeypatch.delenv(name)
    lines = load_eval_set(eval_file)
    report = run_eval(lines, tmp_path)
    print(report.table())
    assert report.persona_accuracy >= PERSONA_TARGET, report.table()
    assert report.include_share >= INCLUDE_TARGET, report.table()
    assert report.exclude_hits <= EXCLUDE_LIMIT, report.table()


def test_a_missing_eval_set_is_an_error_not_an_empty_pass(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        load_eval_set(tmp_path / "absent.jsonl")


def test_a_fact_pasted_with_the_idea_does_not_count() -> None:
    line = EvalLine("x", "poem about the 12 dancing lemons", "writing", (r"\b12\b", "lemon"), (r"sonnet",))
    pasted = score_line(line, "writing", "Task: Poem about the 12   dancing lemons.\nWrite well.")
    assert pasted.missing == [r"\b12\b", "lemon"]
    carried = score_line(line, "writing", "Task: Poem about the 12 dancing lemons.\n- Subject: 12 lemons")
    assert carried.missing == []
    assert score_line(line, "code", "a sonnet").hits == ["sonnet"]
    assert without_idea("A B c", "b  C") == "A  "
