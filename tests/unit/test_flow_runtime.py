"""The flow runtime: menus, FAQ answers, clarifying, collecting, lookups, and the way out to a person."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.domain.flows.model import Flow
from helpline.domain.flows.runtime import (
    MENU_DIGIT,
    Article,
    Awaiting,
    Decision,
    FlowRuntime,
    IntentGuess,
    Outcome,
    SessionState,
    Turn,
    asks_for_operator,
    says_hello,
)
from helpline.domain.identities import phones_in_text
from helpline.flows.loader import load_flow

LOTTERY = Path(__file__).parents[2] / "src/helpline/flows/examples/lottery.yaml"

ARTICLES = {
    "next_draw_schedule": Article(
        title={"ru": "Расписание тиражей", "en": "Draw schedule", "ar": "مواعيد السحوبات"},
        answer={
            "ru": "Тиражи ежедневно в 21:00.",
            "en": "Draws are daily at 21:00.",
            "ar": "السحوبات يوميًا 21:00.",
        },
    ),
    "draw_results": Article(
        title={"ru": "Результаты", "en": "Draw results", "ar": "النتائج"},
        answer={
            "ru": "Результаты на странице.",
            "en": "Results are on the Results page.",
            "ar": "النتائج في الصفحة.",
        },
    ),
    "contact_human": Article(
        title={"ru": "Оператор", "en": "A person", "ar": "موظف"}, answer={"en": "-"}, hands_off=True
    ),
}
for intent in (
    "check_ticket",
    "claim_prize_retail",
    "claim_large_prize",
    "withdraw_winnings",
    "winnings_tax",
    "forgot_password",
    "account_blocked",
    "change_phone_number",
):
    ARTICLES[intent] = Article(title={"en": intent}, answer={"ru": intent, "en": intent, "ar": intent})


def lottery() -> Flow:
    loaded = load_flow(LOTTERY.read_text(encoding="utf-8"), known_articles=ARTICLES)
    assert loaded.ok, loaded.problems
    assert loaded.flow is not None
    return loaded.flow


@pytest.fixture
def runtime() -> FlowRuntime:
    return FlowRuntime(lottery(), ARTICLES)


def test_start_shows_the_main_menu_with_the_operator_on_zero(runtime: FlowRuntime) -> None:
    turn = runtime.start("en")
    (reply,) = turn.replies
    assert reply.text.startswith("Hello!")
    assert [c.digit for c in reply.choices] == ["1", "2", "3", "4", "5", "0"]
    assert reply.choices[-1].label == "Operator"
    assert turn.state.awaiting is Awaiting.MENU
    assert not turn.ended


def test_menu_by_digit_and_by_label_in_any_language_then_an_answer_and_confirmation(
    runtime: FlowRuntime,
) -> None:
    state = runtime.start("ru").state
    turn = runtime.handle(state, "Тиражи и результаты")
    assert turn.state.node == "draws"
    turn = runtime.handle(turn.state, "1")
    assert turn.answered == "next_draw_schedule"
    answer, ask = turn.replies
    assert answer.text == "Тиражи ежедневно в 21:00."
    assert [c.digit for c in ask.choices] == ["1", "2", "9", "0"]
    menu = runtime.handle(turn.state, "Главное меню")
    assert menu.state.node == "main"
    assert menu.replies[0].text.startswith("Здравствуйте!")
    done = runtime.handle(turn.state, "да, спасибо")
    assert done.outcome is Outcome.ANSWERED_CONFIRMED


def test_a_button_of_an_earlier_menu_does_what_its_label_says(runtime: FlowRuntime) -> None:
    """Messengers keep old buttons pressable, and a press sends the label: on the prizes menu,
    "Check a ticket" from the draws menu; at "did it help?", "Prizes and payouts" from the
    main menu. Both were read as questions, and a digit as the current menu's option."""
    prizes = runtime.handle(runtime.handle(runtime.start("en").state, "2").state, "9")
    prizes = runtime.handle(runtime.handle(prizes.state, "2").state, "Check a ticket")
    assert prizes.answered == "check_ticket"
    asked = runtime.handle(runtime.handle(runtime.start("ru").state, "1").state, "2")
    assert asked.state.awaiting is Awaiting.CONFIRM
    menu = runtime.handle(asked.state, "Выигрыши и выплаты")
    assert (menu.state.node, menu.outcome) == ("prizes", None)
    assert not runtime.needs_intent(asked.state, "Выигрыши и выплаты")


def test_a_button_whose_label_names_a_person_runs_its_option_not_a_hand_off() -> None:
    """Buttons send their labels: "Become a lottery agent" was read as asking for a person."""
    option = """      - digit: 2
        label: {ru: "Стать агентом лотереи", en: "Become a lottery agent", ar: "كن وكيلا"}
        answer: next_draw_schedule
"""
    runtime = FlowRuntime(tiny_flow(extra_option=option), ARTICLES)
    state = SessionState(node="main", language="en")
    assert not runtime.needs_intent(state, "Become a lottery agent")
    turn = runtime.handle(state, "Become a lottery agent")
    assert (turn.answered, turn.handoff) == ("next_draw_schedule", None)
    assert runtime.handle(state, "I want to become an agent").handoff is not None  # words, not a button
    asked = replace(state, awaiting=Awaiting.CLARIFY, candidates=("draw_results", "operator_article"))
    titled = FlowRuntime(
        tiny_flow(),
        {**ARTICLES, "operator_article": Article(title={"en": "Operator salaries"}, answer={"en": "-"})},
    )
    assert titled.handle(asked, "Operator salaries").answered == "operator_article"


def test_a_label_two_options_use_for_different_things_is_not_guessed_between() -> None:
    operator = """      - digit: 0
        label: {ru: "Оператор", en: "Operator", ar: "موظف"}
        handoff: {reason: asked}
"""

    def results(article: str) -> str:
        return f"""      - digit: 1
        label: {{ru: "Результаты", en: "Results", ar: "النتائج"}}
        answer: {article}
"""

    source = f"""\
name: Two results
start: main
nodes:
  main:
    prompt: {{ru: "Меню", en: "Menu", ar: "القائمة"}}
    options:
{results("draw_results")}      - digit: 2
        label: {{ru: "Ещё", en: "More", ar: "المزيد"}}
        next: more
{operator}  more:
    prompt: {{ru: "Ещё", en: "More", ar: "المزيد"}}
    options:
{results("next_draw_schedule")}      - digit: 3
        label: {{ru: "Другое", en: "Other", ar: "غير ذلك"}}
        next: other
{operator}  other:
    prompt: {{ru: "Другое", en: "Other", ar: "غير ذلك"}}
    options:
{operator}"""
    loaded = load_flow(source, known_articles=ARTICLES)
    assert loaded.flow is not None, [str(p) for p in loaded.problems]
    runtime = FlowRuntime(loaded.flow, ARTICLES)
    other = SessionState(node="other", language="en")
    assert runtime.needs_intent(other, "Results")  # which of the two? The classifier reads it
    assert runtime.handle(other, "Results").answered is None
    assert runtime.handle(other, "More").state.node == "more"  # one meaning: taken


def test_an_answer_that_did_not_help_goes_to_a_person(runtime: FlowRuntime) -> None:
    state = runtime.handle(runtime.start("en").state, "1").state
    turn = runtime.handle(state, "2")  # draw results
    turn = runtime.handle(turn.state, "no")
    assert turn.outcome is Outcome.HANDED_OFF
    assert turn.handoff is not None
    assert "did not help" in turn.handoff.reason


@pytest.mark.parametrize(
    "word",
    [
        "operator",
        "Оператор!",
        "позовите оператора",
        "موظف",
        "أريد الموظف",
        "0",
        "موظّف",  # with shadda
        "مُوظَّف",  # fully vowelled
        "موظـف",  # tatweel
        "ＯＰＥＲＡＴＯＲ",  # fullwidth
        "опе\u00adратор",  # a soft hyphen inside
        "۰",  # Persian zero
        "٠",  # Arabic-Indic zero
        "\u200e0",  # a direction mark before the key
        "0\ufe0f\u20e3",  # the keycap emoji
        "operators?",
        "соедините с оператором",
        "للموظفين",  # prefixes "لل": to the employees
        "وبالموظف",  # "و" + "ب" + "ال"
        "أبغى أكلم الموظفة",  # Gulf, feminine
    ],
)
def test_the_operator_word_hands_off_from_any_step(runtime: FlowRuntime, word: str) -> None:
    state = runtime.handle(runtime.start("en").state, "3").state  # in the middle of collecting a field
    assert state.awaiting is Awaiting.FIELD
    turn = runtime.handle(state, word)
    assert turn.outcome is Outcome.HANDED_OFF
    # The node's own operator option decides the queue and the reason the agent sees.
    operator = runtime.flow.nodes[state.node].option_by_digit("0")
    assert operator is not None
    assert turn.handoff == operator.step


@pytest.mark.parametrize(
    "text", ["I was a cooperator in the old lottery club, how do I check my ticket", "teleoperators"]
)
def test_operator_inside_another_word_asks_for_no_one(text: str) -> None:
    assert not asks_for_operator(text)


def test_the_operator_word_uses_the_queue_of_the_nodes_operator_option() -> None:
    flow = tiny_flow(operator="{reason: billing question, queue: Billing}")
    turn = FlowRuntime(flow, ARTICLES).handle(SessionState(node="main", language="en"), "operator")
    assert turn.handoff is not None
    assert (turn.handoff.reason, turn.handoff.queue) == ("billing question", "Billing")


def tiny_flow(operator: str = "{reason: asked}", extra_option: str = "") -> Flow:
    source = f"""\
name: Tiny
start: main
nodes:
  main:
    prompt: {{ru: "Меню", en: "Menu", ar: "القائمة"}}
    options:
{extra_option}      - digit: 1
        label: {{ru: "Результаты", en: "Results", ar: "النتائج"}}
        answer: draw_results
      - digit: 0
        label: {{ru: "Оператор", en: "Operator", ar: "موظف"}}
        handoff: {operator}
"""
    loaded = load_flow(source, known_articles=ARTICLES)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.flow is not None
    return loaded.flow


@pytest.mark.parametrize("key", ["*", "#"])
def test_star_and_hash_are_keys_like_the_digits(key: str) -> None:
    option = f"""      - digit: "{key}"
        label: {{ru: "Расписание", en: "Schedule", ar: "المواعيد"}}
        answer: next_draw_schedule
"""
    runtime = FlowRuntime(tiny_flow(extra_option=option), ARTICLES)
    turn = runtime.handle(SessionState(node="main", language="en"), f" {key} ")
    assert turn.answered == "next_draw_schedule"


@pytest.mark.parametrize(
    "reply",
    [
        "Thanks, but that did not help at all",
        "Спасибо, но это не помогло",
        "ok but no",
        "Да нет, не то",
        "شكرا لكن لم يساعدني",
        "٢",
    ],
)
def test_a_thanks_that_says_it_did_not_help_is_a_no(runtime: FlowRuntime, reply: str) -> None:
    answered = runtime.handle(runtime.handle(runtime.start("en").state, "1").state, "2")
    assert answered.state.awaiting is Awaiting.CONFIRM
    turn = runtime.handle(answered.state, reply)
    assert turn.outcome is Outcome.HANDED_OFF
    assert turn.handoff is not None
    assert "did not help" in turn.handoff.reason


@pytest.mark.parametrize(
    "reply",
    [
        "yes thanks",
        "Спасибо, помогло",
        "شكرا",
        "١",
        "great!",
        "perfect",
        "thx",
        "👍",
        "👍🏽👍🏽",
        "got it",
        "cool thanks",
        "it helped, thank you very much",
        "yes it did",
        "отлично",
        "помогло",
        "ясно, спасибо",
        "понятно",
        "تمام",
        "ممتاز",
        "شكرًا جزيلاً",
    ],
)
def test_a_plain_yes_or_thanks_confirms(runtime: FlowRuntime, reply: str) -> None:
    answered = runtime.handle(runtime.handle(runtime.start("en").state, "1").state, "2")
    assert not runtime.needs_intent(answered.state, reply)
    assert runtime.handle(answered.state, reply).outcome is Outcome.ANSWERED_CONFIRMED


@pytest.mark.parametrize(
    "reply",
    [
        "ok, and what about the tax?",
        "thanks! and where do I claim a prize",
        "ok, the tax?",
        "спасибо, а налог?",
        "да, а доставка?",
        "ok how much",
        "شكرا، والضريبة؟",
        "is that right?",
    ],
)
def test_thanks_with_a_new_question_is_read_as_the_question(runtime: FlowRuntime, reply: str) -> None:
    answered = runtime.handle(runtime.handle(runtime.start("en").state, "1").state, "2")
    assert runtime.needs_intent(answered.state, reply)
    turn = runtime.handle(answered.state, reply, guess=IntentGuess(Decision.ANSWER, ("draw_results",)))
    assert turn.answered == "draw_results"


@pytest.mark.parametrize("reply", ["9", "главное меню", "Main menu", "القائمة الرئيسية", "9️⃣"])
def test_the_main_menu_is_one_word_away_from_a_clarifying_question(runtime: FlowRuntime, reply: str) -> None:
    state = runtime.start("ru").state
    guess = IntentGuess(Decision.CLARIFY, ("draw_results", "next_draw_schedule"))
    clarify = runtime.handle(state, "розыгрыш", guess=guess)
    assert MENU_DIGIT in [c.digit for c in clarify.replies[0].choices]
    assert not runtime.needs_intent(clarify.state, reply)
    back = runtime.handle(clarify.state, reply)
    assert back.handoff is None
    assert back.state.node == runtime.flow.start
    assert back.state.awaiting is Awaiting.MENU


@pytest.mark.parametrize(
    ("language", "reply"),
    [
        ("en", "ok, main menu please"),
        ("en", "thanks! back to the menu"),
        ("ru", "спасибо, в главное меню"),
        ("ru", "ок, меню пожалуйста"),
        ("ar", "شكرا، القائمة الرئيسية من فضلك"),
    ],
)
def test_thanks_with_the_menu_after_an_answer_is_a_yes_and_the_menu(
    runtime: FlowRuntime, language: str, reply: str
) -> None:
    answered = runtime.handle(runtime.handle(runtime.start(language).state, "1").state, "2")
    assert answered.state.awaiting is Awaiting.CONFIRM
    assert not runtime.needs_intent(answered.state, reply)
    turn = runtime.handle(answered.state, reply)
    assert turn.outcome is Outcome.ANSWERED_CONFIRMED
    assert turn.handoff is None
    assert turn.state.node == runtime.flow.start
    assert turn.state.awaiting is Awaiting.MENU
    assert turn.replies[0].text == runtime.handle(answered.state, "1").replies[0].text  # "glad"
    assert turn.replies[-1].choices  # the main menu's buttons


@pytest.mark.parametrize("reply", ["main menu please", "назад в меню, пожалуйста", "رجعني القائمة"])
def test_the_menu_asked_for_politely_after_an_answer_is_no_verdict(runtime: FlowRuntime, reply: str) -> None:
    answered = runtime.handle(runtime.handle(runtime.start("en").state, "1").state, "2")
    turn = runtime.handle(answered.state, reply)
    assert turn.outcome is None
    assert turn.handoff is None
    assert turn.state.node == runtime.flow.start


@pytest.mark.parametrize(("language", "reply"), [("en", "menu"), ("ru", "главное меню"), ("ar", "القائمة")])
def test_the_menu_asked_for_at_the_menu_is_shown_again_not_handed_off(
    runtime: FlowRuntime, language: str, reply: str
) -> None:
    start = runtime.start(language).state
    assert not runtime.needs_intent(start, reply)
    turn = runtime.handle(start, reply, guess=IntentGuess(Decision.HANDOFF, ()))
    assert turn.handoff is None
    assert turn.state.node == runtime.flow.start
    assert turn.state.awaiting is Awaiting.MENU
    assert turn.replies[-1].choices


def test_the_menu_asked_for_in_another_language_or_while_a_field_is_asked_for(runtime: FlowRuntime) -> None:
    order = runtime.handle(runtime.start("en").state, "3").state
    assert order.awaiting is Awaiting.FIELD
    back = runtime.handle(order, "главное меню")
    assert back.handoff is None
    assert back.state.node == runtime.flow.start
    nine = runtime.handle(order, "9")  # the node's own option: the same menu, by its key
    assert nine.state.node == runtime.flow.start


@pytest.mark.parametrize(
    ("reply", "wanted"),
    [
        ("the second one", 1),
        ("второй", 1),
        ("الثاني", 1),
        ("first please", 0),
        ("первый вариант", 0),
        ("one second", None),  # "wait a moment", not a choice
        ("first prize", None),
        ("second chance draw", None),
    ],
)
def test_a_clarifying_choice_named_by_its_place_is_taken(
    runtime: FlowRuntime, reply: str, wanted: int | None
) -> None:
    candidates = ("draw_results", "next_draw_schedule")
    clarify = runtime.handle(
        runtime.start("en").state, "draw", guess=IntentGuess(Decision.CLARIFY, candidates)
    )
    if wanted is None:  # a new question: the classifier reads it
        assert runtime.needs_intent(clarify.state, reply)
        return
    assert not runtime.needs_intent(clarify.state, reply)
    turn = runtime.handle(clarify.state, reply)
    assert turn.answered == candidates[wanted]
    assert turn.handoff is None


@pytest.mark.parametrize(
    "reply", ["ok, what is on the menu?", "the menu of the app is broken", "good menu", "the menu works fine"]
)
def test_words_about_a_menu_are_not_a_request_for_it(runtime: FlowRuntime, reply: str) -> None:
    answered = runtime.handle(runtime.handle(runtime.start("en").state, "1").state, "2")
    turn = runtime.handle(answered.state, reply)
    assert turn.outcome is not Outcome.ANSWERED_CONFIRMED
    assert turn.state.node != runtime.flow.start or turn.handoff is not None


@pytest.mark.parametrize("pending", ["confirm", "clarify"])
def test_after_a_miss_the_menu_shown_is_the_menu_that_counts(runtime: FlowRuntime, pending: str) -> None:
    state = runtime.start("en").state
    if pending == "confirm":
        state = runtime.handle(runtime.handle(state, "1").state, "2").state
    else:
        guess = IntentGuess(Decision.CLARIFY, ("draw_results", "next_draw_schedule"))
        state = runtime.handle(state, "draw", guess=guess).state
    missed = runtime.handle(state, "")  # a photo: no text
    assert missed.outcome is None
    assert missed.state.awaiting is Awaiting.MENU
    assert missed.state.candidates == ()
    shown = [c.digit for c in missed.replies[-1].choices]
    picked = runtime.handle(missed.state, "2")  # a key of the menu just shown, not "no" or candidate 2
    node = runtime.flow.nodes[missed.state.node]
    option = node.option_by_digit("2")
    assert "2" in shown
    assert option is not None
    assert picked.outcome is None
    assert picked.handoff is None


def test_free_text_is_classified_only_where_it_is_a_question(runtime: FlowRuntime) -> None:
    state = runtime.start("en").state
    assert runtime.needs_intent(state, "what time is the draw tonight?")
    assert not runtime.needs_intent(state, "when is the next draw?")  # another menu's button, word for word
    assert not runtime.needs_intent(state, "2")
    assert not runtime.needs_intent(state, "operator")
    collecting = runtime.handle(state, "3").state
    assert not runtime.needs_intent(collecting, "123456")


def test_a_confident_guess_is_answered_a_close_one_clarified_an_unsure_one_handed_off(
    runtime: FlowRuntime,
) -> None:
    state = runtime.start("ar").state
    answered = runtime.handle(state, "متى السحب", guess=IntentGuess(Decision.ANSWER, ("next_draw_schedule",)))
    assert answered.answered == "next_draw_schedule"
    assert answered.replies[0].text == "السحوبات يوميًا 21:00."

    clarify = runtime.handle(
        state, "السحب", guess=IntentGuess(Decision.CLARIFY, ("draw_results", "next_draw_schedule"))
    )
    assert clarify.state.awaiting is Awaiting.CLARIFY
    assert clarify.answered is None
    labels = [c.label for c in clarify.replies[0].choices]
    assert labels == ["النتائج", "مواعيد السحوبات", "القائمة الرئيسية", "موظف"]
    picked = runtime.handle(clarify.state, "2")
    assert picked.answered == "next_draw_schedule"

    unsure = runtime.handle(state, "blue whales", guess=IntentGuess(Decision.HANDOFF, ("draw_results",)))
    assert unsure.outcome is Outcome.HANDED_OFF
    assert unsure.answered is None


def test_an_article_about_reaching_a_person_is_answered_by_a_handoff(runtime: FlowRuntime) -> None:
    turn = runtime.handle(
        runtime.start("en").state, "human?", guess=IntentGuess(Decision.ANSWER, ("contact_human",))
    )
    assert turn.outcome is Outcome.HANDED_OFF


def test_a_field_is_checked_then_a_ticket_is_requested_with_it(runtime: FlowRuntime) -> None:
    state = runtime.handle(runtime.start("en").state, "3").state
    wrong = runtime.handle(state, "my order")
    assert wrong.replies[0].text.startswith("An order number has 6 to 12 digits")
    assert wrong.state.misses == 1
    assert not wrong.ended
    essay = runtime.handle(state, "1234567 " * 1000)  # not an answer; the pattern never sees it
    assert essay.state.misses == 1
    turn = runtime.handle(wrong.state, "1234567")
    assert turn.outcome is Outcome.TICKET_CREATED
    assert turn.ticket is not None
    assert turn.ticket.fields == {"order_number": "1234567"}
    assert turn.ticket.queue == "Deliveries"
    assert turn.ticket.confirmation.format(ticket=42).startswith(
        "Your request about order 1234567 is registered as #42"
    )


def test_an_order_number_typed_on_an_arabic_keyboard_is_kept_in_ascii_digits(runtime: FlowRuntime) -> None:
    state = runtime.handle(runtime.start("ar").state, "٣").state
    turn = runtime.handle(state, "١٢٣٤٥٦٧")
    assert turn.outcome is Outcome.TICKET_CREATED
    assert turn.ticket is not None
    assert turn.ticket.fields == {"order_number": "1234567"}


def test_a_stored_version_whose_pattern_cannot_run_hands_off_instead_of_failing() -> None:
    """Versions uploaded before patterns were held to RE2 may have a lookahead."""
    flow = lottery()
    node = next(n for n in flow.nodes.values() if n.collect is not None and n.collect.pattern)
    assert node.collect is not None
    broken = replace(node, collect=replace(node.collect, pattern="(?=[0-9]{6})[0-9]+"))
    runtime = FlowRuntime(replace(flow, nodes={**flow.nodes, node.id: broken}), ARTICLES)
    state = runtime.handle(runtime.start("en").state, "3").state
    assert state.node == node.id
    turn = runtime.handle(state, "1234567")
    assert turn.outcome is Outcome.HANDED_OFF
    assert turn.handoff is not None
    # The report says why, rather than that the customer asked for a person.
    assert turn.handoff.reason == "the flow's pattern for 'order_number' cannot run: upload it again"


def test_a_phone_field_offers_sharing_the_number_and_keeps_it_in_international_format(
    runtime: FlowRuntime,
) -> None:
    asked = runtime.handle(runtime.start("ru").state, "5")
    (prompt,) = asked.replies
    share, *menu = prompt.choices
    assert share.shares_phone
    assert share.label == "Отправить мой номер"
    assert share.digit == ""
    assert [c.digit for c in menu] == ["9", "0"]
    assert not any(c.shares_phone for c in menu)
    # A number typed the way people do in Russia, then a Telegram contact card.
    typed = runtime.handle(asked.state, "8 (912) 345-67-89")
    assert typed.ticket is not None
    assert typed.ticket.fields == {"phone": "+79123456789"}
    assert (
        typed.ticket.confirmation.format(ticket=7) == "Заявка №7 принята: перезвоним на номер +79123456789."
    )
    shared = runtime.handle(asked.state, "Contact: Ivan Petrov +447911123456")
    assert shared.ticket is not None
    assert shared.ticket.fields == {"phone": "+447911123456"}


def test_what_is_not_a_phone_number_is_asked_again_then_reaches_a_person(runtime: FlowRuntime) -> None:
    asked = runtime.handle(runtime.start("en").state, "5")
    wrong = runtime.handle(asked.state, "order 12345")
    sorry, again = wrong.replies
    assert sorry.text.startswith("I couldn't read that as a phone number")
    assert again.choices[0].shares_phone
    assert wrong.ticket is None
    assert not wrong.ended
    assert runtime.handle(wrong.state, "call me").outcome is Outcome.HANDED_OFF


def test_the_region_decides_a_number_typed_without_its_country_code() -> None:
    uae = FlowRuntime(lottery(), ARTICLES, phone_region="AE")
    asked = uae.handle(uae.start("ar").state, "5")
    turn = uae.handle(asked.state, "050 123 4567")
    assert turn.ticket is not None
    assert turn.ticket.fields == {"phone": "+971501234567"}


_PHONES = st.sampled_from(["+7 912 345-67-89", "8 (912) 345 67 89", "+44 20 7946 0958", "+971 50 123 4567"])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.one_of(st.none(), _PHONES), st.text(max_size=30))
def test_a_phone_field_holds_a_valid_number_or_nothing(before: str, phone: str | None, after: str) -> None:
    text = f"{before} {phone} {after}" if phone else before
    rt = FlowRuntime(lottery(), ARTICLES)
    turn = rt.handle(rt.handle(rt.start("en").state, "5").state, text)
    found = phones_in_text(text, "RU", limit=1)
    if turn.ticket is not None:
        number = phonenumbers.parse(turn.ticket.fields["phone"])
        assert phonenumbers.is_valid_number(number)
        assert turn.ticket.fields["phone"] == phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164
        )
        assert turn.ticket.fields["phone"] == found[0]  # the first number the customer wrote
    else:
        assert turn.outcome in (None, Outcome.HANDED_OFF) or turn.state.node != "callback"
        if turn.outcome is None and turn.state.node == "callback":  # neither an option nor a person
            assert not found
            assert turn.replies[0].text.startswith("I couldn't read that as a phone number")


def test_two_misses_in_a_row_reach_a_person(runtime: FlowRuntime) -> None:
    state = runtime.handle(runtime.start("en").state, "3").state
    first = runtime.handle(state, "abc")
    second = runtime.handle(first.state, "still not a number")
    assert second.outcome is Outcome.HANDED_OFF


def test_lookup_runs_outside_and_resumes_with_the_answer() -> None:
    source = (
        LOTTERY.read_text(encoding="utf-8")
        .replace(
            """      ticket:
        subject: "Where is my order"
        queue: "Deliveries"
        done:""",
            """      lookup:
        name: order_status
        found:
          ru: "Заказ {order_number}: {status}"
          en: "Order {order_number}: {status}"
          ar: "الطلب {order_number}: {status}"
        missing: {ru: "Заказ не найден", en: "No such order", ar: "الطلب غير موجود"}
        next: main
      ignored_done:""",
        )
        .replace("ignored_done:", "# done:")
        .replace(
            "\nnodes:",
            "\nlookups:\n  order_status: {url: 'http://127.0.0.1:9/orders/{order_number}'}\nnodes:",
        )
    )
    source = "\n".join(
        line
        for line in source.splitlines()
        if not line.startswith("          ") or "{ticket}" not in line or "{order_number}" not in line
    )
    loaded = load_flow(source)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.flow is not None
    rt = FlowRuntime(loaded.flow, ARTICLES)
    state = rt.handle(rt.start("en").state, "3").state
    asking = rt.handle(state, "555555")
    assert asking.lookup is not None
    assert asking.lookup.fields == {"order_number": "555555"}
    assert asking.state.awaiting is Awaiting.LOOKUP
    restored = SessionState.from_json(asking.state.to_json())
    found = rt.resume_lookup(restored, {"status": "shipped"})
    assert found.replies[0].text == "Order 555555: shipped"
    assert found.state.node == "main"
    missing = rt.resume_lookup(restored, None)
    assert missing.replies[0].text == "No such order"
    failed = rt.resume_lookup(restored, None, failed=True)
    assert failed.outcome is Outcome.HANDED_OFF


def test_phrases_of_the_state_survive_json() -> None:
    state = SessionState(
        node="x", language="ar", awaiting=Awaiting.CLARIFY, fields={"a": "1"}, candidates=("p", "q")
    )
    assert SessionState.from_json(state.to_json()) == state


# --- invariants over any input -------------------------------------------------------------------

_texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["1", "2", "3", "4", "9", "0", "yes", "no", "да", "нет", "نعم", "123456", "Main menu"]),
)
_guesses = st.one_of(
    st.none(),
    st.builds(
        IntentGuess,
        st.sampled_from(list(Decision)),
        st.lists(st.sampled_from([*ARTICLES, "unknown_intent"]), max_size=3).map(tuple),
    ),
)


def _check_turn(turn: Turn) -> None:
    # The bot always says something, or the adapter does (the ticket's confirmation, the lookup's answer).
    assert turn.replies or turn.lookup is not None or turn.ticket is not None
    for reply in turn.replies:
        if reply.choices:  # any menu the bot shows keeps the way to a person
            assert "0" in [c.digit for c in reply.choices]
    if turn.outcome is Outcome.HANDED_OFF:
        assert turn.handoff is not None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_texts, _guesses, st.sampled_from(["ru", "en", "ar"])), max_size=8))
def test_no_input_sequence_breaks_the_runtime_or_hides_the_operator(
    steps: list[tuple[str, IntentGuess | None, str]],
) -> None:
    rt = FlowRuntime(lottery(), ARTICLES)
    turn = rt.start("en")
    _check_turn(turn)
    for text, guess, language in steps:
        if turn.ended:
            turn = rt.start(language)
        if turn.lookup is not None:
            turn = rt.resume_lookup(turn.state, None)
            _check_turn(turn)
            continue
        turn = rt.handle(turn.state, text, language, guess)
        _check_turn(turn)


@given(st.text(max_size=30), st.sampled_from(["operator", "оператор", "موظف"]), st.text(max_size=30))
def test_the_operator_word_anywhere_in_a_message_is_heard(before: str, word: str, after: str) -> None:
    assert asks_for_operator(f"{before} {word} {after}")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(_texts, _guesses), max_size=6), st.sampled_from(["operator", "оператор", "موظف", "0"])
)
def test_operator_reaches_a_person_whatever_came_before(
    steps: list[tuple[str, IntentGuess | None]], word: str
) -> None:
    rt = FlowRuntime(lottery(), ARTICLES)
    turn = rt.start("ru")
    for text, guess in steps:
        if turn.ended or turn.lookup is not None:
            break
        turn = rt.handle(turn.state, text, None, guess)
    if not turn.ended and turn.lookup is None:
        final = rt.handle(turn.state, word)
        assert final.outcome is Outcome.HANDED_OFF


def test_the_phone_reads_the_same_node_with_its_keys() -> None:
    from helpline.domain.flows.voice import spoken_menu

    flow = lottery()
    node = flow.start_node
    english = spoken_menu(flow, node, "en")
    assert english.startswith("Hello! I'm the support bot.")
    assert "For Draws and results, press 1." in english
    assert english.endswith("For Operator, press 0.")
    assert "Оператор — нажмите 0." in spoken_menu(flow, node, "ru")
    assert "لاختيار «موظف» اضغط 0." in spoken_menu(flow, node, "ar")


def lookup_flow(found: str, chain: int = 1) -> str:
    texts = f"{{ru: '{found}', en: '{found}', ar: '{found}'}}"
    lookup = f"name: order_status, found: {texts}, missing: {{ru: a, en: b, ar: c}}"
    step = "next: main"
    for _ in range(chain):
        step = f"lookup: {{{lookup}, {step}}}"
    return f"""\
name: Orders
start: main
lookups:
  order_status: {{url: "https://crm.example/orders/{{order_number}}"}}
nodes:
  main:
    prompt: {{ru: "Номер?", en: "Number?", ar: "الرقم؟"}}
    collect: {{field: order_number, {step}}}
    options:
      - digit: 0
        label: {{ru: "Оператор", en: "Operator", ar: "موظف"}}
        handoff: {{reason: asked}}
"""


def test_a_template_fills_plain_fields_only() -> None:
    loaded = load_flow(lookup_flow("Order {order_number}: {status:>999999999} {status.__class__} {status}"))
    assert loaded.flow is not None, loaded.problems
    runtime = FlowRuntime(loaded.flow, ARTICLES)
    asking = runtime.handle(SessionState(node="main", language="en", awaiting=Awaiting.FIELD), "42")
    found = runtime.resume_lookup(asking.state, {"status": "shipped"})
    assert found.replies[0].text == "Order 42: {status:>999999999} {status.__class__} shipped"


def test_no_more_lookups_in_a_row_than_a_turn_runs() -> None:
    assert load_flow(lookup_flow("ok", chain=3)).ok
    problems = [str(p) for p in load_flow(lookup_flow("ok", chain=4)).problems]
    assert problems == ["line 8: at most 3 lookups may follow one another"]


def test_a_hand_off_nobody_is_online_for_says_so_and_nothing_else_changes(runtime: FlowRuntime) -> None:
    start = runtime.start("ru")
    handed = runtime.handle(start.state, "оператор")
    unstaffed = runtime.unstaffed(handed)
    assert unstaffed.handoff == handed.handoff
    assert unstaffed.state == handed.state
    assert unstaffed.outcome is handed.outcome
    assert [r.text for r in unstaffed.replies] != [r.text for r in handed.replies]
    assert unstaffed.replies[-1].text.startswith("Сейчас все операторы не в сети")
    assert runtime.unstaffed(start) == start  # a turn without a hand-off is left as it is


@pytest.mark.parametrize(
    ("text", "hello"),
    [
        ("hi", True),
        ("Hello there!", True),
        ("добрый вечер", True),
        ("Здравствуйте", True),
        ("السلام عليكم", True),
        ("مرحبا", True),
        ("hi, when is the next draw", False),
        ("hello?", False),
        ("привет, где мой выигрыш", False),
        ("", False),
    ],
)
def test_a_hello_alone_is_told_from_a_question(text: str, hello: bool) -> None:
    assert says_hello(text) is hello


def test_a_choice_after_a_session_left_at_another_menu_answers_a_stale_menu(
    runtime: FlowRuntime,
) -> None:
    stale = runtime.answers_a_stale_menu
    assert stale("2", "draws", "menu")
    assert stale("٢", "prizes", "menu")
    assert stale("option 2", "draws", "menu")
    assert stale("the second one", "draws", "menu")
    assert stale("2", runtime.flow.start, "confirm")  # "did it help? 1 yes, 2 no" at the start node
    assert not stale("2", runtime.flow.start, "menu")  # the main menu still holds
    assert not stale("2", None, None)
    assert not stale("0", "draws", "menu")  # a person, always
    assert not stale("where is my prize", "draws", "menu")
    unclear = runtime.start_unclear("ru")
    assert unclear.replies[0].text.startswith("Извините, я не понял.")
    assert [c.digit for c in unclear.replies[0].choices] == [
        c.digit for c in runtime.start("ru").replies[-1].choices
    ]


@pytest.mark.parametrize(
    "reply",
    [
        "the second one",
        "second",
        "option 2",
        "number 2",
        "вариант 2",
        "второй",
        "2-й",
        "пункт 2",
        "رقم ٢",
        "التانية",
    ],
)
def test_a_menus_choice_named_in_words_is_taken(runtime: FlowRuntime, reply: str) -> None:
    """ "the second one" or «вариант 2» at a menu handed the customer to a person at once."""
    draws = runtime.handle(runtime.start("en").state, "1")
    by_digit = runtime.handle(draws.state, "2")
    assert not runtime.needs_intent(draws.state, reply)
    turn = runtime.handle(draws.state, reply)
    assert turn.answered == by_digit.answered
    assert turn.handoff is None


@pytest.mark.parametrize("reply", ["one second", "first prize", "number of tickets", "2 tickets please"])
def test_words_that_only_look_like_a_choice_are_questions(runtime: FlowRuntime, reply: str) -> None:
    draws = runtime.handle(runtime.start("en").state, "1")
    assert runtime.needs_intent(draws.state, reply)


@pytest.mark.parametrize("reply", ["the first one", "option 9", "second"])
def test_at_a_field_words_naming_a_choice_are_an_answer_to_check_not_a_choice(
    runtime: FlowRuntime, reply: str
) -> None:
    """The order number's node offers 9 (menu) and 0: "the first one" there is a wrong order
    number, not the main menu."""
    order = runtime.handle(runtime.start("en").state, "3").state
    assert order.awaiting is Awaiting.FIELD
    turn = runtime.handle(order, reply)
    assert turn.state.node == order.node
    assert turn.state.awaiting is Awaiting.FIELD
    assert turn.replies[0].text.startswith("An order number has 6 to 12 digits")
