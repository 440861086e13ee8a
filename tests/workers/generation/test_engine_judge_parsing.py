"""Reading judge answers: strict JSON, and the usual ways models stray from it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prompt_alchemy.workers.generation.judge_parsing import normalise_score, parse_verdicts


def test_strict_json_as_asked() -> None:
    text = '{"scores": [{"index": 0, "score": 0.4, "reason": "vague"}, {"index": 1, "score": 0.9, "reason": "sharp"}]}'
    verdicts = parse_verdicts(text, 2)
    assert verdicts[0].score == pytest.approx(0.4)
    assert verdicts[0].reason == "vague"
    assert verdicts[1].score == pytest.approx(0.9)


def test_code_fence_and_chatter_around_the_json() -> None:
    text = (
        "Sure! Here is my evaluation:\n```json\n"
        '{"scores": [{"index": 1, "score": 0.7, "reason": "b"}, {"index": 0, "score": 0.2, "reason": "a"}]}\n'
        "```\nLet me know if you need more."
    )
    verdicts = parse_verdicts(text, 2)
    assert verdicts[0].score == pytest.approx(0.2)
    assert verdicts[1].score == pytest.approx(0.7)


def test_json_embedded_in_prose_without_fence() -> None:
    text = 'My scores are [{"candidate": 0, "rating": 8, "reasoning": "good"}] as requested.'
    verdicts = parse_verdicts(text, 1)
    assert verdicts[0].score == pytest.approx(0.8)
    assert verdicts[0].reason == "good"


def test_one_based_indices_are_recognised() -> None:
    text = '[{"index": 1, "score": 0.1, "reason": "x"}, {"index": 2, "score": 0.6, "reason": "y"}]'
    verdicts = parse_verdicts(text, 2)
    assert verdicts[0].score == pytest.approx(0.1)
    assert verdicts[1].score == pytest.approx(0.6)


def test_bare_list_of_numbers_maps_by_position() -> None:
    verdicts = parse_verdicts("[0.3, 0.8, 0.5]", 3)
    assert [verdicts[index].score for index in range(3)] == pytest.approx([0.3, 0.8, 0.5])


def test_single_object_and_critique_improvements() -> None:
    text = '{"score": "7/10", "reason": "missing format", "improvements": ["add a JSON shape", "name the audience"]}'
    verdict = parse_verdicts(text, 1)[0]
    assert verdict.score == pytest.approx(0.7)
    assert verdict.improvements == ("add a JSON shape", "name the audience")


def test_partial_answers_cover_only_what_they_name() -> None:
    text = '{"scores": [{"index": 2, "score": 0.9, "reason": "ok"}, {"index": 7, "score": 0.1, "reason": "bogus"}]}'
    verdicts = parse_verdicts(text, 3)
    assert set(verdicts) == {2}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I think the second one is better.",
        '{"scores": "all good"}',
        '{"scores": [{"index": 0, "score": "excellent"}]}',
        '{"scores": [{"index": 0, "score": 250}]}',
        '{"scores": [{"index": 0, "score": -0.5}]}',
        "[true, false]",
    ],
)
def test_unreadable_answers_give_nothing(text: str) -> None:
    assert parse_verdicts(text, 2) == {}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0.0, 0.0), (1, 1.0), (0.85, 0.85), (8.5, 0.85), (85, 0.85), ("0.6", 0.6), ("3/5", 0.6), ("60%", 0.6)],
)
def test_scores_are_normalised_to_unit_range(raw: object, expected: float) -> None:
    assert normalise_score(raw) == pytest.approx(expected)


@given(st.text(max_size=400))
def test_any_text_parses_without_raising_and_within_range(text: str) -> None:
    for verdict in parse_verdicts(text, 3).values():
        assert 0.0 <= verdict.score <= 1.0
        assert 0 <= verdict.index < 3
