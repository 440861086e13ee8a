"""prompt-alchemy: ideas into production-ready prompts, on a message bus."""

__version__ = "0.1.0"
