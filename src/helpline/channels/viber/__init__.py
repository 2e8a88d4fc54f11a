"""Viber REST bot API channel: signed webhook callbacks in, `send_message` calls out."""

from __future__ import annotations

from helpline.channels.base import ChannelCapabilities, ChannelSpec
from helpline.channels.viber.receive import ViberReceiver
from helpline.channels.viber.send import MAX_BUTTONS, MAX_TEXT, ViberSender
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind

SPEC = ChannelSpec(
    channel=Channel.VIBER,
    address_kind=IdentityKind.VIBER,
    secret_keys=frozenset({"auth_token"}),
    required_keys=frozenset({"auth_token"}),
    make_sender=ViberSender,
    receiver=ViberReceiver(),
    # Viber takes media only by public URL, which Helpline's private files do not have: files an
    # agent attaches are named in the text (see send.py), so media is not offered as native.
    capabilities=ChannelCapabilities(max_text=MAX_TEXT, native_buttons=MAX_BUTTONS, media=False),
    optional_keys=frozenset({"api_base", "sender_name", "sender_avatar"}),
)
