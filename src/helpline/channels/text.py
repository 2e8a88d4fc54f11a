"""Text shaping every sender needs: providers' length limits and buttons they cannot show."""

from __future__ import annotations

from collections.abc import Sequence

from helpline.channels.base import ReplyOption


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


def with_numbered_options(text: str, options: Sequence[ReplyOption]) -> str:
    """`text` followed by "1. label" lines: how options read where a provider has no buttons.

    The customer answers with the number or the label; the flow runtime accepts both.
    """
    if not options:
        return text
    lines = [f"{n}. {option.label}" for n, option in enumerate(options, start=1)]
    return "\n".join([text, "", *lines]) if text else "\n".join(lines)
