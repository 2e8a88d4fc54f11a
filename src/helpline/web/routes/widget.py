"""The web chat widget's API: visitor session, messages both ways, typing, and a live socket.

Visitors authenticate with their widget token (`X-Visitor-Token`); they see only their own
conversations on this web chat, never internal notes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import aiosmtplib
from fastapi import (
    APIRouter,
    Depends,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import Field
from sqlalchemy import select

from helpline.bootstrap import Container
from helpline.domain.attachments import MAX_ATTACHMENT_BYTES
from helpline.domain.contacts import RTL_LANGUAGES, Language
from helpline.domain.conversations import MAX_MESSAGE_LENGTH, AuthorKind, Channel, Direction
from helpline.domain.events import Event
from helpline.domain.flows.runtime import Choice, FlowRuntime
from helpline.flows.loader import flow_from_data
from helpline.logs import get_logger
from helpline.services import verification
from helpline.services import webchat as svc
from helpline.services.attachments import access_attachment_as_visitor, attachments_for
from helpline.services.conversations import check_message_text
from helpline.services.flows import active_flow_data
from helpline.storage.models import Attachment, ChannelAccount, Message, WebchatVisitor
from helpline.storage.uow import UnitOfWork
from helpline.web import schemas
from helpline.web.deps import container
from helpline.web.files import attachment_response
from helpline.web.live import relay
from helpline.web.security import VISITOR_SUBPROTOCOL, require_visitor
from helpline.web.templating import STATIC, templates

router = APIRouter(tags=["web chat widget"])
Visitor = Annotated[WebchatVisitor, Depends(require_visitor)]
DEFAULT_ACCOUNT = "Website"
log = get_logger(__name__)


class SessionIn(schemas.In):
    account: str = Field(default=DEFAULT_ACCOUNT, min_length=1, max_length=120)
    token: str | None = Field(default=None, max_length=200, description="a token this browser already holds")
    language: Language | None = Field(default=None, description="the page's language: the bot's first one")


class ChoiceOut(schemas.Out):
    digit: str = Field(description="the phone key of the choice; typing it picks the choice too")
    label: str


class WidgetMessageOut(schemas.Out):
    id: int
    direction: str
    author_kind: str
    text: str
    created_at: datetime
    client_id: str | None = Field(default=None, description="the widget's own id for messages it sent")
    attachments: list[schemas.AttachmentOut] = Field(default_factory=list)
    options: list[ChoiceOut] = Field(default_factory=list, description="the bot's choices, shown as buttons")

    @classmethod
    def of(cls, message: Message, attachments: Sequence[Attachment] = ()) -> WidgetMessageOut:
        _, _, client_id = (message.provider_message_id or "").partition(":")
        return cls(
            id=message.id,
            direction=message.direction,
            author_kind=message.author_kind,
            text=message.text,
            created_at=message.created_at,
            client_id=client_id if message.author_kind == "customer" and client_id else None,
            attachments=[schemas.AttachmentOut.model_validate(a) for a in attachments],
            options=[
                ChoiceOut(digit=c.digit, label=c.label)
                for c in map(Choice.from_json, message.options or ())
                # A web page cannot share the visitor's number: they type it, as the prompt asks.
                if not c.shares_phone
            ],
        )


async def widget_messages(uow: UnitOfWork, messages: Sequence[Message]) -> list[WidgetMessageOut]:
    files = await attachments_for(uow, [m.id for m in messages])
    return [WidgetMessageOut.of(m, files[m.id]) for m in messages]


class GreetingOut(schemas.Out):
    text: str
    options: list[ChoiceOut] = Field(default_factory=list, description="the bot's choices, shown as buttons")


class SessionOut(schemas.Out):
    token: str | None = Field(description="set only when a new visitor was created; keep it")
    visitor_id: str
    messages: list[WidgetMessageOut]
    greeting: GreetingOut | None = Field(
        default=None,
        description="for a visitor who has written nothing yet: the bot's first menu, shown as the chat "
        "opens (not stored; choosing from it starts the conversation)",
    )


async def bot_greeting(uow: UnitOfWork, language: Language | None) -> GreetingOut | None:
    """The active web chat flow's start node in the page's language, None without a flow."""
    data = await active_flow_data(uow, Channel.WEBCHAT.value)
    if data is None:
        return None
    first = FlowRuntime(flow_from_data(data), {}).start((language or Language.EN).value).replies[-1]
    options = [ChoiceOut(digit=c.digit, label=c.label) for c in first.choices if not c.shares_phone]
    return GreetingOut(text=first.text, options=options)


class SayIn(schemas.In):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)
    client_id: str = Field(min_length=1, max_length=svc.MAX_CLIENT_ID)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/widget/v1/session")
async def start_session(body: SessionIn, request: Request) -> SessionOut:
    """Resume the visitor of `token`, or create a new anonymous visitor (rate-limited per address)."""
    c = container(request)
    async with c.uow() as uow:
        if body.token:
            visitor = await svc.visitor_by_token(uow, body.token)
            if visitor is not None:
                messages = await svc.visitor_messages(uow, visitor, latest=True)
                greeting = None if messages else await bot_greeting(uow, body.language)
                await uow.commit()
                return SessionOut(
                    token=None,
                    visitor_id=visitor.public_id,
                    messages=await widget_messages(uow, messages),
                    greeting=greeting,
                )
        key = f"visitor:{_client(request)}"
        if (wait := await c.visitor_limiter.retry_after(key)) > 0:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many new chats from this address",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        account = await uow.session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.channel == Channel.WEBCHAT.value,
                ChannelAccount.name == body.account,
                ChannelAccount.is_active.is_(True),
            )
        )
        if account is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such web chat")
        new = await svc.do_start_visitor(uow, account, body.language)
        greeting = await bot_greeting(uow, body.language)
        await uow.commit()
        await c.visitor_limiter.hit(key)
        return SessionOut(token=new.token, visitor_id=new.visitor.public_id, messages=[], greeting=greeting)


@router.get("/widget/v1/messages")
async def read_messages(
    visitor: Visitor, request: Request, after: Annotated[int, Query(ge=0)] = 0
) -> list[WidgetMessageOut]:
    """Everything after message `after`: a widget that reconnects resumes from the last id it saw."""
    async with container(request).uow() as uow:
        return await widget_messages(uow, await svc.visitor_messages(uow, visitor, after))


@router.post("/widget/v1/messages", status_code=status.HTTP_201_CREATED)
async def say(body: SayIn, visitor: Visitor, request: Request) -> WidgetMessageOut:
    c = container(request)
    result = await svc.do_visitor_says(c.uow, visitor, body.text, body.client_id)
    if result.duplicate:  # a resend: answer with what was stored the first time
        return await stored_message(c, visitor, result.message_id)
    return WidgetMessageOut(
        id=result.message_id,
        direction=Direction.INBOUND.value,
        author_kind=AuthorKind.CUSTOMER.value,
        text=check_message_text(body.text),
        created_at=result.stored_at,
        client_id=body.client_id,
    )


async def stored_message(c: Container, visitor: WebchatVisitor, message_id: int) -> WidgetMessageOut:
    async with c.uow() as uow:
        message = await svc.visitor_message(uow, visitor, message_id)
        if message is None:  # the visitor's contact was merged away between the two steps
            raise HTTPException(status.HTTP_409_CONFLICT, "conversation moved; reload the chat")
        return (await widget_messages(uow, [message]))[0]


@router.post("/widget/v1/attachments", status_code=status.HTTP_201_CREATED)
async def send_file(
    visitor: Visitor,
    request: Request,
    file: UploadFile,
    client_id: Annotated[str, Form(min_length=1, max_length=svc.MAX_CLIENT_ID)],
) -> WidgetMessageOut:
    """An image or a PDF, checked by its content (type and size) before anything is stored."""
    c = container(request)
    data = await file.read(MAX_ATTACHMENT_BYTES + 1)
    result = await svc.do_visitor_sends_file(c.uow, c.files, visitor, data, file.filename, client_id)
    return await stored_message(c, visitor, result.message_id)


@router.get("/widget/v1/attachments/{attachment_id}", response_class=Response)
async def read_file(attachment_id: int, visitor: Visitor, request: Request) -> Response:
    c = container(request)
    async with c.uow() as uow:
        attachment = await access_attachment_as_visitor(uow, visitor, attachment_id)
    return await attachment_response(c.files, attachment)


class ProfileIn(schemas.In):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=40)


class ProfileOut(schemas.Out):
    saved: list[str]
    verification_sent_to: str | None = Field(description="masked address the code went to, if one was needed")


class VerifyIn(schemas.In):
    code: str = Field(min_length=1, max_length=12)


def mask(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


@router.post("/widget/v1/profile")
async def leave_details(body: ProfileIn, visitor: Visitor, request: Request) -> ProfileOut:
    """Name, e-mail, phone. One that already belongs to a known customer needs a code first."""
    c = container(request)
    async with c.uow() as uow:
        outcome = await verification.do_visitor_profile(
            uow,
            visitor,
            name=body.name,
            email=body.email,
            phone=body.phone,
            default_region=c.settings.default_region,
        )
        if outcome.verification is not None and c.email is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "e-mail is not configured on this server"
            )
        await uow.commit()
    sent_to = None
    if outcome.verification is not None and c.email is not None:
        try:
            await c.email.send(
                outcome.verification.to,
                "Your confirmation code",
                f"Your code: {outcome.verification.code}\n\n"
                "Someone (hopefully you) asked to link a web chat to your customer record. "
                "If it was not you, ignore this message.",
            )
        except (OSError, aiosmtplib.SMTPException) as exc:
            log.warning("verification.email_failed", error=type(exc).__name__)
            raise HTTPException(
                status.HTTP_502_BAD_GATEWAY, "the code could not be sent; try again later"
            ) from exc
        sent_to = mask(outcome.verification.to)
    return ProfileOut(saved=outcome.saved, verification_sent_to=sent_to)


@router.post("/widget/v1/verify")
async def verify(body: VerifyIn, visitor: Visitor, request: Request) -> list[WidgetMessageOut]:
    """Enter the code; the chat then joins the customer's record and their history appears."""
    c = container(request)
    async with c.uow() as uow:
        try:
            await verification.do_verify_code(uow, visitor, body.code)
        except verification.WrongCode:
            await uow.commit()  # the failed attempt counts
            raise
        await uow.commit()
        current = await uow.session.get(WebchatVisitor, visitor.id)
        assert current is not None
        return await widget_messages(uow, await svc.visitor_messages(uow, current, latest=True))


@router.post("/widget/v1/typing", status_code=status.HTTP_204_NO_CONTENT)
async def typing(visitor: Visitor, request: Request) -> Response:
    c = container(request)
    async with c.uow() as uow:
        conv = await svc.latest_visitor_conversation(uow, visitor)
    if conv is not None:
        await c.bus.publish(
            [
                Event(
                    type="typing",
                    conversation_id=conv.id,
                    team_id=conv.team_id,
                    assignee_id=conv.assignee_id,
                    payload={"conversation_id": conv.id, "contact_id": conv.contact_id, "who": "customer"},
                )
            ]
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.websocket("/widget/v1/ws")
async def visitor_socket(websocket: WebSocket, visitor: Visitor) -> None:
    """Agent replies and agent typing for this visitor, as they happen."""
    c = container(websocket)
    offered = websocket.headers.get("sec-websocket-protocol", "")
    await websocket.accept(subprotocol=VISITOR_SUBPROTOCOL if VISITOR_SUBPROTOCOL in offered else None)
    # The visitor's contact changes when they prove an identity of a known customer.
    contact = {"id": visitor.contact_id}

    def concerns_visitor(event: Event) -> bool:
        if event.type == "contact.merged":
            return event.payload.get("source_contact_id") == contact["id"]
        return event.type in VISITOR_EVENTS and event.payload.get("contact_id") == contact["id"]

    async def send(event: Event) -> None:
        if event.type == "resync":
            await websocket.send_json({"type": "resync"})
            return
        async with c.uow() as uow:
            current = await uow.session.get(WebchatVisitor, visitor.id)
            if current is None:
                return
            if event.type == "contact.merged":
                contact["id"] = current.contact_id
                await websocket.send_json({"type": "resync"})
            elif event.type == "message.created":
                message = await svc.visitor_message(uow, current, int(event.payload["message_id"]))
                if message is not None:
                    out = (await widget_messages(uow, [message]))[0].model_dump(mode="json")
                    await websocket.send_json({"type": "message", "message": out})
            elif event.payload.get("who") == "agent":
                await websocket.send_json({"type": "typing"})

    async with c.bus.subscribe(concerns_visitor) as queue:
        try:
            await websocket.send_json({"type": "hello", "visitor_id": visitor.public_id})
        except WebSocketDisconnect:
            return
        await relay(websocket, queue, send)


#: What a visitor's socket listens for (besides merges of its contact).
VISITOR_EVENTS = frozenset({"message.created", "typing"})


@router.get("/widget.js", include_in_schema=False)
async def widget_script() -> Response:
    return FileResponse(
        STATIC / "widget" / "widget.js",
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/widget/demo", response_class=HTMLResponse, include_in_schema=False)
async def widget_demo(request: Request, lang: Language = Language.EN) -> Response:
    """A stand-in for a customer's website, embedding the widget with one script tag."""
    return templates.TemplateResponse(
        request, "widget_demo.html", {"lang": lang.value, "dir": "rtl" if lang in RTL_LANGUAGES else "ltr"}
    )
