"""Sending e-mail: a small port, and its SMTP adapter (aiosmtplib)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib


class EmailSender(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


class EmailNotConfigured(RuntimeError):
    """No SMTP server is configured (HELPLINE_SMTP_URL)."""


@dataclass(frozen=True)
class SmtpEmailSender:
    """SMTP from a URL: `smtp://user:password@host:587?starttls=true` or `smtps://host:465`."""

    url: str
    sender: str
    timeout: float = 10.0

    async def send(self, to: str, subject: str, body: str) -> None:
        parts = urlsplit(self.url)
        options = parse_qs(parts.query)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        await aiosmtplib.send(
            message,
            hostname=parts.hostname or "localhost",
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            start_tls=options.get("starttls", ["false"])[0].lower() in {"1", "true", "yes"},
            timeout=self.timeout,
        )
