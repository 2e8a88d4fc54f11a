"""What differs between Messenger and Instagram messaging, as data.

Both run on the Messenger Platform of Meta's Graph API: one webhook format (`entry[].messaging[]`),
one Send API (`POST /{version}/me/messages` with a Page access token), one error format. What
differs is a handful of facts from their documentation, collected here so that the parser,
receiver and sender stay single pieces of code without `if instagram` switches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from helpline.domain.conversations import Channel
from helpline.domain.identities import IdentityKind

DEFAULT_API_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
#: Config keys (ChannelAccount.config) both platforms use.
SECRET_KEYS = frozenset({"page_access_token", "app_secret", "verify_token"})
REQUIRED_KEYS = SECRET_KEYS | {"page_id"}
OPTIONAL_KEYS = frozenset({"api_base", "api_version"})
#: Quick replies: "A maximum of 13 quick replies are supported", titles have "a 20 character
#: limit", payloads "a 1000 character limit" (Messenger and Instagram quick-reply references).
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_QUICK_REPLY_PAYLOAD = 1000
#: Attachment Upload API: 25 MB for audio, video and files (8 MB for Instagram images).
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


def utf16_units(text: str) -> int:
    """Length as Messenger counts it (JavaScript string length: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def utf8_bytes(text: str) -> int:
    """Length as Instagram counts it ("Message text must be UTF-8 and be a 1000 bytes or less")."""
    return len(text.encode())


@dataclass(frozen=True, slots=True)
class MetaPlatform:
    """One of the two messaging products on the Graph API."""

    #: How agents and reasons name it.
    name: str
    channel: Channel
    #: The customer's page-scoped (PSID) or Instagram-scoped (IGSID) id.
    identity_kind: IdentityKind
    #: The webhook payload's `object` field.
    webhook_object: str
    #: The Send API's text limit, measured by `measure`.
    max_text: int
    measure: Callable[[str], int]
    #: Instagram documents files as uploaded first (Attachment Upload API, `platform=instagram`)
    #: and then sent by `attachment_id`; Messenger uploads and sends in one multipart call.
    upload_first: bool
    #: Extra fields of an Attachment Upload API request.
    upload_fields: tuple[tuple[str, str], ...] = ()
    #: User Profile API fields that name a customer, and whether only the first one present
    #: is used (Instagram: `name`, else `username`) or all are joined (Messenger: first + last).
    profile_fields: tuple[str, ...] = ("first_name", "last_name")
    profile_name_first_only: bool = False

    def api_root(self, config: Mapping[str, Any]) -> str:
        """`{api_base}/{api_version}` of an account's configuration."""
        base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        version = str(config.get("api_version") or DEFAULT_API_VERSION).strip("/")
        return f"{base}/{version}"


MESSENGER = MetaPlatform(
    name="Messenger",
    channel=Channel.MESSENGER,
    identity_kind=IdentityKind.MESSENGER,
    webhook_object="page",
    max_text=2000,  # Send API: "message.text … must be UTF-8 and has a 2000 character limit"
    measure=utf16_units,
    upload_first=False,
)

INSTAGRAM = MetaPlatform(
    name="Instagram",
    channel=Channel.INSTAGRAM,
    identity_kind=IdentityKind.INSTAGRAM,
    webhook_object="instagram",
    max_text=1000,
    measure=utf8_bytes,
    upload_first=True,
    upload_fields=(("platform", "instagram"),),
    profile_fields=("name", "username"),
    profile_name_first_only=True,
)
