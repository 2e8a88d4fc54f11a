"""Which adapter serves which channel, and how a channel addresses a customer: data, not switches.

Adding a provider means one package under `channels/` and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from helpline.channels.base import ChannelSender
from helpline.channels.telegram.send import TelegramSender
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    channel: Channel
    #: The identity that holds the customer's address on this channel.
    address_kind: IdentityKind
    #: Secret keys of the account's configuration: stored, never shown back in full, never logged.
    secret_keys: frozenset[str]


SPECS: dict[str, ChannelSpec] = {
    Channel.TELEGRAM: ChannelSpec(
        Channel.TELEGRAM, IdentityKind.TELEGRAM, frozenset({"bot_token", "webhook_secret"})
    ),
}


def build_senders(http: httpx.AsyncClient) -> dict[str, ChannelSender]:
    return {Channel.TELEGRAM: TelegramSender(http)}


def address_kinds() -> dict[str, str]:
    """Channel -> the identity kind that holds a customer's address there."""
    return {channel: spec.address_kind.value for channel, spec in SPECS.items()}
