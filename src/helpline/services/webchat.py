"""Web chat visitors: an anonymous browser becomes a contact with a `webchat` identity.

The visitor holds a random bearer token (in the widget's local storage); we keep only its
hash. Messages go through the same inbound path as every other channel, with a client-made
id as the provider id, so a widget that resends after a network drop never doubles a message.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select, update

from helpline.domain.contacts import Language
from helpline.domain.conversations import Channel
from helpline.domain.errors import DomainError
from helpline.domain.identities import IdentityKind
from helpline.domain.inbound import InboundMessage
from helpline.services.attachments import store_upload
from helpline.services.auth import digest
from helpline.services.contacts import ContactSpec, do_create_contact
from helpline.services.conversations import check_message_text
from helpline.services.inbound import IngestResult, ingest_inbound
from helpline.storage.files import FileStore
from helpline.storage.models import ChannelAccount, Conversation, Message, WebchatVisitor
from helpline.storage.uow import UnitOfWork, UnitOfWorkFactory

VISITOR_TOKEN_PREFIX = "hlv_"  # noqa: S105 (a public marker, not a secret)
MAX_CLIENT_ID = 64


@dataclass(frozen=True, slots=True)
class NewVisitor:
    token: str
    visitor: WebchatVisitor


async def do_start_visitor(
    uow: UnitOfWork, account: ChannelAccount, language: Language | None = None
) -> NewVisitor:
    """A new anonymous visitor; `language`, the page's, is their card's until they show another
    (the bot greets in it, and the conversation goes to people who speak it)."""
    if account.channel != Channel.WEBCHAT:
        raise DomainError("not a web chat account", field="account")
    public_id = "v-" + secrets.token_hex(8)
    token = VISITOR_TOKEN_PREFIX + secrets.token_urlsafe(32)
    contact = await do_create_contact(
        uow, ContactSpec(identities=[(IdentityKind.WEBCHAT, public_id)], language=language)
    )
    now = uow.now()
    visitor = WebchatVisitor(
        public_id=public_id,
        token_hash=digest(token),
        contact_id=contact.id,
        channel_account_id=account.id,
        created_at=now,
        last_seen_at=now,
    )
    uow.session.add(visitor)
    await uow.session.flush()
    return NewVisitor(token, visitor)


#: How stale `last_seen_at` may get before a request refreshes it: writing it on every
#: message would turn each authenticated read into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)
_BY_TOKEN = select(WebchatVisitor).where(WebchatVisitor.token_hash == bindparam("token_hash"))
_TOUCH = (
    update(WebchatVisitor)
    .where(WebchatVisitor.id == bindparam("visitor_id"))
    .values(last_seen_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


async def visitor_by_token(uow: UnitOfWork, token: str) -> WebchatVisitor | None:
    if not token.startswith(VISITOR_TOKEN_PREFIX):
        return None
    visitor = await uow.session.scalar(_BY_TOKEN, {"token_hash": digest(token)})
    if visitor is not None:
        now = uow.now()
        if now - visitor.last_seen_at >= LAST_SEEN_RESOLUTION:
            await uow.session.execute(_TOUCH, {"visitor_id": visitor.id, "now": now})
    return visitor


async def visitor_messages(
    uow: UnitOfWork, visitor: WebchatVisitor, after_id: int = 0, limit: int = 200, *, latest: bool = False
) -> list[Message]:
    """What the visitor may read: their conversations on this web chat, without internal notes,
    oldest first. A page after `after_id` (a widget catching up pages on), or with `latest`
    the newest `limit` (a widget opening: a long history must not hide the last reply)."""
    found = list(
        await uow.session.scalars(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Conversation.contact_id == visitor.contact_id,
                Conversation.channel_account_id == visitor.channel_account_id,
                Message.is_internal.is_(False),
                Message.id > after_id,
            )
            .order_by(Message.id.desc() if latest else Message.id)
            .limit(limit)
        )
    )
    return found[::-1] if latest else found


async def visitor_message(uow: UnitOfWork, visitor: WebchatVisitor, message_id: int) -> Message | None:
    found = await visitor_messages(uow, visitor, after_id=message_id - 1, limit=1)
    return found[0] if found and found[0].id == message_id else None


async def do_visitor_says(
    make_uow: UnitOfWorkFactory, visitor: WebchatVisitor, text: str, client_id: str
) -> IngestResult:
    """Store a visitor's message; resending the same `client_id` returns the stored one."""
    text = check_message_text(text)
    if not client_id or len(client_id) > MAX_CLIENT_ID:
        raise DomainError("client_id must be 1 to {limit} characters", field="client_id", limit=MAX_CLIENT_ID)
    return await ingest_inbound(
        make_uow,
        InboundMessage(
            channel=Channel.WEBCHAT,
            channel_account_id=visitor.channel_account_id,
            identity_kind=IdentityKind.WEBCHAT,
            identity_value=visitor.public_id,
            text=text,
            provider_message_id=f"{visitor.public_id}:{client_id}",
            sent_at=make_uow().now(),
        ),
    )


async def do_visitor_sends_file(
    make_uow: UnitOfWorkFactory,
    files: FileStore,
    visitor: WebchatVisitor,
    data: bytes,
    filename: str | None,
    client_id: str,
) -> IngestResult:
    """Store an image or PDF from the visitor as a message of its own (idempotent on `client_id`)."""
    if not client_id or len(client_id) > MAX_CLIENT_ID:
        raise DomainError("client_id must be 1 to {limit} characters", field="client_id", limit=MAX_CLIENT_ID)
    attachment = await store_upload(files, data, filename)
    return await ingest_inbound(
        make_uow,
        InboundMessage(
            channel=Channel.WEBCHAT,
            channel_account_id=visitor.channel_account_id,
            identity_kind=IdentityKind.WEBCHAT,
            identity_value=visitor.public_id,
            text="",
            provider_message_id=f"{visitor.public_id}:{client_id}",
            sent_at=make_uow().now(),
            attachments=(attachment,),
        ),
    )


async def latest_visitor_conversation(uow: UnitOfWork, visitor: WebchatVisitor) -> Conversation | None:
    return await uow.session.scalar(
        select(Conversation)
        .where(
            Conversation.contact_id == visitor.contact_id,
            Conversation.channel_account_id == visitor.channel_account_id,
        )
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    )
