"""Pydantic contracts of every subject. Models live in their modules; this package re-exports the registry."""

from prompt_alchemy.schemas.registry import *  # noqa: F403 - the registry's __all__ is the public surface
from prompt_alchemy.schemas.registry import __all__ as __all__
