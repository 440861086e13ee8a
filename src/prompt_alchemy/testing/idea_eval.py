"""The idea evaluation set, run through the real embedded generate path and scored.

Each line of the set (``tests/data/ideas-dev.jsonl``, the team's ``shared/eval/ideas-dev.jsonl``
copied into the repository so that any clone runs the gate) holds an idea,
the persona a good tool picks by itself, and regexes that must (``must_include``) or must not
(``must_not_include``) match the best final prompt. ``must_include`` is scored on the prompt
with every verbatim copy of the idea removed: a fact counts only when the prompt carries it into
its own structure. ``python -m prompt_alchemy.testing.idea_eval [FILE]`` (``just eval``) prints
the table and the per-line failures; the test suite asserts the targets on the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prompt_alchemy.schemas.coverage import without_idea

__all__ = [
    "EVAL_FILE",
    "EvalLine",
    "EvalReport",
    "LineResult",
    "load_eval_set",
    "main",
    "run_eval",
    "score_line",
    "without_idea",
]

EVAL_FILE = Path(__file__).resolve().parents[3] / "tests" / "data" / "ideas-dev.jsonl"
PERSONA_TARGET = 0.90
INCLUDE_TARGET = 0.90
EXCLUDE_LIMIT = 2
VENDOR_SETTINGS = ("_API_KEY", "_API_KEYS", "_BASE_URL")  # the offline provider is what the set measures


@dataclass(frozen=True, slots=True)
class EvalLine:
    id: str
    idea: str
    persona: str
    must_include: tuple[str, ...]
    must_not_include: tuple[str, ...]


@dataclass(slots=True)
class LineResult:
    line: EvalLine
    persona: str
    missing: list[str] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)

    @property
    def persona_ok(self) -> bool:
        return self.persona == self.line.persona

    @property
    def included(self) -> int:
        return len(self.line.must_include) - len(self.missing)


@dataclass(slots=True)
class EvalReport:
    results: list[LineResult]

    @property
    def persona_accuracy(self) -> float:
        return sum(result.persona_ok for result in self.results) / max(1, len(self.results))

    @property
    def include_share(self) -> float:
        total = sum(len(result.line.must_include) for result in self.results)
        return sum(result.included for result in self.results) / max(1, total)

    @property
    def exclude_hits(self) -> int:
        return sum(len(result.hits) for result in self.results)

    @property
    def meets_targets(self) -> bool:
        return (
            self.persona_accuracy >= PERSONA_TARGET
            and self.include_share >= INCLUDE_TARGET
            and self.exclude_hits <= EXCLUDE_LIMIT
        )

    def table(self) -> str:
        rows = [
            ("persona accuracy", f"{self.persona_accuracy:.0%}", f">= {PERSONA_TARGET:.0%}"),
            ("must_include matched (idea removed)", f"{self.include_share:.0%}", f">= {INCLUDE_TARGET:.0%}"),
            ("must_not_include hits", str(self.exclude_hits), f"<= {EXCLUDE_LIMIT}"),
        ]
        width = max(len(name) for name, _, _ in rows)
        lines = [f"{'measure':<{width}}  {'value':>6}  target", f"{'-' * width}  {'-' * 6}  ------"]
        lines += [f"{name:<{width}}  {value:>6}  {target}" for name, value, target in rows]
        lines.append(f"({len(self.results)} ideas)")
        failures = [result for result in self.results if not result.persona_ok or result.missing or result.hits]
        if failures:
            lines.append("")
            lines.append("per-line failures:")
        for result in failures:
            problems = []
            if not result.persona_ok:
                problems.append(f"persona {result.persona} (expected {result.line.persona})")
            problems += [f"missing /{pattern}/" for pattern in result.missing]
            problems += [f"has /{pattern}/" for pattern in result.hits]
            lines.append(f"  {result.line.id}: " + "; ".join(problems))
        return "\n".join(lines)


def load_eval_set(path: Path = EVAL_FILE) -> list[EvalLine]:
    """Every line of the set; a missing file is an error, never an empty set."""
    if not path.is_file():
        raise FileNotFoundError(f"the idea evaluation set {path} is missing")
    lines: list[EvalLine] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        data = json.loads(raw)
        lines.append(
            EvalLine(
                id=str(data.get("id", f"line-{number}")),
                idea=str(data["idea"]),
                persona=str(data["persona"]),
                must_include=tuple(data.get("must_include", ())),
                must_not_include=tuple(data.get("must_not_include", ())),
            )
        )
    if not lines:
        raise ValueError(f"the idea evaluation set {path} has no lines")
    return lines


def score_line(line: EvalLine, persona: str, prompt: str) -> LineResult:
    stripped = without_idea(prompt, line.idea)
    result = LineResult(line, persona)
    result.missing = [pattern for pattern in line.must_include if not re.search(pattern, stripped, re.IGNORECASE)]
    result.hits = [pattern for pattern in line.must_not_include if re.search(pattern, prompt, re.IGNORECASE)]
    return result


async def _generate_all(lines: Sequence[EvalLine], data_dir: Path) -> list[tuple[str, str]]:
    # The runtime is imported here: the test package stays importable without starting anything.
    from prompt_alchemy.runtime.embedded import EmbeddedRuntime
    from prompt_alchemy.runtime.settings import Settings
    from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
    from prompt_alchemy.schemas.registry import ENGINE_GENERATE

    env = {name: value for name, value in os.environ.items() if not name.endswith(VENDOR_SETTINGS)}
    env["HOME"] = str(data_dir)
    settings = Settings.load(env=env, overrides={"data_dir": data_dir / "data"})
    answers: list[tuple[str, str]] = []
    async with EmbeddedRuntime(settings) as runtime:
        for line in lines:
            request = GenerateRequest(input=line.idea, save=False, use_history=False)
            reply = await runtime.bus.request(ENGINE_GENERATE, request, timeout=60.0)
            assert isinstance(reply, GenerateReply)
            best = reply.best
            answers.append((best.persona.value, best.content) if best else ("none", ""))
    return answers


def run_eval(lines: Sequence[EvalLine], data_dir: Path) -> EvalReport:
    """Generate for every line with the embedded offline engine and score the best prompt."""
    answers = asyncio.run(_generate_all(lines, data_dir))
    return EvalReport(
        [score_line(line, persona, prompt) for line, (persona, prompt) in zip(lines, answers, strict=True)]
    )


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prompt_alchemy.testing.idea_eval", description=__doc__)
    parser.add_argument("file", nargs="?", type=Path, default=EVAL_FILE, help="a JSON Lines evaluation set")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        lines = load_eval_set(args.file)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name in [name for name in os.environ if name.endswith(VENDOR_SETTINGS)]:
        del os.environ[name]  # this process only: the providers worker reads keys from the environment
    with tempfile.TemporaryDirectory(prefix="prompt-alchemy-eval-") as scratch:
        report = run_eval(lines, Path(scratch))
    print(report.table())
    return 0 if report.meets_targets else 1


if __name__ == "__main__":
    raise SystemExit(main())
