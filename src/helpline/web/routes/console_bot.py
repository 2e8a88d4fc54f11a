"""Console pages for the self-service bot: flows (upload, validate, preview, activate), the FAQ
knowledge base, and the containment report (also served as JSON under /api/v1/reports).

Admins change flows and articles; supervisors read the knowledge base and the report. Every
page renders customer- and admin-written text through Jinja's autoescaping only: a label
holding `<script>` is shown as text, never run.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.datastructures import FormData

from helpline.domain.conversations import Channel
from helpline.domain.errors import Conflict, DomainError, NotFound
from helpline.domain.flows.model import (
    FLOW_LANGUAGES,
    AnswerArticle,
    CreateTicket,
    FieldKind,
    Flow,
    GoTo,
    Handoff,
    Lookup,
    Step,
    localised,
)
from helpline.domain.flows.runtime import Article
from helpline.domain.flows.voice import spoken_menu
from helpline.flows.loader import MAX_FLOW_BYTES, Problem, file_problem, flow_from_data
from helpline.services import bot_reports as report_svc
from helpline.services import flows as flow_svc
from helpline.services import knowledge as kb_svc
from helpline.services.bot_learning import bot_learning_status
from helpline.services.users import list_teams
from helpline.storage.models import KnowledgeArticle, User
from helpline.storage.uow import UnitOfWork
from helpline.web.deps import container, open_uow
from helpline.web.errors import status_for
from helpline.web.routes.console import VIEWS, filters, inbox_filter, inbox_rows, render
from helpline.web.security import Principal, require_admin, require_supervisor

Uow = Annotated[UnitOfWork, Depends(open_uow)]
Admin = Annotated[Principal, Depends(require_admin)]
Supervisor = Annotated[Principal, Depends(require_supervisor)]

FLOWS = "/console/admin/flows"
KNOWLEDGE = "/console/admin/knowledge"
REPORT = "/console/reports/bot"

flows = APIRouter(
    prefix=FLOWS, tags=["console"], dependencies=[Depends(require_admin)], include_in_schema=False
)
knowledge = APIRouter(
    prefix=KNOWLEDGE, tags=["console"], dependencies=[Depends(require_supervisor)], include_in_schema=False
)
report = APIRouter(
    prefix=REPORT, tags=["console"], dependencies=[Depends(require_supervisor)], include_in_schema=False
)
api = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=[Depends(require_supervisor)])

#: What app.py includes: the pages and the JSON report.
router = APIRouter()


# --- previewing a flow: pure functions over the domain model --------------------------------------


@dataclass(frozen=True, slots=True)
class StepView:
    """What an option (or a collected field) leads to, as the preview shows it.

    kind: next | answer | handoff | ticket | lookup. `target` is the node, article, queue or
    lookup name; `detail` the article's title, the handoff reason or the ticket's subject.
    """

    kind: str
    target: str | None = None
    detail: str | None = None
    #: An answer whose article is not (or no longer) in the knowledge base, or a queue that is no
    #: team's name (its customers then wait in the channel's inbox).
    missing: bool = False
    #: An answer whose article is answered by handing off to people.
    hands_off: bool = False
    then: StepView | None = None


@dataclass(frozen=True, slots=True)
class OptionView:
    digit: str
    label: str
    leads: StepView


@dataclass(frozen=True, slots=True)
class CollectView:
    field_name: str
    pattern: str | None
    leads: StepView
    is_phone: bool = False


@dataclass(frozen=True, slots=True)
class NodeView:
    id: str
    is_start: bool
    prompt: str
    options: tuple[OptionView, ...]
    collect: CollectView | None
    faq: bool
    #: What the phone says at this node: the prompt, then each option with its key.
    phone: str


def step_view(
    step: Step, articles: Mapping[str, Article], language: str, teams: Collection[str] = ()
) -> StepView:
    if isinstance(step, GoTo):
        return StepView("next", step.node)
    if isinstance(step, AnswerArticle):
        article = articles.get(step.article)
        if article is None:
            return StepView("answer", step.article, missing=True)
        return StepView(
            "answer", step.article, localised(article.title, language) or None, hands_off=article.hands_off
        )
    unknown_queue = isinstance(step, Handoff | CreateTicket) and bool(step.queue) and step.queue not in teams
    if isinstance(step, Handoff):
        reason = localised(step.reason_text, language) if step.reason_text else step.reason
        return StepView("handoff", step.queue, reason, missing=unknown_queue)
    if isinstance(step, CreateTicket):
        return StepView("ticket", step.queue, step.subject, missing=unknown_queue)
    assert isinstance(step, Lookup)
    return StepView("lookup", step.name, then=step_view(step.then, articles, language, teams))


def preview_flow(
    flow: Flow, articles: Mapping[str, Article], language: str, teams: Collection[str] = ()
) -> list[NodeView]:
    """Every node in `language`, the start node first, then in the file's order."""
    order = [flow.start, *(n for n in flow.nodes if n != flow.start)] if flow.start in flow.nodes else []
    return [
        NodeView(
            id=node.id,
            is_start=node.id == flow.start,
            prompt=localised(node.prompt, language),
            options=tuple(
                OptionView(
                    o.digit, localised(o.label, language), step_view(o.step, articles, language, teams)
                )
                for o in node.options
            ),
            collect=(
                CollectView(
                    node.collect.field_name,
                    node.collect.pattern,
                    step_view(node.collect.then, articles, language, teams),
                    is_phone=node.collect.kind is FieldKind.PHONE,
                )
                if node.collect is not None
                else None
            ),
            faq=node.faq,
            phone=spoken_menu(flow, node, language),
        )
        for node in (flow.nodes[n] for n in order)
    ]


# --- shared page bits ------------------------------------------------------------------------------


async def sidebar(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    """What base.html needs for the inbox column (the admin's own conversations)."""
    return {
        "rows": await inbox_rows(
            uow, principal, inbox_filter(principal, "mine", None, None, None, None), "mine"
        ),
        "f": filters("mine", None, None, None, None),
        "views": VIEWS,
        "channels": list(Channel),
        "current": None,
    }


async def page(
    request: Request,
    uow: UnitOfWork,
    principal: Principal,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    return render(request, principal, template, status_code, **(await sidebar(uow, principal)), **context)


async def problem_page(
    request: Request, uow: UnitOfWork, principal: Principal, exc: DomainError
) -> HTMLResponse:
    return await page(request, uow, principal, "console/error.html", status_for(exc), error=exc)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


def form_text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


async def user_names(uow: UnitOfWork, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await uow.session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {user_id: name for user_id, name in rows}


def preview_language(principal: Principal, wanted: str) -> str:
    if wanted in FLOW_LANGUAGES:
        return wanted
    own = principal.user.ui_language
    return own if own in FLOW_LANGUAGES else "en"


# --- flows ------------------------------------------------------------------------------------------


async def flows_context(uow: UnitOfWork) -> dict[str, Any]:
    summaries = await flow_svc.list_flows(uow)
    active = await flow_svc.active_versions(uow)
    names = await user_names(
        uow, {v.uploaded_by_id for s in summaries for v in s.versions if v.uploaded_by_id}
    )
    labels = {v.id: f"{s.flow.name} v{v.version}" for s in summaries for v in s.versions}
    return {
        "flows": [
            {
                "flow": s.flow,
                "versions": [
                    {
                        "version": v,
                        "by": names.get(v.uploaded_by_id) if v.uploaded_by_id else None,
                        "channels": sorted(c for c, vid in s.active.items() if vid == v.id),
                    }
                    for v in s.versions
                ],
            }
            for s in summaries
        ],
        "flow_channels": [
            {
                "channel": c.value,
                "version_id": active.get(c.value),
                "version": labels.get(active.get(c.value, 0)),
            }
            for c in flow_svc.FLOW_CHANNELS
        ],
        "max_kib": MAX_FLOW_BYTES // 1024,
    }


async def submitted_source(pasted: str, upload: UploadFile | None) -> tuple[str, tuple[Problem, ...]]:
    """The flow file from the upload (a chosen file wins over the pasted text)."""
    if upload is None or not upload.filename:
        return pasted, ()
    raw = await upload.read(MAX_FLOW_BYTES + 1)
    if len(raw) > MAX_FLOW_BYTES:
        return "", (file_problem(None, "the file is larger than {limit} KiB", limit=MAX_FLOW_BYTES // 1024),)
    try:
        return raw.decode("utf-8-sig"), ()
    except UnicodeDecodeError:
        return "", (file_problem(None, "the file is not UTF-8 text"),)


Pasted = Annotated[str, Form()]
Uploaded = Annotated[UploadFile | None, File()]


def numbered(source: str) -> list[str]:
    return source.splitlines()


@flows.get("", response_class=HTMLResponse)
async def flows_page(request: Request, uow: Uow, principal: Admin) -> Response:
    return await page(request, uow, principal, "console/flows.html", **(await flows_context(uow)))


@flows.post("/validate", response_class=HTMLResponse)
async def validate_flow(
    request: Request, uow: Uow, principal: Admin, source: Pasted = "", file: Uploaded = None
) -> Response:
    """Check a flow file and show every problem; nothing is stored."""
    source, unreadable = await submitted_source(source, file)
    loaded = None if unreadable else await flow_svc.check_source(uow, source)
    problems = loaded.problems if loaded is not None else unreadable
    found = loaded.flow if loaded is not None and loaded.ok else None
    return await page(
        request,
        uow,
        principal,
        "console/flows.html",
        **(await flows_context(uow)),
        source=source,
        lines=numbered(source) if problems else [],
        checked={"ok": found is not None, "problems": problems, "flow": found},
    )


@flows.post("")
async def upload_flow(
    request: Request, uow: Uow, principal: Admin, source: Pasted = "", file: Uploaded = None
) -> Response:
    """Store the file as the next version of its flow, or refuse it with every problem (422)."""
    source, unreadable = await submitted_source(source, file)
    try:
        if unreadable:
            raise flow_svc.FlowRejected(unreadable)
        version = await flow_svc.do_upload_flow(uow, source, principal.user.id)
    except flow_svc.FlowRejected as exc:
        return await page(
            request,
            uow,
            principal,
            "console/flows.html",
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            **(await flows_context(uow)),
            source=source,
            lines=numbered(source),
            checked={"ok": False, "problems": exc.problems, "flow": None},
            rejected=True,
        )
    await uow.commit()
    return see_other(f"{FLOWS}/versions/{version.id}")


async def kb_articles(uow: UnitOfWork) -> dict[str, Article]:
    return {
        a.intent: kb_svc.runtime_article(a.intent, a.title, a.answer, a.questions, a.hands_off)
        for a in await kb_svc.list_articles(uow)
        if a.kind == kb_svc.KIND_ANSWER
    }


@flows.get("/versions/{version_id}", response_class=HTMLResponse)
async def version_page(
    version_id: int,
    request: Request,
    uow: Uow,
    principal: Admin,
    lang: Annotated[str, Query(max_length=5)] = "",
) -> Response:
    return await show_version(request, uow, principal, version_id, lang)


async def show_version(
    request: Request,
    uow: UnitOfWork,
    principal: Principal,
    version_id: int,
    lang: str,
    status_code: int = 200,
) -> Response:
    try:
        version = await flow_svc.get_version(uow, version_id)
    except DomainError as exc:
        return await problem_page(request, uow, principal, exc)
    language = preview_language(principal, lang)
    flow = flow_from_data(version.data)
    active = await flow_svc.active_versions(uow)
    names = await user_names(uow, {version.uploaded_by_id} if version.uploaded_by_id else set())
    # Articles may have changed since the upload: what activating it now would say.
    loaded = await flow_svc.check_source(uow, version.source)
    return await page(
        request,
        uow,
        principal,
        "console/flow_version.html",
        status_code,
        version=version,
        flow=flow,
        by=names.get(version.uploaded_by_id) if version.uploaded_by_id else None,
        lines=numbered(version.source),
        problems=loaded.problems,
        preview_lang=language,
        preview_dir="rtl" if language == "ar" else "ltr",
        flow_languages=FLOW_LANGUAGES,
        nodes=preview_flow(flow, await kb_articles(uow), language, {t.name for t in await list_teams(uow)}),
        flow_channels=[
            {"channel": c.value, "here": active.get(c.value) == version.id, "taken": c.value in active}
            for c in flow_svc.FLOW_CHANNELS
        ],
    )


@flows.post("/versions/{version_id}/activate")
async def activate_version(version_id: int, request: Request, uow: Uow, principal: Admin) -> Response:
    form = await request.form()
    channels = [c for c in form.getlist("channels") if isinstance(c, str)]
    try:
        await flow_svc.do_activate(uow, version_id, channels, principal.user.id)
    except flow_svc.FlowRejected:  # no longer valid: its page lists why, each problem with its line
        return await show_version(request, uow, principal, version_id, "", status_code=422)
    except DomainError as exc:
        return await problem_page(request, uow, principal, exc)
    await uow.commit()
    return see_other(f"{FLOWS}/versions/{version_id}")


@flows.post("/deactivate")
async def deactivate_channel(request: Request, uow: Uow, principal: Admin) -> Response:
    form = await request.form()
    channel = form_text(form, "channel")
    if channel not in {c.value for c in flow_svc.FLOW_CHANNELS}:
        return await problem_page(request, uow, principal, DomainError("unknown channel", field="channel"))
    back = form_text(form, "version_id")
    await flow_svc.do_deactivate(uow, channel)
    await uow.commit()
    # ASCII digits only: "²".isdigit() is true, and int("²") fails after the commit.
    return see_other(f"{FLOWS}/versions/{back}" if re.fullmatch(r"[0-9]{1,18}", back) else FLOWS)


# --- knowledge base ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ArticleDraft:
    """An article as the form holds it (shown again, as typed, when it is refused)."""

    intent: str = ""
    kind: str = kb_svc.KIND_ANSWER
    title: dict[str, str] = field(default_factory=dict)
    answer: dict[str, str] = field(default_factory=dict)
    questions: dict[str, list[str]] = field(default_factory=dict)
    hands_off: bool = False
    #: The saved article this form was opened on (its last save's time): a save over a later
    #: one is refused, or the first of two admins editing at once lost their edit unseen.
    seen: str = ""

    @classmethod
    def of(cls, row: KnowledgeArticle) -> ArticleDraft:
        return cls(
            row.intent,
            row.kind,
            dict(row.title),
            dict(row.answer),
            dict(row.questions),
            row.hands_off,
            saved_version(row),
        )

    @classmethod
    def from_form(cls, form: FormData, intent: str) -> ArticleDraft:
        return cls(
            intent=intent.strip(),
            kind=form_text(form, "kind") or kb_svc.KIND_ANSWER,
            title={lang: form_text(form, f"title.{lang}") for lang in FLOW_LANGUAGES},
            answer={lang: form_text(form, f"answer.{lang}") for lang in FLOW_LANGUAGES},
            questions={lang: form_text(form, f"questions.{lang}").splitlines() for lang in FLOW_LANGUAGES},
            hands_off=form_text(form, "hands_off") == "true",
            seen=form_text(form, "seen"),
        )

    async def save(self, uow: UnitOfWork, user_id: int) -> KnowledgeArticle:
        return await kb_svc.do_save_article(
            uow,
            self.intent,
            title=self.title,
            answer=self.answer,
            questions=self.questions,
            kind=self.kind,
            hands_off=self.hands_off,
            user_id=user_id,
        )


async def article_page(
    request: Request,
    uow: UnitOfWork,
    principal: Principal,
    draft: ArticleDraft,
    *,
    new: bool,
    error: DomainError | None = None,
) -> HTMLResponse:
    return await page(
        request,
        uow,
        principal,
        "console/knowledge_article.html",
        status_for(error) if error else 200,
        article=draft,
        new=new,
        error=error,
        flow_languages=FLOW_LANGUAGES,
        kinds=(kb_svc.KIND_ANSWER, kb_svc.KIND_OUT_OF_SCOPE),
    )


@knowledge.get("", response_class=HTMLResponse)
async def knowledge_page(request: Request, uow: Uow, principal: Supervisor) -> Response:
    return await page(
        request,
        uow,
        principal,
        "console/knowledge.html",
        articles=await kb_svc.list_articles(uow),
        flow_languages=FLOW_LANGUAGES,
        learning=await bot_learning_status(uow, container(request).knowledge_revisions),
        poll=0,
        max_polls=MAX_LEARNING_POLLS,
    )


#: The notice stops asking after this many looks (ten minutes): a page left open all day, with
#: no worker running, would otherwise ask for ever. Reloading the page starts again.
MAX_LEARNING_POLLS = 200


@knowledge.get("/learning", response_class=HTMLResponse)
async def learning_fragment(
    request: Request,
    uow: Uow,
    principal: Supervisor,
    poll: Annotated[int, Query(ge=0, le=MAX_LEARNING_POLLS)] = 0,
) -> Response:
    """The knowledge page's learning notice, polled by it until nothing more will change."""
    learning = await bot_learning_status(uow, container(request).knowledge_revisions)
    return render(
        request,
        principal,
        "console/_bot_learning.html",
        learning=learning,
        poll=poll,
        max_polls=MAX_LEARNING_POLLS,
    )


@knowledge.get("/new", response_class=HTMLResponse)
async def new_article_page(request: Request, uow: Uow, principal: Admin) -> Response:
    return await article_page(request, uow, principal, ArticleDraft(), new=True)


@knowledge.post("")
async def create_article(request: Request, uow: Uow, principal: Admin) -> Response:
    form = await request.form()
    draft = ArticleDraft.from_form(form, form_text(form, "intent"))
    try:
        if await uow.session.scalar(
            select(KnowledgeArticle.id).where(KnowledgeArticle.intent == draft.intent)
        ):
            raise Conflict("an article with this id exists: edit it instead", field="intent")
        await draft.save(uow, principal.user.id)
    except DomainError as exc:
        return await article_page(request, uow, principal, draft, new=True, error=exc)
    await uow.commit()
    return see_other(KNOWLEDGE)


@knowledge.get("/articles/{intent}", response_class=HTMLResponse)
async def edit_article_page(intent: str, request: Request, uow: Uow, principal: Supervisor) -> Response:
    try:
        row = await kb_svc.get_article(uow, intent)
    except DomainError as exc:
        return await problem_page(request, uow, principal, exc)
    return await article_page(request, uow, principal, ArticleDraft.of(row), new=False)


def saved_version(row: KnowledgeArticle) -> str:
    return row.updated_at.isoformat()


@knowledge.post("/articles/{intent}")
async def save_article(intent: str, request: Request, uow: Uow, principal: Admin) -> Response:
    try:
        row = await kb_svc.get_article(uow, intent)
    except NotFound as exc:
        return await problem_page(request, uow, principal, exc)
    draft = ArticleDraft.from_form(await request.form(), intent)
    if draft.seen and draft.seen != saved_version(row):  # a form from before this field: unchecked
        # Shown with this admin's text, now marked as seen the other save: saving again is
        # a choice to replace it, made knowing it is there.
        draft.seen = saved_version(row)
        edited = Conflict(
            "someone saved this article after you opened it: your text is below; save again to "
            "replace theirs, or reload the page to see it",
            field="intent",
        )
        return await article_page(request, uow, principal, draft, new=False, error=edited)
    try:
        await draft.save(uow, principal.user.id)
    except DomainError as exc:
        return await article_page(request, uow, principal, draft, new=False, error=exc)
    await uow.commit()
    return see_other(KNOWLEDGE)


@knowledge.post("/articles/{intent}/delete")
async def delete_article(intent: str, request: Request, uow: Uow, principal: Admin) -> Response:
    try:
        await kb_svc.do_delete_article(uow, intent)
    except DomainError as exc:
        return await problem_page(request, uow, principal, exc)
    await uow.commit()
    return see_other(KNOWLEDGE)


# --- the containment report -------------------------------------------------------------------------


def parse_day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError("'{day}' must be a date like 2026-11-23", field=name, day=name) from None


@report.get("", response_class=HTMLResponse)
async def report_page(
    request: Request,
    uow: Uow,
    principal: Supervisor,
    first: Annotated[str, Query(alias="from", max_length=10)] = "",
    last: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    try:
        period = report_svc.report_period(uow.now().date(), parse_day(first, "from"), parse_day(last, "to"))
    except DomainError as exc:
        return await problem_page(request, uow, principal, exc)
    return await page(
        request,
        uow,
        principal,
        "console/bot_report.html",
        report=await report_svc.bot_report(uow, period),
        handoff_reason_texts=await report_svc.handoff_reason_texts(uow, period),
        outcomes=report_svc.OUTCOMES,
        titles=await article_titles(uow, preview_language(principal, "")),
    )


async def article_titles(uow: UnitOfWork, language: str) -> dict[str, str]:
    """Each article's title in `language`, so a report names articles as people wrote them."""
    return {intent: localised(a.title, language) for intent, a in (await kb_articles(uow)).items()}


class Counted(BaseModel):
    key: str
    count: int


class ChannelReport(BaseModel):
    channel: str
    sessions: int
    outcomes: dict[str, int]
    containment: float | None


class BotReportOut(BaseModel):
    """Bot sessions started in [from, to] (whole UTC days) and how they ended."""

    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(serialization_alias="from")
    last: date = Field(serialization_alias="to")
    sessions: int
    #: Resolved without a person (answered_confirmed) as a share of all sessions; null with none.
    containment: float | None
    outcomes: dict[str, int]
    shares: dict[str, float | None]
    handoff_reasons: list[Counted]
    answered_articles: list[Counted]
    channels: list[ChannelReport]


def report_out(found: report_svc.BotReport) -> BotReportOut:
    return BotReportOut(
        first=found.period.first_day,
        last=found.period.last_day,
        sessions=found.sessions,
        containment=found.containment,
        outcomes=found.outcomes,
        shares={o: found.share(o) for o in report_svc.OUTCOMES},
        handoff_reasons=[Counted(key=c.key, count=c.count) for c in found.handoff_reasons],
        answered_articles=[Counted(key=c.key, count=c.count) for c in found.answered_articles],
        channels=[
            ChannelReport(
                channel=c.channel, sessions=c.sessions, outcomes=c.outcomes, containment=c.containment
            )
            for c in found.channels
        ],
    )


@api.get("/bot-sessions", response_model_by_alias=True)
async def bot_sessions_report(
    uow: Uow,
    first: Annotated[
        date | None, Query(alias="from", description="first day (UTC), default 6 days before `to`")
    ] = None,
    last: Annotated[date | None, Query(alias="to", description="last day (UTC), default today")] = None,
) -> BotReportOut:
    """Containment of the self-service bot: sessions by outcome, per channel, top handoff reasons
    and the articles it answered most (supervisors and admins)."""
    period = report_svc.report_period(uow.now().date(), first, last)
    return report_out(await report_svc.bot_report(uow, period))


for _sub in (flows, knowledge, report, api):
    router.include_router(_sub)
