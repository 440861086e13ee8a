"""Settings are read once: TOML file, then environment (wins), then command-line flags (win); secrets masked."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.runtime.cli import build_parser, main, settings_from_args
from prompt_alchemy.runtime.settings import DeploymentMode, ServiceType, Settings


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path)}


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No prompt-alchemy setting from the developer's shell reaches ``Settings.load()``."""
    for name in ("ALCHEMY_CONFIG", "NATS_URL", "REDIS_URL", "SERVICE_TYPE", "DEPLOYMENT_MODE", "HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ALCHEMY_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``main()`` routes logging to JSON on stderr; put the test runner's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_environment_wins_over_the_file(tmp_path: Path, home: dict[str, str]) -> None:
    config = tmp_path / "alchemy.toml"
    config.write_text('[prompt-alchemy]\nhttp_port = 9000\nenable_learning = false\nlog_level = "WARNING"\n')
    settings = Settings.load({**home, "HTTP_PORT": "9100"}, config_file=config)
    assert settings.http_port == 9100
    assert settings.enable_learning is False
    assert settings.log_level == "WARNING"


def test_the_file_can_be_named_by_alchemy_config(tmp_path: Path, home: dict[str, str]) -> None:
    config = tmp_path / "alchemy.toml"
    config.write_text('deployment_mode = "microservice"\nnats_url = "nats://nats:4222"\n')
    settings = Settings.load({**home, "ALCHEMY_CONFIG": str(config)})
    assert settings.deployment_mode is DeploymentMode.MICROSERVICE
    assert settings.nats_url == "nats://nats:4222"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("nats_password = 'hunter2'\n", "holds secrets (nats_password)"),
        ("api_keys = ['k']\n", "holds secrets (api_keys)"),
        ("htp_port = 1\n", "unknown settings htp_port"),
        ("http_port = \n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(
    tmp_path: Path, home: dict[str, str], content: str, needle: str
) -> None:
    config = tmp_path / "alchemy.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=re.escape(needle)) as error:
        Settings.load(home, config_file=config)
    assert "hunter2" not in str(error.value)


def test_feature_flags_parse_the_usual_spellings(home: dict[str, str]) -> None:
    env = {
        **home, "ENABLE_API": "false", "ENABLE_MCP": "0", "ENABLE_LEARNING": "no", "ENABLE_METRICS": "off",
        "DEBUG_MODE": "true",
    }  # fmt: skip
    settings = Settings.load(env)
    assert (settings.enable_api, settings.enable_mcp, settings.enable_learning, settings.enable_metrics) == (
        False, False, False, False,
    )  # fmt: skip
    assert settings.debug_mode is True


def test_an_invalid_value_names_the_setting(home: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="enable_api") as error:
        Settings.load({**home, "ENABLE_API": "maybe"})
    assert "maybe" not in str(error.value)  # values are not echoed: one of them could be a secret


def test_secrets_are_masked_and_never_shown(home: dict[str, str]) -> None:
    settings = Settings.load({**home, "NATS_PASSWORD": "hunter2", "ALCHEMY_API_KEYS": "key-one, key-two"})
    shown = json.dumps(settings.masked())
    assert "hunter2" not in shown
    assert "key-one" not in shown
    assert settings.masked()["nats_password"] == "***(1 set)"
    assert settings.masked()["api_keys"] == "***(2 set)"
    assert "hunter2" not in repr(settings)
    assert [key.get_secret_value() for key in settings.api_keys] == ["key-one", "key-two"]


def test_command_line_flags_win_over_the_environment(clean_environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_environment.setenv("HTTP_PORT", "1234")
    clean_environment.setenv("ENABLE_LEARNING", "true")
    args = build_parser().parse_args(
        ["serve", "--all", "--http-port", "0", "--no-learning", "--no-mcp", "--data-dir", str(tmp_path / "d")]
    )
    settings = settings_from_args(args)
    assert settings.http_port == 0
    assert settings.enable_learning is False
    assert settings.enable_mcp is False
    assert settings.enable_api is True  # not given: the environment's (default) value
    assert settings.data_dir == tmp_path / "d"


def test_global_options_work_before_and_after_the_command(clean_environment: pytest.MonkeyPatch) -> None:
    parser = build_parser()
    before = settings_from_args(parser.parse_args(["--nats", "nats://a:4222", "worker", "storage"]))
    after = settings_from_args(parser.parse_args(["worker", "storage", "--nats", "nats://a:4222", "--debug"]))
    assert before.nats_url == after.nats_url == "nats://a:4222"
    assert after.debug_mode is True
    assert before.debug_mode is False


@pytest.mark.usefixtures("restore_logging")
def test_config_show_prints_the_effective_settings_masked(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environment.setenv("NATS_TOKEN", "s3cr3t-token")
    clean_environment.setenv("ENABLE_METRICS", "false")
    assert main(["config", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["enable_metrics"] is False
    assert shown["nats_token"] == "***(1 set)"
    assert "s3cr3t-token" not in json.dumps(shown)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("service_type", [t.value for t in ServiceType])
def test_service_type_alone_runs_that_service_and_microservices_need_nats(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], service_type: str
) -> None:
    clean_environment.setenv("SERVICE_TYPE", service_type)
    assert main([]) == 2
    assert "microservice mode needs NATS" in capsys.readouterr().err


@pytest.mark.usefixtures("restore_logging")
def test_serve_in_microservice_mode_needs_a_role(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environment.setenv("DEPLOYMENT_MODE", "microservice")
    assert main(["serve"]) == 2
    assert "serve needs --all (monolithic) or a role" in capsys.readouterr().err


def test_without_a_command_or_service_type_it_is_a_usage_error(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "a COMMAND is required" in capsys.readouterr().err


def test_engine_settings_come_from_the_environment(home: dict[str, str]) -> None:
    from prompt_alchemy.runtime.components import engine_settings

    env = {**home, "ENGINE_PROVIDER": "openai", "JUDGE_PROVIDER": "anthropic", "JUDGE_MODEL": "claude-haiku-4-5",
           "ENGINE_CONCURRENCY": "7", "ENABLE_LEARNING": "false"}  # fmt: skip
    engine = engine_settings(Settings.load(env))
    assert engine.default_provider == "openai"
    assert engine.judge_provider == "anthropic"
    assert engine.judge_model == "claude-haiku-4-5"
    assert engine.limits.generate == 7
    assert engine.learning_enabled is False
    assert engine_settings(Settings.load(home)).default_provider is None


def test_nats_url_takes_a_comma_list_of_cluster_servers(home: dict[str, str]) -> None:
    settings = Settings.load(home | {"NATS_URL": "nats://a:4222, nats://b:4222,nats://c:4222"})
    assert settings.nats_servers == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert Settings.load(home | {"NATS_URL": "nats://one:4222"}).nats_servers == ["nats://one:4222"]
    with pytest.raises(ConfigError, match="NATS_URL names no server"):
        Settings.load(home, overrides={"nats_url": " , "})


def test_stream_replicas_default_to_one_and_are_bounded(home: dict[str, str]) -> None:
    assert Settings.load(home).stream_replicas == 1
    assert Settings.load(home | {"STREAM_REPLICAS": "3"}).stream_replicas == 3
    with pytest.raises(ConfigError, match="stream_replicas"):
        Settings.load(home | {"STREAM_REPLICAS": "0"})


def test_redis_sentinels_make_a_sentinel_target_that_waits_for_one_replica(home: dict[str, str]) -> None:
    env = home | {"REDIS_SENTINELS": "10.0.0.1:26379, s2:26380", "REDIS_SENTINEL_SERVICE": "alchemy"}
    target = Settings.load(env).redis_target
    assert target is not None
    assert target.sentinels == (("10.0.0.1", 26379), ("s2", 26380))
    assert (target.service, target.url, target.wait_replicas) == ("alchemy", None, 1)
    assert "alchemy" in target.describe()
    unconfirmed = Settings.load(env | {"REDIS_WAIT_REPLICAS": "0"}).redis_target
    assert unconfirmed is not None
    assert unconfirmed.wait_replicas == 0
    plain = Settings.load(home | {"REDIS_URL": "redis://user:secret@r:6379/0"}).redis_target
    assert plain is not None
    assert (plain.url, plain.wait_replicas) == ("redis://user:secret@r:6379/0", 0)
    assert "secret" not in plain.describe()
    assert Settings.load(home).redis_target is None


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"REDIS_SENTINELS": "s1:26379"}, "REDIS_SENTINEL_SERVICE"),
        ({"REDIS_SENTINELS": "s1:26379", "REDIS_SENTINEL_SERVICE": "a", "REDIS_URL": "redis://r"}, "not both"),
        ({"REDIS_SENTINELS": "s1", "REDIS_SENTINEL_SERVICE": "a"}, "'s1' is not host:port"),
        ({"REDIS_SENTINELS": "s1:99999", "REDIS_SENTINEL_SERVICE": "a"}, "is not host:port"),
    ],
)
def test_a_bad_sentinel_configuration_is_refused_by_name(
    home: dict[str, str], env: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        Settings.load(home | env)
    assert str(caught.value).startswith("invalid settings: ")
    assert "Value error" not in str(caught.value)
    assert ": :" not in str(caught.value)


def test_door_settings_come_from_the_environment(home: dict[str, str]) -> None:
    env = {
        **home,
        "ALLOWED_HOSTS": "prompts.example.org, .corp.example",
        "ALLOWED_ORIGINS": "https://tools.example",
        "INSECURE_NO_AUTH": "true",
        "IDLE_TIMEOUT": "5",
        "BODY_TIMEOUT": "7.5",
    }
    settings = Settings.load(env)
    assert settings.allowed_hosts == ("prompts.example.org", ".corp.example")
    assert settings.allowed_origins == ("https://tools.example",)
    assert settings.insecure_no_auth is True
    assert (settings.idle_timeout, settings.body_timeout) == (5.0, 7.5)
    with pytest.raises(ConfigError, match="idle_timeout"):
        Settings.load({**home, "IDLE_TIMEOUT": "0"})
