"""One-time codes that prove a web visitor owns an identity a known contact already has."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from helpline.domain.errors import DomainError

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def check_attempt(
    attempts_so_far: int, expires_at: datetime, verified_at: datetime | None, now: datetime
) -> None:
    """Refuse attempts on a used, expired or exhausted code (a six-digit code must not be guessable)."""
    if verified_at is not None:
        raise DomainError("this code was already used", field="code")
    if now >= expires_at:
        raise DomainError("the code has expired; ask for a new one", field="code")
    if attempts_so_far >= MAX_ATTEMPTS:
        raise DomainError("too many wrong codes; ask for a new one", field="code")


def codes_match(expected_hash: str, given_hash: str) -> bool:
    return hmac.compare_digest(expected_hash, given_hash)
