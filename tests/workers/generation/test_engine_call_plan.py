"""Per-phase provider, model, temperature and max tokens: request over settings, phase over request."""

from __future__ import annotations

import pytest

from prompt_alchemy.bus import DEFAULT_MAX_PAYLOAD
from prompt_alchemy.bus.codec import decode, encode
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.schemas.common import Phase
from prompt_alchemy.schemas.engine import GenerateRequest, PhaseSettings
from prompt_alchemy.workers.generation.call_plan import chain_temperature, resolve_phase_call
from prompt_alchemy.workers.generation.settings import EngineSettings, PhaseDefaults


def test_defaults_differ_per_phase_exploration_first_precision_last() -> None:
    request = GenerateRequest(input="idea")
    settings = EngineSettings()
    calls = [resolve_phase_call(request, phase, settings) for phase in Phase]
    temperatures = [call.temperature for call in calls]
    assert temperatures == sorted(temperatures, reverse=True)
    assert len(set(temperatures)) == 3
    assert all(call.provider is None for call in calls)  # the providers' own default decides


def test_a_request_that_crossed_the_bus_still_gets_per_phase_defaults() -> None:
    # every field travels on the wire; "left to the engine" must survive the round trip
    request = decode(GenerateRequest, encode(GenerateRequest(input="idea"), max_payload=DEFAULT_MAX_PAYLOAD))
    temperatures = {resolve_phase_call(request, phase, EngineSettings()).temperature for phase in Phase}
    assert len(temperatures) == 3


def test_an_explicit_request_temperature_applies_to_every_phase() -> None:
    request = GenerateRequest(input="idea", temperature=1.1, max_tokens=300)
    for phase in Phase:
        call = resolve_phase_call(request, phase, EngineSettings())
        assert call.temperature == 1.1
        assert call.max_tokens == 300


def test_phase_settings_override_the_request_for_their_phase_only() -> None:
    request = GenerateRequest(
        input="idea",
        provider="alpha",
        temperature=1.0,
        phase_settings={Phase.SOLUTIO: PhaseSettings(provider="beta", model="b-large", temperature=0.2, max_tokens=99)},
    )
    settings = EngineSettings()
    solutio = resolve_phase_call(request, Phase.SOLUTIO, settings)
    assert (solutio.provider, solutio.model, solutio.temperature, solutio.max_tokens) == ("beta", "b-large", 0.2, 99)
    prima = resolve_phase_call(request, Phase.PRIMA_MATERIA, settings)
    assert (prima.provider, prima.model, prima.temperature) == ("alpha", None, 1.0)


def test_engine_settings_give_per_phase_providers_and_a_global_default() -> None:
    settings = EngineSettings(
        default_provider="main",
        default_model="main-1",
        phase_defaults={
            Phase.PRIMA_MATERIA: PhaseDefaults(temperature=0.8, max_tokens=500, provider="cheap", model="cheap-s"),
            Phase.SOLUTIO: PhaseDefaults(temperature=0.6, max_tokens=600),
        },
    )
    request = GenerateRequest(input="idea")
    prima = resolve_phase_call(request, Phase.PRIMA_MATERIA, settings)
    assert (prima.provider, prima.model, prima.max_tokens) == ("cheap", "cheap-s", 500)
    solutio = resolve_phase_call(request, Phase.SOLUTIO, settings)
    assert (solutio.provider, solutio.model, solutio.max_tokens) == ("main", "main-1", 600)
    coagulatio = resolve_phase_call(request, Phase.COAGULATIO, settings)  # not configured: built-in default
    assert coagulatio.provider == "main"
    assert coagulatio.temperature == pytest.approx(0.3)


def test_a_provider_named_by_the_request_does_not_inherit_another_providers_model() -> None:
    settings = EngineSettings(default_provider="main", default_model="main-1")
    call = resolve_phase_call(GenerateRequest(input="idea", provider="other"), Phase.SOLUTIO, settings)
    assert (call.provider, call.model) == ("other", None)


@pytest.mark.parametrize(
    "build",
    [
        lambda: PhaseDefaults(temperature=3.0, max_tokens=10),
        lambda: PhaseDefaults(temperature=0.5, max_tokens=0),
        lambda: EngineSettings(history_min_similarity=1.5),
    ],
)
def test_impossible_settings_are_refused_at_start(build: object) -> None:
    with pytest.raises(ConfigError):
        build()  # type: ignore[operator]


def test_chains_spread_their_temperature_and_stay_in_range() -> None:
    assert [chain_temperature(0.7, chain, 3, 0.1) for chain in range(3)] == pytest.approx([0.7, 0.8, 0.9])
    assert chain_temperature(0.7, 0, 1, 0.1) == 0.7  # a single chain keeps the phase temperature
    assert chain_temperature(0.7, 2, 3, 0.0) == 0.7  # spreading switched off
    top = [chain_temperature(1.95, chain, 10, 0.1) for chain in range(10)]
    assert max(top) == pytest.approx(2.0)
    assert len(set(top)) == 10
