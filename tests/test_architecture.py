"""Layering, checked on the source: who may import whom.

- gateway/ (front doors) talks to the bus only: never a worker, never the runtime;
- a worker never imports another worker, the gateway or the runtime;
- the shared layers (schemas, bus, embeddings, errors) import no worker, gateway or runtime,
  and schemas import no bus;
- the bus knows no domain: of schemas it imports only the wire protocol (contract kinds, subject
  syntax, the error body, the health and ADR-32 discovery shapes), never the contract table;
- only runtime/ (the composition root) may import both gateway and workers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import prompt_alchemy

PACKAGE_DIR = Path(prompt_alchemy.__file__).parent
WORKERS = ("providers", "storage", "generation", "learning")


def _package_of(path: Path) -> str:
    return ".".join(("prompt_alchemy", *path.relative_to(PACKAGE_DIR).parent.parts))


def _imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """Every absolute module an ``import``/``from ... import`` names, relative ones resolved."""
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found.extend((node.lineno, arg.value) for arg in node.args if isinstance(arg, ast.Constant))
    return found


def _violations(area: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    root = PACKAGE_DIR / area
    modules = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    assert modules, f"no modules under {area}"
    found: dict[str, list[str]] = {}
    for path in modules:
        bad = sorted(
            {
                f"{line}: {module}"
                for line, module in _imported_modules(path.read_text(), _package_of(path))
                if isinstance(module, str) and any(module == f or module.startswith(f + ".") for f in forbidden)
            }
        )
        if bad:
            found[str(path.relative_to(PACKAGE_DIR))] = bad
    return found


def test_gateway_never_imports_workers_or_the_runtime() -> None:
    assert _violations("gateway", ("prompt_alchemy.workers", "prompt_alchemy.runtime")) == {}


@pytest.mark.parametrize("worker", WORKERS)
def test_a_worker_imports_no_other_worker_nor_the_front_doors(worker: str) -> None:
    others = tuple(f"prompt_alchemy.workers.{other}" for other in WORKERS if other != worker)
    assert _violations(f"workers/{worker}", (*others, "prompt_alchemy.gateway", "prompt_alchemy.runtime")) == {}


@pytest.mark.parametrize("shared", ["schemas", "bus", "embeddings", "errors", "redis_target"])
def test_shared_layers_import_no_worker_front_door_or_runtime(shared: str) -> None:
    forbidden = ("prompt_alchemy.workers", "prompt_alchemy.gateway", "prompt_alchemy.runtime")
    if shared == "schemas":
        forbidden = (*forbidden, "prompt_alchemy.bus")
    assert _violations(shared, forbidden) == {}


BUS_MAY_IMPORT_FROM_SCHEMAS = ("contract", "subjects", "errors", "health")


def test_the_bus_imports_only_the_wire_protocol_from_schemas() -> None:
    """Workers hand the bus their contracts, health check and streams; it never looks them up."""
    allowed = tuple(f"prompt_alchemy.schemas.{module}" for module in BUS_MAY_IMPORT_FROM_SCHEMAS)
    found: dict[str, list[str]] = {}
    for path in sorted((PACKAGE_DIR / "bus").rglob("*.py")):
        bad = sorted(
            {
                f"{line}: {module}"
                for line, module in _imported_modules(path.read_text(), _package_of(path))
                if (module == "prompt_alchemy.schemas" or module.startswith("prompt_alchemy.schemas."))
                and not any(module == ok or module.startswith(ok + ".") for ok in allowed)
            }
        )
        if bad:
            found[str(path.relative_to(PACKAGE_DIR))] = bad
    assert found == {}


def test_the_check_sees_every_import_form() -> None:
    """The checker itself: each way of importing a worker is caught, harmless imports are not."""
    source = (
        "import prompt_alchemy.workers.storage\n"
        "from prompt_alchemy.workers import generation\n"
        "from ...workers.providers import clients\n"
        "import importlib\n"
        "importlib.import_module('prompt_alchemy.workers.learning')\n"
        "from prompt_alchemy import workers\n"
        "from prompt_alchemy.bus import Bus\n"
        "from .. import failures\n"
    )
    found = _imported_modules(source, "prompt_alchemy.gateway.cli")
    flagged = sorted({line for line, module in found if module.startswith("prompt_alchemy.workers")})
    assert flagged == [1, 2, 3, 5, 6]
