"""Telegram Bot API channel: webhook `Update` objects in, Bot API method calls out."""

from __future__ import annotations

from helpline.channels.base import ChannelCapabilities, ChannelSpec
from helpline.channels.telegram.receive import TelegramReceiver
from helpline.channels.telegram.send import MAX_BUTTONS, MAX_TEXT, TelegramSender
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind

SPEC = ChannelSpec(
    channel=Channel.TELEGRAM,
    address_kind=IdentityKind.TELEGRAM,
    secret_keys=frozenset({"bot_token", "webhook_secret"}),
    required_keys=frozenset({"bot_token", "webhook_secret"}),
    make_sender=TelegramSender,
    receiver=TelegramReceiver(),
    capabilities=ChannelCapabilities(max_text=MAX_TEXT, native_buttons=MAX_BUTTONS),
    optional_keys=frozenset({"api_base"}),
)
