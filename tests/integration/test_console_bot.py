"""Admins manage the self-service bot in the console: flows (validate, upload, preview, activate),
the knowledge base, and supervisors read the containment report (page and JSON API)."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import delete, func, select, update

import helpline.flows
from helpline.bootstrap import Container
from helpline.bot.faq_bot import BotBrain
from helpline.domain.users import Role
from helpline.services.flows import do_activate, do_upload_flow
from helpline.services.knowledge import do_save_article
from helpline.services.users import do_create_team
from helpline.storage.models import (
    BotSession,
    ChannelAccount,
    Contact,
    Conversation,
    Flow,
    FlowActivation,
    FlowVersion,
    KnowledgeArticle,
    User,
)
from tests.integration.conftest import PASSWORD, MakeStaff, Staff

LOTTERY = Path(helpline.flows.__file__).parent / "examples" / "lottery.yaml"
XSS = "<script>alert(1)</script>"

TINY_FLOW = f"""\
name: Tiny
start: main
nodes:
  main:
    prompt: {{ru: "Привет <b>", en: "Hello <b>", ar: "مرحبا بك <b>"}}
    options:
      - digit: 1
        label: {{ru: "{XSS}", en: "{XSS}", ar: "{XSS}"}}
        answer: tiny_answer
      - digit: "*"
        label: {{ru: "Ещё раз", en: "Again", ar: "مرة أخرى"}}
        next: main
      - digit: 0
        label: {{ru: "Оператор", en: "Operator", ar: "موظف"}}
        handoff: {{reason: "operator wanted", queue: "Billing"}}
"""


async def sign_in(client: httpx.AsyncClient, email: str) -> str:
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["csrf_token"])


async def reads_russian(container: Container, user_id: int) -> None:
    async with container.uow() as uow:
        await uow.session.execute(update(User).where(User.id == user_id).values(ui_language="ru"))
        await uow.commit()


def answer_intents(source: str) -> set[str]:
    data = yaml.safe_load(source)
    found = set()
    for node in data["nodes"].values():
        for step in [*node.get("options", []), node.get("collect") or {}]:
            if "answer" in step:
                found.add(step["answer"])
    return found


async def seed_articles(container: Container, intents: set[str]) -> None:
    async with container.uow() as uow:
        for intent in sorted(intents):
            words = intent.replace("_", " ")
            await do_save_article(
                uow,
                intent,
                title={"ru": f"Статья {words}", "en": words.capitalize(), "ar": f"مقالة {words}"},
                answer={"en": f"The answer about {words}."},
                questions={"en": [f"a question about {words}"]},
            )
        await uow.commit()


async def lottery_admin(
    container: Container, make_staff: MakeStaff, *, russian: bool = False, name: str | None = None
) -> tuple[str, Staff]:
    """The demo flow's source, its articles in the knowledge base, and an admin (reading Russian)."""
    source = LOTTERY.read_text(encoding="utf-8")
    await seed_articles(container, answer_intents(source))
    admin = await make_staff(Role.ADMIN, name=name)
    if russian:
        await reads_russian(container, admin.id)
    return source, admin


async def count(container: Container, model: Any) -> int:
    async with container.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_admin_validates_uploads_previews_and_activates_the_demo_flow(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    source, admin = await lottery_admin(container, make_staff, name="Alice Admin")
    csrf = await sign_in(client, admin.email)

    page = await client.get("/console/admin/flows")
    assert page.status_code == 200
    assert 'href="/console/admin/flows"' in page.text  # the nav link
    assert "No flows uploaded yet." in page.text

    # Validating shows the verdict and stores nothing.
    checked = await client.post("/console/admin/flows/validate", data={"csrf_token": csrf, "source": source})
    assert checked.status_code == 200
    assert "The flow is valid" in checked.text
    assert "Lottery support" in checked.text
    assert await count(container, Flow) == 0
    assert await count(container, FlowVersion) == 0

    # Upload as a file.
    uploaded = await client.post(
        "/console/admin/flows",
        data={"csrf_token": csrf, "source": ""},
        files={"file": ("lottery.yaml", source.encode("utf-8"), "application/x-yaml")},
    )
    assert uploaded.status_code == 303, uploaded.text
    match = re.fullmatch(r"/console/admin/flows/versions/(\d+)", uploaded.headers["location"])
    assert match
    version_id = int(match.group(1))

    listing = await client.get("/console/admin/flows")
    assert "Lottery support" in listing.text
    assert f'href="/console/admin/flows/versions/{version_id}">v1<' in listing.text
    assert "Alice Admin" in listing.text

    # The preview in English: buttons with digits, where each leads, and the phone's reading.
    en = await client.get(f"/console/admin/flows/versions/{version_id}?lang=en")
    assert en.status_code == 200
    assert 'dir="ltr"' in en.text
    assert "Hello! I&#39;m the support bot." in en.text
    assert "<kbd>1</kbd>Draws and results" in en.text
    assert 'href="#node-draws"' in en.text
    assert 'href="/console/admin/knowledge/articles/next_draw_schedule"' in en.text
    assert "asked for an operator from the main menu" in en.text
    assert "<code>order_number</code>" in en.text
    assert (
        "<code>phone</code> (a phone number; Telegram and Viber show a “Share my number” button)" in en.text
    )
    assert "Deliveries" in en.text
    # No team is called "Deliveries" yet: the preview says where those customers would wait.
    no_team = "no team has this name: these customers wait in the channel&#39;s inbox"
    assert en.text.count(no_team) == 1
    async with container.uow() as uow:
        await do_create_team(uow, "Deliveries")
        await uow.commit()
    assert no_team not in (await client.get(f"/console/admin/flows/versions/{version_id}?lang=en")).text
    assert "For Draws and results, press 1. " in en.text
    assert "For Operator, press 0." in en.text
    name_line = source.splitlines().index("name: Lottery support") + 1
    assert f'<li id="L{name_line}">name: Lottery support</li>' in en.text  # the source, numbered

    # In Arabic the preview is right to left.
    ar = await client.get(f"/console/admin/flows/versions/{version_id}?lang=ar")
    assert 'class="flow-preview" lang="ar" dir="rtl"' in ar.text
    assert "مرحبًا! أنا بوت خدمة العملاء." in ar.text
    assert "لاختيار «موظف» اضغط 0." in ar.text
    ru = await client.get(f"/console/admin/flows/versions/{version_id}?lang=ru")
    assert "Оператор — нажмите 0." in ru.text
    # A hand-off's reason written per language is previewed in the preview's language.
    assert "попросил оператора в главном меню" in ru.text
    assert ru.text.count("asked for an operator from the main menu") == 1  # in the numbered source only
    assert "طلب موظفًا من القائمة الرئيسية" in ar.text

    # Activate on the web chat.
    activated = await client.post(
        f"/console/admin/flows/versions/{version_id}/activate",
        data={"csrf_token": csrf, "channels": ["webchat"]},
    )
    assert activated.status_code == 303
    async with container.uow() as uow:
        rows = list(await uow.session.scalars(select(FlowActivation)))
    assert [(r.channel, r.flow_version_id, r.activated_by_id) for r in rows] == [
        ("webchat", version_id, admin.id)
    ]
    listing = await client.get("/console/admin/flows")
    assert re.search(r'data-channel="webchat">.*?Lottery support v1', listing.text, re.S)

    # E-mail is not a channel a flow can greet: refused, nothing changes.
    refused = await client.post(
        f"/console/admin/flows/versions/{version_id}/activate",
        data={"csrf_token": csrf, "channels": ["email"]},
    )
    assert refused.status_code == 422
    assert await count(container, FlowActivation) == 1
    missing = await client.post(
        "/console/admin/flows/versions/999999/activate", data={"csrf_token": csrf, "channels": ["webchat"]}
    )
    assert missing.status_code == 404

    # A second upload (pasted this time) is version 2 of the same flow.
    again = await client.post("/console/admin/flows", data={"csrf_token": csrf, "source": source})
    assert again.status_code == 303
    assert await count(container, Flow) == 1
    assert await count(container, FlowVersion) == 2

    deactivated = await client.post(
        "/console/admin/flows/deactivate",
        data={"csrf_token": csrf, "channel": "webchat", "version_id": str(version_id)},
    )
    assert deactivated.status_code == 303
    assert deactivated.headers["location"] == f"/console/admin/flows/versions/{version_id}"
    assert await count(container, FlowActivation) == 0
    superscript = await client.post(  # "²".isdigit() is true, int("²") is not a number
        "/console/admin/flows/deactivate",
        data={"csrf_token": csrf, "channel": "webchat", "version_id": "²"},
    )
    assert superscript.status_code == 303
    assert superscript.headers["location"] == "/console/admin/flows"

    # Without the CSRF token nothing is done.
    forged = await client.post(
        f"/console/admin/flows/versions/{version_id}/activate", data={"channels": "webchat"}
    )
    assert forged.status_code == 403
    assert await count(container, FlowActivation) == 0


def without_operator(source: str, node: str) -> tuple[str, int]:
    """`source` with the operator option of `node` removed, and the line the problem points at."""
    lines = source.splitlines()
    start = lines.index(f"  {node}:")
    options = next(i for i in range(start, len(lines)) if lines[i].strip() == "options:")
    digit0 = next(i for i in range(options, len(lines)) if lines[i].strip() == "- digit: 0")
    end = next(i for i in range(digit0 + 1, len(lines)) if not lines[i].startswith(" " * 8))
    del lines[digit0:end]
    return "\n".join(lines) + "\n", options + 1


async def test_a_flow_without_the_way_to_an_operator_is_refused_with_its_line(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    source, admin = await lottery_admin(container, make_staff)
    csrf = await sign_in(client, admin.email)
    broken, line = without_operator(source, "draws")

    refused = await client.post("/console/admin/flows", data={"csrf_token": csrf, "source": broken})
    assert refused.status_code == 422
    assert "The flow was not stored" in refused.text
    assert (
        f'<a href="#L{line}">line {line}</a>: node &#39;draws&#39; has no way to an operator' in refused.text
    )
    assert f'<li id="L{line}">    options:</li>' in refused.text
    assert await count(container, Flow) == 0
    assert await count(container, FlowVersion) == 0

    checked = await client.post("/console/admin/flows/validate", data={"csrf_token": csrf, "source": broken})
    assert checked.status_code == 200
    assert "The flow has problems" in checked.text
    assert f"line {line}</a>: node &#39;draws&#39; has no way to an operator" in checked.text
    assert await count(container, FlowVersion) == 0

    # An answer without its article, a file too large, a file that is not text: refused too.
    no_article = await client.post("/console/admin/flows", data={"csrf_token": csrf, "source": TINY_FLOW})
    assert no_article.status_code == 422
    assert "the knowledge base has no article &#39;tiny_answer&#39;" in no_article.text
    too_big = await client.post(
        "/console/admin/flows",
        data={"csrf_token": csrf},
        files={"file": ("big.yaml", b"#" * (256 * 1024 + 1), "application/x-yaml")},
    )
    assert too_big.status_code == 422
    assert "larger than 256 KiB" in too_big.text
    binary = await client.post(
        "/console/admin/flows",
        data={"csrf_token": csrf},
        files={"file": ("x.yaml", b"\xff\xfe\x00bad", "application/x-yaml")},
    )
    assert binary.status_code == 422
    assert "not UTF-8" in binary.text
    assert await count(container, FlowVersion) == 0


async def test_a_version_no_longer_valid_is_refused_on_its_own_page_with_each_problem_translated(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    """Activating a version whose article was deleted since said only «line 47: the knowledge base
    has no article …» in English, on an error page."""
    source, admin = await lottery_admin(container, make_staff, russian=True)
    async with container.uow() as uow:
        version = await do_upload_flow(uow, source, admin.id)
        await uow.session.execute(delete(KnowledgeArticle).where(KnowledgeArticle.intent == "check_ticket"))
        await uow.commit()
    csrf = await sign_in(client, admin.email)
    refused = await client.post(
        f"/console/admin/flows/versions/{version.id}/activate",
        data={"csrf_token": csrf, "channels": ["telegram"]},
    )
    assert refused.status_code == 422
    assert "Эту версию сейчас нельзя включить" in refused.text
    assert "в базе знаний нет статьи" in refused.text
    assert "the knowledge base has no article" not in refused.text
    assert 'class="flow-preview"' in refused.text  # its page, with the preview and the activation form
    assert await count(container, FlowActivation) == 0


async def test_a_russian_console_reads_a_flows_problems_in_russian(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    source, admin = await lottery_admin(container, make_staff, russian=True)
    csrf = await sign_in(client, admin.email)
    broken, line = without_operator(source, "draws")

    checked = await client.post("/console/admin/flows/validate", data={"csrf_token": csrf, "source": broken})
    assert f"строка {line}</a>: в узле «draws» нет пути к оператору" in checked.text
    assert "has no way to an operator" not in checked.text

    # A JSON Schema problem: the place stays as written, the reason is Russian; languages named.
    no_arabic = TINY_FLOW.replace(', ar: "مرحبا بك <b>"', "")
    shape = await client.post("/console/admin/flows/validate", data={"csrf_token": csrf, "source": no_arabic})
    assert '<code dir="ltr">nodes/main/prompt</code>: здесь обязателен ключ «ar»' in shape.text
    empty_ru = TINY_FLOW.replace('ru: "Ещё раз"', 'ru: " "')
    text = await client.post("/console/admin/flows/validate", data={"csrf_token": csrf, "source": empty_ru})
    assert "нет текста на языке «Русский»" in text.text


async def test_the_preview_escapes_what_admins_wrote(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    await seed_articles(container, {"tiny_answer"})
    admin = await make_staff(Role.ADMIN)
    csrf = await sign_in(client, admin.email)
    uploaded = await client.post("/console/admin/flows", data={"csrf_token": csrf, "source": TINY_FLOW})
    assert uploaded.status_code == 303, uploaded.text
    for lang in ("ar", "en", "ru"):
        page = await client.get(uploaded.headers["location"] + f"?lang={lang}")
        assert page.status_code == 200
        assert XSS not in page.text
        assert "<b>" not in page.text
        assert "<kbd>1</kbd>&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    ar = await client.get(uploaded.headers["location"] + "?lang=ar")
    assert 'class="flow-preview" lang="ar" dir="rtl"' in ar.text
    assert "مرحبا بك &lt;b&gt;" in ar.text
    assert "لاختيار «مرة أخرى» اضغط النجمة." in ar.text  # "*" is read as a word
    assert "Billing" in ar.text
    assert "operator wanted" in ar.text

    # An article deleted after the upload: the preview says so, and activation is refused.
    async with container.uow() as uow:
        row = await uow.session.scalar(select(KnowledgeArticle))
        assert row is not None
        await uow.session.delete(row)
        await uow.commit()
    en = await client.get(uploaded.headers["location"] + "?lang=en")
    assert "This version cannot be activated now" in en.text
    assert "missing from the knowledge base" in en.text
    version_id = uploaded.headers["location"].rsplit("/", 1)[1]
    refused = await client.post(
        f"/console/admin/flows/versions/{version_id}/activate",
        data={"csrf_token": csrf, "channels": ["telegram"]},
    )
    assert refused.status_code == 422
    assert await count(container, FlowActivation) == 0


ADMIN_GETS = ["/console/admin/flows", "/console/admin/flows/versions/1", "/console/admin/knowledge/new"]
ADMIN_POSTS = [
    "/console/admin/flows",
    "/console/admin/flows/validate",
    "/console/admin/flows/versions/1/activate",
    "/console/admin/flows/deactivate",
    "/console/admin/knowledge",
    "/console/admin/knowledge/articles/faq/delete",
    "/console/admin/knowledge/articles/faq",
]
SUPERVISOR_GETS = [
    "/console/admin/knowledge",
    "/console/admin/knowledge/articles/faq",
    "/console/reports/bot",
]


async def test_agents_are_refused_and_supervisors_only_read(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    await seed_articles(container, {"faq"})
    agent = await make_staff(Role.AGENT)
    csrf = await sign_in(client, agent.email)
    for path in ADMIN_GETS + SUPERVISOR_GETS:
        assert (await client.get(path)).status_code == 403, path
    for path in ADMIN_POSTS:
        answer = await client.post(path, data={"csrf_token": csrf, "channel": "webchat", "source": "x"})
        assert answer.status_code == 403, path
    assert (await client.get("/api/v1/reports/bot-sessions", headers=agent.headers)).status_code == 403
    console = await client.get("/console")
    for link in ("/console/admin/flows", "/console/admin/knowledge", "/console/reports/bot"):
        assert link not in console.text

    supervisor = await make_staff(Role.SUPERVISOR)
    csrf = await sign_in(client, supervisor.email)
    for path in ADMIN_GETS:
        assert (await client.get(path)).status_code == 403, path
    for path in ADMIN_POSTS:
        answer = await client.post(path, data={"csrf_token": csrf, "intent": "faq", "kind": "answer"})
        assert answer.status_code == 403, path
    for path in SUPERVISOR_GETS:
        assert (await client.get(path)).status_code == 200, path
    article = await client.get("/console/admin/knowledge/articles/faq")
    assert "readonly" in article.text
    assert "/delete" not in article.text
    console = await client.get("/console")
    assert "/console/admin/knowledge" in console.text
    assert "/console/reports/bot" in console.text
    assert "/console/admin/flows" not in console.text
    assert await count(container, KnowledgeArticle) == 1


def article_form(csrf: str, **overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "kind": "answer",
        "title.ru": "Когда тираж",
        "title.en": "When is the draw",
        "title.ar": "موعد السحب",
        "answer.ru": "Каждый день в 21:00.",
        "answer.en": "Every day at 9 pm.",
        "answer.ar": "كل يوم الساعة 9 مساءً.",
        "questions.ru": "когда тираж\r\nво сколько розыгрыш\r\n",
        "questions.en": "when is the draw",
        "questions.ar": "متى السحب",
    }
    return {**form, **overrides}


async def test_knowledge_articles_round_trip(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    admin = await make_staff(Role.ADMIN)
    csrf = await sign_in(client, admin.email)
    assert "No articles yet." in (await client.get("/console/admin/knowledge")).text
    assert (await client.get("/console/admin/knowledge/new")).status_code == 200

    bad = await client.post("/console/admin/knowledge", data=article_form(csrf, intent="Bad Id!"))
    assert bad.status_code == 422
    assert "the id is lower-case letters, digits and _" in bad.text
    assert 'value="Bad Id!"' in bad.text  # the form comes back as typed
    assert await count(container, KnowledgeArticle) == 0

    created = await client.post(
        "/console/admin/knowledge", data=article_form(csrf, intent="draw_time", **{"title.en": XSS})
    )
    assert created.status_code == 303
    async with container.uow() as uow:
        row = await uow.session.scalar(select(KnowledgeArticle))
    assert row is not None
    assert row.questions == {
        "ru": ["когда тираж", "во сколько розыгрыш"],
        "en": ["when is the draw"],
        "ar": ["متى السحب"],
    }
    assert (row.kind, row.hands_off, row.updated_by_id) == ("answer", False, admin.id)

    listing = await client.get("/console/admin/knowledge")
    assert 'data-intent="draw_time"' in listing.text
    assert "ru: 2, en: 1, ar: 1" in listing.text
    assert XSS not in listing.text
    assert "&lt;script&gt;" in listing.text
    page = await client.get("/console/admin/knowledge/articles/draw_time")
    assert XSS not in page.text
    assert "когда тираж\nво сколько розыгрыш</textarea>" in page.text

    duplicate = await client.post("/console/admin/knowledge", data=article_form(csrf, intent="draw_time"))
    assert duplicate.status_code == 409

    edited = await client.post(
        "/console/admin/knowledge/articles/draw_time",
        data=article_form(
            csrf, **{"answer.en": "Every day at 10 pm.", "hands_off": "true", "questions.ar": ""}
        ),
    )
    assert edited.status_code == 303
    async with container.uow() as uow:
        row = await uow.session.scalar(select(KnowledgeArticle))
    assert row is not None
    assert (row.answer["en"], row.hands_off, "ar" in row.questions) == ("Every day at 10 pm.", True, False)

    emptied = await client.post(
        "/console/admin/knowledge/articles/draw_time",
        data=article_form(csrf, **{"questions.ru": "", "questions.en": " ", "questions.ar": ""}),
    )
    assert emptied.status_code == 422
    assert "add at least one question" in emptied.text
    async with container.uow() as uow:
        row = await uow.session.scalar(select(KnowledgeArticle))
    assert row is not None
    assert row.answer["en"] == "Every day at 10 pm."

    assert (
        await client.post("/console/admin/knowledge/articles/nope", data=article_form(csrf))
    ).status_code == 404
    deleted = await client.post(
        "/console/admin/knowledge/articles/draw_time/delete", data={"csrf_token": csrf}
    )
    assert deleted.status_code == 303
    assert await count(container, KnowledgeArticle) == 0
    again = await client.post("/console/admin/knowledge/articles/draw_time/delete", data={"csrf_token": csrf})
    assert again.status_code == 404


async def test_a_save_over_another_admins_later_save_is_refused_with_the_text_kept(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    """Two admins open one article; the second to save silently erased the first one's edit."""
    admin = await make_staff(Role.ADMIN)
    csrf = await sign_in(client, admin.email)
    created = await client.post("/console/admin/knowledge", data=article_form(csrf, intent="draw_time"))
    assert created.status_code == 303
    page = (await client.get("/console/admin/knowledge/articles/draw_time")).text
    seen = re.search(r'name="seen" value="([^"]+)"', page)
    assert seen is not None
    first = article_form(csrf, seen=seen.group(1), **{"answer.en": "At 9 pm, and at noon on Sundays."})
    assert (await client.post("/console/admin/knowledge/articles/draw_time", data=first)).status_code == 303

    stale = article_form(csrf, seen=seen.group(1), **{"questions.ar": "متى السحب\nموعد السحب اليوم"})
    refused = await client.post("/console/admin/knowledge/articles/draw_time", data=stale)
    assert refused.status_code == 409
    assert "someone saved this article after you opened it" in refused.text
    assert "موعد السحب اليوم" in refused.text  # the second admin's text is not lost either
    async with container.uow() as uow:
        row = await uow.session.scalar(select(KnowledgeArticle))
    assert row is not None
    assert row.answer["en"] == "At 9 pm, and at noon on Sundays."

    again = re.search(r'name="seen" value="([^"]+)"', refused.text)
    assert again is not None
    assert again.group(1) != seen.group(1)
    chosen = {**stale, "seen": again.group(1)}  # saving again replaces it, knowingly
    assert (await client.post("/console/admin/knowledge/articles/draw_time", data=chosen)).status_code == 303


STOCK_NOTICE = "This base has no out-of-scope questions of its own."


async def test_the_knowledge_page_says_when_the_bot_learns_the_stock_off_topic_questions(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    admin = await make_staff(Role.ADMIN)
    csrf = await sign_in(client, admin.email)
    assert STOCK_NOTICE not in (await client.get("/console/admin/knowledge")).text  # nothing to learn yet
    await client.post("/console/admin/knowledge", data=article_form(csrf, intent="draw_time"))
    assert STOCK_NOTICE in (await client.get("/console/admin/knowledge")).text
    own = article_form(csrf, intent="off_topic", kind="out_of_scope", **{"questions.en": "sing me a song"})
    assert (await client.post("/console/admin/knowledge", data=own)).status_code == 303
    assert STOCK_NOTICE not in (await client.get("/console/admin/knowledge")).text


LEARNING_NOTICE = re.compile(r'<div id="bot-learning"[^>]*>', re.S)


def learning_notice(page: str) -> str:
    found = LEARNING_NOTICE.search(page)
    assert found is not None, "no learning notice"
    return page[found.start() : page.index("</div>", found.end())]


async def test_the_knowledge_page_tells_when_customers_get_an_edit(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    admin = await make_staff(Role.ADMIN)
    csrf = await sign_in(client, admin.email)
    await client.post("/console/admin/knowledge", data=article_form(csrf, intent="draw_time"))
    refund = article_form(csrf, intent="refund", **{"questions.en": "how do I get my money back"})
    assert (await client.post("/console/admin/knowledge", data=refund)).status_code == 303

    waiting = learning_notice((await client.get("/console/admin/knowledge")).text)
    assert "will be learnt in a few seconds" in waiting
    assert 'hx-get="/console/admin/knowledge/learning?poll=1"' in waiting  # the page keeps looking

    await container.bot_brain.get(container.uow)  # the worker's check trains it
    learnt = learning_notice((await client.get("/console/admin/knowledge/learning")).text)
    assert "The bot answers with every change" in learnt
    assert "hx-trigger" not in learnt  # settled: the page stops looking

    edit = article_form(csrf, intent="refund", **{"answer.en": "Refunds take 5 days."})
    assert (await client.post("/console/admin/knowledge/articles/refund", data=edit)).status_code == 303
    again = learning_notice((await client.get("/console/admin/knowledge/learning")).text)
    assert "will be learnt in a few seconds" in again
    assert "customers get the answers learnt" in again  # the version before still answers
    assert 'hx-get="/console/admin/knowledge/learning?poll=1"' in again
    # A page left open with no worker to learn stops asking after ten minutes.
    last = learning_notice((await client.get("/console/admin/knowledge/learning?poll=200")).text)
    assert "will be learnt in a few seconds" in last
    assert "hx-trigger" not in last


async def test_a_failed_learning_is_shown_escaped_and_in_the_consoles_language(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    admin = await make_staff(Role.ADMIN)
    csrf = await sign_in(client, admin.email)
    await reads_russian(container, admin.id)
    await client.post("/console/admin/knowledge", data=article_form(csrf, intent="draw_time"))
    await client.post("/console/admin/knowledge", data=article_form(csrf, intent="refund"))

    def cannot_learn(questions: Any) -> Any:
        raise ValueError(f"article {XSS} has no questions")

    brain = BotBrain(cannot_learn)
    with contextlib.suppress(ValueError):
        await brain.get(container.uow)

    shown = learning_notice((await client.get("/console/admin/knowledge/learning")).text)
    assert "Бот не смог изучить последние изменения: ValueError: article" in shown
    assert XSS not in shown
    assert "&lt;script&gt;" in shown
    assert "hx-trigger" not in shown


async def test_only_supervisors_read_the_bots_learning(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    agent = await make_staff(Role.AGENT)
    await sign_in(client, agent.email)
    assert (await client.get("/console/admin/knowledge/learning")).status_code == 403
    supervisor = await make_staff(Role.SUPERVISOR)
    await sign_in(client, supervisor.email)
    assert (await client.get("/console/admin/knowledge/learning")).status_code == 200


async def seed_sessions(container: Container, now: datetime) -> None:
    async with container.uow() as uow:
        account = ChannelAccount(channel="webchat", name="site", config={}, created_at=now)
        contact = Contact(created_at=now, updated_at=now)
        uow.session.add_all([account, contact])
        await uow.session.flush()
        conv = Conversation(
            channel_account_id=account.id,
            channel="webchat",
            contact_id=contact.id,
            status="open",
            created_at=now,
            updated_at=now,
            last_message_at=now,
        )
        uow.session.add(conv)
        await uow.session.flush()

        def session(
            channel: str,
            outcome: str | None,
            answered: list[str],
            reason: str | None = None,
            started: datetime = now - timedelta(hours=1),
        ) -> BotSession:
            return BotSession(
                conversation_id=conv.id,
                channel=channel,
                status="ended" if outcome else "active",
                state={},
                outcome=outcome,
                handoff_reason=reason,
                answered=answered,
                started_at=started,
                last_activity_at=started,
                ended_at=started if outcome else None,
            )

        uow.session.add_all(
            [
                session("webchat", "answered_confirmed", ["next_draw_schedule"]),
                session("webchat", "answered_confirmed", ["draw_results", "next_draw_schedule"]),
                session("telegram", "answered_confirmed", ["next_draw_schedule", "draw_results"]),
                session("telegram", "handed_off", ["check_ticket"], "the bot was not sure of the answer"),
                session("webchat", "abandoned", []),
                # A month ago: outside the default period.
                session(
                    "webchat", "handed_off", [], "customer asked for an operator", now - timedelta(days=30)
                ),
            ]
        )
        await uow.commit()


async def test_tickets_are_not_listed_among_the_reasons_for_hand_offs(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    """Each ticket's session keeps "ticket #N" as its reason: the report listed every ticket as a
    hand-off reason of its own, beside the tickets' own count."""
    now = datetime.now(UTC)
    await seed_sessions(container, now)
    async with container.uow() as uow:
        conv_id = await uow.session.scalar(select(func.min(Conversation.id)))
        for n in (7, 8):
            uow.session.add(
                BotSession(
                    conversation_id=conv_id,
                    channel="webchat",
                    status="ended",
                    state={},
                    outcome="ticket_created",
                    handoff_reason=f"ticket #{n}",
                    answered=[],
                    started_at=now - timedelta(hours=1),
                    last_activity_at=now - timedelta(hours=1),
                    ended_at=now - timedelta(hours=1),
                )
            )
        await uow.commit()
    supervisor = await make_staff(Role.SUPERVISOR)
    body = (await client.get("/api/v1/reports/bot-sessions", headers=supervisor.headers)).json()
    assert body["outcomes"]["ticket_created"] == 2
    assert body["handoff_reasons"] == [{"key": "the bot was not sure of the answer", "count": 1}]


async def test_the_bot_report_counts_sessions_by_outcome(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    now = datetime.now(UTC)
    await seed_sessions(container, now)
    await seed_articles(container, {"next_draw_schedule"})
    supervisor = await make_staff(Role.SUPERVISOR)
    await sign_in(client, supervisor.email)

    page = await client.get("/console/reports/bot")
    assert page.status_code == 200
    assert 'data-sessions="5"' in page.text
    assert 'data-containment="0.6"' in page.text
    assert "60%" in page.text
    assert re.search(r'data-outcome="handed_off"><td>[^<]+</td><td>1</td>.*?20%', page.text, re.S)
    assert re.search(r'data-channel="webchat">.*?<td>3</td>.*?67%', page.text, re.S)
    assert "the bot was not sure of the answer" in page.text
    assert "customer asked for an operator" not in page.text
    assert re.search(r'data-intent="next_draw_schedule">.*?<td>3</td>', page.text, re.S)
    # Articles are named by their titles (in the reader's language); a deleted one by its id.
    assert re.search(r'data-intent="next_draw_schedule">.*?Next draw schedule', page.text, re.S)
    assert re.search(r'data-intent="draw_results"><td><a [^>]+><code>draw_results</code>', page.text)

    api = await client.get("/api/v1/reports/bot-sessions", headers=supervisor.headers)
    assert api.status_code == 200
    body = api.json()
    assert body["to"] == now.date().isoformat()
    assert body["from"] == (now.date() - timedelta(days=6)).isoformat()
    assert (body["sessions"], body["containment"]) == (5, 0.6)
    assert body["outcomes"] == {
        "answered_confirmed": 3,
        "handed_off": 1,
        "ticket_created": 0,
        "abandoned": 1,
        "active": 0,
    }
    assert body["shares"]["abandoned"] == 0.2
    assert body["handoff_reasons"] == [{"key": "the bot was not sure of the answer", "count": 1}]
    assert body["answered_articles"] == [
        {"key": "next_draw_schedule", "count": 3},
        {"key": "draw_results", "count": 2},
        {"key": "check_ticket", "count": 1},
    ]
    channels = {c["channel"]: c for c in body["channels"]}
    assert (channels["webchat"]["sessions"], channels["webchat"]["containment"]) == (3, 2 / 3)
    assert (channels["telegram"]["sessions"], channels["telegram"]["containment"]) == (2, 0.5)

    # A chosen period: only the session of a month ago.
    month_ago = (now - timedelta(days=30)).date()
    old = await client.get(
        "/api/v1/reports/bot-sessions",
        params={"from": (month_ago - timedelta(days=1)).isoformat(), "to": month_ago.isoformat()},
        headers=supervisor.headers,
    )
    assert (old.json()["sessions"], old.json()["containment"]) == (1, 0.0)
    assert old.json()["handoff_reasons"] == [{"key": "customer asked for an operator", "count": 1}]
    page = await client.get(
        "/console/reports/bot", params={"from": month_ago.isoformat(), "to": month_ago.isoformat()}
    )
    assert 'data-sessions="1"' in page.text
    empty = await client.get("/console/reports/bot", params={"from": "2001-01-01", "to": "2001-01-02"})
    assert 'data-sessions="0"' in empty.text
    assert "No bot sessions in this period." in empty.text

    backwards = await client.get(
        "/api/v1/reports/bot-sessions",
        params={"from": "2026-02-01", "to": "2026-01-01"},
        headers=supervisor.headers,
    )
    assert backwards.status_code == 422
    assert (await client.get("/console/reports/bot", params={"from": "soon"})).status_code == 422
    # The calendar's edges are refused, not overflowed.
    for edge in ({"to": "9999-12-31"}, {"from": "9999-12-31"}, {"to": "0001-01-03"}):
        far = await client.get("/api/v1/reports/bot-sessions", params=edge, headers=supervisor.headers)
        assert far.status_code == 422, edge
        assert (await client.get("/console/reports/bot", params=edge)).status_code == 422, edge


async def test_refusals_read_in_the_consoles_language_with_their_channels_named(
    client: httpx.AsyncClient, make_staff: MakeStaff, container: Container
) -> None:
    source, admin = await lottery_admin(container, make_staff, russian=True)
    async with container.uow() as uow:
        version = await do_upload_flow(uow, source, admin.id)
        await do_activate(uow, version.id, ["webchat", "telegram"], admin.id)
        await uow.commit()
    csrf = await sign_in(client, admin.email)

    refused = await client.post(
        "/console/admin/knowledge/articles/next_draw_schedule/delete", data={"csrf_token": csrf}
    )
    assert refused.status_code == 409
    assert (
        "активный сценарий в каналах Telegram, Веб-чат отвечает этой статьёй: сначала измените сценарий"
        in refused.text
    )
    period = await client.get("/console/reports/bot?from=2026-11-10&to=2026-11-01")
    assert "период начинается позже, чем заканчивается" in period.text
    # The API keeps the English text, for programs.
    wrong_way = "/api/v1/reports/bot-sessions?from=2026-11-10&to=2026-11-01"
    api = await client.get(wrong_way, headers=admin.headers)
    assert api.status_code == 422
    assert "the period starts after it ends" in api.text
