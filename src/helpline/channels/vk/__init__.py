"""VK community messages: Callback API notifications in, VK API method calls out."""

from __future__ import annotations

from helpline.channels.base import ChannelCapabilities, ChannelSpec
from helpline.channels.vk.receive import VkReceiver
from helpline.channels.vk.send import MAX_BUTTONS, MAX_TEXT, VkSender
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind

SPEC = ChannelSpec(
    channel=Channel.VK,
    address_kind=IdentityKind.VK,
    secret_keys=frozenset({"access_token", "secret", "confirmation_code"}),
    required_keys=frozenset({"access_token", "secret", "confirmation_code", "group_id"}),
    make_sender=VkSender,
    receiver=VkReceiver(),
    capabilities=ChannelCapabilities(max_text=MAX_TEXT, native_buttons=MAX_BUTTONS),
    optional_keys=frozenset({"api_base", "api_version"}),
)
