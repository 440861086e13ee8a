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
        ("openai_api_key = 'hunter2'\n", "holds secrets (openai_api_key)"),
        ("[openai]\napi_key = 'hunter2'\n", "holds secrets (openai.api_key)"),
        ("redis_url = 'redis://:hunter2@r:6379'\n", "a password in redis_url"),
        ("[openai]\nmodle = 'x'\n", "unknown settings openai.modle"),
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


# -- one reader for every setting -------------------------------------------------------------------


def _env_reads_in_source() -> set[str]:
    """Every string literal the package passes to an environment lookup (``environ.get("X")``,
    ``env["X"]``, ``os.getenv("X")``), outside the test helpers."""
    import ast

    package = Path(__file__).resolve().parents[2] / "src" / "prompt_alchemy"
    names: set[str] = set()
    for path in package.rglob("*.py"):
        if "testing" in path.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            target: ast.expr | None = None
            if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
                if node.func.attr in ("get", "getenv") and owner_name in ("env", "environ", "os"):
                    target = node.args[0]
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in (
                "env", "environ"
            ):  # fmt: skip
                target = node.slice
            if isinstance(target, ast.Constant) and isinstance(target.value, str) and target.value.isupper():
                names.add(target.value)
    return names


def test_every_variable_the_code_reads_is_a_known_setting() -> None:
    from prompt_alchemy.runtime.settings import ENVIRONMENT_VARIABLES

    read = _env_reads_in_source()
    assert "ALCHEMY_CONFIG" in read  # the scan finds lookups
    assert read <= ENVIRONMENT_VARIABLES


def test_every_setting_has_a_variable_and_a_line_in_config_show(home: dict[str, str]) -> None:
    from prompt_alchemy.config_reader import environment_names
    from prompt_alchemy.runtime.settings import ENVIRONMENT_VARIABLES

    shown = Settings.load(home).masked()
    for path, variable in environment_names(Settings):
        assert variable in ENVIRONMENT_VARIABLES
        section, _, key = path.partition(".")
        assert section in shown, path
        if key:
            assert key in shown[section] or path == "ollama.host", path


@pytest.mark.parametrize(
    ("variable", "value", "path", "expected"),
    [
        ("OPENAI_TIMEOUT_S", "5", "openai.timeout_s", 5.0),
        ("OPENAI_COMPATIBLE_MODELS", "a, b", "openai_compatible.models", ["a", "b"]),
        ("PROVIDERS_BREAKER_THRESHOLD", "9", "providers.breaker_threshold", 9),
        ("OPENROUTER_TITLE", "my app", "openrouter.title", "my app"),
        ("ENGINE_PROVIDER_TIMEOUT", "45", "engine_provider_timeout", 45.0),
        ("LEARNING_ACK_WAIT", "90", "learning_ack_wait", 90.0),
        ("LEARNING_VOTES_PER_ORIGIN", "5", "votes_per_origin", 5),
    ],
)
@pytest.mark.usefixtures("restore_logging")
def test_config_show_shows_the_providers_and_engine_variables_too(
    clean_environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    path: str,
    expected: object,
) -> None:
    clean_environment.setenv(variable, value)
    assert main(["config", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    for part in path.split("."):
        shown = shown[part]
    assert shown == expected


@pytest.mark.usefixtures("restore_logging")
def test_config_show_never_shows_a_vendor_key_or_a_url_password(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environment.setenv("ANTHROPIC_API_KEY", "sk-ant-topsecret-123")
    clean_environment.setenv("OPENAI_COMPATIBLE_BASE_URL", "http://user:pa55word@127.0.0.1:9/v1")
    clean_environment.setenv("REDIS_URL", "redis://:r3dispass@127.0.0.1:6379/0")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    for secret in ("sk-ant-topsecret-123", "pa55word", "r3dispass"):
        assert secret not in out
    assert json.loads(out)["providers"]["providers"]["anthropic"]["keys"] == {"ANTHROPIC_API_KEY": "set"}


def test_the_file_configures_provider_sections_and_the_environment_still_wins(
    tmp_path: Path, home: dict[str, str]
) -> None:
    config = tmp_path / "alchemy.toml"
    config.write_text(
        "[prompt-alchemy]\nengine_storage_timeout = 4.5\n"
        '[prompt-alchemy.openai]\nmodel = "gpt-file"\ntimeout_s = 7\n'
        '[prompt-alchemy.ollama]\nhost = "127.0.0.1:11434"\n'
        '[prompt-alchemy.providers]\nfallback = ["anthropic", "offline"]\n'
    )
    settings = Settings.load({**home, "OPENAI_TIMEOUT_S": "3"}, config_file=config)
    providers = settings.providers_config()
    openai = providers.settings_for("openai")
    assert openai is not None
    assert (openai.default_model, openai.policy.timeout_s) == ("gpt-file", 3.0)
    ollama = providers.settings_for("ollama")
    assert ollama is not None
    assert ollama.base_url == "http://127.0.0.1:11434"
    assert providers.fallback_order == ("anthropic", "offline")
    assert settings.engine_storage_timeout == 4.5


def test_an_invalid_provider_value_names_its_variable(home: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=re.escape("openai.timeout_s (OPENAI_TIMEOUT_S)")) as error:
        Settings.load({**home, "OPENAI_TIMEOUT_S": "soonish"})
    assert "soonish" not in str(error.value)


def test_engine_timeouts_and_limits_are_settings(home: dict[str, str]) -> None:
    from prompt_alchemy.runtime.components import engine_settings, learning_settings

    env = {**home, "ENGINE_PROVIDER_TIMEOUT": "30", "ENGINE_HEALTH_TIMEOUT": "1.5", "ENGINE_BATCH_CONCURRENCY": "2",
           "ENGINE_PROVIDER_CALLS": "64", "LEARNING_BATCH_SIZE": "32",
           "LEARNING_LABEL_REVIEW_INTERVAL": "0"}  # fmt: skip
    settings = Settings.load(env)
    engine = engine_settings(settings)
    assert (engine.timeouts.provider_s, engine.timeouts.health_s) == (30.0, 1.5)
    assert (engine.limits.batch, engine.limits.provider_calls) == (2, 64)
    learning = learning_settings(settings)
    assert (learning.batch_size, learning.label_review_interval) == (32, 0.0)
    assert engine_settings(Settings.load(home)).limits.provider_calls == 32  # max(16, ENGINE_CONCURRENCY)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("engine", ServiceType.GENERATION),
        ("GenerationEngine", ServiceType.GENERATION),
        ("api-gateway", ServiceType.API),
        ("mcp_server", ServiceType.MCP),
        ("provider-manager", ServiceType.PROVIDERS),
        ("storage-layer", ServiceType.STORAGE),
        ("learning-engine", ServiceType.LEARNING),
        ("storage", ServiceType.STORAGE),
    ],
)
def test_service_type_takes_the_seeds_names(home: dict[str, str], name: str, kind: ServiceType) -> None:
    assert Settings.load({**home, "SERVICE_TYPE": name}).service_type is kind


def test_an_unknown_service_type_lists_the_names(home: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="service_type: unknown service type: use one of api, mcp, generation"):
        Settings.load({**home, "SERVICE_TYPE": "enigne"})


@pytest.mark.usefixtures("restore_logging")
def test_service_type_engine_runs_the_generation_worker(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environment.setenv("SERVICE_TYPE", "engine")
    assert main([]) == 2  # the generation worker, refused only for want of NATS
    assert "microservice mode needs NATS" in capsys.readouterr().err


def test_the_worker_command_takes_the_seeds_names_and_refuses_a_door(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["worker", "engine"]).kind == "generation"
    assert parser.parse_args(["worker", "storage-layer"]).kind == "storage"
    with pytest.raises(SystemExit):
        parser.parse_args(["worker", "api-gateway"])
    assert "a front door, not a worker: use `serve api`" in capsys.readouterr().err


def test_the_readme_documents_every_variable() -> None:
    from prompt_alchemy.runtime.settings import ENVIRONMENT_VARIABLES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Configuration") : readme.index("## Security")]
    prefixes = ("OPENAI_COMPATIBLE", "OPENAI", "ANTHROPIC", "GEMINI", "OLLAMA", "OPENROUTER", "XAI")
    documented = set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", section))
    for generic in [name for name in documented if name.startswith("P_")]:
        documented |= {f"{prefix}{generic[1:]}" for prefix in prefixes}
    missing = ENVIRONMENT_VARIABLES - documented - {"HOME", "XDG_DATA_HOME"}
    assert not missing, f"README's configuration section misses {sorted(missing)}"
