"""API keys: read from the environment at call time, masked when printed, scrubbed from vendor text.

A key lives only inside a ``SecretKey`` for the duration of one call; settings hold the *names*
of environment variables, never values. Anything a vendor sends back (error messages can echo the
key) passes through ``redact`` before it reaches an exception, a log line or a reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["REDACTED", "SecretKey", "read_key", "redact"]

REDACTED = "[redacted]"

# Shapes of vendor keys and bearer tokens, scrubbed even when the exact key is unknown here.
_KEY_SHAPES = re.compile(
    r"(?:sk-[A-Za-z0-9_\-]{8,}"
    r"|AIza[0-9A-Za-z_\-]{20,}"
    r"|xai-[A-Za-z0-9_\-]{10,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*)"
)
_MIN_SECRET_LENGTH = 4


class SecretKey:
    """A key whose ``repr``/``str`` never show it; ``reveal()`` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretKey('**********')"

    __str__ = __repr__

    def __reduce__(self) -> tuple[type[SecretKey], tuple[str]]:
        raise TypeError("SecretKey cannot be pickled")


def read_key(names: Iterable[str], environ: Mapping[str, str]) -> SecretKey | None:
    """The first non-empty variable among ``names``, read now (keys can be rotated at run time)."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return SecretKey(value)
    return None


def redact(text: str, secrets: Iterable[SecretKey | None] = ()) -> str:
    """``text`` with every given key and anything shaped like a key replaced by ``[redacted]``."""
    for secret in secrets:
        if secret is not None and len(secret.reveal()) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret.reveal(), REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)
