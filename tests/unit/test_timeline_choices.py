"""The agent's transcript shows the bot's buttons as the customer saw them."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from helpline.web.templating import templates

OPTIONS = [
    {"digit": "", "label": "Share my number", "shares_phone": True},
    {"digit": "9", "label": "Main menu"},
    {"digit": "0", "label": "Operator"},
]


def transcript(channel: str) -> str:
    conv = SimpleNamespace(id=1, channel=channel)
    message = SimpleNamespace(
        id=5,
        author_kind="bot",
        is_internal=False,
        channel_account_id=3,
        created_at=datetime(2026, 12, 3, tzinfo=UTC),
        direction="outbound",
        delivery_status="sent",
        delivery_error=None,
        author_user_id=None,
        text="Leave your phone number",
        options=OPTIONS,
    )
    return templates.env.get_template("console/_timeline.html").render(
        timeline=[(message, conv)],
        conv=conv,
        contact=SimpleNamespace(name="C"),
        users_by_id={},
        attachments={},
        account_channels={3: channel},
        _=lambda s: s,
        label=lambda s: s,
        note=lambda s: s,
    )


def test_a_web_chat_transcript_has_no_share_my_number_button() -> None:
    shown = transcript("webchat")
    assert "Share my number" not in shown
    assert "Main menu" in shown


def test_a_telegram_transcript_shows_the_button_telegram_showed() -> None:
    shown = transcript("telegram")
    assert "☎</kbd> Share my number" in shown
