"""Human names for the values the domain stores (statuses, channels, delivery states…).

The database keeps stable English codes; the console shows these names through gettext, so a
Russian or Arabic console never shows `resolved` or `webchat`. Every name here is a msgid
in the ru and ar catalogues (a unit test holds that).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from helpline.domain.errors import DomainError
from helpline.domain.flows.model import LocalText, localised
from helpline.domain.flows.runtime import HandoffReason, HandoffReasonAbout
from helpline.domain.inbound import (
    MEDIA_NOT_AVAILABLE,
    MEDIA_NOT_STORED,
    MEDIA_NOTE,
    MEDIA_TOO_LARGE,
    UNSUPPORTED_NOTE,
)
from helpline.flows.loader import Problem
from helpline.services.bot_sessions import HANDOFF_NOTE, TICKET_NOTE

LABELS: dict[str, str] = {
    # conversation status
    "open": "Open",
    "pending": "Pending",
    "resolved": "Resolved",
    "closed": "Closed",
    # priority
    "low": "Low",
    "normal": "Normal",
    "high": "High",
    "urgent": "Urgent",
    # channels
    "webchat": "Web chat",
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
    "viber": "Viber",
    "messenger": "Facebook Messenger",
    "instagram": "Instagram",
    "vk": "VK",
    "email": "E-mail",
    "phone": "Phone",
    "paper": "Paper mail",
    "api": "API",
    # delivery of outbound messages
    "received": "Received",
    "queued": "Queued",
    "sent": "Sent",
    "delivered": "Delivered",
    "read": "Read",
    "failed": "Not delivered",
    # presence
    "online": "Online",
    "away": "Away",
    "offline": "Offline",
    # message authors
    "customer": "Customer",
    "agent": "Agent",
    "bot": "Bot",
    "system": "System",
    # parts of a knowledge-base article, as refusals name them
    "title": "the title",
    "answer": "the answer",
    # the bot report's period, as its refusals name it
    "from": "the first day",
    "to": "the last day",
    # languages
    "ru": "Russian",
    "en": "English",
    "ar": "Arabic",
}


def labeller(gettext: Callable[[str], str]) -> Callable[[object], str]:
    """`label(value)` for templates: the translated name, or the value itself if it has none."""

    def label(value: object) -> str:
        code = str(getattr(value, "value", value))
        name = LABELS.get(code)
        return gettext(name) if name else code

    return label


_BUILT_IN_REASONS = frozenset(r.value for r in HandoffReason)
#: Reasons naming a thing of the flow: the template, and how to find the thing in a stored reason.
_REASONS_ABOUT = tuple(
    (r.value, re.compile("^" + re.escape(r.value).replace(r"\{\}", "(.+)") + "$")) for r in HandoffReasonAbout
)


def reason_labeller(
    gettext: Callable[[str], str], language: str = "en", flow_texts: Mapping[str, LocalText] | None = None
) -> Callable[[str], str]:
    """`reason(text)` for templates: a hand-off reason in the reader's language. The product's own
    are translated; a flow's own are its admins' words, in the reader's language where the flow
    wrote them per language (`flow_texts`, by the stored reason), else as written."""
    flow_texts = flow_texts or {}

    def reason(text: str) -> str:
        if text in _BUILT_IN_REASONS:
            return gettext(text)
        for template, stored in _REASONS_ABOUT:
            if (found := stored.match(text)) is not None:
                return gettext(template).replace("{}", found.group(1), 1)
        if text in flow_texts:
            return localised(flow_texts[text], language, fallback="en") or text
        return text

    return reason


def system_noter(gettext: Callable[[str], str], reason: Callable[[str], str]) -> Callable[[str], str]:
    """`note(text)` for templates: a system note (stored in English) in the reader's language,
    a hand-off's reason told by `reason` (see reason_labeller)."""

    def note(text: str) -> str:
        if text.startswith(HANDOFF_NOTE):
            return f"{gettext('Handed over by the bot:')} {reason(text.removeprefix(HANDOFF_NOTE))}"
        if text.startswith(TICKET_NOTE):
            return f"{gettext('Ticket opened by the bot:')} {text.removeprefix(TICKET_NOTE)}"
        return text

    return note


def _media_kinds(gettext: Callable[[str], str]) -> dict[str, str]:
    return {
        "sticker": gettext("sticker"),
        "photo": gettext("photo"),
        "image": gettext("photo"),
        "video": gettext("video"),
        "video_note": gettext("video message"),
        "voice": gettext("voice message"),
        "audio": gettext("audio"),
        "document": gettext("document"),
        "file": gettext("file"),
        "location": gettext("location"),
        "contact": gettext("contact"),
        "poll": gettext("poll"),
        "unknown": gettext("unknown"),
    }


def channel_noter(gettext: Callable[[str], str]) -> Callable[[str], str]:
    """`told(text)` for templates: a customer message with its channel notes (their grammar is
    domain.inbound's) in the reader's language. A Russian agent read "[unsupported message
    type: sticker]"."""
    kinds = _media_kinds(gettext)
    why = {
        MEDIA_NOT_AVAILABLE: gettext("not available"),
        MEDIA_NOT_STORED: gettext("not stored"),
        MEDIA_TOO_LARGE: gettext("too large to keep"),
    }

    whole = {
        "[reaction]": f"[{gettext('reaction')}]",
        "[reaction removed]": f"[{gettext('reaction removed')}]",
    }

    def told(text: str) -> str:
        if "[" not in text:
            return text
        text = "\n".join(whole.get(line.strip(), line) for line in text.split("\n"))
        text = UNSUPPORTED_NOTE.sub(
            lambda m: f"[{gettext('a kind of message that cannot be shown here')}: {kinds.get(m[1], m[1])}]",
            text,
        )
        return MEDIA_NOTE.sub(lambda m: f"[{kinds.get(m[1], m[1])} {why[m[2]]}: {m[3]}]", text)

    return told


#: The refusals' parameters that hold codes the console names (a channel, a language, an identity
#: kind, a status, a field): any other is the customer's or an admin's own words, shown as written,
#: so a Telegram handle "open" is not read as the status «Открыт».
CODE_PARAMETERS = frozenset({"channel", "channels", "language", "kind", "current", "new", "what", "field"})


def problem_teller(gettext: Callable[[str], str]) -> Callable[[DomainError], str]:
    """`problem(error)` for templates: a refusal in the reader's language. Its parameters that are
    codes (CODE_PARAMETERS) are named in that language too; the rest (numbers, names, an
    identity's value) are shown as they are."""
    label = labeller(gettext)

    def named(key: str, value: str | int | list[str]) -> str:
        if key not in CODE_PARAMETERS:
            return ", ".join(value) if isinstance(value, list) else str(value)
        if isinstance(value, list):
            return ", ".join(label(v) for v in sorted(value))
        return label(value)

    def problem(error: DomainError) -> str:
        return _translated(
            gettext, error.template, {k: named(k, v) for k, v in error.params.items()}, error.reason
        )

    return problem


def flow_problem_teller(gettext: Callable[[str], str]) -> Callable[[Problem], str]:
    """`flow_problem(p)` for templates: a flow file's problem in the reader's language, without its
    place (the template shows the line and the path of keys). Only a language parameter is a code
    to name, and the reasons a pattern or the YAML parser gives are sentences of their own to
    translate (those without a translation stay English); node ids, keys and values are the
    admin's own words."""
    label = labeller(gettext)

    def named(key: str, value: str | int) -> str:
        if key == "language":
            return label(value)
        return (
            gettext(value) if key in ("reason", "note") and isinstance(value, str) and value else str(value)
        )

    def flow_problem(found: Problem) -> str:
        params = {k: named(k, v) for k, v in found.params.items()}
        return _translated(gettext, found.template, params, found.reason)

    return flow_problem


def _translated(gettext: Callable[[str], str], template: str, params: Mapping[str, str], english: str) -> str:
    if not params:
        return gettext(template)
    try:
        return gettext(template).format(**params)
    except (KeyError, IndexError, ValueError):  # a translation that lost a placeholder
        return english
