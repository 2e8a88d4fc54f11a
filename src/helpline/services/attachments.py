"""Files customers send: checked by content, stored by key, readable only by who may see the message."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from helpline.domain.access import Viewer
from helpline.domain.attachments import MAX_ATTACHMENT_BYTES, safe_filename, sniff
from helpline.domain.errors import DomainError, NotFound
from helpline.domain.inbound import InboundAttachment
from helpline.services.conversations import access_conversation
from helpline.storage.files import FileStore
from helpline.storage.models import Attachment, Conversation, Message, WebchatVisitor
from helpline.storage.uow import UnitOfWork


async def store_upload(files: FileStore, data: bytes, filename: str | None) -> InboundAttachment:
    """Validate and store an upload; nothing is written for a refused file."""
    content_type, extension = sniff(data)
    key = await files.put(data, extension)
    return InboundAttachment(
        filename=safe_filename(filename, extension),
        content_type=content_type,
        size=len(data),
        storage_key=key,
    )


async def store_provider_media(
    files: FileStore, data: bytes, filename: str | None, declared_type: str | None
) -> InboundAttachment:
    """Store a file a messenger delivered (voice notes, documents of any kind…).

    Unlike widget uploads nothing is refused for its type: a customer's voice note must not be
    lost. Images and PDF keep their sniffed type; Ogg audio is recognised; anything else is
    stored as opaque bytes and only ever served as a download (see helpline.web.files).
    """
    try:
        content_type, extension = sniff(data)
    except DomainError:
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise
        if data.startswith(b"OggS"):
            content_type, extension = "audio/ogg", ".ogg"
        else:
            content_type = "application/octet-stream"
            extension = _extension_of(filename) or ".bin"
    key = await files.put(data, extension)
    return InboundAttachment(
        filename=safe_filename(filename, extension),
        content_type=content_type if content_type != "application/octet-stream" else _opaque(declared_type),
        size=len(data),
        storage_key=key,
    )


def _extension_of(filename: str | None) -> str | None:
    if not filename or "." not in filename:
        return None
    extension = "." + filename.rsplit(".", 1)[-1].lower()
    return extension if extension[1:].isalnum() and len(extension) <= 8 else None


def _opaque(declared: str | None) -> str:
    """The declared type of an unrecognised file, kept only when it cannot render as a page."""
    harmless = ("audio/", "video/", "application/zip", "application/msword", "application/vnd.")
    if declared and declared.startswith(harmless) and "html" not in declared and "xml" not in declared:
        return declared[:127]
    return "application/octet-stream"


async def attachments_for(uow: UnitOfWork, message_ids: Sequence[int]) -> dict[int, list[Attachment]]:
    found: dict[int, list[Attachment]] = {m: [] for m in message_ids}
    if message_ids:
        for row in await uow.session.scalars(
            select(Attachment).where(Attachment.message_id.in_(list(message_ids))).order_by(Attachment.id)
        ):
            found[row.message_id].append(row)
    return found


async def access_attachment_as_agent(uow: UnitOfWork, viewer: Viewer, attachment_id: int) -> Attachment:
    row = (
        await uow.session.execute(
            select(Attachment, Message.conversation_id)
            .join(Message, Message.id == Attachment.message_id)
            .where(Attachment.id == attachment_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such attachment", field="attachment_id")
    await access_conversation(uow, viewer, row[1])
    return row[0]


async def access_attachment_as_visitor(
    uow: UnitOfWork, visitor: WebchatVisitor, attachment_id: int
) -> Attachment:
    attachment = await uow.session.scalar(
        select(Attachment)
        .join(Message, Message.id == Attachment.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Attachment.id == attachment_id,
            Conversation.contact_id == visitor.contact_id,
            Conversation.channel_account_id == visitor.channel_account_id,
            Message.is_internal.is_(False),
        )
    )
    if attachment is None:
        raise NotFound("no such attachment", field="attachment_id")
    return attachment
