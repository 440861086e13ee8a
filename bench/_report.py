"""What every benchmark report shares: the machine it ran on, its load, percentiles, tables, the results file.

A ratio only means something next to the machine, the versions and the load it was measured
under, so every script states them the same way and writes ``bench/results/<name>-<date>.md``.
Not a benchmark itself: ``just bench`` skips files starting with ``_``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine_lines(distributions: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """Markdown bullet lines: cores and CPU, OS, Python, the versions that matter to this benchmark."""
    versions = ", ".join(f"{name} {version_of(name)}" for name in distributions)
    return [
        f"- cores: {os.cpu_count()} ({cpu_model()}), {platform.machine()}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {versions}",
        *extra,
    ]


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks, as numpy's default."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")


def target_mark(value: float, target: float, *, at_most: bool = False) -> str:
    met = value <= target if at_most else value >= target
    return "met" if met else "**missed**"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, align: str = "") -> str:
    """``align`` holds one character per column: ``l`` or ``r`` (default: first left, the rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    rule = ["---:" if side == "r" else "---" for side in align]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def quiet_gc() -> None:
    """Collect now so a collection of the previous run's garbage does not land in the next one's samples."""
    gc.collect()


@dataclass
class Report:
    """A markdown report: header with machine and load, then sections; printed and saved under results/."""

    name: str
    title: str
    quick: bool
    distributions: Sequence[str]
    machine_extra: Sequence[str] = ()
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    load_at_start: str = field(default_factory=load_average)
    sections: list[str] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        self.sections.extend(lines)

    def render(self) -> str:
        header = [
            f"# {self.title} ({self.started:%Y-%m-%d %H:%M} UTC{', quick' if self.quick else ''})",
            "",
            *machine_lines(self.distributions, self.machine_extra),
            f"- load average (1/5/15 min): {self.load_at_start} at start, {load_average()} at end",
            f"- command: `python bench/{self.name}.py{' --quick' if self.quick else ''}`",
            "",
        ]
        return "\n".join([*header, *self.sections, ""])

    def write(self) -> Path:
        """Print the report and save it as ``results/<name>-<date>[-quick].md``; returns the path."""
        text = self.render()
        print(text)
        RESULTS.mkdir(exist_ok=True)
        suffix = "-quick" if self.quick else ""
        path = RESULTS / f"{self.name}-{self.started:%Y-%m-%d}{suffix}.md"
        path.write_text(text)
        print(f"(saved to {path.relative_to(RESULTS.parent.parent)})", file=sys.stderr)
        return path


def quick_parser(description: str | None, quick_help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    return parser


def progress(message: str) -> None:
    """Where a long benchmark is, on stderr (stdout is the report)."""
    print(f"… {message}", file=sys.stderr, flush=True)


Formatter = Callable[[float], str]


def per_second(value: float) -> str:
    return f"{value:,.0f}"


def micros(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def millis(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


@dataclass(frozen=True)
class FirstTokens:
    """What a streaming benchmark measured in one deployment, per phase: from the vendor writing its
    first token to the client having it (``added``), the vendor's own time to first token, and
    where the client times it, POST to the generation's first token (``client_ttft``)."""

    name: str
    added: list[float]
    vendor_ttft: list[float]
    errors: int
    client_ttft: list[float] | None = None


def first_token_table(results: Sequence[FirstTokens], target_added_s: float) -> str:
    """The percentile table of bench/streaming.py and bench/webapp.py: the added p99 against the target."""
    client = any(m.client_ttft is not None for m in results)
    headers = ["deployment", "first tokens", "vendor TTFT p50", "vendor TTFT p99", "added p50", "added p99"]
    headers += ["target (p99)", *(["client TTFT p50"] if client else []), "errors"]
    rows: list[list[object]] = []
    for m in results:
        p99 = percentile(m.added, 99)
        row: list[object] = [m.name, len(m.added), millis(median(m.vendor_ttft)), millis(percentile(m.vendor_ttft, 99))]
        row += [millis(median(m.added)), millis(p99)]
        row.append(f"≤ {target_added_s * 1000:.0f} ms {target_mark(p99, target_added_s, at_most=True)}")
        if client:
            row.append(millis(median(m.client_ttft)) if m.client_ttft else "n/a")
        rows.append([*row, m.errors])
    return markdown_table(headers, rows, align="lrrrrrl" + "r" * (len(headers) - 7))
