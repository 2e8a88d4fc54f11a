"""Benchmark: the FAQ bot's intent classifier on the shared intent data, against the targets.

Trains the product's classifier (``helpline.bot.classifier.IntentClassifier``, the same code
``helpline bot-eval`` runs) and reports accuracy (in-scope; a hand-off counts as wrong),
macro-F1, out-of-scope recall, p50/p99 latency of one ``predict`` call (one thread) and training
time, on data the model did not train on:

* BANKING77 (en) — stratified 5-fold cross-validation over train (no dev split exists);
* ArBanking77 (ar), CLINC150 (en, with ``oos``) — train on train, score dev; the hand-off
  threshold is tuned on one half of dev and scored on the other, then the other way round
  (as ``bot-eval`` tunes on the train file's dev rows and scores a separate test file);
* lottery FAQ (ru, en, ar; 8 questions per intent per language) — 8-fold cross-validation
  that holds out whole paraphrase groups: the n-th question of every intent in every language
  (the languages were written as parallel paraphrases), so no question is scored against its
  own translation. ``faq-xx`` trains on that language only (``bot-eval --lang xx``);
  ``faq-xx/all`` trains one model on all three languages (what the product does) and scores
  language xx. Both add the FAQ articles' answers as training examples.

    python bench/bot.py                       # all of it (~10 minutes on 1 core)
    python bench/bot.py --only faq clinc150   # some of it
    python bench/bot.py --json results.json   # also write the figures

Targets (acceptance, on hidden test splits): BANKING77 accuracy >= 0.93; ArBanking77 >= 0.80;
CLINC150 in-scope >= 0.90 with oos recall >= 0.80; FAQ in-scope >= 0.80 with oos recall >= 0.80
in each language; p99 <= 5 ms on one core; training < 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from helpline.bot.classifier import ClassifierSettings, IntentClassifier, TrainingExample
from helpline.bot.evaluation import (
    LabelledRow,
    Outcome,
    metrics,
    one_thread,
    predict_all,
    read_articles,
    read_rows,
)
from helpline.cli import print_whole

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FAQ_LANGS = ("ru", "en", "ar")
P99_TARGET_US = 5000.0
TRAIN_TARGET_S = 300.0


@dataclass
class Result:
    name: str
    figures: dict[str, Any]
    target_accuracy: float
    target_oos_recall: float | None


def _position_folds(rows: Sequence[LabelledRow], folds: int) -> list[int]:
    """Fold = position of the row among rows of its (language, intent), mod folds."""
    seen: dict[tuple[str | None, str], int] = {}
    out = []
    for row in rows:
        key = (row.lang, row.intent)
        out.append(seen.get(key, 0) % folds)
        seen[key] = seen.get(key, 0) + 1
    return out


def _examples(rows: Sequence[LabelledRow]) -> list[TrainingExample]:
    return [row.example() for row in rows]


def _summary(outcomes: list[Outcome], train_seconds: list[float], engine: str) -> dict[str, Any]:
    figures = metrics(outcomes)
    figures["train_seconds"] = round(max(train_seconds), 2)
    figures["folds"] = len(train_seconds)
    figures["engine"] = engine
    return figures


def bench_banking77(data: Path, settings: ClassifierSettings) -> list[Result]:
    from sklearn.model_selection import StratifiedKFold

    rows = [r for r in read_rows(data / "intents" / "banking77_en.jsonl") if r.split == "train"]
    outcomes: list[Outcome] = []
    seconds: list[float] = []
    engine = ""
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    for fit_idx, test_idx in splitter.split([r.utterance for r in rows], [r.intent for r in rows]):
        started = time.perf_counter()
        model = IntentClassifier.train(_examples([rows[i] for i in fit_idx]), settings=settings)
        seconds.append(time.perf_counter() - started)
        engine = model.engine
        outcomes += predict_all(model, [rows[i] for i in test_idx])
    return [Result("banking77 (en, 5-fold CV)", _summary(outcomes, seconds, engine), 0.93, None)]


def _train_then_dev(
    name: str, path: Path, settings: ClassifierSettings, target: float, oos: float | None
) -> Result:
    rows = read_rows(path)
    train = _examples([r for r in rows if r.split == "train"])
    dev = [r for r in rows if r.split == "dev"]
    halves = _position_folds(dev, 2)
    first = [r for r, h in zip(dev, halves, strict=True) if h == 0]
    second = [r for r, h in zip(dev, halves, strict=True) if h == 1]
    started = time.perf_counter()
    model = IntentClassifier.train(train, dev=_examples(first), settings=settings)
    seconds = time.perf_counter() - started
    outcomes = predict_all(model, second)
    outcomes += predict_all(model.retuned(_examples(second)), first)
    return Result(name, _summary(outcomes, [seconds], model.engine), target, oos)


def bench_arbanking77(data: Path, settings: ClassifierSettings) -> list[Result]:
    path = data / "intents" / "arbanking77_ar.jsonl"
    return [_train_then_dev("arbanking77 (ar, dev)", path, settings, 0.80, None)]


def bench_clinc150(data: Path, settings: ClassifierSettings) -> list[Result]:
    path = data / "intents" / "clinc150_en.jsonl"
    return [_train_then_dev("clinc150 (en, dev)", path, settings, 0.90, 0.80)]


def bench_faq(data: Path, settings: ClassifierSettings) -> list[Result]:
    rows = read_rows(data / "faq" / "faq_train.jsonl")
    articles = read_articles(data / "faq" / "faq_articles.jsonl")
    folds = _position_folds(rows, 8)
    results = []
    # one language at a time: what `bot-eval --lang xx` does
    for lang in FAQ_LANGS:
        outcomes: list[Outcome] = []
        seconds: list[float] = []
        engine = ""
        for fold in range(8):
            fit = _examples([r for r, f in zip(rows, folds, strict=True) if f != fold and r.lang == lang])
            fit += [a for a in articles if a.lang == lang]
            started = time.perf_counter()
            model = IntentClassifier.train(fit, settings=settings)
            seconds.append(time.perf_counter() - started)
            engine = model.engine
            outcomes += predict_all(
                model, [r for r, f in zip(rows, folds, strict=True) if f == fold and r.lang == lang]
            )
        results.append(
            Result(f"faq-{lang} (8-fold group CV)", _summary(outcomes, seconds, engine), 0.80, 0.80)
        )
    # one model for all languages (the product's knowledge base), scored per language
    by_lang: dict[str, list[Outcome]] = {lang: [] for lang in FAQ_LANGS}
    seconds = []
    for fold in range(8):
        fit = _examples([r for r, f in zip(rows, folds, strict=True) if f != fold]) + articles
        started = time.perf_counter()
        model = IntentClassifier.train(fit, settings=settings)
        seconds.append(time.perf_counter() - started)
        engine = model.engine
        for outcome in predict_all(model, [r for r, f in zip(rows, folds, strict=True) if f == fold]):
            by_lang[outcome.lang or ""].append(outcome)
    for lang in FAQ_LANGS:
        results.append(
            Result(f"faq-{lang}/all (8-fold group CV)", _summary(by_lang[lang], seconds, engine), 0.80, 0.80)
        )
    return results


BENCHES: dict[str, Callable[[Path, ClassifierSettings], list[Result]]] = {
    "banking77": bench_banking77,
    "arbanking77": bench_arbanking77,
    "clinc150": bench_clinc150,
    "faq": bench_faq,
}


def _mark(value: float | None, target: float | None, *, below: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value:.3f}" if value < 10 else f"{value:,.0f}"
    if target is None:
        return text
    ok = value <= target if below else value >= target
    return f"[green]{text}[/green]" if ok else f"[red]{text}[/red]"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (intents/, faq/)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run only these")
    parser.add_argument("--engine", default="auto", help="auto, use+tfidf or tfidf")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    settings = ClassifierSettings(engine=args.engine)
    console = Console()
    results: list[Result] = []
    with one_thread():  # one core: what the latency target is about
        for name in args.only or list(BENCHES):
            started = time.perf_counter()
            results += BENCHES[name](args.data, settings)
            console.print(f"[dim]{name}: {time.perf_counter() - started:.0f} s[/dim]")
    table = Table(title="FAQ-bot intent classifier (green: meets the target)")
    for column in (
        "data",
        "engine",
        "accuracy (target)",
        "macro F1",
        "oos recall (target)",
        "p50 µs",
        "p99 µs",
        "train s",
    ):
        table.add_column(column, justify="left" if column in ("data", "engine") else "right")
    for result in results:
        f = result.figures
        table.add_row(
            result.name,
            str(f["engine"]),
            f"{_mark(f['accuracy'], result.target_accuracy)} ({result.target_accuracy:.2f})",
            _mark(f["macro_f1"], None),
            "-"
            if result.target_oos_recall is None
            else f"{_mark(f['oos_recall'], result.target_oos_recall)} ({result.target_oos_recall:.2f})",
            _mark(f["p50_us"], None),
            _mark(f["p99_us"], P99_TARGET_US, below=True),
            _mark(f["train_seconds"], TRAIN_TARGET_S, below=True),
        )
    print_whole(table)
    if args.json:
        args.json.write_text(
            json.dumps({r.name: r.figures for r in results}, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
