"""Every console string is translated into Russian and Arabic (no English left in a ru/ar console)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from helpline.domain.contacts import Language
from helpline.web.i18n import translations

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
    reason, note = reason_labeller(gettext), system_noter(gettext)
    assert [r for r in HandoffReason if reason(r.value) == r.value] == []
    assert (
        reason("asked for an operator about prizes") == "asked for an operator about prizes"
    )  # a flow's own
    shown = note(f"{HANDOFF_NOTE}{HandoffReason.ANSWER_DID_NOT_HELP.value}")
    assert shown == f"{gettext('Handed over by the bot:')} {gettext(HandoffReason.ANSWER_DID_NOT_HELP.value)}"
    assert "Handed over" not in shown
    assert note("an agent's words") == "an agent's words"
    for about in HandoffReasonAbout:
        shown = reason(about.format("order_status"))
        assert "order_status" in shown
        assert shown != about.format("order_status"), about
