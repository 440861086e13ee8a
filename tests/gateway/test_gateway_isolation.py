"""The gateway only talks to the bus: no module under ``gateway/`` may import a worker."""

from __future__ import annotations

import ast
from pathlib import Path

import prompt_alchemy.gateway

GATEWAY_DIR = Path(prompt_alchemy.gateway.__file__).parent
FORBIDDEN = ("prompt_alchemy.workers", "prompt_alchemy.runtime")


def _package_of(path: Path) -> str:
    return ".".join(("prompt_alchemy", "gateway", *path.relative_to(GATEWAY_DIR).parent.parts))


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


def _forbidden_lines(source: str, package: str) -> list[int]:
    return sorted(
        {
            line
            for line, module in _imported_modules(source, package)
            if isinstance(module, str) and any(module == f or module.startswith(f + ".") for f in FORBIDDEN)
        }
    )


def test_gateway_never_imports_workers_or_the_runtime() -> None:
    modules = sorted(GATEWAY_DIR.rglob("*.py"))
    assert len(modules) > 10, "gateway modules not found"
    violations = {
        str(path.relative_to(GATEWAY_DIR)): lines
        for path in modules
        if (lines := _forbidden_lines(path.read_text(), _package_of(path)))
    }
    assert violations == {}


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
    assert _forbidden_lines(source, "prompt_alchemy.gateway.cli") == [1, 2, 3, 5, 6]
