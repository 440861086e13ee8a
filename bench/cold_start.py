"""A cold ``prompt-alchemy generate`` process, offline, to its first result: vs interpreter and import baselines.

Each run is a new process (the OS file cache is warm after the first one, as it is for a user):

- ``python -c pass`` — the interpreter alone;
- ``python -c "import prompt_alchemy.runtime.cli"`` — the CLI's imports;
- ``prompt-alchemy --version`` — imports plus building every subcommand's parser;
- ``prompt-alchemy generate "<idea>"`` in a fresh, empty data dir — embedded runtime, offline provider,
  three phases, prompts stored with WordLlama embeddings. Timed to its first line of output (the
  result; the child runs unbuffered) and to its exit (after the workers drain).

Then one instrumented run splits the generate process into phases, to say where the time goes.
Runs are interleaved; medians.

    .venv/bin/python bench/cold_start.py            # 7 runs of each
    .venv/bin/python bench/cold_start.py --quick    # 3 runs

Target: the generate process shows its result within 2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _processes import PROMPT_ALCHEMY
from _report import Report, markdown_table, median, progress, quick_parser, target_mark

IDEA = "a haiku about the Rust borrow checker"
TARGET_S = 2.0


@dataclass(frozen=True)
class Timing:
    first_output: float | None
    exit: float


def timed_run(argv: Sequence[str], env: dict[str, str]) -> Timing:
    """Wall time from spawn to the first output line and to exit; a failing command is an error."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    first_at = time.perf_counter() - started if first else None
    _, errors = process.communicate(timeout=120)
    ended = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {process.returncode}: {errors[-500:]}")
    return Timing(first_at, ended)


@dataclass
class Command:
    label: str
    argv: Callable[[Path], list[str]]  # given a fresh scratch dir
    timings: list[Timing] = field(default_factory=list)


PHASES = """
import asyncio, json, sys, time
from pathlib import Path
started = time.perf_counter()
import prompt_alchemy.runtime.cli as cli
imported = time.perf_counter()
cli.build_parser()
parser_built = time.perf_counter()
from prompt_alchemy import schemas
from prompt_alchemy.runtime.embedded import EmbeddedRuntime
from prompt_alchemy.runtime.settings import Settings
from prompt_alchemy.schemas.engine import GenerateRequest

async def run():
    runtime = EmbeddedRuntime(Settings.load(overrides={"data_dir": Path(sys.argv[1])}))
    a = time.perf_counter()
    await runtime.start()
    b = time.perf_counter()
    await runtime.bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input=sys.argv[2]))
    c = time.perf_counter()
    await runtime.bus.request(schemas.ENGINE_GENERATE, GenerateRequest(input=sys.argv[2] + " again"))
    d = time.perf_counter()
    await runtime.stop()
    e = time.perf_counter()
    return {"start the embedded runtime (4 workers, SQLite, stream)": b - a,
            "first generation (first embeddings load WordLlama)": c - b,
            "a second generation in the same process, for comparison": d - c,
            "stop: every worker drains": e - d}

phases = {"import prompt_alchemy.runtime.cli": imported - started,
          "build the parser (imports every subcommand's modules)": parser_built - imported}
phases |= asyncio.run(run())
print(json.dumps(phases))
"""


def phase_split(env: dict[str, str], runs: int) -> dict[str, float]:
    """Medians over ``runs`` instrumented processes (each in a fresh data dir)."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as folder:
            output = subprocess.run(
                [sys.executable, "-c", PHASES, folder, IDEA], env=env, capture_output=True, text=True, check=True
            ).stdout
        for name, seconds in json.loads(output.strip().splitlines()[-1]).items():
            samples.setdefault(name, []).append(seconds)
    return {name: median(values) for name, values in samples.items()}


def seconds(value: float | None) -> str:
    return f"{value:.3f} s" if value is not None else "-"


def main(quick: bool) -> int:
    runs = 3 if quick else 7
    report = Report("cold_start", "Cold start benchmark", quick, ["pydantic", "nats-py", "aiohttp", "mcp", "wordllama"])
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env |= {"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    env.pop("NATS_URL", None)
    commands = [
        Command("`python -c pass`", lambda _dir: [sys.executable, "-c", "pass"]),
        Command(
            '`python -c "import prompt_alchemy.runtime.cli"`',
            lambda _dir: [sys.executable, "-c", "import prompt_alchemy.runtime.cli"],
        ),
        Command("`prompt-alchemy --version`", lambda _dir: [PROMPT_ALCHEMY, "--version"]),
        Command(
            "**`prompt-alchemy generate`** (offline, fresh data dir)",
            lambda folder: [PROMPT_ALCHEMY, "--data-dir", str(folder), "generate", IDEA],
        ),
    ]
    progress("warm-up")
    for command in commands:
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as folder:
            timed_run(command.argv(Path(folder)), env)
    for run in range(runs):
        progress(f"run {run + 1}/{runs}")
        for command in commands:
            with tempfile.TemporaryDirectory(prefix="bench-cold-") as folder:
                command.timings.append(timed_run(command.argv(Path(folder)), env))
    progress("phases")
    phases = phase_split(env, 1 if quick else runs)
    generate = commands[-1]
    first = median(t.first_output or t.exit for t in generate.timings)
    rows = []
    for command in commands:
        firsts = [t.first_output for t in command.timings if t.first_output is not None]
        exits = [t.exit for t in command.timings]
        rows.append(
            [command.label, seconds(median(firsts)) if firsts else "-", seconds(median(exits)), seconds(min(exits))]
        )
    report.add(
        f"{runs} runs of each command after one warm-up run, interleaved; a new process every time. generate uses",
        "the offline provider (no key set) and a new empty data dir per run.",
        "",
        markdown_table(["command", "first output (median)", "exit (median)", "exit (fastest)"], rows),
        "",
        markdown_table(
            ["target", "value", ""],
            [["generate shows its result ≤ 2 s", seconds(first), target_mark(first, TARGET_S, at_most=True)]],
            align="lrl",
        ),
        "",
        "Where a generate process spends its time (one instrumented process per run, same steps as the CLI;",
        "medians):",
        "",
        markdown_table(["phase", "seconds"], [[name, seconds(value)] for name, value in phases.items()]),
        "",
    )
    report.write()
    return 0


if __name__ == "__main__":
    parser = quick_parser(__doc__.splitlines()[0] if __doc__ else None, "3 runs instead of 7")
    sys.exit(main(parser.parse_args().quick))
