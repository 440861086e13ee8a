"""The image installs exactly what requirements.lock pins, hashed, and the pins keep the advisory floors."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._\-]+)==([^\s;\\]+)")

# Releases with published advisories stay out (pyproject floors, and so the lock).
ADVISORY_FLOORS = {"aiohttp": "3.12.14", "h11": "0.16.0", "starlette": "1.0.1", "uvicorn": "0.11.7"}


def locked() -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, its hashes)."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    current: str | None = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{current} pinned twice"
            pins[current] = (Version(match.group(2)), [])
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            pins[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
    return pins


def test_every_runtime_dependency_is_pinned_within_its_range_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run `just lock`"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (text, pins[name][0])
    assert all(len(hashes) >= 1 and all(len(h) == 64 for h in hashes) for _, hashes in pins.values())


@pytest.mark.parametrize(("name", "floor"), sorted(ADVISORY_FLOORS.items()))
def test_no_locked_or_allowed_release_has_a_known_advisory(name: str, floor: str) -> None:
    version, _ = locked()[name]
    assert version >= Version(floor)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(text) for text in project["dependencies"]]
    [requirement] = [item for item in declared if canonicalize_name(item.name) == name]
    lower_bounds = [Version(spec.version) for spec in requirement.specifier if spec.operator in (">=", "~=", "==")]
    assert any(bound >= Version(floor) for bound in lower_bounds), f"pyproject lets {name} < {floor} in"


def test_the_image_installs_from_the_lock_with_hashes_required() -> None:
    dockerfile = (ROOT / "compose" / "Dockerfile").read_text()
    assert re.search(r"pip install [^\n]*--require-hashes -r \S*requirements\.lock", dockerfile)
    assert re.search(r"pip install [^\n]*--no-deps /wheels/", dockerfile)  # our wheel adds nothing unlocked
    assert "pip wheel --no-cache-dir --no-deps" in dockerfile
