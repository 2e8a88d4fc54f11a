"""`helpline bot-eval` trains the product's classifier on a JSONL file and prints one JSON object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from helpline.cli import app

DATA = Path(__file__).parents[2] / "src/helpline/bot/data"
INTENTS = {"forgot_password", "draw_results", "delete_account", "age_limit", "oos"}
KEYS = {"accuracy", "macro_f1", "oos_recall", "p50_us", "p99_us", "train_seconds"}


def small_files(tmp_path: Path) -> tuple[Path, Path]:
    rows = [json.loads(line) for line in (DATA / "faq_train.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if row["intent"] in INTENTS]
    seen: dict[tuple[str, str], int] = {}
    train, test = [], []
    for row in rows:
        key = (row["lang"], row["intent"])
        seen[key] = seen.get(key, 0) + 1
        (test if seen[key] % 4 == 0 else train).append(row)
    train_path, test_path = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    for path, part in ((train_path, train), (test_path, test)):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
    return train_path, test_path


def bot_eval(train: Path, test: Path, *options: str) -> dict[str, object]:
    """`helpline bot-eval --json` with these files and options: the figures it printed."""
    result = CliRunner().invoke(
        app, ["bot-eval", "--train", str(train), "--test", str(test), *options, "--json"]
    )
    assert result.exit_code == 0, result.output
    figures: dict[str, object] = json.loads(result.stdout)
    return figures


def test_bot_eval_prints_the_figures_as_json(tmp_path: Path) -> None:
    train, test = small_files(tmp_path)
    figures: dict[str, Any] = bot_eval(train, test, "--lang", "en")
    assert set(figures) >= KEYS
    assert 0.0 <= figures["accuracy"] <= 1.0
    assert figures["oos_recall"] is not None
    assert figures["p99_us"] >= figures["p50_us"] > 0
    assert figures["n_test"] == sum(
        1 for line in test.read_text(encoding="utf-8").splitlines() if '"en"' in line
    )


def test_bot_eval_without_oos_rows_reports_no_oos_recall(tmp_path: Path) -> None:
    train, test = small_files(tmp_path)
    no_oos = tmp_path / "test-in-scope.jsonl"
    no_oos.write_text(
        "".join(line + "\n" for line in test.read_text(encoding="utf-8").splitlines() if '"oos"' not in line),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["bot-eval", "--train", str(train), "--test", str(no_oos), "--engine", "tfidf", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["oos_recall"] is None
    assert figures["engine"] == "tfidf"


def test_bot_eval_rejects_an_unknown_language(tmp_path: Path) -> None:
    train, test = small_files(tmp_path)
    result = CliRunner().invoke(app, ["bot-eval", "--train", str(train), "--test", str(test), "--lang", "de"])
    assert result.exit_code == 2


def test_the_faq_copied_elsewhere_still_learns_its_articles_answers(tmp_path: Path) -> None:
    """`--articles auto`: beside the train file, else the packaged FAQ's when the intents are its own."""
    from helpline.bot.evaluation import PACKAGED_ARTICLES, find_articles

    train, _ = small_files(tmp_path)
    assert find_articles(train, "auto") == PACKAGED_ARTICLES
    assert find_articles(train, "none") is None
    other = tmp_path / "banking.jsonl"
    other.write_text(
        '{"intent": "card_arrival", "utterance": "where is my card", "split": "train"}\n'
        '{"intent": "draw_results", "utterance": "results?", "split": "train"}\n',
        encoding="utf-8",
    )
    assert find_articles(other, "auto") is None
    beside = tmp_path / "faq_articles.jsonl"
    beside.write_text((DATA / "faq_articles.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    assert find_articles(train, "auto") == beside


def test_only_the_answers_of_intents_the_train_file_asks_about_are_learnt(tmp_path: Path) -> None:
    train, test = small_files(tmp_path)
    figures: dict[str, Any] = bot_eval(train, test, "--engine", "tfidf")
    assert figures["articles"].endswith("faq_articles.jsonl")
    assert figures["n_intents"] == len(INTENTS - {"oos"})
