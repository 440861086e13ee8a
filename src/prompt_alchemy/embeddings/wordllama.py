"""WordLlama: 256-dimension static embeddings whose weights ship inside the wheel.

The model is loaded once per process, lazily (about half a second), and never downloads: its
``load`` is pointed at the package's own folder with downloads disabled, the combination that
works offline (INFRA.md). Calls are blocking: run them in a worker thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prompt_alchemy.errors import Unavailable

__all__ = ["WORDLLAMA_DIMENSION", "WORDLLAMA_MODEL", "embed_wordllama", "load_wordllama", "wordllama_loaded"]

WORDLLAMA_MODEL = "wordllama-l2-supercat-256"
WORDLLAMA_DIMENSION = 256

_lock = threading.Lock()
_model: Any = None


def load_wordllama() -> Any:
    """The process-wide model, loaded on first call."""
    global _model
    with _lock:
        if _model is None:
            try:
                import wordllama
            except ImportError as error:
                raise Unavailable("offline embeddings need the wordllama package", retriable=False) from error
            folder = Path(wordllama.__file__).parent
            _model = wordllama.WordLlama.load(
                config="l2_supercat", dim=WORDLLAMA_DIMENSION, cache_dir=folder, disable_download=True
            )
        return _model


def wordllama_loaded() -> bool:
    return _model is not None


def embed_wordllama(texts: list[str]) -> npt.NDArray[np.float32]:
    """One L2-normalised float32 row per text (a dot product is then the cosine)."""
    matrix = np.asarray(load_wordllama().embed(texts, norm=True), dtype=np.float32)
    return matrix.reshape(len(texts), WORDLLAMA_DIMENSION)
