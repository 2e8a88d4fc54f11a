"""Text shaping every sender needs: providers' length limits and buttons they cannot show."""

from __future__ import annotations

from collections.abc import Sequence

from helpline.channels.base import ReplyOption

_PHONE_KEYS = frozenset("0123456789*#")


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break or space where there is one."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    if text or not pieces:
        pieces.append(text)
    return pieces


def option_keys(options: Sequence[ReplyOption]) -> list[str]:
    """What each option is numbered in a list, and what a button standing for it is titled: the
    bot's phone digits when every option has one (menus end in 9 and 0), else 1, 2, 3…"""
    keyed = all(len(o.payload) == 1 and o.payload in _PHONE_KEYS for o in options)
    return [o.payload if keyed else str(n) for n, o in enumerate(options, start=1)]


def with_numbered_options(text: str, options: Sequence[ReplyOption]) -> str:
    """`text` followed by "1. label" lines: how options read where a provider has no buttons.

    The bot's options carry their phone digit as payload ("0" is always the operator), and
    the list shows those digits, so typing what is shown is what the flow runtime expects;
    other payloads are numbered by position. The runtime accepts the label too.
    """
    if not options:
        return text
    lines = [f"{key}. {option.label}" for key, option in zip(option_keys(options), options, strict=True)]
    return "\n".join([text, "", *lines]) if text else "\n".join(lines)
