"""WhatsApp Cloud API channel: Meta's signed `whatsapp_business_account` webhooks in, Graph API calls out.

The customer's address is their WhatsApp ID (`wa_id`, the digits of their phone number); the
account's configuration holds the access token, the app secret that signs webhooks, the verify
token of the subscription handshake and the business phone number id that sends.
"""

from __future__ import annotations

from helpline.channels.base import ChannelCapabilities, ChannelSpec
from helpline.channels.whatsapp.receive import WhatsAppReceiver
from helpline.channels.whatsapp.send import MAX_LIST_ROWS, MAX_TEXT, WhatsAppSender
from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind

SPEC = ChannelSpec(
    channel=Channel.WHATSAPP,
    address_kind=IdentityKind.WHATSAPP,
    secret_keys=frozenset({"access_token", "app_secret", "verify_token"}),
    required_keys=frozenset({"access_token", "app_secret", "verify_token", "phone_number_id"}),
    make_sender=WhatsAppSender,
    receiver=WhatsAppReceiver(),
    capabilities=ChannelCapabilities(max_text=MAX_TEXT, native_buttons=MAX_LIST_ROWS),
    optional_keys=frozenset({"api_base", "api_version", "list_button"}),
)
