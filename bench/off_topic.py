"""Benchmark: what a knowledge base without out-of-scope questions does with off-topic messages.

A company's first base has articles and their questions, rarely questions the bot must not
answer. The product then trains on the stock everyday off-topic questions
(``helpline.bot.off_topic``). This script measures that choice against training on the base
alone, on small bases cut from the shared intent data: for each size, a few draws of that many
BANKING77 (en) or ArBanking77 (ar) intents with 8 questions each (like the FAQ), then:

* ``own right``: the base's own held-out questions (up to 20 per intent) answered with the
  right article (higher is better);
* ``own clarified``: a clarifying question offering the right article among two;
* ``uncovered answered``: banking questions of intents the base lacks that get an answer
  (a guess; lower is better);
* ``off-topic answered``: CLINC150's out-of-scope questions (English only) that get an answer
  (a guess; lower is better).

    python bench/off_topic.py                    # en and ar, 2/3/5/10 intents (~10 min on 1 core)
    python bench/off_topic.py --lang en --sizes 3 5
"""

from __future__ import annotations

import argparse
import collections
import random
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from helpline.bot.classifier import Decision, IntentClassifier, TrainingExample
from helpline.bot.evaluation import one_thread, read_rows
from helpline.bot.off_topic import everyday_off_topic
from helpline.cli import print_whole

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "intents"
SETS = {"en": "banking77_en.jsonl", "ar": "arbanking77_ar.jsonl"}
PER_INTENT = 8
HELD_OUT_PER_INTENT = 20
UNCOVERED = 60


def _share(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


def _score(
    model: IntentClassifier,
    own: Sequence[tuple[str, str]],
    uncovered: Sequence[str],
    off_topic: Sequence[str],
) -> tuple[float, float, float, float]:
    right = clarified = 0
    for intent, question in own:
        prediction = model.predict(question)
        right += prediction.decision is Decision.ANSWER and prediction.intent == intent
        clarified += prediction.decision is Decision.CLARIFY and intent in prediction.options
    guessed = sum(model.predict(q).decision is Decision.ANSWER for q in uncovered)
    off = sum(model.predict(q).decision is Decision.ANSWER for q in off_topic)
    return (
        _share(right, len(own)),
        _share(clarified, len(own)),
        _share(guessed, len(uncovered)),
        _share(off, len(off_topic)),
    )


def run(lang: str, sizes: Sequence[int], draws: int, seed: int) -> Table:
    rng = random.Random(seed)
    by_intent: dict[str, list[str]] = collections.defaultdict(list)
    for row in read_rows(DATA / SETS[lang]):
        by_intent[row.intent].append(row.utterance)
    intents = sorted(by_intent)
    off_topic_pool = [r.utterance for r in read_rows(DATA / "clinc150_en.jsonl") if r.intent == "oos"]
    rng.shuffle(off_topic_pool)
    stock = [TrainingExample(q.intent, q.utterance, q.language) for q in everyday_off_topic()]
    table = Table(title=f"Bases without out-of-scope questions ({lang}, {draws} draws a size)")
    columns = ["intents", "training", "own right", "own clarified"]
    columns += ["uncovered answered", "off-topic answered"]
    for column in columns:
        table.add_column(column, justify="right")
    for size in sizes:
        totals: dict[str, list[tuple[float, float, float, float]]] = collections.defaultdict(list)
        for draw in range(draws):
            base = rng.sample(intents, size)
            train: list[TrainingExample] = []
            own: list[tuple[str, str]] = []
            for intent in base:
                questions = by_intent[intent][:]
                rng.shuffle(questions)
                train += [TrainingExample(intent, q, lang) for q in questions[:PER_INTENT]]
                own += [(intent, q) for q in questions[PER_INTENT : PER_INTENT + HELD_OUT_PER_INTENT]]
            others = [i for i in intents if i not in base]
            uncovered = [rng.choice(by_intent[rng.choice(others)]) for _ in range(UNCOVERED)]
            off_topic = off_topic_pool[draw * UNCOVERED : (draw + 1) * UNCOVERED] if lang == "en" else []
            for name, examples in (("base alone", train), ("+ stock off-topic", train + stock)):
                model = IntentClassifier.train(examples, oos_label="oos")
                totals[name].append(_score(model, own, uncovered, off_topic))
        for name, figures in totals.items():
            means = [sum(f[i] for f in figures) / len(figures) for i in range(4)]
            table.add_row(str(size), name, *(f"{m:.3f}" for m in means))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", choices=sorted(SETS), nargs="*", default=sorted(SETS, reverse=True))
    parser.add_argument("--sizes", type=int, nargs="*", default=[2, 3, 5, 10])
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with one_thread():
        for lang in args.lang:
            print_whole(run(lang, args.sizes, args.draws, args.seed))


if __name__ == "__main__":
    main()
