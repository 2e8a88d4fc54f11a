"""Which adapter serves which channel: data, not switches.

Adding a provider means one package under `channels/` exposing `SPEC` and one line here.
"""

from __future__ import annotations

import httpx

from helpline.channels import meta, telegram, viber, vk, whatsapp
from helpline.channels.base import ChannelSender, ChannelSpec

SPECS: dict[str, ChannelSpec] = {
    spec.channel.value: spec
    for spec in (telegram.SPEC, vk.SPEC, viber.SPEC, meta.MESSENGER_SPEC, meta.INSTAGRAM_SPEC, whatsapp.SPEC)
}


def build_senders(http: httpx.AsyncClient) -> dict[str, ChannelSender]:
    return {channel: spec.make_sender(http) for channel, spec in SPECS.items()}


def address_kinds() -> dict[str, str]:
    """Channel -> the identity kind that holds a customer's address there."""
    return {channel: spec.address_kind.value for channel, spec in SPECS.items()}
