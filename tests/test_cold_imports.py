"""What a cold CLI process imports: the Redis backend's redisvl loads only when a Redis store is used.

(Speed itself is measured in bench/cold_start.py; this pins which heavy modules stay off the path.)
"""

from __future__ import annotations

import subprocess
import sys


def modules_after(statement: str, names: list[str]) -> dict[str, bool]:
    probe = f"import sys; {statement}; print(' '.join(str(n in sys.modules) for n in {names!r}))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    return dict(zip(names, (flag == "True" for flag in out), strict=True))


def test_the_cli_and_the_embedded_composition_do_not_import_redisvl() -> None:
    loaded = modules_after("import prompt_alchemy.runtime.cli, prompt_alchemy.runtime.components", ["redisvl"])
    assert loaded == {"redisvl": False}


def test_the_redis_store_is_still_exported_and_loads_redisvl_on_use() -> None:
    loaded = modules_after("from prompt_alchemy.workers.storage import RedisPromptStore", ["redisvl"])
    assert loaded == {"redisvl": True}
