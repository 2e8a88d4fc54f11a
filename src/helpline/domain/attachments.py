"""What customers may upload, judged by the bytes themselves, not by the name or declared type."""

from __future__ import annotations

import re
import unicodedata

from helpline.domain.errors import DomainError

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024

#: Magic numbers of the accepted formats: images an agent can look at, and PDF.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
    (b"%PDF-", "application/pdf", ".pdf"),
)

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def sniff(data: bytes) -> tuple[str, str]:
    """(content type, extension) of an accepted file, or DomainError naming the field `file`."""
    if not data:
        raise DomainError("the file is empty", field="file")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise DomainError(
            "files are limited to {megabytes} MB",
            field="file",
            megabytes=MAX_ATTACHMENT_BYTES // (1024 * 1024),
        )
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    for magic, content_type, extension in _SIGNATURES:
        if data.startswith(magic):
            return content_type, extension
    raise DomainError("only images (PNG, JPEG, GIF, WebP) and PDF files can be sent", field="file")


def safe_filename(name: str | None, extension: str) -> str:
    """A display name without paths or control characters, ending in the sniffed extension."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    base = re.sub(r"\s+", " ", base).strip(" .")[:120]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem or 'file'}{extension}"
