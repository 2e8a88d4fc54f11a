"""Messenger and Instagram messaging on Meta's Graph API: one adapter, two channels.

Both products share the webhook format, the signature, the Send API and the error codes; what
differs (identity kind, webhook `object`, text limit, how files are uploaded) is data in
`platform.py`. Account config: `page_access_token`, `app_secret`, `verify_token` (secrets),
`page_id` (the Page, or the Instagram professional account, whose webhook entries are stored),
and optionally `api_base` (https://graph.facebook.com) and `api_version`.
"""

from __future__ import annotations

from helpline.channels.base import ChannelCapabilities, ChannelSpec
from helpline.channels.meta.platform import (
    INSTAGRAM,
    MAX_QUICK_REPLIES,
    MESSENGER,
    OPTIONAL_KEYS,
    REQUIRED_KEYS,
    SECRET_KEYS,
    MetaPlatform,
)
from helpline.channels.meta.receive import MetaReceiver
from helpline.channels.meta.send import instagram_sender, messenger_sender

__all__ = ["INSTAGRAM_SPEC", "MESSENGER_SPEC"]


def _capabilities(platform: MetaPlatform) -> ChannelCapabilities:
    return ChannelCapabilities(max_text=platform.max_text, native_buttons=MAX_QUICK_REPLIES)


MESSENGER_SPEC = ChannelSpec(
    channel=MESSENGER.channel,
    address_kind=MESSENGER.identity_kind,
    secret_keys=SECRET_KEYS,
    required_keys=REQUIRED_KEYS,
    make_sender=messenger_sender,
    receiver=MetaReceiver(MESSENGER),
    capabilities=_capabilities(MESSENGER),
    optional_keys=OPTIONAL_KEYS,
)

INSTAGRAM_SPEC = ChannelSpec(
    channel=INSTAGRAM.channel,
    address_kind=INSTAGRAM.identity_kind,
    secret_keys=SECRET_KEYS,
    required_keys=REQUIRED_KEYS,
    make_sender=instagram_sender,
    receiver=MetaReceiver(INSTAGRAM),
    capabilities=_capabilities(INSTAGRAM),
    optional_keys=OPTIONAL_KEYS,
)
