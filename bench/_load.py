"""Closed-loop load in one process: N tasks calling back to back, every latency kept; medians over rounds.

Used by the benchmarks whose calls are cheap enough to count precisely over a short run (bus
round trips, feedback publishes). Variants are measured in interleaved rounds, so background load
on a shared machine hits every variant alike, and each table cell is the median of its rounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from _processes import cpu_seconds
from _report import markdown_table, median, micros, per_second, percentile, progress, quiet_gc

Call = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    call: Call


@dataclass(frozen=True)
class Sample:
    per_second: float
    p50: float
    p99: float
    cpu_per_call: Mapping[str, float] = field(default_factory=dict)  # process -> CPU seconds per call


Processes = Mapping[str, int]  # name -> pid whose CPU time is accounted per call


async def run_load(call: Call, concurrency: int, seconds: float, processes: Processes | None = None) -> Sample:
    """``concurrency`` tasks each calling back to back for ``seconds``; every call's latency kept."""
    latencies: list[float] = []
    clock = time.perf_counter
    stop_at = clock() + seconds

    async def caller() -> None:
        while (started := clock()) < stop_at:
            await call()
            latencies.append(clock() - started)

    quiet_gc()
    cpu_before = {name: cpu_seconds(pid) for name, pid in (processes or {}).items()}
    began = clock()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = clock() - began
    calls = max(len(latencies), 1)
    cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / calls for name, pid in (processes or {}).items()}
    return Sample(len(latencies) / elapsed, percentile(latencies, 50), percentile(latencies, 99), cpu)


@dataclass
class Series:
    """The samples of one variant, per concurrency; the table shows their medians."""

    label: str
    samples: dict[int, list[Sample]] = field(default_factory=dict)

    def rate(self, concurrency: int) -> float:
        return median(sample.per_second for sample in self.samples[concurrency])

    def p50(self, concurrency: int) -> float:
        return median(sample.p50 for sample in self.samples[concurrency])

    def p99(self, concurrency: int) -> float:
        return median(sample.p99 for sample in self.samples[concurrency])

    def cpu_per_call(self, concurrency: int) -> dict[str, float]:
        names = self.samples[concurrency][0].cpu_per_call
        return {name: median(sample.cpu_per_call[name] for sample in self.samples[concurrency]) for name in names}


async def measure(
    variants: Sequence[Variant],
    concurrency_levels: Sequence[int],
    rounds: int,
    seconds: float,
    warmup: float,
    processes: Processes | None = None,
) -> dict[str, Series]:
    """Warm every variant up at every level, then ``rounds`` interleaved rounds of ``seconds`` each.

    With ``processes``, each sample also says how much CPU each of them spent per call."""
    results = {v.key: Series(v.label, {c: [] for c in concurrency_levels}) for v in variants}
    for variant in variants:
        for concurrency in concurrency_levels:
            await run_load(variant.call, concurrency, warmup)
    for round_number in range(rounds):
        progress(f"round {round_number + 1}/{rounds}: {', '.join(v.key for v in variants)}")
        for variant in variants:
            for concurrency in concurrency_levels:
                sample = await run_load(variant.call, concurrency, seconds, processes)
                results[variant.key].samples[concurrency].append(sample)
    return results


def rate_table(results: Mapping[str, Series], concurrencies: Sequence[int], *, first: str, unit: str) -> str:
    """One row per variant: throughput (``unit``/s), p50 and p99 at each concurrency."""
    headers = [first]
    for concurrency in concurrencies:
        headers += [f"{concurrency} task{'s' if concurrency > 1 else ''} {unit}/s", "p50", "p99"]
    rows = []
    for series in results.values():
        row: list[object] = [series.label]
        for concurrency in concurrencies:
            rate, p50, p99 = series.rate(concurrency), series.p50(concurrency), series.p99(concurrency)
            row += [per_second(rate), micros(p50), micros(p99)]
        rows.append(row)
    return markdown_table(headers, rows)
