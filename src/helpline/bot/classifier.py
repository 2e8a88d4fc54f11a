"""The FAQ bot's intent classifier: which article answers this message, or hand off to a person.

Features: a multilingual sentence embedding (Universal Sentence Encoder, see ``encoders``)
beside character n-gram TF-IDF of the normalised text (word forms, typos, dialect spellings);
one multinomial logistic regression over both, so scores are calibrated probabilities. Both read
the text with colloquial Arabic words rewritten in MSA first (``arabic_dialect``). The
out-of-scope label (``oos``), when the training data has it, is learnt as a class of its own.

Decisions (``Prediction.decision``): the bot answers only when confident, asks one clarifying
question when it cannot tell two articles apart, and otherwise hands off — it never guesses.

* ``handoff`` — the confidence is below the tuned threshold, or the message has no letters
  (digits and signs alone — a phone or order number — are not a question): a person takes
  over. The confidence is P(in scope) × P(top intent)^0.25 when the model learnt an
  out-of-scope class, else P(top intent);
* ``clarify`` — in scope, but the top intent alone is not sure enough to answer: the second
  has at least ``clarify_ratio`` of its probability (two answers are close), or the top has
  less than ``answer_min``. One question offers the top two and a person, so the customer
  chooses: it is not a guess. (The second case is kept for what it is worth: in a 4-fold
  cross-validation on the FAQ, 161 of the 810 questions fell in it, 9 out of scope; the top
  two held the right intent for 132 of them, 82 % against 71 % in the close case. Handing
  them off would send 16 % more of the in-scope questions to a person.)
* ``answer`` — confident: above the threshold, the top intent has at least ``answer_min`` and
  no close second.

The threshold is tuned on ``dev`` examples when given, otherwise on out-of-fold predictions
of an internal cross-validation: with out-of-scope examples, it is the lowest threshold that
hands off ``oos_recall_target`` of them; without, the one above which replies are more often
of use than not (right intent first, or second for a clarifying question). Each language of
the training data with enough held-out examples gets its own threshold (scores differ by
language), chosen by the script the message is written in. Without out-of-scope examples and
with fewer than MIN_INTENTS_WITHOUT_OOS intents, no threshold is below
FEW_INTENTS_MIN_THRESHOLD (see there).
Scikit-learn is needed to train only; prediction is NumPy (plus the encoder).
"""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from helpline.bot.arabic_dialect import colloquial_to_msa
from helpline.bot.encoders import USE_ENCODER, SentenceEncoder, encoder_available, get_encoder
from helpline.bot.text import (
    CharNgramTfidf,
    SparseRows,
    detect_language,
    has_letters,
)

# The classifier decides in the flow runtime's own terms: answer, clarify or hand off.
from helpline.domain.flows.runtime import Decision
from helpline.domain.text import ARABIC_MARKS, remove_invisible

#: 2: texts go through ``colloquial_to_msa`` first and answer examples weigh ANSWER_WEIGHT
#: (a model of format 1 was trained without either); 3: sentence vectors from the int8 ONNX
#: encoder (``use_onnx``); 4: format characters (soft hyphens, zero-width and bidi marks)
#: removed from what both feature sets read, and a model with fewer than three intents and no
#: out-of-scope class has a threshold of at least FEW_INTENTS_MIN_THRESHOLD; 5: the character
#: n-grams fold hamza on its seat (``ئ``→``ي``, ``ؤ``→``و``); 6: the encoder reads vowelled
#: Arabic without its diacritics and tatweel. Change it when training changes.
FORMAT_VERSION = 6
#: Messages longer than this are cut before classification (keeps every prediction fast).
MAX_CHARS = 1000


def prepared(text: str) -> str:
    """What both feature sets read: the first MAX_CHARS characters without format characters
    (invisible, but they split a word for the encoder's tokenizer as for the n-grams), vowelled
    Arabic without its diacritics, colloquial Arabic in MSA."""
    return colloquial_to_msa(_unvowelled(remove_invisible(text[:MAX_CHARS])))


_ARABIC_LETTER = re.compile("[\u0621-\u063f\u0641-\u064a]")  # tatweel (0640) is no letter
_TATWEEL = "\u0640"
#: One mark for fewer than this many letters is vowelled text.
VOWELLED_SHARE = 4


def _unvowelled(text: str) -> str:
    """Arabic without tatweel, and fully vowelled Arabic (a diacritic for fewer than four
    letters) without its diacritics; the odd shadda or tanween of everyday writing («شكرًا») is
    left as it is.

    Why: customers rarely vowel, but an admin may in the knowledge base's questions, and the
    encoder read «أَيْنَ أَرْكُنُ سَيَّارَتِي» and «أين أركن سيارتي» as different sentences (the
    n-grams fold diacritics anyway). Everyday marks are left because the encoder learnt them:
    removing every mark cost three Arabic questions of the FAQ's cross-validation."""
    text = text.replace(_TATWEEL, "")
    marks = len(ARABIC_MARKS.findall(text))
    if marks and marks * VOWELLED_SHARE > len(_ARABIC_LETTER.findall(text)):
        return ARABIC_MARKS.sub("", text)
    return text


ENGINE_AUTO = "auto"
#: Sentence embedding + character n-grams (the default when the encoder package is installed).
ENGINE_USE = "use+tfidf"
#: Character n-grams only: always available (scikit-learn + NumPy).
ENGINE_TFIDF = "tfidf"
ENGINES = (ENGINE_USE, ENGINE_TFIDF)

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TrainingExample:
    intent: str
    utterance: str
    lang: str | None = None
    #: How much the example counts in training (see ``ANSWER_WEIGHT``).
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class ScoredIntent:
    intent: str
    score: float


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the classifier makes of one message.

    ``intents``: in-scope intents, best first, with their probabilities (at most ``top_k``);
    the probabilities of all intents plus ``oos_score`` sum to 1. ``confidence`` is what was
    compared with ``threshold``: the decision is ``handoff`` exactly when it is below it, or
    when the message has no letters (then ``intents`` is empty and nothing was compared).
    """

    decision: Decision
    intents: tuple[ScoredIntent, ...]
    oos_score: float
    confidence: float
    threshold: float
    language: str | None

    @property
    def top(self) -> ScoredIntent | None:
        return self.intents[0] if self.intents else None

    @property
    def intent(self) -> str | None:
        """The intent the bot acts on (answers, or offers first when clarifying); None on handoff."""
        if self.decision is Decision.HANDOFF or not self.intents:
            return None
        return self.intents[0].intent

    @property
    def options(self) -> tuple[str, ...]:
        """The intents to offer in a clarifying question (the top two), else the one answered."""
        if self.decision is Decision.CLARIFY:
            return tuple(scored.intent for scored in self.intents[:2])
        return (self.intent,) if self.intent is not None else ()


@dataclass(frozen=True, slots=True)
class ClassifierSettings:
    engine: str = ENGINE_AUTO
    #: Inverse L2 regularisation of the logistic regression.
    c: float = 10.0
    ngram_low: int = 2
    ngram_high: int = 5
    min_df: int = 1
    #: Share of out-of-scope examples the tuned threshold must hand off.
    oos_recall_target: float = 0.9
    #: Folds of the internal cross-validation used when no dev examples are given
    #: (3 above ``large_dataset`` examples, to keep training of big sets short).
    cv_folds: int = 5
    large_dataset: int = 5000
    #: Clarify when the second intent has at least this share of the first one's probability…
    clarify_ratio: float = 0.5
    #: …or when the first one's probability is below this.
    answer_min: float = 0.5
    top_k: int = 5
    max_iter: int = 1000


@dataclass(frozen=True, slots=True)
class TrainingReport:
    n_examples: int
    n_intents: int
    engine: str
    threshold: float
    thresholds: dict[str, float]
    tuned_on: str
    tuning_oos_recall: float | None
    tuning_accuracy: float | None
    seconds: float


#: Weight of the examples taken from an article's answer, against 1 for a question.
#: The answer names its topic in the words a reworded question reaches for; in the FAQ
#: benchmark's cross-validation, weight 4 gained 2.9 points in Russian and 0.8 in English over
#: weight 1, Arabic unchanged (1 → 4; 0 lost 6 points; 8 was no better than 4).
ANSWER_WEIGHT = 4.0


def answer_examples(intent: str, answer: str, lang: str | None) -> list[TrainingExample]:
    """Extra training examples from an article's answer: the whole text and each sentence.

    Answers carry the vocabulary customers use about a topic; in cross-validation on the FAQ
    set they add several points of accuracy on reworded questions.
    """
    examples = [TrainingExample(intent, answer, lang, ANSWER_WEIGHT)]
    sentence: list[str] = []
    for char in answer:
        sentence.append(char)
        if char in ".!?؟;؛\n":
            text = "".join(sentence).strip()
            if len(text) > 3:
                examples.append(TrainingExample(intent, text, lang, ANSWER_WEIGHT))
            sentence = []
    tail = "".join(sentence).strip()
    if len(tail) > 3 and len(examples) > 1:
        examples.append(TrainingExample(intent, tail, lang, ANSWER_WEIGHT))
    return examples


def resolve_engine(engine: str) -> str:
    """``auto`` → the best engine installed; otherwise checks the name."""
    if engine == ENGINE_AUTO:
        return ENGINE_USE if encoder_available(USE_ENCODER) else ENGINE_TFIDF
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join((ENGINE_AUTO, *ENGINES))}")
    return engine


@dataclass(slots=True)
class _Weights:
    classes: list[str]
    bias: npt.NDArray[np.float64]
    dense: FloatArray  # (encoder dim, n_classes); (0, n_classes) without an encoder
    sparse: FloatArray  # (n-gram features, n_classes)
    tfidf: CharNgramTfidf

    def probabilities(self, embeddings: FloatArray | None, rows: SparseRows) -> npt.NDArray[np.float64]:
        logits = np.tile(self.bias, (len(rows.indptr) - 1, 1))
        if embeddings is not None and self.dense.shape[0]:
            logits += embeddings.astype(np.float64) @ self.dense
        for i in range(len(rows.indptr) - 1):
            start, end = rows.indptr[i], rows.indptr[i + 1]
            if end > start:
                logits[i] += rows.data[start:end].astype(np.float64) @ self.sparse[rows.indices[start:end]]
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits


def _fold_ids(examples: Sequence[TrainingExample], folds: int) -> npt.NDArray[np.int64]:
    """Fold of each example: its position among the examples of its (language, intent), mod folds.

    Stratified by intent and language, deterministic, and it keeps the n-th question of an
    intent in every language in one fold: knowledge bases written as parallel paraphrases in
    ru/en/ar then never score a question against its own translation.
    """
    seen: Counter[tuple[str | None, str]] = Counter()
    ids = np.empty(len(examples), dtype=np.int64)
    for i, example in enumerate(examples):
        key = (example.lang, example.intent)
        ids[i] = seen[key] % folds
        seen[key] += 1
    return ids


def _fit(
    texts: Sequence[str],
    labels: Sequence[str],
    weights: Sequence[float],
    embeddings: FloatArray | None,
    settings: ClassifierSettings,
) -> _Weights:
    from scipy import sparse
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    tfidf = CharNgramTfidf.fit(texts, settings.ngram_low, settings.ngram_high, settings.min_df)
    rows = tfidf.transform(texts)
    grams = sparse.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(len(texts), rows.n_columns))
    matrix = (
        sparse.hstack([sparse.csr_matrix(embeddings), grams]).tocsr() if embeddings is not None else grams
    )
    model = LogisticRegression(C=settings.c, max_iter=settings.max_iter, class_weight="balanced")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(matrix, np.asarray(labels), sample_weight=np.asarray(weights, dtype=np.float64))
    classes = [str(label) for label in model.classes_]
    coef = np.asarray(model.coef_, dtype=np.float64)
    bias = np.asarray(model.intercept_, dtype=np.float64)
    if len(classes) == 2:  # sklearn keeps one row for two classes: expand to softmax form
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2])
    n_dense = 0 if embeddings is None else embeddings.shape[1]
    return _Weights(
        classes=classes,
        bias=bias,
        dense=np.ascontiguousarray(coef[:, :n_dense].T, dtype=np.float32),
        sparse=np.ascontiguousarray(coef[:, n_dense:].T, dtype=np.float32),
        tfidf=tfidf,
    )


def _ranked(
    probabilities: npt.NDArray[np.float64], classes: Sequence[str], oos_label: str | None
) -> tuple[list[str], list[str], npt.NDArray[np.float64]]:
    """First and second in-scope intent of each row, and the confidence the threshold applies to."""
    scores = probabilities.copy()
    oos_probability = np.zeros(len(scores))
    if oos_label is not None and oos_label in classes:
        column = list(classes).index(oos_label)
        oos_probability = probabilities[:, column].copy()
        scores[:, column] = -1.0
    order = np.argsort(-scores, axis=1, kind="stable")
    first = scores[np.arange(len(scores)), order[:, 0]]
    has_oos = oos_label is not None and oos_label in classes
    confidence = np.array([_confidence(p, f, has_oos) for p, f in zip(oos_probability, first, strict=True)])
    second = [classes[i] for i in order[:, 1]] if scores.shape[1] > 1 else [""] * len(scores)
    return [classes[i] for i in order[:, 0]], second, confidence


def _confidence(oos_probability: float, first: float, has_oos: bool) -> float:
    """What the hand-off threshold is compared with.

    With an out-of-scope class: P(in scope) × P(top intent)^TOP_WEIGHT. P(in scope) alone
    separates the FAQ's out-of-scope questions best, P(top intent) alone CLINC150's; the product,
    with the exponent chosen from {0, 0.1, 0.25, 0.5, 1}, was best or close to it on both (FAQ
    cross-validation, CLINC150 dev). Without: P(top intent).
    """
    if has_oos:
        return float((1.0 - oos_probability) * max(first, 0.0) ** TOP_WEIGHT)
    return float(first)


TOP_WEIGHT = 0.25


def tune_threshold(
    scores: Sequence[float],
    correct: Sequence[bool],
    is_oos: Sequence[bool],
    oos_recall_target: float,
    usable: Sequence[bool] | None = None,
    floor: float = 0.0,
) -> tuple[float, float | None, float | None]:
    """Hand-off threshold on the confidence (hand off below it), from held-out predictions.

    ``correct``: the top intent is right; ``usable``: the right intent is among the top two
    (what a clarifying question offers; defaults to ``correct``). Returns (threshold,
    out-of-scope recall, in-scope accuracy) at that threshold on these predictions.

    With out-of-scope rows: the lowest threshold that hands off at least ``oos_recall_target``
    of them (so the most in-scope answers for that recall), at most 0.95. (Choosing instead the
    best accuracy + recall above the target lost 3-7 points of in-scope accuracy in the
    benchmark for a few points of recall.) Without: the one that maximises usable minus
    unusable replies (the bot replies only where it is more often of use than not), at most 0.5.
    Never below ``floor`` (see FEW_INTENTS_MIN_THRESHOLD): held-out rows cannot show what they
    do not contain.
    """
    score = np.asarray(scores, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    helpful = np.asarray(usable if usable is not None else correct, dtype=bool)
    oos = np.asarray(is_oos, dtype=bool)
    if len(score) == 0:
        return 0.0, None, None
    if oos.any():
        oos_scores = np.sort(score[oos])
        edge = oos_scores[max(1, math.ceil(oos_recall_target * len(oos_scores))) - 1]
        above = score[score > edge]
        threshold = float((edge + above.min()) / 2) if len(above) else float(np.nextafter(edge, 2.0))
        threshold = min(threshold, MAX_THRESHOLD)
    else:
        order = np.argsort(-score, kind="stable")
        gain = np.cumsum(np.where(helpful[order], 1, -1))
        cut = int(gain.argmax())
        if gain[cut] <= 0:
            threshold = 0.5
        else:
            below = score[order][cut + 1] if cut + 1 < len(order) else 0.0
            threshold = min(0.5, float((score[order][cut] + below) / 2))
    threshold = max(threshold, floor)
    answered = score >= threshold
    recall = float((~answered[oos]).mean()) if oos.any() else None
    accuracy = float((answered & right)[~oos].mean()) if (~oos).any() else None
    return threshold, recall, accuracy


#: The hand-off threshold never goes above this, however confident out-of-scope examples look.
MAX_THRESHOLD = 0.95
#: Without out-of-scope examples a model's probabilities only say which known intent fits a
#: message best, never whether any does. With many intents an off-topic message spreads its
#: probability thin, so the tuned threshold on P(top intent) catches it; with two, the top one
#: has at least 0.5 whatever the message, and the threshold, tuned on in-scope questions only,
#: let through 14 off-topic messages of 14 on a two-article base. Below this many intents...
MIN_INTENTS_WITHOUT_OOS = 3
#: ...the threshold is at least this. Measured on three two-article bases without out-of-scope
#: questions (en refunds/hours, twice; ru password/draws): 39 off-topic messages ("my card was
#: declined", "cancel my subscription", "хочу удалить аккаунт", "ok") scored 0.50-0.78, the
#: articles' questions reworded 0.82-0.94. A base that wants more gives the bot out-of-scope
#: questions, which it then learns as a class of its own.
FEW_INTENTS_MIN_THRESHOLD = 0.8


def _threshold_floor(classes: Sequence[str], oos_label: str | None) -> float:
    """The least hand-off threshold a model with these classes may have (see above)."""
    has_oos = oos_label is not None and oos_label in classes
    return FEW_INTENTS_MIN_THRESHOLD if not has_oos and len(classes) < MIN_INTENTS_WITHOUT_OOS else 0.0


#: A language gets a threshold of its own when its held-out rows number at least this many
#: (and, where the data has out-of-scope rows, it has at least MIN_OOS_PER_LANGUAGE of them).
MIN_ROWS_PER_LANGUAGE = 30
MIN_OOS_PER_LANGUAGE = 10


def _tune(
    gold: Sequence[str],
    ranked: tuple[Sequence[str], Sequence[str], Sequence[float]],
    langs: Sequence[str | None],
    oos_label: str | None,
    target: float,
    *,
    floor: float = 0.0,
) -> tuple[float, dict[str, float], float | None, float | None]:
    """Global threshold, per-language thresholds (none below ``floor``), and the held-out
    recall/accuracy they give."""
    firsts, seconds, confidence = ranked
    correct = [f == g for f, g in zip(firsts, gold, strict=True)]
    usable = [c or s == g for c, s, g in zip(correct, seconds, gold, strict=True)]
    is_oos = [g == oos_label for g in gold]
    threshold, recall, accuracy = tune_threshold(confidence, correct, is_oos, target, usable, floor)
    any_oos = any(is_oos)
    per_lang: dict[str, float] = {}
    for lang in sorted({lang for lang in langs if lang is not None}):
        rows = [i for i, row_lang in enumerate(langs) if row_lang == lang]
        n_oos = sum(is_oos[i] for i in rows)
        if len(rows) < MIN_ROWS_PER_LANGUAGE or (any_oos and n_oos < MIN_OOS_PER_LANGUAGE):
            continue
        per_lang[lang], _, _ = tune_threshold(
            [confidence[i] for i in rows],
            [correct[i] for i in rows],
            [is_oos[i] for i in rows],
            target,
            [usable[i] for i in rows],
            floor,
        )
    if per_lang:
        applied = [per_lang.get(lang or "", threshold) for lang in langs]
        answered = [c >= t for c, t in zip(confidence, applied, strict=True)]
        oos_rows = [i for i, o in enumerate(is_oos) if o]
        in_rows = [i for i, o in enumerate(is_oos) if not o]
        recall = sum(not answered[i] for i in oos_rows) / len(oos_rows) if oos_rows else None
        accuracy = sum(answered[i] and correct[i] for i in in_rows) / len(in_rows) if in_rows else None
    return threshold, per_lang, recall, accuracy


class IntentClassifier:
    """A trained intent classifier. Build with :meth:`train` or :meth:`load`; use :meth:`predict`."""

    def __init__(
        self,
        weights: _Weights,
        *,
        engine: str,
        oos_label: str | None,
        threshold: float,
        thresholds: dict[str, float] | None = None,
        settings: ClassifierSettings,
        report: TrainingReport | None = None,
    ) -> None:
        self._weights = weights
        self.engine = engine
        self.oos_label = oos_label if oos_label in weights.classes else None
        #: Hand-off threshold for messages in a language without one of its own.
        self.threshold = threshold
        #: Hand-off thresholds per language (``ru``/``en``/``ar``) tuned for that language.
        self.thresholds = dict(thresholds or {})
        self.settings = settings
        self.report = report
        self._encoder: SentenceEncoder | None = get_encoder(USE_ENCODER) if engine == ENGINE_USE else None
        self._oos_index = weights.classes.index(self.oos_label) if self.oos_label is not None else None

    @property
    def intents(self) -> list[str]:
        """The in-scope intents this classifier knows."""
        return [label for label in self._weights.classes if label != self.oos_label]

    def threshold_for(self, language: str | None) -> float:
        return self.thresholds.get(language or "", self.threshold)

    # -- training -------------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        examples: Iterable[TrainingExample],
        *,
        oos_label: str | None = "oos",
        dev: Sequence[TrainingExample] = (),
        settings: ClassifierSettings | None = None,
    ) -> IntentClassifier:
        """Train on ``examples``; tune the hand-off thresholds on ``dev`` (or by cross-validation).

        ``oos_label`` names the examples that must be handed off (learnt as a class of their
        own; absent or None: every label is an intent). Needs scikit-learn.
        """
        started = time.perf_counter()
        settings = settings or ClassifierSettings()
        engine = resolve_engine(settings.engine)
        train = [ex for ex in examples if ex.utterance.strip()]
        if len({ex.intent for ex in train}) < 2:
            raise ValueError("training needs examples of at least two labels")
        dev = [ex for ex in dev if ex.utterance.strip()]
        encoder = get_encoder(USE_ENCODER) if engine == ENGINE_USE else None
        every = train + list(dev)
        texts = [prepared(ex.utterance) for ex in every]
        embeddings = encoder.encode(texts) if encoder is not None else None
        n_train = len(train)

        def embed(rows: npt.NDArray[np.int64]) -> FloatArray | None:
            return embeddings[rows] if embeddings is not None else None

        def fit(rows: npt.NDArray[np.int64]) -> _Weights:
            return _fit(
                [texts[i] for i in rows],
                [every[i].intent for i in rows],
                [every[i].weight for i in rows],
                embed(rows),
                settings,
            )

        def score(weights: _Weights, rows: npt.NDArray[np.int64]) -> tuple[list[str], list[str], list[float]]:
            grams = weights.tfidf.transform([texts[i] for i in rows])
            firsts, seconds, confidence = _ranked(
                weights.probabilities(embed(rows), grams), weights.classes, oos_label
            )
            return firsts, seconds, confidence.tolist()

        held_out: list[int] = []
        firsts: list[str] = []
        seconds: list[str] = []
        confidence: list[float] = []
        train_rows = np.arange(n_train)
        if dev:
            tuned_on = "dev"
            weights = fit(train_rows)
            dev_rows = np.arange(n_train, len(every))
            firsts, seconds, confidence = score(weights, dev_rows)
            held_out = dev_rows.tolist()
        else:
            folds = settings.cv_folds if n_train <= settings.large_dataset else min(3, settings.cv_folds)
            fold_of = _fold_ids(train, folds)
            tuned_on = f"{folds}-fold cross-validation"
            for fold in range(folds):
                fit_rows, test_rows = train_rows[fold_of != fold], train_rows[fold_of == fold]
                if len(test_rows) == 0 or len({train[i].intent for i in fit_rows}) < 2:
                    continue
                fold_firsts, fold_seconds, fold_confidence = score(fit(fit_rows), test_rows)
                held_out += test_rows.tolist()
                firsts += fold_firsts
                seconds += fold_seconds
                confidence += fold_confidence
            weights = fit(train_rows)
        threshold, thresholds, recall, accuracy = _tune(
            [every[i].intent for i in held_out],
            (firsts, seconds, confidence),
            [every[i].lang for i in held_out],
            oos_label,
            settings.oos_recall_target,
            floor=_threshold_floor(weights.classes, oos_label),
        )
        report = TrainingReport(
            n_examples=n_train,
            n_intents=len([c for c in weights.classes if c != oos_label]),
            engine=engine,
            threshold=threshold,
            thresholds=thresholds,
            tuned_on=tuned_on,
            tuning_oos_recall=recall,
            tuning_accuracy=accuracy,
            seconds=time.perf_counter() - started,
        )
        return cls(
            weights,
            engine=engine,
            oos_label=oos_label,
            threshold=threshold,
            thresholds=thresholds,
            settings=settings,
            report=report,
        )

    def retuned(self, dev: Sequence[TrainingExample]) -> IntentClassifier:
        """A copy with the same weights and thresholds tuned on ``dev`` (e.g. new test questions)."""
        rows = [ex for ex in dev if ex.utterance.strip()]
        texts = [prepared(ex.utterance) for ex in rows]
        embeddings = self._encoder.encode(texts) if self._encoder is not None else None
        probabilities = self._weights.probabilities(embeddings, self._weights.tfidf.transform(texts))
        firsts, seconds, confidence = _ranked(probabilities, self._weights.classes, self.oos_label)
        threshold, thresholds, _, _ = _tune(
            [ex.intent for ex in rows],
            (firsts, seconds, confidence.tolist()),
            [ex.lang for ex in rows],
            self.oos_label,
            self.settings.oos_recall_target,
            floor=_threshold_floor(self._weights.classes, self.oos_label),
        )
        return IntentClassifier(
            self._weights,
            engine=self.engine,
            oos_label=self.oos_label,
            threshold=threshold,
            thresholds=thresholds,
            settings=self.settings,
            report=self.report,
        )

    # -- prediction -----------------------------------------------------------------------
    def probabilities(self, text: str) -> dict[str, float]:
        """Probability of every label (intents and the out-of-scope label) for one message."""
        probs = self._probabilities(prepared(text))
        return {label: float(p) for label, p in zip(self._weights.classes, probs, strict=True)}

    def _probabilities(self, text: str) -> npt.NDArray[np.float64]:
        weights = self._weights
        embedding = self._encoder.encode([text]) if self._encoder is not None else None
        columns, values = weights.tfidf.row(text)
        logits = weights.bias.copy()
        if embedding is not None:
            logits += embedding[0].astype(np.float64) @ weights.dense
        if len(columns):
            logits += values.astype(np.float64) @ weights.sparse[columns]
        logits -= logits.max()
        probs = np.exp(logits)
        probs /= probs.sum()
        return probs

    def predict(self, text: str) -> Prediction:
        """Classify one message and decide: answer, clarify or hand off (see the module)."""
        text = text[:MAX_CHARS]
        language = detect_language(text)
        threshold = self.threshold_for(language)
        if not has_letters(text):
            return Prediction(Decision.HANDOFF, (), 0.0, 0.0, threshold, language)
        probs = self._probabilities(prepared(text))
        if self._oos_index is not None:
            oos_score = float(probs[self._oos_index])
            probs[self._oos_index] = -1.0
        else:
            oos_score = 0.0
        k = min(self.settings.top_k, len(probs) - (self._oos_index is not None))
        best = np.argsort(-probs, kind="stable")[:k]
        classes = self._weights.classes
        intents = tuple(ScoredIntent(classes[i], float(probs[i])) for i in best)
        first = intents[0].score
        second = intents[1].score if len(intents) > 1 else 0.0
        confidence = _confidence(oos_score, first, self._oos_index is not None)
        if confidence < threshold:
            decision = Decision.HANDOFF
        elif second >= self.settings.clarify_ratio * first or first < self.settings.answer_min:
            decision = Decision.CLARIFY
        else:
            decision = Decision.ANSWER
        return Prediction(decision, intents, oos_score, confidence, threshold, language)

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the model to one ``.npz`` file: arrays plus JSON metadata, no pickled code.

        Loading it back needs the same engine (for ``use+tfidf``, the encoder package).
        """
        weights = self._weights
        meta: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "engine": self.engine,
            "encoder": USE_ENCODER if self.engine == ENGINE_USE else None,
            "classes": weights.classes,
            "oos_label": self.oos_label,
            "threshold": self.threshold,
            "thresholds": self.thresholds,
            "settings": {
                name: getattr(self.settings, name) for name in ClassifierSettings.__dataclass_fields__
            },
            "ngrams": [weights.tfidf.low, weights.tfidf.high],
            "vocabulary": weights.tfidf.vocabulary,
            "report": None
            if self.report is None
            else {name: getattr(self.report, name) for name in TrainingReport.__dataclass_fields__},
        }
        blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        with Path(path).open("wb") as handle:
            np.savez_compressed(
                handle,
                meta=blob,
                bias=weights.bias,
                dense=weights.dense,
                sparse=weights.sparse,
                idf=weights.tfidf.idf,
            )

    @classmethod
    def load(cls, path: str | Path) -> IntentClassifier:
        """Read a model written by :meth:`save` (``allow_pickle=False``: data only)."""
        with np.load(Path(path), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"unsupported bot model format {meta.get('format')!r}")
            if meta["engine"] == ENGINE_USE and meta.get("encoder") != USE_ENCODER:
                # vectors of another encoder (or runtime) would be scored by weights not made for them
                raise ValueError(f"bot model trained on encoder {meta.get('encoder')!r}, not {USE_ENCODER!r}")
            low, high = meta["ngrams"]
            weights = _Weights(
                classes=list(meta["classes"]),
                bias=np.asarray(archive["bias"], dtype=np.float64),
                dense=np.asarray(archive["dense"], dtype=np.float32),
                sparse=np.asarray(archive["sparse"], dtype=np.float32),
                tfidf=CharNgramTfidf(meta["vocabulary"], archive["idf"], int(low), int(high)),
            )
        settings = ClassifierSettings(**meta["settings"])
        report = TrainingReport(**meta["report"]) if meta.get("report") else None
        return cls(
            weights,
            engine=str(meta["engine"]),
            oos_label=meta["oos_label"],
            threshold=float(meta["threshold"]),
            thresholds={str(k): float(v) for k, v in (meta.get("thresholds") or {}).items()},
            settings=settings,
            report=report,
        )


__all__ = [
    "ENGINES",
    "ENGINE_AUTO",
    "ENGINE_TFIDF",
    "ENGINE_USE",
    "ClassifierSettings",
    "Decision",
    "IntentClassifier",
    "Prediction",
    "ScoredIntent",
    "TrainingExample",
    "TrainingReport",
    "answer_examples",
    "resolve_engine",
    "tune_threshold",
]
