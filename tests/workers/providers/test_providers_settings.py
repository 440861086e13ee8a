"""Settings from the environment, key holders that never print, redaction, prices."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.schemas.common import Usage
from prompt_alchemy.workers.providers import ProviderKind, from_env
from prompt_alchemy.workers.providers.pricing import PriceTable, load_prices
from prompt_alchemy.workers.providers.secrets import REDACTED, SecretKey, read_key, redact


def test_defaults_cover_every_vendor_and_the_offline_provider() -> None:
    config = from_env({})
    names = [settings.name for settings in config.providers]
    assert names == ["openai", "anthropic", "gemini", "ollama", "openrouter", "xai", "openai-compatible", "offline"]
    openai = config.settings_for("openai")
    assert openai is not None
    assert openai.base_url == "https://api.openai.com/v1"
    assert openai.api_key_env == ("OPENAI_API_KEY",)
    assert openai.embedding_model == "text-embedding-3-small"
    gemini = config.settings_for("gemini")
    assert gemini is not None
    assert gemini.api_key_env == ("GOOGLE_API_KEY", "GEMINI_API_KEY")
    ollama = config.settings_for("ollama")
    assert ollama is not None
    assert ollama.base_url is None  # only configured by OLLAMA_HOST
    assert config.default is None
    assert config.fallback_order is None


def test_overrides_from_environment() -> None:
    config = from_env(
        {
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1/",
            "OPENAI_MODEL": "gpt-4.1",
            "OPENAI_MODELS": "gpt-4o, o3-mini",
            "OPENAI_TIMEOUT_S": "5",
            "PROVIDERS_MAX_RETRIES": "4",
            "OLLAMA_HOST": "127.0.0.1:11434",
            "OPENROUTER_TITLE": "my app",
            "PROVIDERS_DEFAULT": "openai",
            "PROVIDERS_FALLBACK": "anthropic, offline",
            "PROVIDERS_CACHE_SIZE": "0",
        }
    )
    openai = config.settings_for("openai")
    assert openai is not None
    assert openai.base_url == "http://127.0.0.1:9/v1"
    assert openai.default_model == "gpt-4.1"
    assert openai.all_models == ["gpt-4.1", "text-embedding-3-small", "gpt-4o", "o3-mini"]
    assert openai.policy.timeout_s == 5.0
    assert openai.policy.max_retries == 4
    ollama = config.settings_for("ollama")
    assert ollama is not None
    assert ollama.base_url == "http://127.0.0.1:11434"
    openrouter = config.settings_for("openrouter")
    assert openrouter is not None
    assert openrouter.kind is ProviderKind.OPENROUTER
    assert openrouter.headers["X-Title"] == "my app"
    assert "HTTP-Referer" in openrouter.headers
    assert config.default == "openai"
    assert config.fallback_order == ("anthropic", "offline")
    assert config.cache_size == 0
    assert from_env({"PROVIDERS_FALLBACK": "none"}).fallback_order == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PROVIDERS_TIMEOUT_S": "soon"}, "PROVIDERS_TIMEOUT_S"),
        ({"PROVIDERS_DEFAULT": "nobody"}, "PROVIDERS_DEFAULT"),
        ({"PROVIDERS_FALLBACK": "openai,ghost"}, "ghost"),
        ({"PROVIDERS_MAX_RETRIES": "-1"}, "max_retries"),
        ({"PROVIDERS_PRICES_FILE": "/nonexistent/prices.json"}, "price table"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_problem(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_env(env)


def test_settings_never_hold_a_key() -> None:
    config = from_env({"OPENAI_API_KEY": "sk-test-SECRET-123"})
    assert "sk-test-SECRET-123" not in repr(config)


def test_secret_key_is_masked_and_read_at_call_time() -> None:
    key = SecretKey("sk-test-SECRET-123")
    assert "SECRET" not in repr(key)
    assert "SECRET" not in str(key)
    assert "SECRET" not in f"{key}"
    with pytest.raises(TypeError):
        pickle.dumps(key)
    env = {"GEMINI_API_KEY": "g-1"}
    first = read_key(("GOOGLE_API_KEY", "GEMINI_API_KEY"), env)
    assert first is not None
    assert first.reveal() == "g-1"
    env["GOOGLE_API_KEY"] = "g-2"
    second = read_key(("GOOGLE_API_KEY", "GEMINI_API_KEY"), env)
    assert second is not None
    assert second.reveal() == "g-2"
    assert read_key(("NOPE",), {"NOPE": "  "}) is None


def test_redact_scrubs_the_exact_key_and_key_shaped_text() -> None:
    text = "bad key secret-value-1, also sk-proj-abcdefghijk and AIzaSyA1234567890abcdefghijk and Bearer abc.def.ghi"
    cleaned = redact(text, [SecretKey("secret-value-1")])
    for leaked in ("secret-value-1", "sk-proj-abcdefghijk", "AIzaSyA1234567890abcdefghijk", "abc.def.ghi"):
        assert leaked not in cleaned
    assert cleaned.count(REDACTED) == 4
    assert redact("nothing secret here") == "nothing secret here"


def test_prices_match_longest_prefix_and_vendor_prefixed_names() -> None:
    table = PriceTable()
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert table.cost("gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.75)
    assert table.cost("gpt-4o", usage) == pytest.approx(12.5)
    assert table.cost("openai/gpt-4o-mini", usage) == pytest.approx(0.75)
    assert table.cost("claude-sonnet-4-20250514", usage) == pytest.approx(18.0)
    assert table.cost("mystery-model", usage) == 0.0


def test_price_file_extends_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-model": {"input": 1.0, "output": 2.0}, "gpt-4o": {"input": 0, "output": 0}}))
    table = load_prices(path)
    usage = Usage(input_tokens=500_000, output_tokens=500_000)
    assert table.cost("my-model", usage) == pytest.approx(1.5)
    assert table.cost("gpt-4o", usage) == 0.0
    assert table.cost("gpt-4o-mini", usage) > 0
    path.write_text(json.dumps({"bad": {"input": -1}}))
    with pytest.raises(ConfigError, match="non-negative"):
        load_prices(path)
