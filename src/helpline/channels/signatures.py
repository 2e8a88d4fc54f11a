"""Webhook signature checks shared by providers: constant-time, and false for anything odd.

Meta (WhatsApp Cloud API, Messenger, Instagram) signs the raw body with the app secret as
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`; Viber sends the bare hex HMAC-SHA256 of
the body keyed with the bot token in `X-Viber-Content-Signature`. The check must run on the
exact bytes received, before any JSON parsing.
"""

from __future__ import annotations

import hashlib
import hmac


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hex_signature_matches(secret: str | None, body: bytes, presented: str | None) -> bool:
    """True if `presented` is the hex HMAC-SHA256 of `body` under `secret` (case-insensitive)."""
    if not secret or not presented:
        return False
    expected = hmac_sha256_hex(secret, body)
    return hmac.compare_digest(expected.encode(), presented.strip().lower().encode())


def hub_signature_matches(app_secret: str | None, body: bytes, header: str | None) -> bool:
    """Meta's `X-Hub-Signature-256` header: `sha256=` followed by the hex digest."""
    if not header:
        return False
    scheme, _, digest = header.partition("=")
    if scheme.strip().lower() != "sha256":
        return False
    return hex_signature_matches(app_secret, body, digest)


def secret_equals(expected: str | None, presented: str | None) -> bool:
    """A shared secret sent in clear (Telegram's secret token, VK's `secret`), compared safely."""
    if not expected or presented is None:
        return False
    return hmac.compare_digest(str(expected).encode(), presented.encode())
