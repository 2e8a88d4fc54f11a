"""The rules a flow must satisfy before it may be activated, beyond its JSON Schema.

Each problem names the place in the document (a path of keys) so the console can point at
the line. The first rule is the product's promise: no node may trap a customer, so every node
offers the way to an operator on the phone's 0.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

from helpline.domain.flows.model import (
    FLOW_LANGUAGES,
    MAX_CHAINED_LOOKUPS,
    OPERATOR_DIGIT,
    PHONE_KEYS,
    AnswerArticle,
    CreateTicket,
    FieldKind,
    Flow,
    GoTo,
    LocalText,
    Lookup,
    Node,
    Step,
    placeholders,
)
from helpline.domain.flows.patterns import ENGINE_NOTE, PatternError, compile_pattern
from helpline.domain.flows.phrases import FILLED_PHRASES
from helpline.domain.flows.runtime import normalise

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class FlowProblem:
    path: Path
    #: The reason before its parameters are filled in: what a console translates.
    template: str
    params: Mapping[str, str | int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """English, filled in (the API's and the logs' text)."""
        return self.template.format(**self.params)


def _problem(path: Path, template: str, **params: str | int) -> FlowProblem:
    return FlowProblem(path, template, params)


def check_flow(flow: Flow, known_articles: Collection[str] | None = None) -> list[FlowProblem]:
    """Every rule the flow breaks (empty when it may be activated).

    `known_articles`, when given, are the knowledge base's article ids: a flow answering with an
    article that does not exist would leave the customer with nothing.
    """
    problems: list[FlowProblem] = []
    if flow.start not in flow.nodes:
        problems.append(_problem(("start",), "the start node '{node}' is not defined", node=flow.start))
    for node_id, node in flow.nodes.items():
        problems.extend(_check_node(flow, node_id, node, known_articles))
    for name, endpoint in flow.lookups.items():
        if not math.isfinite(endpoint.timeout_seconds):  # .nan passes the schema's bounds
            problems.append(
                _problem(("lookups", name, "timeout_seconds"), "the timeout must be a number of seconds")
            )
    for key, text in flow.phrases.items():
        problems.extend(
            _problem(("phrases", key, language), "the text in '{language}' is empty", language=language)
            for language, value in text.items()
            if not str(value).strip()
        )
        filled = _fields(flow) | {TICKET_PLACEHOLDER} if key in FILLED_PHRASES else set()
        problems.extend(_check_placeholders(("phrases", key), text, filled))
    problems.extend(_unreachable(flow))
    return problems


def _check_node(
    flow: Flow, node_id: str, node: Node, known_articles: Collection[str] | None
) -> Iterator[FlowProblem]:
    base: Path = ("nodes", node_id)
    yield from _check_text((*base, "prompt"), node.prompt)
    yield from _check_placeholders((*base, "prompt"), node.prompt, set())
    operator = node.option_by_digit(OPERATOR_DIGIT)
    if operator is None or not operator.is_operator:
        yield _problem(
            (*base, "options"),
            "node '{node}' has no way to an operator: add an option with digit 0 and a handoff",
            node=node_id,
        )
    seen: set[str] = set()
    labels: dict[str, set[str]] = {}
    for index, option in enumerate(node.options):
        where: Path = (*base, "options", index)
        if option.digit not in PHONE_KEYS:
            yield _problem(
                (*where, "digit"), "'{digit}' is not a phone key (0-9, * or #)", digit=option.digit
            )
        elif option.digit in seen:
            yield _problem(
                (*where, "digit"),
                "digit {digit} is used twice on node '{node}'",
                digit=option.digit,
                node=node_id,
            )
        seen.add(option.digit)
        for language, label in option.label.items():
            # A button sends its label, and the first option with it is taken: the second of two
            # buttons both saying "Draws and results" could never be chosen by pressing it.
            said, taken = normalise(label), labels.setdefault(language, set())
            if said and said in taken:
                yield _problem(
                    (*where, "label", language),
                    "the label '{label}' is used twice on node '{node}'",
                    label=label,
                    node=node_id,
                )
            taken.add(said)
        yield from _check_text((*where, "label"), option.label)
        yield from _check_placeholders((*where, "label"), option.label, set())
        yield from _check_step(flow, where, option.step, known_articles)
    if node.collect is not None:
        where = (*base, "collect")
        if node.collect.kind is FieldKind.PHONE and node.collect.pattern is not None:
            yield _problem(
                (*where, "pattern"), "a phone field is checked as a phone number: leave the pattern out"
            )
        elif node.collect.pattern is not None:
            try:
                compile_pattern(node.collect.pattern)
            except PatternError as exc:  # a{4294967296}, ((((…, (?=…), \1
                yield _problem(
                    (*where, "pattern"),
                    "the pattern is not a valid regular expression: {reason} ({note})",
                    reason=exc.reason,
                    note=ENGINE_NOTE,
                )
        if node.collect.invalid:  # when written at all, in every language like any other text
            yield from _check_text((*where, "invalid"), node.collect.invalid)
            yield from _check_placeholders((*where, "invalid"), node.collect.invalid, set())
        yield from _check_step(flow, where, node.collect.then, known_articles)


def _check_step(
    flow: Flow, where: Path, step: Step, known_articles: Collection[str] | None
) -> Iterator[FlowProblem]:
    if isinstance(step, GoTo) and step.node not in flow.nodes:
        yield _problem((*where, "next"), "there is no node '{node}'", node=step.node)
    elif (
        isinstance(step, AnswerArticle) and known_articles is not None and step.article not in known_articles
    ):
        yield _problem(
            (*where, "answer"), "the knowledge base has no article '{article}'", article=step.article
        )
    elif isinstance(step, CreateTicket) and step.done:
        yield from _check_text((*where, "ticket", "done"), step.done)
        yield from _check_placeholders(
            (*where, "ticket", "done"), step.done, _fields(flow) | {TICKET_PLACEHOLDER}
        )
    elif isinstance(step, Lookup):
        if _chained_lookups(step) > MAX_CHAINED_LOOKUPS:
            yield _problem(
                (*where, "lookup"),
                "at most {limit} lookups may follow one another",
                limit=MAX_CHAINED_LOOKUPS,
            )
            return
        if step.name not in flow.lookups:
            yield _problem(
                (*where, "lookup", "name"), "the lookup '{name}' is not defined in lookups", name=step.name
            )
        yield from _check_text((*where, "lookup", "found"), step.found)
        yield from _check_text((*where, "lookup", "missing"), step.missing)
        # `found` may also name what the lookup answers, which only the lookup's service knows.
        yield from _check_placeholders((*where, "lookup", "missing"), step.missing, _fields(flow))
        yield from _check_step(flow, (*where, "lookup"), step.then, known_articles)


def _chained_lookups(step: Step) -> int:
    chained = 0
    while isinstance(step, Lookup):
        chained, step = chained + 1, step.then
    return chained


def _check_text(where: Path, text: LocalText) -> Iterator[FlowProblem]:
    for language in FLOW_LANGUAGES:
        if not text.get(language, "").strip():
            yield _problem((*where, language), "the text in '{language}' is missing", language=language)


#: What a ticket's confirmation may name besides the fields: the ticket's number.
TICKET_PLACEHOLDER = "ticket"


def _fields(flow: Flow) -> set[str]:
    """The fields some node of the flow collects (which path the customer took is not known)."""
    return {node.collect.field_name for node in flow.nodes.values() if node.collect is not None}


def _check_placeholders(where: Path, text: LocalText, known: set[str]) -> Iterator[FlowProblem]:
    """A placeholder nothing fills reaches the customer as written: "Ticket {tiket} for 7654321",
    or «по заказу {order_number}?» in a prompt, which nothing fills in (`known` empty)."""
    for language in FLOW_LANGUAGES:
        for name in sorted(placeholders(text.get(language, "")) - known):
            if known:
                yield _problem(
                    (*where, language),
                    "nothing fills in {placeholder} here: the fields are {known}",
                    placeholder="{" + name + "}",
                    known=", ".join("{" + k + "}" for k in sorted(known)),
                )
            else:
                yield _problem(
                    (*where, language),
                    "nothing fills in {placeholder} here: this text is sent as written "
                    "(fields can be named in a ticket's or a lookup's texts)",
                    placeholder="{" + name + "}",
                )


def _targets(step: Step) -> Iterator[str]:
    if isinstance(step, GoTo):
        yield step.node
    elif isinstance(step, Lookup):
        yield from _targets(step.then)


def _unreachable(flow: Flow) -> Iterator[FlowProblem]:
    """Nodes no path from the start reaches: usually a typo in some `next`."""
    if flow.start not in flow.nodes:
        return
    reached, todo = {flow.start}, [flow.start]
    while todo:
        node = flow.nodes[todo.pop()]
        steps = [o.step for o in node.options] + ([node.collect.then] if node.collect else [])
        for step in steps:
            for target in _targets(step):
                if target in flow.nodes and target not in reached:
                    reached.add(target)
                    todo.append(target)
    for node_id in flow.nodes:
        if node_id not in reached:
            yield _problem(("nodes", node_id), "node '{node}' cannot be reached from the start", node=node_id)
