"""A per-provider circuit breaker: stop calling a provider that keeps failing, probe it later.

closed --(threshold consecutive failures)--> open --(cool-down elapsed)--> half-open
half-open lets exactly one probe through: success closes the circuit, failure re-opens it.
Only failures that say "the provider is unwell" count (connection, timeout, 429, 5xx); a 4xx
answer proves the provider is up and counts as success. The clock is injectable.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_alchemy.schemas.providers import CircuitState

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    def __init__(self, *, threshold: int, cooldown_s: float, clock: Callable[[], float]) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> CircuitState:
        """The state as a caller would find it now (an expired open circuit reads half-open)."""
        if self._state is CircuitState.OPEN and self.retry_in() <= 0:
            return CircuitState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when not open)."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self._clock())

    def allow(self) -> bool:
        """May a call go out now? In half-open, True for exactly one caller (the probe)."""
        if self._state is CircuitState.OPEN:
            if self.retry_in() > 0:
                return False
            self._state = CircuitState.HALF_OPEN
            self._probe_in_flight = False
        if self._state is CircuitState.HALF_OPEN:
            if self._probe_in_flight:
                return False
            self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN or self._failures >= self.threshold:
            self._state = CircuitState.OPEN
            self._opened_at = self._clock()
        self._probe_in_flight = False

    def release_probe(self) -> None:
        """The probe ended without a verdict (cancelled): let the next caller probe instead."""
        self._probe_in_flight = False
