"""The agent console: server-rendered pages (Jinja2 + htmx), every action a small form post.

Routes parse the form, call the same services as the REST API and render a page or a
fragment; live updates arrive over the agents' websocket (static/console.js).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.routing import Match

from helpline.channels.registry import address_kinds
from helpline.domain.attachments import MAX_ATTACHMENT_BYTES
from helpline.domain.contacts import Language
from helpline.domain.conversations import AuthorKind, Channel, ConversationStatus, Handler
from helpline.domain.errors import DomainError
from helpline.domain.identities import IdentityKind
from helpline.domain.users import Presence, Role
from helpline.services import channel_accounts, flows
from helpline.services import contacts as contact_svc
from helpline.services import conversations as svc
from helpline.services import users as user_svc
from helpline.services.attachments import attachments_for, store_upload
from helpline.services.bot_sessions import HANDOFF_NOTE
from helpline.services.contacts import PhoneClue
from helpline.storage.models import Contact, Team, User
from helpline.storage.uow import UnitOfWork
from helpline.web.deps import container, open_uow
from helpline.web.i18n import language_of, text_direction, translations
from helpline.web.labels import (
    channel_noter,
    flow_problem_teller,
    labeller,
    problem_teller,
    reason_labeller,
    system_noter,
)
from helpline.web.security import Principal, require_agent
from helpline.web.templating import templates

router = APIRouter(
    prefix="/console", tags=["console"], dependencies=[Depends(require_agent)], include_in_schema=False
)
Uow = Annotated[UnitOfWork, Depends(open_uow)]
Agent = Annotated[Principal, Depends(require_agent)]
VIEWS = ("mine", "unassigned", "teams", "all", "bot")
E = TypeVar("E", bound=Enum)


def render(
    request: Request, principal: Principal, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    language = language_of(principal.user.ui_language)
    trans = translations(language)
    reason = reason_labeller(trans.gettext, language.value, context.get("handoff_reason_texts"))
    return templates.TemplateResponse(
        request,
        template,
        {
            "_": trans.gettext,
            "label": labeller(trans.gettext),
            "note": system_noter(trans.gettext, reason),
            "told": channel_noter(trans.gettext),
            "problem": problem_teller(trans.gettext),
            "flow_problem": flow_problem_teller(trans.gettext),
            "reason": reason,
            "ngettext": trans.ngettext,
            "lang": language.value,
            "dir": text_direction(language),
            "me": principal.user,
            "csrf_token": principal.csrf_token or "",
            "is_supervisor": principal.role.at_least(Role.SUPERVISOR),
            "is_admin": principal.role.at_least(Role.ADMIN),
            # The inbox column's filters, on every page that shows it.
            "statuses": list(ConversationStatus),
            "languages": list(Language),
            **context,
        },
        status_code=status_code,
    )


def inbox_filter(
    principal: Principal,
    view: str,
    channel: Channel | None,
    status_: ConversationStatus | None,
    language: Language | None,
    tag: str | None,
) -> svc.ConversationFilter:
    """The inbox views: mine, unassigned, my teams', everything (supervisors), and the
    conversations the bot is still handling (kept out of the others: nobody needs to act yet)."""
    statuses = [status_] if status_ else [ConversationStatus.OPEN, ConversationStatus.PENDING]
    common: dict[str, Any] = {
        "handler": (Handler.BOT if view == "bot" else Handler.AGENTS).value,
        "status": statuses,
        "channel": [channel] if channel else [],
        "language": language,
        "tag": tag or None,
        "limit": 100,
    }
    if view == "mine":
        return svc.ConversationFilter(assignee_id=principal.user.id, **common)
    if view == "unassigned":
        return svc.ConversationFilter(unassigned=True, **common)
    return svc.ConversationFilter(**common)


async def inbox_rows(
    uow: UnitOfWork, principal: Principal, flt: svc.ConversationFilter, view: str
) -> list[dict[str, Any]]:
    viewer = principal.viewer
    if view == "teams" and not viewer.sees_everything:
        rows = [c for c in await svc.list_conversations(uow, viewer, flt) if c.team_id in viewer.team_ids]
    elif view == "all" and not viewer.sees_everything:
        rows = []
    else:
        rows = await svc.list_conversations(uow, viewer, flt)
    contacts = {
        c.id: c
        for c in await uow.session.scalars(
            select(Contact).where(Contact.id.in_({r.contact_id for r in rows}))
        )
    }
    previews = await svc.last_messages(uow, [r.id for r in rows])
    return [{"conv": r, "contact": contacts.get(r.contact_id), "preview": previews.get(r.id)} for r in rows]


Filters = dict[str, Any]


def filters(
    view: str,
    channel: Channel | None,
    status_: ConversationStatus | None,
    language: Language | None,
    tag: str | None,
) -> Filters:
    return {
        "view": view if view in VIEWS else "mine",
        "channel": channel,
        "status": status_,
        "language": language,
        "tag": tag,
    }


def optional(kind: type[E], value: str) -> E | None:
    """Filter forms send "" for "any"; anything else must be a valid value (422 otherwise)."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown {kind.__name__}: {value!r}"
        ) from exc


@router.get("", response_class=HTMLResponse)
async def inbox(
    request: Request,
    uow: Uow,
    principal: Agent,
    view: str = "mine",
    channel: Annotated[str, Query(max_length=20)] = "",
    status_: Annotated[str, Query(alias="status", max_length=20)] = "",
    language: Annotated[str, Query(max_length=5)] = "",
    tag: Annotated[str, Query(max_length=64)] = "",
    fragment: bool = False,
) -> Response:
    ch, st, lang = (
        optional(Channel, channel),
        optional(ConversationStatus, status_),
        optional(Language, language),
    )
    f = filters(view, ch, st, lang, tag or None)
    rows = await inbox_rows(
        uow, principal, inbox_filter(principal, f["view"], ch, st, lang, tag or None), f["view"]
    )
    template = "console/_inbox_list.html" if fragment else "console/inbox.html"
    return render(
        request,
        principal,
        template,
        rows=rows,
        f=f,
        views=VIEWS,
        channels=list(Channel),
        statuses=list(ConversationStatus),
        languages=list(Language),
        current=None,
    )


#: How many of the customer's latest messages are searched for phone numbers to suggest.
PHONE_CLUE_MESSAGES = 50


async def conversation_context(uow: UnitOfWork, principal: Principal, conversation_id: int) -> dict[str, Any]:
    conv = await svc.access_conversation(uow, principal.viewer, conversation_id)
    contact = await contact_svc.access_contact(uow, conv.contact_id)
    identities = (await contact_svc.contact_identities(uow, [contact.id]))[contact.id]
    manager = (
        await uow.session.get(User, contact.personal_manager_id) if contact.personal_manager_id else None
    )
    users = list(await uow.session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.name)))
    teams = list(await uow.session.scalars(select(Team).order_by(Team.name)))
    timeline = await svc.contact_timeline(uow, contact.id)
    accounts = await channel_accounts.list_channel_accounts(uow)
    return {
        "account_channels": {a.id: a.channel for a in accounts},
        "reachable": await svc.reachable_channels(uow, conv, address_kinds()),
        "attachments": await attachments_for(uow, [m.id for m, _ in timeline]),
        "conv": conv,
        "contact": contact,
        "identities": identities,
        "manager": manager,
        "timeline": timeline,
        # Read only for the conversations with a hand-off note: the timeline refreshes on each event.
        "handoff_reason_texts": await flows.conversations_reason_texts(
            uow,
            {
                c.id
                for m, c in timeline
                if m.author_kind == AuthorKind.SYSTEM.value and m.text.startswith(HANDOFF_NOTE)
            },
        ),
        "history": await svc.contact_conversations(uow, contact.id),
        "users": users,
        "users_by_id": {u.id: u for u in users},
        "teams": teams,
        "teams_by_id": {t.id: t for t in teams},
        "identity_kinds": list(IdentityKind),
        "languages": list(Language),
    }


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(
    conversation_id: int,
    request: Request,
    uow: Uow,
    principal: Agent,
    fragment: str | None = None,
    view: str = "mine",
) -> Response:
    context = await conversation_context(uow, principal, conversation_id)
    if fragment == "timeline":
        return render(request, principal, "console/_timeline.html", **context)
    clues = await phone_clues(uow, context, container(request).settings.default_region)
    f = filters(view, None, None, None, None)
    rows = await inbox_rows(
        uow, principal, inbox_filter(principal, f["view"], None, None, None, None), f["view"]
    )
    return render(
        request,
        principal,
        "console/conversation.html",
        rows=rows,
        f=f,
        views=VIEWS,
        channels=list(Channel),
        statuses=list(ConversationStatus),
        current=conversation_id,
        phone_clues=clues,
        **context,
    )


async def phone_clues(uow: UnitOfWork, context: dict[str, Any], default_region: str) -> list[PhoneClue]:
    """The customer card's numbers to merge or add; only for the whole page, not the live
    timeline refreshes (matching phone numbers costs ~0.1-1 ms per text)."""
    customer_texts = [
        m.text
        for m, _ in reversed(context["timeline"])
        if m.author_kind == AuthorKind.CUSTOMER.value and m.text
    ][:PHONE_CLUE_MESSAGES]
    return await contact_svc.phone_clues(uow, context["contact"].id, customer_texts, default_region)


def back_to(conversation_id: int) -> Response:
    return RedirectResponse(
        f"/console/conversations/{conversation_id}", status_code=status.HTTP_303_SEE_OTHER
    )


async def error_page(request: Request, principal: Principal, exc: DomainError) -> HTMLResponse:
    return render(request, principal, "console/error.html", status_code=422, error=exc)


@router.post("/conversations/{conversation_id}/reply")
async def reply(
    conversation_id: int,
    request: Request,
    uow: Uow,
    principal: Agent,
    text: Annotated[str, Form(max_length=20000)],
    internal: Annotated[bool, Form()] = False,
    channel_account_id: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    try:
        attachments = []
        if file is not None and file.filename:
            data = await file.read(MAX_ATTACHMENT_BYTES + 1)
            attachments.append(await store_upload(container(request).files, data, file.filename))
        await svc.do_agent_reply(
            uow,
            principal.viewer,
            conversation_id,
            text,
            internal,
            via_account_id=int(channel_account_id) if channel_account_id.isdigit() else None,
            address_kinds=address_kinds(),
            attachments=attachments,
        )
    except DomainError as exc:
        return await error_page(request, principal, exc)
    await uow.commit()
    if request.headers.get("hx-request"):
        return render(
            request,
            principal,
            "console/_timeline.html",
            **await conversation_context(uow, principal, conversation_id),
        )
    return back_to(conversation_id)


@router.post("/conversations/{conversation_id}/assign")
async def transfer(
    conversation_id: int,
    request: Request,
    uow: Uow,
    principal: Agent,
    assignee_id: Annotated[str, Form()] = "",
    team_id: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Assign or transfer to an agent and/or a team; the note is kept as an internal note."""
    assignee = int(assignee_id) if assignee_id.isdigit() else None
    team = int(team_id) if team_id.isdigit() else None
    try:
        conv = await svc.do_assign(uow, principal.viewer, conversation_id, assignee, team)
        if note.strip():
            # The note is written by the transferring agent, who may lose sight of the conversation now.
            await svc.do_transfer_note(uow, principal.user.id, conv, note)
    except DomainError as exc:
        return await error_page(request, principal, exc)
    await uow.commit()
    visible = (
        assignee == principal.user.id
        or principal.viewer.sees_everything
        or team is None
        or team in principal.viewer.team_ids
    )
    if not visible:
        return RedirectResponse("/console", status_code=status.HTTP_303_SEE_OTHER)
    return back_to(conversation_id)


@router.post("/conversations/{conversation_id}/status")
async def change_status(
    conversation_id: int,
    request: Request,
    uow: Uow,
    principal: Agent,
    new_status: Annotated[ConversationStatus, Form(alias="status")],
) -> Response:
    try:
        await svc.do_change_status(uow, principal.viewer, conversation_id, new_status)
    except DomainError as exc:
        return await error_page(request, principal, exc)
    await uow.commit()
    return back_to(conversation_id)


def page_to_return_to(request: Request) -> str:
    """Where the header's forms (status, language) lead back: the console page they were sent
    from. A form's result (a validated flow, a refused reply) has a POST-only address that cannot
    be shown again: then the nearest page above it (/console/admin/flows/validate →
    /console/admin/flows). Only the address's path is taken, and only a console page's: a
    referer naming another site leads to this one (its host is not compared, as a proxy may
    rename it)."""
    referer = urlsplit(request.headers.get("referer", ""))
    path = referer.path.rstrip("/")
    while path.startswith("/console"):
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            return path + (f"?{referer.query}" if referer.query and path == referer.path else "")
        path = path.rsplit("/", 1)[0]
    return "/console"


@router.post("/presence")
async def presence(
    request: Request, uow: Uow, principal: Agent, value: Annotated[Presence, Form(alias="presence")]
) -> Response:
    await user_svc.do_set_presence(uow, await user_svc.access_user(uow, principal.user.id), value)
    await uow.commit()
    return RedirectResponse(page_to_return_to(request), status_code=status.HTTP_303_SEE_OTHER)


@router.post("/language")
async def console_language(
    request: Request, uow: Uow, principal: Agent, value: Annotated[Language, Form(alias="ui_language")]
) -> Response:
    """Everyone chooses the language of their own console (only an admin could, through the API)."""
    await user_svc.do_update_user(uow, principal.user.id, user_svc.UserChanges(ui_language=value))
    await uow.commit()
    return RedirectResponse(page_to_return_to(request), status_code=status.HTTP_303_SEE_OTHER)


@router.post("/contacts/{contact_id}")
async def edit_contact(
    contact_id: int,
    request: Request,
    uow: Uow,
    principal: Agent,
    conversation_id: Annotated[int, Form()],
    name: Annotated[str, Form(max_length=200)] = "",
    language: Annotated[str, Form()] = "",
    is_vip: Annotated[bool, Form()] = False,
    personal_manager_id: Annotated[str, Form()] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
    attributes: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """The card's edit form; attributes are `key: value` lines."""
    try:
        await svc.access_conversation(uow, principal.viewer, conversation_id)
        parsed = {}
        for line in attributes.splitlines():
            if line.strip():
                key, sep, value = line.partition(":")
                if not sep:
                    raise DomainError(
                        "attribute line {line} needs 'name: value'", field="attributes", line=repr(line)
                    )
                parsed[key.strip()] = value.strip()
        await contact_svc.do_update_contact(
            uow,
            contact_id,
            contact_svc.ContactChanges(
                name=name,
                language=Language(language) if language else None,
                is_vip=is_vip,
                personal_manager_id=int(personal_manager_id) if personal_manager_id.isdigit() else None,
                tags=[t for t in tags.split(",")],
                attributes=parsed,
            ),
        )
    except DomainError as exc:
        return await error_page(request, principal, exc)
    await uow.commit()
    return back_to(conversation_id)


@router.post("/contacts/{contact_id}/identities")
async def add_identity(
    contact_id: int,
    request: Request,
    uow: Uow,
    principal: Agent,
    conversation_id: Annotated[int, Form()],
    kind: Annotated[IdentityKind, Form()],
    value: Annotated[str, Form(max_length=255)],
) -> Response:
    try:
        await svc.access_conversation(uow, principal.viewer, conversation_id)
        await contact_svc.do_add_identity(
            uow, contact_id, kind, value, default_region=container(request).settings.default_region
        )
    except DomainError as exc:
        return await error_page(request, principal, exc)
    await uow.commit()
    return back_to(conversation_id)


@router.post("/contacts/{contact_id}/merge")
async def merge(
    contact_id: int,
    request: Request,
    uow: Uow,
    principal: Agent,
    conversation_id: Annotated[int, Form()],
    source_contact_id: Annotated[int, Form()],
) -> Response:
    """Fold another record of the same customer into this one (identities and history move here)."""
    try:
        await svc.access_conversation(uow, principal.viewer, conversation_id)
        await contact_svc.do_merge_contacts(uow, contact_id, source_contact_id, principal.user.id)
    except DomainError as exc:
        return await error_page(request, principal, exc)
    await uow.commit()
    return back_to(conversation_id)
