"""Scoring the intent classifier: what ``helpline bot-eval`` and ``bench/bot.py`` report.

Metrics, over the scored rows:

* ``accuracy`` — in-scope rows answered (``answer`` or ``clarify``) with the right top intent;
  an in-scope row handed off counts as wrong;
* ``macro_f1`` — F1 averaged over the gold labels (the out-of-scope label included when
  present), a hand-off counting as a prediction of the out-of-scope label;
* ``oos_recall`` — share of out-of-scope rows handed off (None when there are none);
* ``p50_us`` / ``p99_us`` — latency of :meth:`IntentClassifier.predict`, one message per call,
  with BLAS/OpenMP pinned to one thread (threadpoolctl) for the whole run;
* ``train_seconds`` — wall time of :meth:`IntentClassifier.train`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpline.bot.classifier import (
    ClassifierSettings,
    Decision,
    IntentClassifier,
    TrainingExample,
    answer_examples,
)


@dataclass(frozen=True, slots=True)
class LabelledRow:
    intent: str
    utterance: str
    split: str | None
    lang: str | None

    def example(self) -> TrainingExample:
        return TrainingExample(self.intent, self.utterance, self.lang)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One scored row: the gold label, what the bot did, and how long it took."""

    gold: str
    predicted: str | None  # top intent when answered or clarified, None when handed off
    decision: Decision
    lang: str | None
    micros: float


def read_rows(path: str | Path, *, lang: str | None = None) -> list[LabelledRow]:
    """Rows of an intent JSONL file (``intent``, ``utterance``, ``split``, optional ``lang``).

    ``lang`` keeps the rows of that language; rows without a ``lang`` field are kept.
    """
    rows: list[LabelledRow] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            try:
                row = LabelledRow(
                    intent=str(record["intent"]),
                    utterance=str(record["utterance"]),
                    split=record.get("split"),
                    lang=record.get("lang"),
                )
            except KeyError as exc:
                raise ValueError(f"{path}:{number}: missing field {exc}") from exc
            if lang is None or row.lang is None or row.lang == lang:
                rows.append(row)
    return rows


def read_articles(path: str | Path, *, lang: str | None = None) -> list[TrainingExample]:
    """Training examples from FAQ articles (``intent``, ``answer``: {lang: text}).

    Each answer gives the examples of :func:`helpline.bot.classifier.answer_examples`.
    """
    examples: list[TrainingExample] = []
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            answers: dict[str, str] = record.get("answer") or {}
            for language, answer in sorted(answers.items()):
                if lang is None or language == lang:
                    examples += answer_examples(str(record["intent"]), str(answer), language)
    return examples


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Limit BLAS and OpenMP pools to one thread for the block (threadpoolctl).

    threadpoolctl only reaches libraries already loaded, so the ones training and prediction use
    (NumPy's and SciPy's BLAS, scikit-learn's OpenMP) are imported first.
    """
    import scipy.optimize
    import sklearn.linear_model
    from threadpoolctl import threadpool_limits

    del scipy, sklearn
    with threadpool_limits(limits=1):
        yield


def predict_all(classifier: IntentClassifier, rows: Iterable[LabelledRow]) -> list[Outcome]:
    """Classify each row with one ``predict`` call, timing each call."""
    outcomes: list[Outcome] = []
    rows = list(rows)
    for row in rows[:3]:  # warm caches (first call reads the encoder's weights if needed)
        classifier.predict(row.utterance)
    for row in rows:
        started = time.perf_counter_ns()
        prediction = classifier.predict(row.utterance)
        micros = (time.perf_counter_ns() - started) / 1000
        outcomes.append(Outcome(row.intent, prediction.intent, prediction.decision, row.lang, micros))
    return outcomes


def metrics(outcomes: Sequence[Outcome], *, oos_label: str | None = "oos") -> dict[str, Any]:
    """The bot-eval figures for a set of outcomes (see the module docstring)."""
    in_scope = [o for o in outcomes if o.gold != oos_label]
    oos = [o for o in outcomes if oos_label is not None and o.gold == oos_label]
    accuracy = sum(o.predicted == o.gold for o in in_scope) / len(in_scope) if in_scope else None
    oos_recall = sum(o.decision is Decision.HANDOFF for o in oos) / len(oos) if oos else None

    def label(outcome: Outcome) -> str | None:
        return outcome.predicted if outcome.predicted is not None else oos_label

    f1s = []
    for gold_label in sorted({o.gold for o in outcomes}):
        tp = sum(o.gold == gold_label and label(o) == gold_label for o in outcomes)
        fp = sum(o.gold != gold_label and label(o) == gold_label for o in outcomes)
        fn = sum(o.gold == gold_label and label(o) != gold_label for o in outcomes)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    micros = np.array([o.micros for o in outcomes], dtype=np.float64)
    decisions = {d.value: sum(o.decision is d for o in outcomes) for d in Decision}
    return {
        "accuracy": _round(accuracy),
        "macro_f1": _round(float(np.mean(f1s)) if f1s else None),
        "oos_recall": _round(oos_recall),
        "p50_us": _round(float(np.percentile(micros, 50)) if len(micros) else None, 1),
        "p99_us": _round(float(np.percentile(micros, 99)) if len(micros) else None, 1),
        "n_test": len(outcomes),
        "n_in_scope": len(in_scope),
        "n_oos": len(oos),
        "decisions": decisions,
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def evaluate(
    train: Sequence[TrainingExample],
    test: Sequence[LabelledRow],
    *,
    oos_label: str | None = "oos",
    dev: Sequence[TrainingExample] = (),
    settings: ClassifierSettings | None = None,
) -> dict[str, Any]:
    """Train the product's classifier on ``train`` (thresholds on ``dev`` if any), score ``test``.

    Runs with BLAS/OpenMP limited to one thread, so latency is that of one core.
    """
    with one_thread():
        started = time.perf_counter()
        classifier = IntentClassifier.train(train, oos_label=oos_label, dev=dev, settings=settings)
        train_seconds = time.perf_counter() - started
        outcomes = predict_all(classifier, test)
    result = metrics(outcomes, oos_label=oos_label)
    result["train_seconds"] = round(train_seconds, 2)
    result["n_train"] = len(train)
    result["n_dev"] = len(dev)
    result["n_intents"] = len(classifier.intents)
    result["engine"] = classifier.engine
    result["threshold"] = round(classifier.threshold, 4)
    if classifier.report is not None:
        result["tuned_on"] = classifier.report.tuned_on
    return result


ARTICLES_BESIDE_TRAIN = "faq_articles.jsonl"


#: The lottery FAQ's articles ship with the product (the demo's knowledge base).
PACKAGED_ARTICLES = Path(__file__).parent / "data" / ARTICLES_BESIDE_TRAIN


def find_articles(train_path: str | Path, articles: str | None, oos_label: str | None = "oos") -> Path | None:
    """The articles file ``bot-eval`` uses: ``auto`` → ``faq_articles.jsonl`` beside the train
    file if there is one, else the packaged FAQ's articles when every intent of the train file
    is one of theirs (the FAQ's questions copied elsewhere are still learnt with their answers,
    as the product's knowledge base has them); ``none``/None → no articles; anything else is a
    path."""
    if articles is None or articles.lower() == "none":
        return None
    if articles != "auto":
        return Path(articles)
    beside = Path(train_path).parent / ARTICLES_BESIDE_TRAIN
    if beside.is_file():
        return beside
    intents = {row.intent for row in read_rows(train_path)} - {oos_label}
    packaged = {example.intent for example in read_articles(PACKAGED_ARTICLES)}
    return PACKAGED_ARTICLES if len(intents) >= 2 and intents <= packaged else None


def bot_eval(
    train_path: str | Path,
    test_path: str | Path,
    *,
    lang: str | None = None,
    oos_label: str | None = "oos",
    articles_path: str | Path | None = None,
    train_lang_only: bool = False,
    settings: ClassifierSettings | None = None,
) -> dict[str, Any]:
    """What ``helpline bot-eval`` computes.

    Trains on the train file's ``train`` rows (plus the articles' answers, if given) and tunes the
    thresholds on its ``dev`` rows; scores every row of the test file. ``lang`` keeps the test
    rows of that language (rows without ``lang`` are kept). Training uses every language of the
    train file, as the product trains one model on its whole knowledge base (in cross-validation
    on the FAQ set that beats one model per language by 1-5 points of accuracy);
    ``train_lang_only`` filters the train file's rows and the articles to ``lang`` too.
    """
    train_lang = lang if train_lang_only else None
    train_rows = read_rows(train_path, lang=train_lang)
    test_rows = read_rows(test_path, lang=lang)
    train = [row.example() for row in train_rows if row.split in (None, "train")]
    dev = [row.example() for row in train_rows if row.split == "dev"]
    if articles_path is not None:  # answers of the intents asked about: an article needs questions
        intents = {example.intent for example in train}
        train += [a for a in read_articles(articles_path, lang=train_lang) if a.intent in intents]
    result = evaluate(train, test_rows, oos_label=oos_label, dev=dev, settings=settings)
    result["lang"] = lang
    result["train_lang_only"] = train_lang_only
    result["articles"] = None if articles_path is None else str(articles_path)
    first = ("accuracy", "macro_f1", "oos_recall", "p50_us", "p99_us", "train_seconds")
    return {key: result[key] for key in first} | {k: v for k, v in result.items() if k not in first}
