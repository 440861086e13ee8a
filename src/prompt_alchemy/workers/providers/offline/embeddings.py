"""Offline embeddings: WordLlama's 256-dim static vectors, shipped inside its wheel.

The model loads lazily on first use (about half a second) and never downloads: ``load`` is
pointed at the package's own folder with downloads disabled, which is the combination that
works offline. Vectors are L2-normalised so a dot product is the cosine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from prompt_alchemy.errors import Unavailable

__all__ = ["EMBEDDING_DIMENSION", "WordLlamaEmbedder"]

EMBEDDING_DIMENSION = 256


class WordLlamaEmbedder:
    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import wordllama
                    from wordllama import WordLlama
                except ImportError as exc:
                    raise Unavailable("offline embeddings need the wordllama package", retriable=False) from exc
                folder = os.path.dirname(wordllama.__file__)
                self._model = WordLlama.load(cache_dir=folder, disable_download=True, dim=EMBEDDING_DIMENSION)
            return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking: call it from a worker thread."""
        vectors = self._load().embed(list(texts), norm=True, return_np=True)
        return [[float(x) for x in row] for row in vectors]
