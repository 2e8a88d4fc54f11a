"""The port every provider adapter implements for sending, and what it is handed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from helpline.domain.delivery import DeliveryOutcome


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One agent message on its way out; `recipient` is the provider's address (chat id, phone…)."""

    recipient: str
    text: str


class ChannelSender(Protocol):
    async def send(self, config: Mapping[str, Any], message: OutboundMessage) -> DeliveryOutcome:
        """Hand `message` to the provider once; never raise for provider or network trouble."""
        ...
