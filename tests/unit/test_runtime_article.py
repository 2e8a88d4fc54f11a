"""What the bot calls an article on its buttons when the editor left the title out."""

from tests.unit.test_flow_runtime import ARTICLES, tiny_flow

from helpline.domain.flows.runtime import Decision, FlowRuntime, IntentGuess, SessionState
from helpline.services.knowledge import runtime_article

QUESTIONS = {"ru": ["  ", "Где парковка?"], "en": ["Where can I park?"]}


def test_a_language_without_a_title_is_named_by_its_first_question() -> None:
    article = runtime_article(
        "parking", {"en": "Parking", "ru": " "}, {"en": "Behind the office."}, QUESTIONS, False
    )
    assert article.title == {"en": "Parking", "ru": "Где парковка?"}
    assert article.answer == {"en": "Behind the office."}


def test_no_title_and_no_question_leaves_the_id() -> None:
    assert runtime_article("opening_hours", {}, {"en": "9 to 5"}, {}, False).title == {"en": "opening hours"}


def test_untitled_articles_are_offered_by_their_questions_not_as_blank_buttons() -> None:
    """Two untitled articles made a clarifying question of buttons '1:' and '2:' that sent nothing."""
    articles = {
        **ARTICLES,
        "parking": runtime_article("parking", {}, {"ru": "За офисом."}, QUESTIONS, False),
        "hours": runtime_article("hours", {}, {"ru": "С 9 до 18."}, {"ru": ["Когда вы открыты?"]}, False),
    }
    runtime = FlowRuntime(tiny_flow(), articles)
    turn = runtime.handle(
        SessionState(node="main", language="ru"),
        "паркинг часы",
        guess=IntentGuess(Decision.CLARIFY, ("parking", "hours")),
    )
    labels = [choice.label for choice in turn.replies[0].choices]
    assert labels[:2] == ["Где парковка?", "Когда вы открыты?"]
