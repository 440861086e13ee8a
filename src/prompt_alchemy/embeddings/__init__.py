"""Offline text embeddings shared by the storage worker and the offline provider."""

from prompt_alchemy.embeddings.wordllama import (
    WORDLLAMA_DIMENSION,
    WORDLLAMA_MODEL,
    embed_wordllama,
    load_wordllama,
    wordllama_loaded,
)

__all__ = ["WORDLLAMA_DIMENSION", "WORDLLAMA_MODEL", "embed_wordllama", "load_wordllama", "wordllama_loaded"]
