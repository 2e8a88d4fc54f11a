"""What a self-service flow is: nodes with prompts, options and the steps they lead to.

One definition serves every channel. Chat shows a node's options as buttons or a numbered
list; the phone reads the prompt and the options and takes the digits. That is why every
option carries both a label per language and a phone digit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

#: The languages a flow speaks; every prompt and label exists in each of them.
FLOW_LANGUAGES: tuple[str, ...] = ("ru", "en", "ar")

#: The keys of a phone's keypad: what an option's digit may be.
PHONE_KEYS = frozenset("0123456789*#")
#: The phone key that always reaches a person (the convention callers already know).
OPERATOR_DIGIT = "0"
#: Lookups one after another (a lookup's `then` being another lookup) that one turn runs.
MAX_CHAINED_LOOKUPS = 3

#: Text per language code.
LocalText = Mapping[str, str]


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def placeholders(template: str) -> set[str]:
    """The fields a template names: plain `{name}` only."""
    return set(_PLACEHOLDER.findall(template))


def fill_placeholders(template: str, values: Mapping[str, object]) -> str:
    """`template` with its `{field}` placeholders filled; unknown ones are left as written.

    Only plain `{name}` is a placeholder: str.format would also obey format specs and
    attribute access ("{x:>999999999}" builds a gigabyte string) in a template an admin wrote.
    Values are inserted, never re-read as templates, so a lookup's answer cannot inject fields.
    """
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


def localised(text: LocalText, language: str, fallback: str = "en") -> str:
    """The text in `language`, else in `fallback`, else in any language it has."""
    return text.get(language) or text.get(fallback) or next(iter(text.values()), "")


@dataclass(frozen=True, slots=True)
class GoTo:
    """Show another node."""

    node: str


@dataclass(frozen=True, slots=True)
class AnswerArticle:
    """Answer with a knowledge-base article, then ask whether it helped."""

    article: str


@dataclass(frozen=True, slots=True)
class Handoff:
    """Hand the conversation to people: `queue` is a team name (None: the channel's inbox).

    `reason` is what is stored and counted (the English text when the flow gives one per
    language); `reason_text` holds the flow's words per language, so agents and supervisors read
    the reason in their console's language rather than in whichever language the author used.
    """

    reason: str
    queue: str | None = None
    reason_text: LocalText = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CreateTicket:
    """Record the request as a ticket for someone else to work on, then tell the customer."""

    subject: str
    queue: str | None = None
    done: LocalText = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Lookup:
    """Ask an external system (order status, balance…) with the fields collected so far.

    `found` is a template over the collected fields and the answer's fields, e.g.
    "Order {order_number}: {status}"; `missing` is said when the system knows nothing.
    After either, the flow continues with `then`.
    """

    name: str
    found: LocalText
    missing: LocalText
    then: Step


Step = GoTo | AnswerArticle | Handoff | CreateTicket | Lookup


@dataclass(frozen=True, slots=True)
class Option:
    """A choice on a node: a button in chat, a digit on the phone."""

    digit: str
    label: LocalText
    step: Step

    @property
    def is_operator(self) -> bool:
        return isinstance(self.step, Handoff)


class FieldKind(StrEnum):
    """What a collected field holds, which decides how it is asked for and checked."""

    TEXT = "text"
    #: A phone number: messengers that can share the customer's own number (Telegram's
    #: request_contact, Viber's share-phone) get a button for it; it is stored in E.164.
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Collect:
    """Take the customer's next free text as `field_name` (checked against `pattern`), then `then`."""

    field_name: str
    then: Step
    pattern: str | None = None
    invalid: LocalText = field(default_factory=dict)
    kind: FieldKind = FieldKind.TEXT


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    prompt: LocalText
    options: tuple[Option, ...]
    collect: Collect | None = None
    #: Free text typed at this node goes to the FAQ bot (unless the node collects a field).
    faq: bool = True

    def option_by_digit(self, digit: str) -> Option | None:
        return next((o for o in self.options if o.digit == digit), None)


#: The only environment variables a flow may name as a lookup's token. The operator who runs the
#: server decides what is exposed by setting them; any other name would let whoever writes flows
#: (an admin of the app) send the server's own secrets (HELPLINE_DATABASE_URL…) to a URL they chose.
LOOKUP_TOKEN_ENV_PREFIX = "HELPLINE_LOOKUP_TOKEN_"  # noqa: S105 (a name, not a secret)


@dataclass(frozen=True, slots=True)
class LookupEndpoint:
    """Where a named lookup is answered: an HTTP GET on `url` with the fields filled in.

    The bearer token, if the system needs one, is read from the environment variable named by
    `token_env` (which starts with LOOKUP_TOKEN_ENV_PREFIX) by the adapter, so a flow file never
    holds a secret.
    """

    name: str
    url: str
    token_env: str | None = None
    timeout_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    start: str
    nodes: Mapping[str, Node]
    lookups: Mapping[str, LookupEndpoint] = field(default_factory=dict)
    #: Overrides of the runtime's standard phrases (see flows.phrases), per phrase id.
    phrases: Mapping[str, LocalText] = field(default_factory=dict)

    @property
    def start_node(self) -> Node:
        return self.nodes[self.start]

    def steps(self) -> Iterator[Step]:
        """Every step the flow can take: its options', its fields' and what its lookups lead to."""
        for node in self.nodes.values():
            pending = [o.step for o in node.options] + ([node.collect.then] if node.collect else [])
            while pending:
                step = pending.pop()
                yield step
                if isinstance(step, Lookup):
                    pending.append(step.then)

    def handoff_reasons(self) -> dict[str, LocalText]:
        """The reasons written per language, by the reason that is stored for them."""
        return {s.reason: s.reason_text for s in self.steps() if isinstance(s, Handoff) and s.reason_text}
