"""Running a flow with a customer: one turn per customer message, no I/O.

The runtime is a function of (flow, knowledge, session state, what the customer wrote) to
(what the bot says, the new state, and what the adapters must do: hand off, open a ticket,
call a lookup). Understanding free text is the classifier's job; the adapter asks
`needs_intent` and passes the classifier's guess in, so this module stays pure.

Two rules are never negotiable: the words for "operator" (and the phone's 0) reach a person
from any step, and a bot that is not sure hands off instead of answering.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from helpline.domain.flows.model import (
    OPERATOR_DIGIT,
    PHONE_KEYS,
    AnswerArticle,
    CreateTicket,
    FieldKind,
    Flow,
    GoTo,
    Handoff,
    LocalText,
    Lookup,
    Node,
    Step,
    fill_placeholders,
    localised,
)
from helpline.domain.flows.patterns import PatternError, field_value
from helpline.domain.flows.phrases import DEFAULT_PHRASES, phrase
from helpline.domain.identities import phones_in_text
from helpline.domain.text import ARABIC_MARKS, ASCII_DIGITS, remove_invisible

#: After this many answers the bot could not use in a row, it stops asking and hands off.
MAX_MISSES = 2
#: A collected field (an order number, a name, an address) is a line, not a letter: longer text
#: is not the answer to the question, and the pattern is never run over it.
MAX_FIELD_CHARS = 300
#: After an answer, this key goes back to the start node (the phone's convention for "menu").
MENU_DIGIT = "9"


class HandoffReason(StrEnum):
    """The product's own reasons for handing a customer to people, as the bot report counts them
    (a flow's own reasons are its admins' words); the console shows them translated."""

    ASKED_FOR_OPERATOR = "customer asked for an operator"
    ASKED_FOR_PERSON = "customer asked for a person"
    ANSWER_DID_NOT_HELP = "the bot's answer did not help"
    NOT_SURE = "the bot was not sure of the answer"
    NOT_UNDERSTOOD = "the bot could not understand the customer"
    BOT_FAILED = "the bot failed to answer"
    FLOW_GONE = "the conversation's flow is gone"
    AGENT_REPLIED = "an agent replied"
    AGENT_TOOK_OVER = "an agent took the conversation"


class HandoffReasonAbout(StrEnum):
    """The product's reasons that name a thing of the flow (`{}`: a lookup, an article, a field)."""

    LOOKUP_FAILED = "lookup '{}' failed"
    NO_ANSWER = "no answer for '{}' in the knowledge base"
    PATTERN_CANNOT_RUN = "the flow's pattern for '{}' cannot run: upload it again"


class Awaiting(StrEnum):
    MENU = "menu"
    FIELD = "field"
    CONFIRM = "confirm"
    CLARIFY = "clarify"
    LOOKUP = "lookup"


class Outcome(StrEnum):
    """How a bot session ended: the containment dashboards count these."""

    ANSWERED_CONFIRMED = "answered_confirmed"
    HANDED_OFF = "handed_off"
    TICKET_CREATED = "ticket_created"
    ABANDONED = "abandoned"


class SessionStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class Decision(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    HANDOFF = "handoff"


@dataclass(frozen=True, slots=True)
class IntentGuess:
    """The classifier's verdict on a free-text message: its decision and ranked intents."""

    decision: Decision
    intents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Article:
    """A knowledge-base article as the runtime needs it: a short title and the answer."""

    title: LocalText
    answer: LocalText
    #: Articles like "how do I reach a person" are answered by doing it: a handoff.
    hands_off: bool = False


@dataclass(frozen=True, slots=True)
class Choice:
    """An option as shown: the digit (the button's payload and the phone key) and its label.

    `shares_phone` marks the button that sends the customer's own number (Telegram's
    request_contact, Viber's share-phone); it has no digit, and channels that cannot share a
    number leave it out: there the customer types the number.
    """

    digit: str
    label: str
    shares_phone: bool = False

    def to_json(self) -> dict[str, Any]:
        """How a message stores its choices (``Message.options``)."""
        stored: dict[str, Any] = {"digit": self.digit, "label": self.label}
        if self.shares_phone:
            stored["shares_phone"] = True
        return stored

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Choice:
        return cls(
            str(stored.get("digit", "")), str(stored.get("label", "")), bool(stored.get("shares_phone"))
        )


@dataclass(frozen=True, slots=True)
class BotReply:
    text: str
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionState:
    node: str
    language: str
    awaiting: Awaiting = Awaiting.MENU
    fields: Mapping[str, str] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()
    misses: int = 0
    #: The Lookup step waiting for its answer (kept as the option/collect path that led to it).
    pending_lookup: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "language": self.language,
            "awaiting": self.awaiting.value,
            "fields": dict(self.fields),
            "candidates": list(self.candidates),
            "misses": self.misses,
            "pending_lookup": self.pending_lookup,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionState:
        return cls(
            node=str(data["node"]),
            language=str(data["language"]),
            awaiting=Awaiting(data.get("awaiting", Awaiting.MENU.value)),
            fields={str(k): str(v) for k, v in dict(data.get("fields") or {}).items()},
            candidates=tuple(str(c) for c in data.get("candidates") or ()),
            misses=int(data.get("misses", 0)),
            pending_lookup=data.get("pending_lookup"),
        )


@dataclass(frozen=True, slots=True)
class TicketRequest:
    subject: str
    queue: str | None
    fields: Mapping[str, str]
    #: Said once the ticket exists; `{ticket}` is replaced with its number.
    confirmation: str


@dataclass(frozen=True, slots=True)
class LookupRequest:
    name: str
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Turn:
    replies: tuple[BotReply, ...]
    state: SessionState
    outcome: Outcome | None = None
    handoff: Handoff | None = None
    ticket: TicketRequest | None = None
    lookup: LookupRequest | None = None
    #: The article answered in this turn, for reports of what the bot answers.
    answered: str | None = None

    @property
    def ended(self) -> bool:
        return self.outcome is not None


# --- understanding the customer's words --------------------------------------------------------

_PUNCTUATION = str.maketrans(dict.fromkeys(string.punctuation + "«»“”„!?¿¡،؟؛…—–", " "))
#: A word that begins with "operator"/"оператор" (any ending: "операторы", "operator's"), or
#: "موظف" after at most four letters of Arabic prefixes ("الموظف", "للموظفين", "وبالموظف").
#: Not inside another word: "cooperator" asks for no one.
_OPERATOR_WORD = re.compile(r"^(?:operator|оператор|[\u0621-\u064a]{0,4}موظف)")
#: Words that ask for a person only in a short message ("agent" can be part of a question).
_PERSON_WORDS = frozenset({"human", "agent", "person", "человек", "человека", "специалист", "انسان", "إنسان"})
_YES = frozenset(
    {
        "yes",
        "yeah",
        "yep",
        "y",
        "ok",
        "okay",
        "thanks",
        "thank",
        "да",
        "ага",
        "спасибо",
        "نعم",
        "اجل",
        "أجل",
        "شكرا",
    }
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: A reply to "did it help?" made only of these (and at least one that is not filler) is a yes:
#: "great!", "got it", "ясно, спасибо", "تمام", "👍". Anything else in it ("ok, and the tax?")
#: makes it a new question instead, so the bot never swallows one as a thank-you.
_THANKS = _YES | _words(
    """
    great perfect thx ty tnx thanx cool nice good fine awesome excellent super brilliant wonderful
    helped helps helpful useful understood clear sure alright sorted solved works worked got
    understand see right exactly absolutely definitely correct indeed did does
    отлично хорошо понятно понял поняла ясно помогло помог помогли помогла супер класс спс пасиб
    благодарю ок окей норм нормально угу прекрасно замечательно круто ура дошло точно именно верно
    конечно
    تمام ممتاز مشكور مشكورة جزاك خيرا فهمت واضح ساعدني ساعدتني حسنا طيب رائع جميل كويس زين تسلم
    يسلمو العافية اوكي اوك بالضبط أكيد اكيد صح
    """
)
_THANKS_FILLER = _words(
    """
    it that this you very much so a lot all now was is indeed really me i s its thats
    вам тебе большое огромное все это теперь очень мне
    لك لكم جزيلا كثيرا الله الف ألف جدا يعطيك
    """
)
#: Yes and thanks alone, without praise: what may stand around a request for the menu.
_OK_AND_THANKS = _YES | _words("ок окей спс благодарю пасиб thx ty tnx thanx اوكي اوك مشكور مشكورة")
#: Thanks without words; "👍👍" is thanks too.
_THANKS_EMOJI = frozenset("👍👌🙏✅❤😊🙂😀😃👏💯🤝♥")
#: Skin tones and the emoji variation selector: "👍🏽" is "👍".
_EMOJI_MODIFIERS = str.maketrans("", "", "\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff\ufe0f")
#: Any of these anywhere in a reply to "did it help?" makes it a no: "thanks, but it didn't help".
_NO = frozenset(
    {
        "no",
        "nope",
        "not",
        "didn",
        "doesn",
        "don",
        "isn",
        "wasn",
        "never",
        "нет",
        "неа",
        "не",
        "ни",
        "لا",
        "لم",
        "ليس",
        "مش",
        "كلا",
    }
)
#: What asks for the main menu back (its digit as typed on any keyboard, after `normalise`),
#: besides its button's label.
_MENU_WORDS = frozenset(
    {
        MENU_DIGIT,
        "menu",
        "main menu",
        "back to menu",
        "back to the menu",
        "меню",
        "главное меню",
        "в меню",
        "в главное меню",
        "назад в меню",
        "القائمة",
        "القائمة الرئيسية",
        "قائمة",
    }
)
#: What turns a digit into its keycap emoji (0️⃣): a phone's emoji keyboard types those.
_DROP_KEYCAP = str.maketrans("", "", "\ufe0f\u20e3")


def _visible(text: str) -> str:
    """NFKC (fullwidth letters and digits as plain ones) without format characters (zero-width
    spaces, soft hyphens, direction marks), which a customer cannot see and did not mean."""
    return remove_invisible(unicodedata.normalize("NFKC", text)).translate(_DROP_KEYCAP)


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces, ё as е, no Arabic harakat or tatweel, and
    Arabic-Indic or Persian digits as ASCII: «موظّف», «ＯＰＥＲＡＴＯＲ» and «۰» are what they look like."""
    folded = ARABIC_MARKS.sub("", _visible(text).casefold().replace("ё", "е"))
    return " ".join(folded.translate(ASCII_DIGITS).translate(_PUNCTUATION).split())


def _typed_key(text: str) -> str:
    """The key a message presses, punctuation kept: "*" and "#" are keys too."""
    return "".join(_visible(text).split()).translate(ASCII_DIGITS)


def asks_for_operator(text: str) -> bool:
    """The customer wants a person: "operator" in any of our languages, or the phone's 0."""
    words = normalise(text).split()
    if words == [OPERATOR_DIGIT]:
        return True
    if any(_OPERATOR_WORD.match(word) for word in words):
        return True
    return len(words) <= 8 and any(word in _PERSON_WORDS for word in words)


def _says_no(text: str) -> bool:
    return not _NO.isdisjoint(normalise(text).split())


def _says_yes(text: str) -> bool:
    """A yes to "did it help?": only yes, thanks and praise ("yes it did", "great, thanks a lot",
    "👍"). Anything else in it ("ok, the tax?", "спасибо, а налог?") makes it a new question,
    and so does a question mark: "is that right?" is not a thank-you."""
    if "?" in text or "؟" in text:
        return False
    words = normalise(text).translate(_EMOJI_MODIFIERS).split()
    if not words or not _NO.isdisjoint(words):
        return False
    thanks = [w for w in words if w not in _THANKS_FILLER]
    return bool(thanks) and all(w in _THANKS or _THANKS_EMOJI.issuperset(w) for w in thanks)


#: A hello and nothing more ("hi", "добрый день", "السلام عليكم"): greeted with the menu. Any
#: other message the bot cannot place opening a session is a question it did not understand.
_GREETING_WORDS = _words(
    """
    hi hello hey hallo hola good morning afternoon evening day there everyone all
    привет здравствуйте здравствуй здрасте здрасьте добрый доброе добрая день вечер утро ночи
    салют хай приветствую алло
    مرحبا مرحباً مرحبًا اهلا أهلا هلا هاي السلام عليكم سلام صباح مساء الخير النور يا
    """
)

_COURTEOUS = _GREETING_WORDS | _THANKS | _THANKS_FILLER


def says_hello(text: str) -> bool:
    """Only greeting or thanks words (and no question mark): "hi there", "добрый вечер",
    "مرحبا", "thanks!". Said, not asked: it is greeted, not told it was not understood."""
    if "?" in text or "؟" in text:
        return False
    words = normalise(text).split()
    return bool(words) and all(w in _COURTEOUS for w in words)


#: Words around a request for the menu that do not change it: "ok, main menu please",
#: "спасибо, в главное меню", "شكرا، القائمة من فضلك".
_MENU_COURTESY = _words(
    """
    please pls plz go take me back show open the to
    пожалуйста пжл плиз давай покажи открой верни вернуться назад
    من فضلك لو سمحت رجعني ارجع ارجعني الى إلى افتح
    """
)


def _asks_for_menu(text: str, menu_label: LocalText) -> bool:
    """The customer wants the main menu back: its digit, its button's label, or the words, with
    thanks and courtesy around them ("thanks, main menu please"). A question is not a request:
    "what is on the menu?" is asked of the bot."""
    typed = normalise(text)
    if typed in _MENU_WORDS or _matches_label(text, menu_label):
        return True
    if "?" in text or "؟" in text:
        return False
    # Only yes and thanks around it: "good menu" or "the menu works" is said about a menu.
    words = typed.split()
    kept = [
        w for w in words if w not in _MENU_COURTESY and w not in _OK_AND_THANKS and w not in _THANKS_FILLER
    ]
    return len(kept) < len(words) and " ".join(kept) in _MENU_WORDS


#: A choice among the clarifying question's articles named by its place: "the second one".
_ORDINALS: dict[str, int] = {
    **dict.fromkeys(
        ("first", "1st", "первый", "первая", "первое", "первую", "الاول", "الأول", "الاولى", "الأولى"), 1
    ),
    **dict.fromkeys(
        ("second", "2nd", "второй", "вторая", "второе", "вторую", "الثاني", "الثانية", "التاني", "التانية"),
        2,
    ),
    **dict.fromkeys(
        ("third", "3rd", "третий", "третья", "третье", "третью", "الثالث", "الثالثة", "التالت", "التالتة"), 3
    ),
    **dict.fromkeys(
        ("fourth", "4th", "четвертый", "четвертая", "четвертое", "четвертую", "الرابع", "الرابعة"), 4
    ),
    **dict.fromkeys(("fifth", "5th", "пятый", "пятая", "пятое", "пятую", "الخامس", "الخامسة"), 5),
}
#: Words that name a menu's choice by its number: "option 2", "вариант 2", "пункт 2-й", "رقم ٢".
_NUMBER_WORDS = _words(
    """
    option number no choice item nd st rd th
    вариант номер пункт цифра цифру й ой ый ая ое ю
    الخيار خيار رقم الرقم اختيار
    """
)
#: Words around an ordinal that do not change which choice it names.
_ORDINAL_FILLER = _words(
    """
    the option article answer please pls i want mean choose take
    вариант статья статью ответ пожалуйста мне нужен нужна нужно выбираю хочу давайте
    الخيار المقال الجواب من فضلك اختار أختار اريد أريد ابي أبي
    """
)


def _position_named(text: str) -> int | None:
    words = normalise(text).split()
    if len(words) > 1 and words[-1] == "one":  # "the second one"; "one second" is no choice
        words = words[:-1]
    kept = [w for w in words if w not in _ORDINAL_FILLER]
    return _ORDINALS.get(kept[0]) if len(kept) == 1 else None


def _number_named(text: str) -> str | None:
    """The key a message names with words around it: "option 2", "вариант 2", "2-й"."""
    words = normalise(text).split()
    kept = [w for w in words if w not in _NUMBER_WORDS and w not in _ORDINAL_FILLER]
    return kept[0] if len(kept) == 1 and len(words) > 1 and kept[0] in PHONE_KEYS else None


def _asks_for_menu_in_words(text: str, menu_label: LocalText) -> bool:
    """The menu asked for in words, as any node takes it: "menu", "главное меню". Its digit counts
    only where the menu is offered on it (the clarifying and "did it help?" questions): elsewhere
    the node's own 9, or a 9 that is part of an answer, is meant."""
    return normalise(text) != MENU_DIGIT and _asks_for_menu(text, menu_label)


def _thanks_before_menu(text: str) -> bool:
    """A request for the menu that also says the answer helped: "thanks, menu", "ок, в меню"."""
    return any(w in _OK_AND_THANKS for w in normalise(text).split())


def _matches_label(text: str, label: LocalText) -> bool:
    wanted = normalise(text)
    return bool(wanted) and any(normalise(value) == wanted for value in label.values())


# --- the runtime -------------------------------------------------------------------------------


class FlowRuntime:
    """One flow version with the knowledge base it answers from."""

    def __init__(self, flow: Flow, articles: Mapping[str, Article], *, phone_region: str = "RU") -> None:
        self.flow = flow
        self.articles = articles
        #: The country a phone number typed without its country code belongs to.
        self.phone_region = phone_region
        self._steps_by_label: dict[str, list[Step]] | None = None  # built on first use

    # The public turns.

    def start(self, language: str) -> Turn:
        """Greet with the start node."""
        state = SessionState(node=self.flow.start, language=language)
        return self._show(state, self.flow.start_node, ())

    def start_unclear(self, language: str) -> Turn:
        """A session opened by a message the bot could not place, where the customer has already
        seen the greeting (the web chat shows it on opening): say it was not understood and
        offer the menu, rather than repeat the greeting word for word as if nothing was said."""
        state = SessionState(node=self.flow.start, language=language)
        sorry = BotReply(
            phrase(self.flow.phrases, "not_understood", language),
            self.choices(self.flow.start_node, language),
        )
        return Turn(replies=(sorry,), state=state)

    def answers_a_stale_menu(self, text: str, left_at: str | None, left_awaiting: str | None) -> bool:
        """A choice ("2", "option 2", "the second one") opening a session when the last one was
        left at another menu than the main one (another node, or a question such as "did it
        help?"): it answers that menu, still on the customer's screen, which no longer holds.
        Read against the main menu it would pick another topic: greet again instead. The way to a
        person ("0") always holds."""
        if left_at is None or asks_for_operator(text):
            return False
        if left_at == self.flow.start and left_awaiting in (None, Awaiting.MENU.value):
            return False
        return self._picked_option(SessionState(node=self.flow.start, language=""), text) is not None

    def courtesy(self, text: str, language: str) -> BotReply | None:
        """The reply to thanks written after the bot's goodbye ("спасибо!" once "glad I could
        help" was said): a "you're welcome", not a new session greeting with the menu again.
        None for anything else, which starts a session as usual."""
        if not _says_yes(text):  # only thanks words: "operator" or "0" never is one
            return None
        return BotReply(phrase(self.flow.phrases, "welcome", language))

    def needs_intent(self, state: SessionState, text: str) -> bool:
        """Whether `text` will be read as a free question, so the adapter should classify it."""
        if asks_for_operator(text) or self._picked_option(state, text) is not None:
            return False
        if self._labelled_elsewhere(text) is not None:
            return False
        if _asks_for_menu_in_words(text, self._menu()):
            return False
        if state.awaiting in (Awaiting.CONFIRM, Awaiting.CLARIFY) and self._answers_pending(state, text):
            return False
        node = self.flow.nodes.get(state.node)
        return node is not None and node.collect is None and node.faq

    def handle(
        self, state: SessionState, text: str, language: str | None = None, guess: IntentGuess | None = None
    ) -> Turn:
        """The bot's answer to one customer message."""
        state = replace(state, language=language or state.language)
        node = self.flow.nodes.get(state.node)
        if (pressed := self._button_pressed(state, node, text)) is not None:
            return pressed
        if asks_for_operator(text):
            return self._handoff(state, self._operator_handoff(node), ())
        if node is None:  # the flow changed under a running session: start over, never get stuck
            return self.start(state.language)
        if state.awaiting is Awaiting.CONFIRM:
            typed = normalise(text)
            if typed not in ("1", "2") and _asks_for_menu(text, self._menu()):
                shown = self._show(state, self.flow.start_node, ())
                if not _thanks_before_menu(text):
                    return shown
                glad = BotReply(self._phrase("glad", state))
                return replace(shown, replies=(glad, *shown.replies), outcome=Outcome.ANSWERED_CONFIRMED)
            if _matches_label(text, self._no()) or typed == "2" or _says_no(text):
                return self._handoff(state, Handoff(reason=HandoffReason.ANSWER_DID_NOT_HELP), ())
            if typed == "1" or _matches_label(text, self._yes()) or _says_yes(text):
                return Turn(
                    replies=(BotReply(self._phrase("glad", state)),),
                    state=replace(state, awaiting=Awaiting.MENU, candidates=()),
                    outcome=Outcome.ANSWERED_CONFIRMED,
                )
        if state.awaiting is Awaiting.CLARIFY:
            chosen = self._clarify_choice(state, text)
            if chosen is not None:
                return self._run(state, AnswerArticle(chosen), ())
            if _asks_for_menu(text, self._menu()):
                return self._show(state, self.flow.start_node, ())
        if state.awaiting in (Awaiting.CONFIRM, Awaiting.CLARIFY):
            # Not an answer to the pending question: that question is over. A new question is
            # read as one; anything else is a miss at the node, whose menu is then what counts.
            state = replace(
                state,
                awaiting=Awaiting.FIELD if node.collect is not None else Awaiting.MENU,
                candidates=(),
            )
            if (elsewhere := self._labelled_elsewhere(text)) is not None:
                return self._run(state, elsewhere, ())
            if node.faq and guess is not None and node.collect is None:
                return self._understood(state, node, guess)
            return self._missed(state, node)
        option = self._picked_option(state, text)  # labels were taken above (_button_pressed)
        if option is not None:
            return self._run(replace(state, misses=0), option, ())
        if _asks_for_menu_in_words(text, self._menu()):
            return self._show(state, self.flow.start_node, ())
        if node.collect is not None:
            return self._collect(state, node, text)
        if node.faq and guess is not None:
            return self._understood(state, node, guess)
        return self._missed(state, node)

    def resume_lookup(
        self, state: SessionState, answer: Mapping[str, str] | None, *, failed: bool = False
    ) -> Turn:
        """Continue after the adapter ran the lookup: `answer` is None when nothing was found."""
        step = self._pending_lookup(state)
        if step is None:
            return self.start(state.language)
        state = replace(state, awaiting=Awaiting.MENU, pending_lookup=None)
        if failed:
            said = BotReply(self._phrase("lookup_failed", state))
            return self._handoff(
                state, Handoff(reason=HandoffReasonAbout.LOOKUP_FAILED.format(step.name)), (said,)
            )
        if answer is None:
            said = BotReply(fill_placeholders(localised(step.missing, state.language), state.fields))
        else:
            said = BotReply(
                fill_placeholders(localised(step.found, state.language), {**state.fields, **answer})
            )
        return self._run(state, step.then, (said,))

    # Showing things.

    def choices(self, node: Node, language: str) -> tuple[Choice, ...]:
        shown = tuple(Choice(o.digit, localised(o.label, language)) for o in node.options)
        if node.collect is not None and node.collect.kind is FieldKind.PHONE:
            share = Choice("", phrase(self.flow.phrases, "share_phone", language), shares_phone=True)
            return (share, *shown)
        return shown

    def _show(self, state: SessionState, node: Node, before: Sequence[BotReply]) -> Turn:
        awaiting = Awaiting.FIELD if node.collect is not None else Awaiting.MENU
        state = replace(state, node=node.id, awaiting=awaiting, candidates=(), misses=0)
        prompt = BotReply(localised(node.prompt, state.language), self.choices(node, state.language))
        return Turn(replies=(*before, prompt), state=state)

    def _phrase(self, key: str, state: SessionState) -> str:
        return phrase(self.flow.phrases, key, state.language)

    def _yes(self) -> LocalText:
        return self.flow.phrases.get("yes") or DEFAULT_PHRASES["yes"]

    def _no(self) -> LocalText:
        return self.flow.phrases.get("no") or DEFAULT_PHRASES["no"]

    def _menu(self) -> LocalText:
        return self.flow.phrases.get("menu") or DEFAULT_PHRASES["menu"]

    def _invalid_phone(self) -> LocalText:
        return self.flow.phrases.get("invalid_phone") or DEFAULT_PHRASES["invalid_phone"]

    def _operator_handoff(self, node: Node | None) -> Handoff:
        """The node's own operator option (its queue and reason) when it has one, as it must."""
        option = node.option_by_digit(OPERATOR_DIGIT) if node is not None else None
        if option is not None and isinstance(option.step, Handoff):
            return option.step
        return Handoff(reason=HandoffReason.ASKED_FOR_OPERATOR)

    def _operator_choice(self, state: SessionState) -> Choice:
        node = self.flow.nodes.get(state.node)
        option = node.option_by_digit(OPERATOR_DIGIT) if node is not None else None
        label = localised(option.label, state.language) if option else self._phrase("operator", state)
        return Choice(OPERATOR_DIGIT, label)

    # Steps.

    def _run(self, state: SessionState, step: Step, before: Sequence[BotReply]) -> Turn:
        if isinstance(step, GoTo):
            return self._show(state, self.flow.nodes[step.node], before)
        if isinstance(step, AnswerArticle):
            return self._answer(state, step.article, before)
        if isinstance(step, Handoff):
            return self._handoff(state, step, before)
        if isinstance(step, CreateTicket):
            confirmation = (
                localised(step.done, state.language) if step.done else self._phrase("ticket_created", state)
            )
            return Turn(
                replies=tuple(before),
                state=replace(state, awaiting=Awaiting.MENU),
                outcome=Outcome.TICKET_CREATED,
                ticket=TicketRequest(
                    step.subject,
                    step.queue,
                    dict(state.fields),
                    fill_placeholders(confirmation, state.fields),
                ),
            )
        key = self._lookup_key(state, step)
        return Turn(
            replies=tuple(before),
            state=replace(state, awaiting=Awaiting.LOOKUP, pending_lookup=key),
            lookup=LookupRequest(step.name, dict(state.fields)),
        )

    def _answer(self, state: SessionState, article_id: str, before: Sequence[BotReply]) -> Turn:
        article = self.articles.get(article_id)
        if article is None:
            return self._handoff(
                state, Handoff(reason=HandoffReasonAbout.NO_ANSWER.format(article_id)), before
            )
        if article.hands_off:
            return self._handoff(state, Handoff(reason=HandoffReason.ASKED_FOR_PERSON), before)
        ask = BotReply(
            self._phrase("did_it_help", state),
            (
                Choice("1", localised(self._yes(), state.language)),
                Choice("2", localised(self._no(), state.language)),
                Choice(MENU_DIGIT, localised(self._menu(), state.language)),
                self._operator_choice(state),
            ),
        )
        answer = BotReply(localised(article.answer, state.language))
        return Turn(
            replies=(*before, answer, ask),
            state=replace(state, awaiting=Awaiting.CONFIRM, candidates=(), misses=0),
            answered=article_id,
        )

    def unstaffed(self, turn: Turn) -> Turn:
        """`turn` when nobody is online to take its hand-off: the customer is told so instead of
        being promised an operator who is not there (the conversation still waits for one)."""
        if turn.handoff is None:
            return turn
        said = BotReply(self._phrase("handoff_offline", turn.state))
        return replace(turn, replies=(*turn.replies[:-1], said))

    def _handoff(self, state: SessionState, step: Handoff, before: Sequence[BotReply]) -> Turn:
        return Turn(
            replies=(*before, BotReply(self._phrase("handoff", state))),
            state=replace(state, awaiting=Awaiting.MENU),
            outcome=Outcome.HANDED_OFF,
            handoff=step,
        )

    # Reading answers.

    def _picked_option(self, state: SessionState, text: str) -> Step | None:
        if state.awaiting in (Awaiting.CONFIRM, Awaiting.CLARIFY):
            return None  # their digits mean yes/no or a candidate, not the node's options
        node = self.flow.nodes.get(state.node)
        if node is None:
            return None
        typed, key = normalise(text), _typed_key(text)
        for option in node.options:
            if option.digit in (typed, key) or _matches_label(text, option.label):
                return option.step
        if node.collect is not None:  # "number 2" may be the answer to the field
            return None
        # A menu's choice named in words: "option 2" by its number, "the second one" by its place.
        named = _number_named(text)
        if named is not None:
            return next((o.step for o in node.options if o.digit == named), None)
        place = _position_named(text)
        return node.options[place - 1].step if place is not None and place <= len(node.options) else None

    def _button_pressed(self, state: SessionState, node: Node | None, text: str) -> Turn | None:
        """A message that is a button's label, word for word, does what that button does before
        its words are read: "Become a lottery agent" is an option, not a request for a person
        (buttons on Telegram, VK, WhatsApp and Messenger send their labels)."""
        if node is None or state.awaiting is Awaiting.CONFIRM:
            return None  # "did it help?" has its own buttons, read below
        if state.awaiting is Awaiting.CLARIFY:
            chosen = self._clarify_choice(state, text)
            return self._run(state, AnswerArticle(chosen), ()) if chosen is not None else None
        step = next((o.step for o in node.options if _matches_label(text, o.label)), None)
        step = step or self._labelled_elsewhere(text)
        return self._run(replace(state, misses=0), step, ()) if step is not None else None

    def _labelled_elsewhere(self, text: str) -> Step | None:
        """The step of the option on any node whose label the message is, word for word, when
        every option so labelled does the same thing.

        Why: messengers keep the buttons of earlier menus pressable, and a press sends the
        button's label. "Prizes and payouts" pressed on the main menu still on the screen, at
        "did it help?" or on another menu, does what it says instead of being read as a question.
        """
        wanted = normalise(text)
        if not wanted:
            return None
        if self._steps_by_label is None:
            steps: dict[str, list[Step]] = {}
            for node in self.flow.nodes.values():
                for option in node.options:
                    for label in {normalise(value) for value in option.label.values()}:
                        steps.setdefault(label, []).append(option.step)
            self._steps_by_label = steps
        found = self._steps_by_label.get(wanted, [])
        return found[0] if found and all(step == found[0] for step in found) else None

    def _answers_pending(self, state: SessionState, text: str) -> bool:
        if _asks_for_menu(text, self._menu()):
            return True
        if state.awaiting is Awaiting.CONFIRM:
            return (
                normalise(text) in ("1", "2")
                or _says_yes(text)
                or _says_no(text)
                or any(_matches_label(text, t) for t in (self._yes(), self._no()))
            )
        return self._clarify_choice(state, text) is not None

    def _clarify_choice(self, state: SessionState, text: str) -> str | None:
        typed, named = normalise(text), _position_named(text)
        for position, article_id in enumerate(state.candidates, start=1):
            article = self.articles.get(article_id)
            if typed == str(position) or named == position:
                return article_id
            if article is not None and _matches_label(text, article.title):
                return article_id
        return None

    def _collect(self, state: SessionState, node: Node, text: str) -> Turn:
        assert node.collect is not None
        value = text.strip()
        if node.collect.kind is FieldKind.PHONE:
            # A shared contact arrives as "Contact: Name +7…", a typed number in any layout.
            numbers = phones_in_text(text, self.phone_region, limit=1)
            if not numbers:
                return self._missed(state, node, invalid=node.collect.invalid or self._invalid_phone())
            value = numbers[0]
        else:
            try:
                checked = field_value(node.collect.pattern, value, MAX_FIELD_CHARS)
            except PatternError:  # a version uploaded before patterns were held to RE2
                reason = HandoffReasonAbout.PATTERN_CANNOT_RUN.format(node.collect.field_name)
                return self._handoff(
                    state, replace(self._operator_handoff(node), reason=reason, reason_text={}), ()
                )
            if checked is None:
                return self._missed(state, node, invalid=node.collect.invalid)
            value = checked
        state = replace(state, fields={**state.fields, node.collect.field_name: value}, misses=0)
        return self._run(state, node.collect.then, ())

    def _understood(self, state: SessionState, node: Node, guess: IntentGuess) -> Turn:
        known = tuple(i for i in guess.intents if i in self.articles)
        if guess.decision is Decision.ANSWER and known:
            return self._answer(state, known[0], ())
        if guess.decision is Decision.CLARIFY and len(known) >= 2:
            candidates = known[:2]
            choices = tuple(
                Choice(str(n), localised(self.articles[a].title, state.language))
                for n, a in enumerate(candidates, start=1)
            )
            menu = Choice(MENU_DIGIT, localised(self._menu(), state.language))
            ask = BotReply(self._phrase("clarify", state), (*choices, menu, self._operator_choice(state)))
            return Turn(
                replies=(ask,), state=replace(state, awaiting=Awaiting.CLARIFY, candidates=candidates)
            )
        # Not sure: a person answers rather than the bot guessing.
        return self._handoff(state, Handoff(reason=HandoffReason.NOT_SURE), ())

    def _missed(self, state: SessionState, node: Node, invalid: LocalText | None = None) -> Turn:
        misses = state.misses + 1
        if misses >= MAX_MISSES:
            return self._handoff(state, Handoff(reason=HandoffReason.NOT_UNDERSTOOD), ())
        key_text = localised(invalid, state.language) if invalid else ""
        sorry = BotReply(
            key_text or self._phrase("invalid_field" if invalid is not None else "not_understood", state)
        )
        again = BotReply(localised(node.prompt, state.language), self.choices(node, state.language))
        return Turn(replies=(sorry, again), state=replace(state, misses=misses))

    # Lookups survive between turns as a path to the step, not the step itself (state is JSON).

    def _lookup_key(self, state: SessionState, step: Lookup) -> str:
        node = self.flow.nodes[state.node]
        for index, option in enumerate(node.options):
            found = _find_lookup(option.step, step, f"{node.id}/option/{index}")
            if found:
                return found
        if node.collect is not None:
            found = _find_lookup(node.collect.then, step, f"{node.id}/collect")
            if found:
                return found
        raise ValueError("the lookup step is not on the current node")

    def _pending_lookup(self, state: SessionState) -> Lookup | None:
        if state.pending_lookup is None:
            return None
        parts = state.pending_lookup.split("/")
        node = self.flow.nodes.get(parts[0])
        if node is None:
            return None
        step: Step | None
        if parts[1] == "option":
            index = int(parts[2])
            step = node.options[index].step if index < len(node.options) else None
            depth = parts[3:]
        else:
            step = node.collect.then if node.collect is not None else None
            depth = parts[2:]
        for _ in depth:
            step = step.then if isinstance(step, Lookup) else None
        return step if isinstance(step, Lookup) else None


def _find_lookup(step: Step, wanted: Lookup, key: str) -> str | None:
    """The key of `wanted` under `step` ("…/then" once per nested lookup), if it is there."""
    while isinstance(step, Lookup):
        if step is wanted:
            return key
        step, key = step.then, f"{key}/then"
    return None
