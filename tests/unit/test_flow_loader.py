"""Flow files: schema and rule problems come back with the line and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpline.domain.flows.model import Handoff
from helpline.flows.loader import MAX_FLOW_BYTES, load_flow

LOTTERY = (Path(__file__).parents[2] / "src/helpline/flows/examples/lottery.yaml").read_text(encoding="utf-8")

MINIMAL = """\
name: Tiny
start: main
nodes:
  main:
    prompt: {ru: "Привет", en: "Hi", ar: "مرحبا"}
    options:
      - digit: 1
        label: {ru: "Тиражи", en: "Draws", ar: "السحوبات"}
        answer: draw_results
      - digit: 0
        label: {ru: "Оператор", en: "Operator", ar: "موظف"}
        handoff: {reason: asked, queue: Second line}
"""


def messages(source: str, **kwargs: object) -> list[str]:
    return [str(p) for p in load_flow(source, **kwargs).problems]  # type: ignore[arg-type]


def test_the_demo_flow_and_a_minimal_flow_are_valid() -> None:
    assert load_flow(LOTTERY).ok
    loaded = load_flow(MINIMAL)
    assert loaded.ok
    assert loaded.flow is not None
    assert loaded.flow.start_node.options[1].digit == "0"


def test_a_node_without_the_operator_option_is_refused_with_its_line() -> None:
    source = MINIMAL.replace("      - digit: 0\n", "      - digit: 2\n")
    assert messages(source) == [
        "line 6: node 'main' has no way to an operator: add an option with digit 0 and a handoff"
    ]


def test_two_buttons_with_one_label_on_a_node_are_refused_in_the_language_they_clash_in() -> None:
    """A button sends its label and the first option with it is taken: the second of two
    "Draws and results" buttons could not be chosen by pressing it."""
    source = MINIMAL.replace('en: "Operator"', 'en: " draws "')
    assert messages(source) == ["line 11: the label ' draws ' is used twice on node 'main'"]
    assert load_flow(MINIMAL.replace('ru: "Оператор"', 'ru: "Draws"')).ok  # another language: no clash


def test_digit_zero_that_does_not_hand_off_is_not_the_way_to_an_operator() -> None:
    source = MINIMAL.replace("        handoff: {reason: asked, queue: Second line}", "        next: main")
    assert any("no way to an operator" in m for m in messages(source))


def test_missing_translation_unknown_node_and_duplicate_digit_each_point_at_their_line() -> None:
    source = MINIMAL.replace(', ar: "مرحبا"', "").replace("answer: draw_results", "next: nowhere")
    assert messages(source) == ["line 5: nodes/main/prompt: 'ar' is required here"]
    source = MINIMAL.replace("answer: draw_results", "next: nowhere").replace("digit: 1", "digit: 0")
    problems = messages(source)
    assert "line 10: digit 0 is used twice on node 'main'" in problems
    assert "line 9: there is no node 'nowhere'" in problems


def test_an_option_must_lead_to_exactly_one_thing() -> None:
    source = MINIMAL.replace(
        "        answer: draw_results", "        answer: draw_results\n        next: main"
    )
    assert messages(source) == [
        "line 7: nodes/main/options/0: say what it leads to with exactly one of: "
        "'next', 'answer', 'handoff', 'ticket', 'lookup'"
    ]


def test_a_hand_off_reason_may_be_written_in_each_language_and_the_english_one_is_stored() -> None:
    each = '{reason: {ru: "спросил", en: "asked", ar: "سأل"}, queue: Second line}'
    loaded = load_flow(MINIMAL.replace("{reason: asked, queue: Second line}", each))
    assert loaded.flow is not None
    handoff = loaded.flow.start_node.options[1].step
    assert isinstance(handoff, Handoff)
    assert (handoff.reason, handoff.queue) == ("asked", "Second line")
    assert loaded.flow.handoff_reasons() == {"asked": {"ru": "спросил", "en": "asked", "ar": "سأل"}}
    assert load_flow(MINIMAL).flow.handoff_reasons() == {}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ('{ru: "спросил", en: "asked"}', "'ar' is required here"),
        ('{ru: "", en: "asked", ar: "سأل"}', "must not be empty"),
        ('{ru: "спросил", en: "asked", ar: "سأل", de: "gefragt"}', "not allowed here: 'de'"),
        ('""', "must not be empty"),
        ("[asked]", "expected text, or the text in each language (ru, en, ar)"),
        ("12", "expected text, or the text in each language (ru, en, ar)"),
    ],
)
def test_a_hand_off_reason_is_one_text_or_one_in_each_language(reason: str, expected: str) -> None:
    (problem,) = messages(MINIMAL.replace("{reason: asked, queue: Second line}", f"{{reason: {reason}}}"))
    assert problem.startswith("line 12: nodes/main/options/1/handoff/reason")
    assert problem.endswith(expected)


def test_articles_are_checked_against_the_knowledge_base_when_it_is_given() -> None:
    assert messages(MINIMAL, known_articles={"draw_results"}) == []
    assert messages(MINIMAL, known_articles={"other"}) == [
        "line 9: the knowledge base has no article 'draw_results'"
    ]


def orphan_collecting(pattern: str) -> str:
    """A node nothing leads to, whose field has `pattern` (on line 15 after MINIMAL)."""
    return f"""\
  orphan:
    prompt: {{ru: "a", en: "a", ar: "a"}}
    collect: {{field: code, pattern: '{pattern}', next: main}}
    options:
      - digit: 0
        label: {{ru: "Оператор", en: "Operator", ar: "موظف"}}
        handoff: {{reason: asked}}
"""


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("([0-9", "missing ]"),
        ("(?=[0-9]{6})[0-9]+", "lookaheads"),  # only a backtracking engine can run it
    ],
)
def test_unreachable_nodes_and_bad_patterns_are_reported_with_their_line(pattern: str, reason: str) -> None:
    problems = messages(MINIMAL + orphan_collecting(pattern))
    assert "line 13: node 'orphan' cannot be reached from the start" in problems
    assert any(
        p.startswith(f"line 15: the pattern is not a valid regular expression: {reason}") for p in problems
    ), problems


def test_a_phone_field_takes_no_pattern_and_an_unknown_kind_is_refused() -> None:
    node = """\
  callback:
    prompt: {{ru: "a", en: "a", ar: "a"}}
    collect: {{field: phone, kind: {kind}, {extra}next: main}}
    options:
      - digit: 0
        label: {{ru: "Оператор", en: "Operator", ar: "موظف"}}
        handoff: {{reason: asked}}
"""
    reach = MINIMAL.replace(
        "      - digit: 0\n",
        "      - digit: 2\n        label: {ru: a, en: a, ar: a}\n        next: callback\n      - digit: 0\n",
        1,
    )
    assert messages(reach + node.format(kind="phone", extra="")) == []
    assert messages(reach + node.format(kind="phone", extra='pattern: "[0-9]+", ')) == [
        "line 18: a phone field is checked as a phone number: leave the pattern out"
    ]
    (problem,) = messages(reach + node.format(kind="email", extra=""))
    assert problem.startswith("line 18:")
    assert "'email' is not one of: text, phone" in problem


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("name: [unclosed\n", "line 2: not valid YAML"),
        ("- a list\n", "line 1: a flow file must be a mapping"),
        ("a: &x [1]\nb: *x\n", "line 2: aliases (*name) are not allowed in a flow"),
        ("name: x\n", "line 1: 'nodes' is required here"),
        # a kilobyte of brackets would exhaust the YAML composer's recursion
        ("name: x\nstart: " + "[" * 600 + "]" * 600 + "\n", "line 2: nested deeper than 32 levels"),
    ],
)
def test_what_is_not_a_flow_gets_a_clear_reason(source: str, expected: str) -> None:
    (first, *_) = messages(source)
    assert first.startswith(expected)


def test_an_oversized_file_is_refused_before_parsing() -> None:
    assert messages("#" * (MAX_FLOW_BYTES + 1)) == ["the file is larger than 256 KiB"]


def test_a_key_written_twice_is_refused_at_the_second_copy() -> None:
    again = """\
  main:
    prompt: {ru: "Ещё", en: "Again", ar: "مجددا"}
    options:
      - digit: 0
        label: {ru: "Оператор", en: "Operator", ar: "موظف"}
        handoff: {reason: asked}
"""
    assert messages(MINIMAL + again) == [
        "line 13: 'main' is written twice here; the second would replace the first"
    ]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "phrases:\n  yes: {ru: Да, en: Sure, ar: نعم}\n",
            'YAML reads a bare yes as true/false: write the key in quotes, as "yes"',
        ),
        ("phrases:\n  greeting: {ru: а, en: b, ar: c}\n", "phrases: 'greeting' is not one of"),
        ("phrases:\n  'no': {ru: ' ', en: Nope, ar: لا}\n", "line 2: the text in 'ru' is empty"),
        (
            "lookups:\n  o: {url: 'https://crm.example/{n}', timeout_seconds: .nan}\n",
            "the timeout must be a number of seconds",
        ),
    ],
)
def test_phrases_and_lookups_are_checked(extra: str, expected: str) -> None:
    assert any(expected in problem for problem in messages(extra + MINIMAL)), messages(extra + MINIMAL)


def test_a_pattern_too_large_to_compile_and_a_blank_ticket_confirmation_are_reported() -> None:
    extra = """\
  orphan:
    prompt: {ru: "a", en: "a", ar: "a"}
    collect:
      field: code
      pattern: "(a{999}){999}"
      ticket: {subject: Codes, done: {ru: " ", en: "Done", ar: "تم"}}
    options:
      - digit: 0
        label: {ru: "Оператор", en: "Operator", ar: "موظف"}
        handoff: {reason: asked}
"""
    problems = messages(MINIMAL + extra)
    too_large = "the pattern is not a valid regular expression: the pattern is too large"
    assert any(too_large in p for p in problems), problems
    assert any("collect/ticket/done" not in p and "the text in 'ru' is missing" in p for p in problems), (
        problems
    )


def test_a_placeholder_nothing_fills_is_refused_with_its_line() -> None:
    """A typo reached customers as written: "Ticket {tiket} for 7654321"."""
    done = '{ru: "Заявка {ticket}: заказ {order}", en: "Ticket {tiket} for {order}", ar: "طلب {ticket}"}'
    flow = f"""\
name: Tickets
start: main
nodes:
  main:
    prompt: {{ru: "Номер заказа?", en: "Order number?", ar: "رقم الطلب؟"}}
    collect:
      field: order
      ticket:
        subject: Orders
        done: {done}
    options:
      - digit: 0
        label: {{ru: "Оператор", en: "Operator", ar: "موظف"}}
        handoff: {{reason: asked}}
"""
    assert messages(flow) == ["line 10: nothing fills in {tiket} here: the fields are {order}, {ticket}"]
    assert messages(LOTTERY) == []  # the demo's confirmations name only what is filled in


@pytest.mark.parametrize(
    ("before", "after", "line"),
    [
        ('ru: "Привет"', 'ru: "Привет, {name}"', 5),  # a prompt
        ('ru: "Тиражи"', 'ru: "Тиражи {draw}"', 8),  # an option's label
    ],
)
def test_a_placeholder_in_a_text_sent_as_written_is_refused(before: str, after: str, line: int) -> None:
    """Prompts and labels are never filled in: «…по заказу {order_number}?» reached a customer."""
    (problem,) = messages(MINIMAL.replace(before, after))
    assert problem.startswith(f"line {line}: ")
    assert "nothing fills in {" in problem
    assert "this text is sent as written" in problem


def test_the_ticket_phrase_is_filled_in_and_may_name_the_ticket_and_the_fields() -> None:
    """Its default names {ticket}; refusing every placeholder in phrases refused it."""
    filled = (
        "phrases:\n"
        '  ticket_created: {ru: "Заявка {ticket}", en: "Ticket {ticket}: {order_number}", ar: "{ticket}"}\n'
    )
    assert messages(LOTTERY + filled) == []
    typo = filled.replace("{order_number}", "{order_numbr}")
    (problem,) = messages(LOTTERY + typo)
    assert "nothing fills in {order_numbr} here" in problem


def test_a_placeholder_in_a_phrase_is_refused() -> None:
    source = MINIMAL + 'phrases:\n  glad: {ru: "Рад {name}", en: "Glad", ar: "سعيد"}\n'
    assert messages(source) == [
        "line 14: nothing fills in {name} here: this text is sent as written "
        "(fields can be named in a ticket's or a lookup's texts)"
    ]


def test_a_lookups_missing_text_names_only_fields_and_its_found_text_may_name_answers() -> None:
    flow = """\
name: Lookups
start: main
lookups:
  balance: {url: "https://crm.example/balance/{phone}"}
nodes:
  main:
    prompt: {ru: "Телефон?", en: "Phone?", ar: "الهاتف؟"}
    collect:
      field: phone
      kind: phone
      lookup:
        name: balance
        found: {ru: "Баланс {amount}", en: "Balance {amount} for {phone}", ar: "الرصيد {amount}"}
        missing: {ru: "Нет {phone}", en: "No account for {phon}", ar: "لا يوجد {phone}"}
        answer: balance_article
    options:
      - digit: 0
        label: {ru: "Оператор", en: "Operator", ar: "موظف"}
        handoff: {reason: asked}
"""
    assert messages(flow) == ["line 14: nothing fills in {phon} here: the fields are {phone}"]
