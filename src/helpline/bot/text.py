"""Text handling for the bot: normalisation, language detection, character n-gram TF-IDF.

Everything here is pure Python + NumPy, so the predict path never needs scikit-learn.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from helpline.domain.text import ARABIC_MARKS, ASCII_DIGITS, remove_invisible

Language = Literal["ru", "en", "ar"]
LANGUAGES: tuple[Language, ...] = ("ru", "en", "ar")

_AR_ALEF = re.compile(r"[\u0622\u0623\u0625\u0671]")  # آ أ إ ٱ -> ا
_NUMBER = re.compile(r"\d+")
_NOT_WORD = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")
#: Addresses are Latin whatever language the message around them is in.
_URL = re.compile(r"\b(?:[a-z][a-z0-9+.-]*://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


_AR_LETTERS = str.maketrans({"ى": "ي", "ة": "ه", "ئ": "ي", "ؤ": "و"})


def normalize_text(text: str) -> str:
    """Fold the variation that does not change meaning, for the character n-gram features.

    Format characters dropped (not turned into spaces: they sit inside words), NFKC, lower case,
    ``ё``→``е``; Arabic: diacritics and tatweel dropped, alef forms → ``ا``, ``ى``→``ي``,
    ``ة``→``ه``, hamza on its seat dropped (``ئ``→``ي``, ``ؤ``→``و``: «الجايزة» is how many
    write «الجائزة»); Arabic-Indic digits → ASCII and every number → ``0`` (amounts and dates vary,
    the question does not); punctuation → space.
    """
    text = unicodedata.normalize("NFKC", remove_invisible(text))
    text = text.translate(ASCII_DIGITS).lower().replace("ё", "е")
    text = ARABIC_MARKS.sub("", text)
    text = _AR_ALEF.sub("ا", text).translate(_AR_LETTERS)
    text = _NUMBER.sub("0", text)
    text = _NOT_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def has_letters(text: str) -> bool:
    """Whether a message has a letter of any script, as typed.

    A message of digits and signs alone (a phone number, "#12345", "№ 123") says nothing the
    bot could answer: it is not a question, and its n-grams ("0" for every number) only match
    questions that happen to contain numbers. Read before NFKC, which spells out signs in
    letters ("№" → "No", "™" → "TM"); tatweel, a letter by category, only stretches a word.
    """
    return any(char.isalpha() and char != "\u0640" for char in text)


def _script(char: str) -> Language | None:
    code = ord(char)
    if 0x0600 <= code <= 0x06FF or 0x0750 <= code <= 0x077F or 0x08A0 <= code <= 0x08FF:
        return "ar"
    if 0xFB50 <= code <= 0xFDFF or 0xFE70 <= code <= 0xFEFF:
        return "ar"
    if 0x0400 <= code <= 0x052F:
        return "ru"
    if char.isascii() or 0x00C0 <= code <= 0x024F:
        return "en"
    return None


#: A message is Russian or Arabic when at least this share of its letters is Cyrillic or Arabic.
NON_LATIN_SHARE = 0.25
_NON_LATIN: tuple[Language, ...] = ("ru", "ar")


def detect_language(text: str, default: Language | None = None) -> Language | None:
    """The language of one message, by the script its letters are written in.

    Arabic script → ``ar``, Cyrillic → ``ru``, Latin → ``en``; ``default`` when the message has
    no letters of those scripts (digits, emoji, an empty string). Per message: a customer may
    switch language mid-conversation.

    Latin letters are weak evidence: Russian and Arabic messages name brands, apps and models in
    Latin ("Google Play Market на Samsung Galaxy" has more Latin letters than Cyrillic ones),
    while an English message seldom has Cyrillic or Arabic words. So a non-Latin script wins
    with NON_LATIN_SHARE of the letters, and e-mail addresses and links, Latin in every
    language, are not counted at all. A letter of no script here is counted as its NFKC form,
    so fullwidth and mathematical letters count as the Latin ones they look like; signs that
    NFKC spells in letters ("№" → "No") stay signs.
    """
    if "://" in text or "www." in text.lower():  # the regular expressions cost more
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
    counts: Counter[Language] = Counter()
    for char in text:
        if char.isalpha():
            script = _script(char)
            if script is None:
                folded = unicodedata.normalize("NFKC", char)
                script = _script(folded[0]) if folded else None
            if script is not None:
                counts[script] += 1
    if not counts:
        return default
    # Cyrillic first on a tie with Arabic (both rare in one message).
    non_latin = max(_NON_LATIN, key=lambda lang: counts[lang])
    if counts[non_latin] and counts[non_latin] >= NON_LATIN_SHARE * sum(counts.values()):
        return non_latin
    return "en"


#: Latin words a message needs to turn a Russian or Arabic conversation English: "ok", "thx",
#: an order code ("ABC-12"), a name or a transliterated "kogda tirazh" / "shukran" are not English.
LATIN_WORDS_TO_SWITCH = 3
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def reply_language(text: str, detected: str | None, expected: str | None) -> str | None:
    """The language to answer `text` in, when the conversation so far was in `expected`.

    A message in Cyrillic or Arabic letters is clear evidence; one in Latin letters is weak (see
    detect_language), so a Russian or Arabic conversation turns English only on a message with
    at least LATIN_WORDS_TO_SWITCH words of Latin letters, not on a bare "ok" or a code.
    """
    if (
        detected == "en"
        and expected not in (None, "en")
        and len(_LATIN_WORD.findall(text)) < LATIN_WORDS_TO_SWITCH
    ):
        return expected
    return detected or expected


def clip_words(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, cut at a word boundary when there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return head[:space] if space > limit // 2 else head


def char_ngrams(normalized: str, low: int, high: int) -> Iterator[str]:
    """Character n-grams of each word padded with one space on both sides (sklearn's char_wb)."""
    for word in normalized.split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, min(high, length) + 1):
            for start in range(length - n + 1):
                yield padded[start : start + n]


#: Words whose n-gram columns ``CharNgramTfidf`` keeps at most (a few hundred bytes each, so
#: about 15 MB per model when full of customers' words).
WORD_CACHE_SIZE = 50_000
#: Longer "words" are not cached. A word's n-gram columns grow with its length (~4 per
#: character), so a cap on entries alone let pasted junk or glued text (1000-character "words",
#: each unique) grow a model's cache by ~190 MB; with it an entry is at most ~1 KB, ~50 MB per
#: model in the worst case. Real words are shorter: the FAQ's longest is 19 characters.
MAX_CACHED_WORD = 40


@dataclass(frozen=True, slots=True)
class SparseRows:
    """Rows of a sparse matrix in CSR form (what scipy.sparse.csr_matrix takes)."""

    data: npt.NDArray[np.float32]
    indices: npt.NDArray[np.int32]
    indptr: npt.NDArray[np.int64]
    n_columns: int


class CharNgramTfidf:
    """TF-IDF over character n-grams of normalised words: robust to word forms and typos.

    Sublinear term frequency (1 + ln tf), smoothed idf (ln((1 + n) / (1 + df)) + 1), rows L2
    normalised, as scikit-learn's ``TfidfVectorizer(analyzer="char_wb", sublinear_tf=True)``;
    written out so a trained model is plain arrays (no pickle) and prediction needs no sklearn.
    """

    def __init__(self, vocabulary: Sequence[str], idf: npt.NDArray[np.float32], low: int, high: int) -> None:
        self.vocabulary = list(vocabulary)
        self.index = {gram: i for i, gram in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.low = low
        self.high = high
        self._word_columns: dict[str, npt.NDArray[np.int32]] = {}

    @classmethod
    def fit(cls, texts: Iterable[str], low: int = 2, high: int = 5, min_df: int = 1) -> CharNgramTfidf:
        df: Counter[str] = Counter()
        n_docs = 0
        for text in texts:
            n_docs += 1
            df.update(set(char_ngrams(normalize_text(text), low, high)))
        vocabulary = sorted(gram for gram, count in df.items() if count >= min_df)
        idf = np.array(
            [math.log((1 + n_docs) / (1 + df[gram])) + 1.0 for gram in vocabulary], dtype=np.float32
        )
        return cls(vocabulary, idf, low, high)

    @property
    def n_features(self) -> int:
        return len(self.vocabulary)

    def row(self, text: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """Column indices (ascending) and values of one text's (L2-normalised) feature row."""
        per_word = [self._columns_of(word) for word in normalize_text(text).split()]
        known = np.concatenate(per_word) if per_word else np.zeros(0, dtype=np.int32)
        if not len(known):
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        columns, tf = np.unique(known, return_counts=True)
        values = (1.0 + np.log(tf.astype(np.float32))) * self.idf[columns]
        values /= np.float32(np.linalg.norm(values))
        return columns.astype(np.int32, copy=False), values.astype(np.float32, copy=False)

    def _columns_of(self, word: str) -> npt.NDArray[np.int32]:
        """Vocabulary columns of a normalised word's n-grams, one per occurrence.

        Cached per word: customers reuse a small vocabulary, and walking a long message's n-grams
        in Python took ~1 ms of the bot's budget. Only words up to MAX_CACHED_WORD characters
        are kept, and the cache is emptied when it reaches WORD_CACHE_SIZE, so its memory stays
        bounded whatever the traffic.
        """
        columns = self._word_columns.get(word)
        if columns is None:
            index = self.index
            grams = char_ngrams(word, self.low, self.high)
            columns = np.array([index[gram] for gram in grams if gram in index], dtype=np.int32)
            if len(word) <= MAX_CACHED_WORD:
                if len(self._word_columns) >= WORD_CACHE_SIZE:
                    self._word_columns.clear()
                self._word_columns[word] = columns
        return columns

    def transform(self, texts: Iterable[str]) -> SparseRows:
        data: list[npt.NDArray[np.float32]] = []
        indices: list[npt.NDArray[np.int32]] = []
        indptr = [0]
        for text in texts:
            columns, values = self.row(text)
            indices.append(columns)
            data.append(values)
            indptr.append(indptr[-1] + len(columns))
        return SparseRows(
            data=np.concatenate(data) if data else np.zeros(0, dtype=np.float32),
            indices=np.concatenate(indices) if indices else np.zeros(0, dtype=np.int32),
            indptr=np.array(indptr, dtype=np.int64),
            n_columns=self.n_features,
        )
