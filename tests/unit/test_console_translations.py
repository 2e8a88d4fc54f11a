"""Every console string is translated into Russian and Arabic (no English left in a ru/ar console)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from helpline.domain.contacts import Language
from helpline.web.i18n import translations
from helpline.web.labels import channel_noter

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "helpline" / "web" / "templates"


def console_strings() -> set[str]:
    found = extract_from_dir(str(TEMPLATES), method_map=[("**.html", "jinja2")], keywords={"_": None})
    return {message for _file, _line, message, _comments, _context in found if isinstance(message, str)}


def test_templates_have_strings_to_translate() -> None:
    assert {"Sign out", "Internal note", "Customer card"} <= console_strings()


@pytest.mark.parametrize("language", [Language.RU, Language.AR])
def test_every_console_string_is_translated(language: Language) -> None:
    catalogue = translations(language)
    missing = sorted(s for s in console_strings() if catalogue.gettext(s) == s)
    assert missing == [], f"untranslated in {language.value}: {missing}"


def test_english_is_the_source_language() -> None:
    assert translations(Language.EN).gettext("Sign out") == "Sign out"
    assert translations(Language.RU).gettext("Sign out") == "Выйти"
    assert translations(Language.AR).gettext("Sign out") == "تسجيل الخروج"


@pytest.mark.parametrize("language", [Language.RU, Language.AR])
def test_every_stored_value_has_a_translated_name(language: Language) -> None:
    from helpline.domain.contacts import Language as ContactLanguage
    from helpline.domain.conversations import (
        AuthorKind,
        Channel,
        ConversationStatus,
        DeliveryStatus,
        Priority,
    )
    from helpline.domain.identities import IdentityKind
    from helpline.domain.users import Presence
    from helpline.web.labels import LABELS, labeller

    enums = (ConversationStatus, Priority, Channel, DeliveryStatus, Presence, AuthorKind, IdentityKind)
    codes = {member.value for enum in enums for member in enum} | {x.value for x in ContactLanguage}
    assert codes - LABELS.keys() == set(), "a stored value without a display name"
    catalogue = translations(language)
    brand_names = {"Telegram", "WhatsApp", "Viber", "Facebook Messenger", "Instagram", "API"}
    untranslated = sorted(
        name for name in LABELS.values() if catalogue.gettext(name) == name and name not in brand_names
    )
    assert untranslated == []
    label = labeller(catalogue.gettext)
    assert label(ConversationStatus.RESOLVED) != "resolved"
    assert label("not-a-code") == "not-a-code"


@pytest.mark.parametrize("language", [Language.RU, Language.AR])
def test_the_bots_hand_off_notes_and_reasons_are_translated(language: Language) -> None:
    from helpline.domain.flows.runtime import HandoffReason, HandoffReasonAbout
    from helpline.services.bot_sessions import HANDOFF_NOTE
    from helpline.web.labels import reason_labeller, system_noter

    gettext = translations(language).gettext
    flow_texts = {
        "asked about prizes": {"ru": "спросил о призах", "en": "asked about prizes", "ar": "سأل عن الجوائز"}
    }
    reason = reason_labeller(gettext, language.value, flow_texts)
    note = system_noter(gettext, reason)
    assert [r for r in HandoffReason if reason(r.value) == r.value] == []
    assert (
        reason("asked for an operator about prizes") == "asked for an operator about prizes"
    )  # a flow's own, written in one language
    assert reason("asked about prizes") == flow_texts["asked about prizes"][language.value]  # … and in each
    assert note(f"{HANDOFF_NOTE}asked about prizes").endswith(
        flow_texts["asked about prizes"][language.value]
    )
    shown = note(f"{HANDOFF_NOTE}{HandoffReason.ANSWER_DID_NOT_HELP.value}")
    assert shown == f"{gettext('Handed over by the bot:')} {gettext(HandoffReason.ANSWER_DID_NOT_HELP.value)}"
    assert "Handed over" not in shown
    assert note("an agent's words") == "an agent's words"
    for about in HandoffReasonAbout:
        shown = reason(about.format("order_status"))
        assert "order_status" in shown
        assert shown != about.format("order_status"), about


def flow_problem_templates() -> set[str]:
    """Every reason the flow checker and loader can give, read from their source: a reason added
    there without its translations fails below."""
    import ast

    import helpline.domain.flows.checks as checks
    import helpline.flows.loader as loader
    import helpline.web.routes.console_bot as console_bot

    found: set[str] = set()

    def strings(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return strings(node.body) | strings(node.orelse)
        return set()

    for module in (checks, loader, console_bot):
        tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in {
                "_problem",
                "problem",
                "file_problem",
            }:
                found |= next((strings(a) for a in node.args if strings(a)), set())
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in {
                "_EXPECTED_TYPE",
                "limits",
            }:
                assert isinstance(node.value, ast.Dict)
                found |= {s for v in node.value.values if v is not None for s in strings(v)}
    return found - {"{reason}"}  # the library's own rare messages, shown as they are


def test_the_flow_checkers_reasons_are_found() -> None:
    found = flow_problem_templates()
    assert {
        "there is no node '{node}'",
        "expected a list",
        "must not be empty",
        "'{key}' is required here",
    } <= found
    assert len(found) > 30


@pytest.mark.parametrize("language", [Language.RU, Language.AR])
def test_every_flow_problem_is_translated_with_its_placeholders(language: Language) -> None:
    import string

    catalogue = translations(language)
    templates = flow_problem_templates()
    assert sorted(t for t in templates if catalogue.gettext(t) == t) == []

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert [t for t in templates if fields(catalogue.gettext(t)) != fields(t)] == []


SOURCE = TEMPLATES.parent.parent


def refusals() -> tuple[dict[str, set[str]], list[str]]:
    """Every reason a DomainError, or one of its subclasses (NotFound, Conflict, WrongCode…), is
    constructed with under src/helpline, read from the source: the templates written as strings,
    each with where it is, and the places whose reason is an f-string (which gettext cannot
    translate). A reason given as something else (a flow's problems) is translated where it is
    made. The console shows any of them on its error pages and forms, so none is left out: the
    CLI's only refusal ("no such user") is one the users' service gives too."""
    import ast

    trees = {
        str(path.relative_to(SOURCE)): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(SOURCE.rglob("*.py"))
    }

    def name(node: ast.expr) -> str:
        return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""

    family = {"DomainError"}
    while True:  # subclasses of subclasses too, wherever they are declared
        more = {
            node.name
            for tree in trees.values()
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and any(name(base) in family for base in node.bases)
        }
        if more <= family:
            break
        family |= more

    templates: dict[str, set[str]] = {}
    f_strings: list[str] = []
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and name(node.func) in family and node.args):
                continue
            reason, place = node.args[0], f"{module}:{node.lineno}"
            if isinstance(reason, ast.Constant) and isinstance(reason.value, str):
                templates.setdefault(reason.value, set()).add(place)
            elif isinstance(reason, ast.JoinedStr):
                f_strings.append(place)
    return templates, f_strings


def test_the_refusals_are_found() -> None:
    templates, _ = refusals()
    assert {
        "no such contact",  # NotFound
        "a team with this name exists",  # Conflict
        "you may assign only to yourself, your teams and their members",  # PermissionDenied
        "wrong code",  # WrongCode, declared outside errors.py
        "a {current} conversation cannot become {new}",
        "text must not contain the NUL character (U+0000)",  # storage's net under every route
    } <= templates.keys()
    assert len(templates) > 80


def test_no_refusal_is_an_f_string() -> None:
    """A reason built with an f-string cannot be translated: it is a template with parameters
    instead."""
    _, f_strings = refusals()
    assert f_strings == []


@pytest.mark.parametrize("language", [Language.RU, Language.AR])
def test_every_refusal_is_translated_with_its_placeholders(language: Language) -> None:
    import string

    catalogue = translations(language)
    templates, _ = refusals()
    assert {t: sorted(where) for t, where in templates.items() if catalogue.gettext(t) == t} == {}

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert [t for t in templates if fields(catalogue.gettext(t)) != fields(t)] == []


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("abc", "RU"),
        ("+999 123", "RU"),
        ("00 1", "DE"),
        ("1234567890123456789012", "RU"),
        ("1" * 300, "RU"),
        ("tel:123;phone-context=%%", "RU"),
    ],
)
def test_the_phone_librarys_reasons_are_ones_the_console_translates(raw: str, region: str) -> None:
    """A wording phonenumbers changes would reach a ru or ar console in English."""
    from helpline.domain.errors import DomainError
    from helpline.domain.identities import normalise_phone

    with pytest.raises(DomainError) as refused:
        normalise_phone(raw, region)
    assert refused.value.template != "not a phone number: {problem}", refused.value.reason
    assert translations(Language.RU).gettext(refused.value.template) != refused.value.template


def test_a_refusal_names_codes_in_the_readers_language_and_leaves_peoples_words_as_written() -> None:
    """A Telegram handle "open" was shown as the status «Открыт» in a Russian console."""
    from helpline.domain.errors import Conflict
    from helpline.web.labels import problem_teller

    problem = problem_teller(translations(Language.RU).gettext)
    taken = Conflict(
        "{kind} {value} already belongs to another contact", field="identities", kind="telegram", value="open"
    )
    shown = problem(taken)
    assert "Telegram" in shown
    assert "open" in shown
    assert "Открыт" not in shown
    assert shown != taken.reason  # translated


def pattern_reasons() -> set[str]:
    """Every reason a field pattern is refused with, read from the source (a new one without its
    translations fails below)."""
    import ast

    import helpline.domain.flows.patterns as patterns

    tree = ast.parse(Path(str(patterns.__file__)).read_text(encoding="utf-8"))
    found = {meaning for _, meaning in patterns._UNSUPPORTED} | {patterns.ENGINE_NOTE}
    for node in ast.walk(tree):
        called = isinstance(node, ast.Call) and getattr(node.func, "id", "") == "PatternError"
        if (
            called
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


@pytest.mark.parametrize("language", [Language.RU, Language.AR])
def test_why_a_pattern_or_the_yaml_is_refused_reads_in_the_consoles_language(language: Language) -> None:
    """Before, «строка 87: шаблон — некорректное регулярное выражение: lookaheads (?=…) … are not
    supported (matched without backtracking …)»: only the frame was Russian."""
    from helpline.flows.loader import load_flow
    from helpline.web.labels import flow_problem_teller

    gettext = translations(language).gettext
    reasons = pattern_reasons()
    assert len(reasons) >= 15
    assert [r for r in sorted(reasons) if gettext(r) == r] == []

    tell = flow_problem_teller(gettext)
    lottery = (Path(__file__).parents[2] / "src/helpline/flows/examples/lottery.yaml").read_text(
        encoding="utf-8"
    )
    broken = lottery.replace('pattern: "[0-9]{6,12}"', r"pattern: '(?=\d)\d{6,12}'")
    (problem,) = load_flow(broken).problems
    shown = tell(problem)
    assert "lookahead" not in shown
    assert "backtracking" not in shown
    assert gettext("lookaheads (?=…) and (?!…) are not supported") in shown
    (yaml_problem,) = load_flow("name: x\nstart: [main\n").problems
    assert "did not find" not in tell(yaml_problem)


def test_a_channels_note_in_a_customer_message_reads_in_the_consoles_language() -> None:
    """A Russian agent read "[unsupported message type: sticker]"."""
    told = channel_noter(translations(Language.RU).gettext)
    assert told("👍\n[unsupported message type: sticker]") == (
        "👍\n[сообщение такого вида здесь не показать: стикер]"
    )
    assert told("Вот видео\n[video not available: 21 MB is more than bots may download]") == (
        "Вот видео\n[видео недоступно: 21 MB is more than bots may download]"
    )
    assert told("[unsupported message type: game]") == "[сообщение такого вида здесь не показать: game]"
    assert told("мой заказ [12345] опаздывает") == "мой заказ [12345] опаздывает"
    arabic = channel_noter(translations(Language.AR).gettext)
    assert arabic("[voice not stored: too big]") == "[رسالة صوتية لم يُحفظ: too big]"
