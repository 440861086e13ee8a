"""prompt-alchemy: ideas into production-ready prompts, on a message bus."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("prompt-alchemy")  # pyproject.toml's, as installed: one place to bump it
except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
    __version__ = "0.0.0"
