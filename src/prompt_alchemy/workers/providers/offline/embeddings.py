"""Offline embeddings for ``providers.embed`` with the offline provider: WordLlama's normalised vectors."""

from __future__ import annotations

from collections.abc import Sequence

from prompt_alchemy.embeddings import WORDLLAMA_DIMENSION, embed_wordllama

__all__ = ["EMBEDDING_DIMENSION", "WordLlamaEmbedder"]

EMBEDDING_DIMENSION = WORDLLAMA_DIMENSION


class WordLlamaEmbedder:
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking: call it from a worker thread."""
        return [[float(x) for x in row] for row in embed_wordllama(list(texts))]
