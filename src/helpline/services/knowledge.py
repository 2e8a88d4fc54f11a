"""The FAQ knowledge base in storage: articles with their questions and answers per language.

The bot's classifier is trained from these questions; the revision (a digest of everything a
snapshot holds) tells every process when its trained copy is stale.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from helpline.domain.errors import Conflict, DomainError, NotFound
from helpline.domain.flows.model import FLOW_LANGUAGES
from helpline.domain.flows.runtime import Article
from helpline.domain.text import unstorable_reason
from helpline.flows.loader import flow_articles, flow_from_data
from helpline.storage.models import FlowActivation, FlowVersion, KnowledgeArticle, KnowledgeChanges
from helpline.storage.uow import UnitOfWork

KIND_ANSWER = "answer"
#: Questions the bot must not answer: they teach the classifier what "not ours" looks like.
KIND_OUT_OF_SCOPE = "out_of_scope"
#: The intent name out-of-scope examples are trained under.
OOS_INTENT = "oos"

_INTENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,119}$")
MAX_QUESTIONS_PER_LANGUAGE = 500
MAX_ANSWER_LENGTH = 4000
MAX_QUESTION_LENGTH = 500


@dataclass(frozen=True, slots=True)
class TrainingQuestion:
    intent: str
    utterance: str
    language: str


@dataclass(frozen=True, slots=True)
class KnowledgeSnapshot:
    revision: str
    articles: Mapping[str, Article]
    questions: tuple[TrainingQuestion, ...]


async def knowledge_changes(uow: UnitOfWork) -> int:
    """How many times the base was changed: read before a snapshot, it tells whether the
    snapshot may be stale. An edit committed between this read and the snapshot's is in the
    snapshot but not in the count, so the next check reads the base again (never the other way
    round: a count only moves in the edit's own transaction)."""
    return int(await uow.session.scalar(select(KnowledgeChanges.count).where(KnowledgeChanges.id == 1)) or 0)


async def _count_change(uow: UnitOfWork) -> None:
    counted = await uow.session.execute(
        update(KnowledgeChanges).where(KnowledgeChanges.id == 1).values(count=KnowledgeChanges.count + 1)
    )
    if not getattr(counted, "rowcount", 0):  # the migration's row was deleted (a truncated table)
        uow.session.add(KnowledgeChanges(id=1, count=1))
        await uow.session.flush()


async def knowledge_snapshot(uow: UnitOfWork) -> KnowledgeSnapshot:
    """The base and its revision, both taken from the rows of one statement.

    The revision is a digest of those rows' content, not of counts or edit times: an edit
    committed while the base is read is either in the snapshot and its label or in neither
    (so the next snapshot differs), and an edit stamped by a clock before another one but
    committed after it still changes the revision. Deleting an article changes it too.
    """
    rows = (
        await uow.session.execute(
            select(
                KnowledgeArticle.intent,
                KnowledgeArticle.kind,
                KnowledgeArticle.title,
                KnowledgeArticle.answer,
                KnowledgeArticle.questions,
                KnowledgeArticle.hands_off,
            ).order_by(KnowledgeArticle.intent)
        )
    ).all()
    articles = {
        row.intent: runtime_article(row.intent, row.title, row.answer, row.questions, row.hands_off)
        for row in rows
        if row.kind == KIND_ANSWER
    }
    questions = tuple(
        TrainingQuestion(OOS_INTENT if row.kind == KIND_OUT_OF_SCOPE else row.intent, text, language)
        for row in rows
        for language, texts in sorted(row.questions.items())
        for text in texts
    )
    return KnowledgeSnapshot(_content_revision(rows), articles, questions)


def _content_revision(rows: Sequence[Sequence[object]]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(list(row), ensure_ascii=False, sort_keys=True).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:24]


def runtime_article(
    intent: str,
    title: Mapping[str, str],
    answer: Mapping[str, str],
    questions: Mapping[str, Sequence[str]],
    hands_off: bool,
) -> Article:
    """An article as the bot shows it. A title is optional in the editor, but the clarifying
    question names articles by it, as buttons: in a language without one, the article's first
    question stands for it (else its id). Untitled articles were offered as blank buttons that
    sent nothing."""
    shown = {language: text for language, text in title.items() if text.strip()}
    for language, asked in questions.items():
        first = next((q.strip() for q in asked if q.strip()), "")
        if first and language not in shown:
            shown[language] = first
    if not shown:
        shown = {"en": intent.replace("_", " ")}
    return Article(title=shown, answer=dict(answer), hands_off=hands_off)


async def list_articles(uow: UnitOfWork) -> list[KnowledgeArticle]:
    return list(
        await uow.session.scalars(
            select(KnowledgeArticle).order_by(KnowledgeArticle.kind, KnowledgeArticle.intent)
        )
    )


async def get_article(uow: UnitOfWork, intent: str) -> KnowledgeArticle:
    row = await uow.session.scalar(select(KnowledgeArticle).where(KnowledgeArticle.intent == intent))
    if row is None:
        raise NotFound("no such article", field="intent")
    return row


def _clean_text(value: Mapping[str, str], what: str, limit: int) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for language, text in value.items():
        if language not in FLOW_LANGUAGES:
            raise DomainError("unknown language '{language}'", field=what, language=language)
        text = text.strip()
        if unstorable_reason(text) is not None:
            raise DomainError(
                "{what} in {language} contains text no database can store ({characters})",
                field=what,
                what=what,
                language=language,
                characters="U+0000" if "\x00" in text else "U+D800–U+DFFF",
            )
        if len(text) > limit:
            raise DomainError(
                "{what} in {language} is longer than {limit} characters",
                field=what,
                what=what,
                language=language,
                limit=limit,
            )
        if text:
            cleaned[language] = text
    return cleaned


def _clean_questions(value: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    cleaned: dict[str, list[str]] = {}
    for language, texts in value.items():
        if language not in FLOW_LANGUAGES:
            raise DomainError("unknown language '{language}'", field="questions", language=language)
        if any(unstorable_reason(t) for t in texts):
            raise DomainError(
                "a question in {language} contains text no database can store",
                field="questions",
                language=language,
            )
        if any(len(t.strip()) > MAX_QUESTION_LENGTH for t in texts):
            raise DomainError(
                "a question in {language} is longer than {limit} characters",
                field="questions",
                language=language,
                limit=MAX_QUESTION_LENGTH,
            )
        unique = list(dict.fromkeys(t.strip() for t in texts if t.strip()))
        if len(unique) > MAX_QUESTIONS_PER_LANGUAGE:
            raise DomainError(
                "at most {limit} questions per language", field="questions", limit=MAX_QUESTIONS_PER_LANGUAGE
            )
        if unique:
            cleaned[language] = unique
    return cleaned


async def do_save_article(
    uow: UnitOfWork,
    intent: str,
    *,
    title: Mapping[str, str],
    answer: Mapping[str, str],
    questions: Mapping[str, Sequence[str]],
    kind: str = KIND_ANSWER,
    hands_off: bool = False,
    user_id: int | None = None,
) -> KnowledgeArticle:
    """Create or replace an article; an answer needs a question to learn from and an answer."""
    if not _INTENT_RE.match(intent) or (intent == OOS_INTENT and kind == KIND_ANSWER):
        raise DomainError("the id is lower-case letters, digits and _ (and not 'oos')", field="intent")
    if kind not in (KIND_ANSWER, KIND_OUT_OF_SCOPE):
        raise DomainError("kind is 'answer' or 'out_of_scope'", field="kind")
    cleaned_questions = _clean_questions(questions)
    cleaned_answer = _clean_text(answer, "answer", MAX_ANSWER_LENGTH)
    if not cleaned_questions:
        raise DomainError("add at least one question the customer might ask", field="questions")
    if kind == KIND_ANSWER and not cleaned_answer and not hands_off:
        raise DomainError("write the answer in at least one language", field="answer")
    row = await uow.session.scalar(
        select(KnowledgeArticle).where(KnowledgeArticle.intent == intent).with_for_update()
    )
    if row is None:
        row = KnowledgeArticle(intent=intent)
        uow.session.add(row)
    elif kind != KIND_ANSWER and (channels := (await articles_in_active_flows(uow)).get(intent)):
        # Out of scope, the article has no answer to give: the flow's customers would get nothing.
        raise _used_by_active_flow(channels)
    row.kind = kind
    row.title = _clean_text(title, "title", 120)
    row.answer = cleaned_answer
    row.questions = cleaned_questions
    row.hands_off = hands_off
    row.updated_at = uow.now()
    row.updated_by_id = user_id
    await uow.session.flush()
    await _count_change(uow)
    return row


async def articles_in_active_flows(uow: UnitOfWork) -> dict[str, list[str]]:
    """article → the channels whose active flow answers with it."""
    rows = await uow.session.execute(
        select(FlowActivation.channel, FlowVersion.data).join(
            FlowVersion, FlowVersion.id == FlowActivation.flow_version_id
        )
    )
    used: dict[str, list[str]] = {}
    for channel, data in rows:
        for article in flow_articles(flow_from_data(data)):
            used.setdefault(article, []).append(channel)
    return used


async def do_delete_article(uow: UnitOfWork, intent: str) -> None:
    """Delete an article, unless an active flow answers with it (its customers would get nothing)."""
    row = await get_article(uow, intent)
    channels = (await articles_in_active_flows(uow)).get(intent)
    if channels:
        raise _used_by_active_flow(channels)
    await uow.session.delete(row)
    await _count_change(uow)


def _used_by_active_flow(channels: Sequence[str]) -> Conflict:
    return Conflict(
        "the active flow on {channels} answers with this article: change the flow first",
        field="intent",
        channels=sorted(channels),
    )


async def do_import_faq(
    uow: UnitOfWork, articles_jsonl: str, questions_jsonl: str, titles_jsonl: str = ""
) -> int:
    """Load a knowledge base in the shared FAQ format (answers file + questions JSONL).

    Titles come from `titles_jsonl` (`intent`, `title` per language) where it has them: they are
    the buttons of the bot's clarifying question. Otherwise each language's first question,
    which an admin can then edit. Articles already present are left as they are, so re-running
    an import never undoes edits.
    """
    titles: dict[str, dict[str, str]] = {}
    for line in titles_jsonl.splitlines():
        if line.strip():
            row = json.loads(line)
            titles[row["intent"]] = dict(row["title"])
    questions: dict[str, dict[str, list[str]]] = {}
    for line in questions_jsonl.splitlines():
        if line.strip():
            row = json.loads(line)
            questions.setdefault(row["intent"], {}).setdefault(row.get("lang") or "en", []).append(
                row["utterance"]
            )
    existing = set(await uow.session.scalars(select(KnowledgeArticle.intent)))
    added = 0
    for line in articles_jsonl.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        intent = row["intent"]
        if intent in existing:
            continue
        asked = questions.get(intent, {})
        await do_save_article(
            uow,
            intent,
            title={lang: texts[0] for lang, texts in asked.items()} | titles.get(intent, {}),
            answer=row["answer"],
            questions=asked,
            hands_off=intent == "contact_human",
        )
        added += 1
    if OOS_INTENT in questions and "out_of_scope" not in existing:
        await do_save_article(
            uow, "out_of_scope", title={}, answer={}, questions=questions[OOS_INTENT], kind=KIND_OUT_OF_SCOPE
        )
        added += 1
    return added
