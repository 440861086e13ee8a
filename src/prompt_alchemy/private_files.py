"""Data on disk is the owner's alone: directories 0700, database and log files 0600.

Prompts, feedback and logs may hold what users typed; nothing else on the machine needs to read
them. ``private_dir`` creates (or tightens) a directory, ``private_file`` creates a file with
mode 0600 before SQLite or a log handler opens it — SQLite gives its ``-wal`` and ``-shm`` files
the database file's mode. The umask can only remove bits, so these modes hold under any umask.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "private_file"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` and its missing parents created; ``path`` itself 0700 (tightened if it existed)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty with mode 0600 if missing, else tightened to 0600; never truncated."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        if os.fstat(descriptor).st_mode & 0o777 != FILE_MODE:
            os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)
    return path
