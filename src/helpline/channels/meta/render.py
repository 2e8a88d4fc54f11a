"""Shaping an outbound message for the Send API: text limits, quick replies, attachment types."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from helpline.channels.base import ReplyOption
from helpline.channels.meta.platform import (
    MAX_QUICK_REPLIES,
    MAX_QUICK_REPLY_PAYLOAD,
    MAX_QUICK_REPLY_TITLE,
    MetaPlatform,
)
from helpline.channels.text import option_keys, with_numbered_options


def split_measured(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    """Pieces whose `measure` is at most `limit`, cut at a line break or space where there is one.

    `channels.text.split_text` counts code points; Messenger counts UTF-16 units and Instagram
    UTF-8 bytes, where Cyrillic, Arabic and emoji take more than one, so the cut is found by
    bisecting on the platform's own measure.
    """
    pieces: list[str] = []
    while measure(text) > limit:
        low, high = 1, len(text)  # the longest prefix that fits is text[:low]
        while low < high:
            middle = (low + high + 1) // 2
            if measure(text[:middle]) <= limit:
                low = middle
            else:
                high = middle - 1
        cut = max(text.rfind("\n", 0, low + 1), text.rfind(" ", 0, low + 1))
        if cut <= 0:
            cut = low
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    if text or not pieces:
        pieces.append(text)
    return pieces


def quick_replies(text: str, options: Sequence[ReplyOption]) -> tuple[str, list[dict[str, Any]] | None]:
    """The text to send and the `quick_replies` to attach to its last piece.

    Up to 13 options become buttons titled with their labels. A label over the 20-character
    title limit would be cut off by Meta, so then the labels go into the text as a numbered list
    and the buttons are titled with the list's numbers ("1", "2", "9", "0"): the customer can tap
    or type either. More than 13 options, or a payload Meta would refuse, leave only the
    numbered text.
    """
    if not options:
        return text, None
    fits = len(options) <= MAX_QUICK_REPLIES and all(
        0 < len(option.payload) <= MAX_QUICK_REPLY_PAYLOAD for option in options
    )
    if not fits:
        return with_numbered_options(text, options), None
    labels = [option.label.strip() for option in options]
    if text.strip() and all(0 < len(label) <= MAX_QUICK_REPLY_TITLE for label in labels):
        titles = labels
    else:  # quick replies need a non-empty text above them; long labels need the list
        text = with_numbered_options(text, options)
        titles = option_keys(options)  # the buttons say what the list says: "9", "0"
    buttons = [
        {"content_type": "text", "title": title, "payload": option.payload}
        for title, option in zip(titles, options, strict=True)
    ]
    return text, buttons


def text_messages(platform: MetaPlatform, text: str, options: Sequence[ReplyOption]) -> list[dict[str, Any]]:
    """The `message` objects to send, in order; quick replies ride on the last one."""
    body, buttons = quick_replies(text, options)
    messages: list[dict[str, Any]] = [
        {"text": piece} for piece in split_measured(body, platform.max_text, platform.measure)
    ]
    if buttons:
        messages[-1]["quick_replies"] = buttons
    return messages


def attachment_type(content_type: str) -> str:
    """The Send API attachment `type` for a file: image, audio, video, or file for anything else."""
    major = content_type.split("/", 1)[0].strip().lower()
    return major if major in ("image", "audio", "video") else "file"
