"""Reading a flow file: YAML → JSON Schema → domain rules, every problem with its line.

An admin uploads the file in the console; what they need back is not a traceback but
"line 14: node 'balance' has no way to an operator". So the YAML is composed once (it keeps
each value's position), and every problem's path of keys is walked back to a line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from helpline.domain.flows.checks import Path, check_flow
from helpline.domain.flows.model import (
    FLOW_LANGUAGES,
    LOOKUP_TOKEN_ENV_PREFIX,
    AnswerArticle,
    Collect,
    CreateTicket,
    FieldKind,
    Flow,
    GoTo,
    Handoff,
    Lookup,
    LookupEndpoint,
    Node,
    Option,
    Step,
)
from helpline.flows.schema import FLOW_SCHEMA, STEP_KEYS
from helpline.flows.schema import ID_PATTERN as _ID_PATTERN
from helpline.flows.schema import URL_PATTERN as _URL_PATTERN

#: A flow file is a page of YAML, not a data dump; the cap keeps a bad upload cheap to refuse.
MAX_FLOW_BYTES = 256 * 1024
#: Problems reported at most: enough to fix a file, few enough to read.
MAX_PROBLEMS = 50
#: Lists and mappings inside each other: a flow needs about eight.
MAX_NESTING = 32
#: libyaml's parser when PyYAML was built with it (ten times faster on a big flow), else PyYAML's.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_VALIDATOR = Draft202012Validator(FLOW_SCHEMA)


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    #: The reason before its parameters are filled in: what a console translates.
    template: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    #: The path of keys the reason is about ("nodes/main/options/0"), when the reason needs it.
    where: str = ""

    @property
    def reason(self) -> str:
        """The reason in English, filled in."""
        return self.template.format(**self.params)

    @property
    def message(self) -> str:
        """English, after the place in the file when there is one (API, CLI, logs)."""
        return f"{self.where}: {self.reason}" if self.where else self.reason

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def file_problem(line: int | None, template: str, where: str = "", **params: str | int) -> Problem:
    """A problem of the file at `line`: its reason `template`, filled in with `params`."""
    return Problem(line, template, params, where)


@dataclass(frozen=True, slots=True)
class LoadedFlow:
    """The parsed flow (None when the file cannot be read as one) and every problem found."""

    flow: Flow | None
    problems: tuple[Problem, ...]
    #: The plain data of the file (for preview and storage), None when it is not YAML at all.
    data: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.flow is not None and not self.problems


def load_flow(source: str, known_articles: Collection[str] | None = None) -> LoadedFlow:
    """Parse and check `source`; `known_articles` also checks the articles it answers with."""
    if len(source.encode("utf-8", "replace")) > MAX_FLOW_BYTES:
        return LoadedFlow(
            None, (file_problem(None, "the file is larger than {limit} KiB", limit=MAX_FLOW_BYTES // 1024),)
        )
    try:
        problem = _structure_problem(source)
        if problem is not None:
            return LoadedFlow(None, (problem,))
        root = yaml.compose(source, Loader=_Loader)
        data = _construct(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        return LoadedFlow(
            None, (file_problem(mark.line + 1 if mark else None, "not valid YAML: {reason}", reason=reason),)
        )
    if not isinstance(data, dict):
        return LoadedFlow(
            None, (file_problem(1, "a flow file must be a mapping with name, start and nodes"),)
        )
    duplicates = list(islice(_duplicate_keys(root), MAX_PROBLEMS))
    if duplicates:
        return LoadedFlow(None, tuple(duplicates), data)
    schema_problems = sorted(
        (
            _schema_problem(_line(root, tuple(error.absolute_path)), error)
            # A generated file can break a rule a hundred thousand times: the first ones say enough.
            for error in islice(_VALIDATOR.iter_errors(data), 4 * MAX_PROBLEMS)
        ),
        key=lambda p: (p.line or 0, p.message),
    )
    if schema_problems:
        return LoadedFlow(None, tuple(schema_problems[:MAX_PROBLEMS]), data)
    flow = flow_from_data(data)
    problems = tuple(
        Problem(_line(root, p.path), p.template, p.params)
        for p in islice(check_flow(flow, known_articles), MAX_PROBLEMS)
    )
    return LoadedFlow(flow, problems, data)


def flow_from_data(data: Mapping[str, Any]) -> Flow:
    """The domain Flow of schema-valid data (stored versions are re-read through this)."""
    nodes = {node_id: _node(node_id, raw) for node_id, raw in data["nodes"].items()}
    lookups = {
        name: LookupEndpoint(
            name=name,
            url=raw["url"],
            token_env=raw.get("token_env"),
            timeout_seconds=float(raw.get("timeout_seconds", 5.0)),
        )
        for name, raw in (data.get("lookups") or {}).items()
    }
    return Flow(
        name=data["name"],
        start=data["start"],
        nodes=nodes,
        lookups=lookups,
        phrases={key: dict(text) for key, text in (data.get("phrases") or {}).items()},
    )


def flow_articles(flow: Flow) -> set[str]:
    """Every knowledge-base article the flow answers with."""
    return {step.article for step in flow.steps() if isinstance(step, AnswerArticle)}


def _node(node_id: str, raw: Mapping[str, Any]) -> Node:
    collect = raw.get("collect")
    return Node(
        id=node_id,
        prompt=dict(raw["prompt"]),
        options=tuple(
            Option(digit=str(o["digit"]), label=dict(o["label"]), step=_step(o)) for o in raw["options"]
        ),
        collect=(
            Collect(
                field_name=collect["field"],
                then=_step(collect),
                pattern=collect.get("pattern"),
                invalid=dict(collect.get("invalid") or {}),
                kind=FieldKind(collect.get("kind", FieldKind.TEXT.value)),
            )
            if collect
            else None
        ),
        faq=bool(raw.get("faq", True)),
    )


def _step(raw: Mapping[str, Any]) -> Step:
    if "next" in raw:
        return GoTo(raw["next"])
    if "answer" in raw:
        return AnswerArticle(raw["answer"])
    if "handoff" in raw:
        reason = raw["handoff"]["reason"]
        if isinstance(reason, Mapping):  # one per language: the English one is stored and counted
            return Handoff(reason=reason["en"], queue=raw["handoff"].get("queue"), reason_text=dict(reason))
        return Handoff(reason=reason, queue=raw["handoff"].get("queue"))
    if "ticket" in raw:
        ticket = raw["ticket"]
        return CreateTicket(
            subject=ticket["subject"], queue=ticket.get("queue"), done=dict(ticket.get("done") or {})
        )
    lookup = raw["lookup"]
    return Lookup(
        name=lookup["name"], found=dict(lookup["found"]), missing=dict(lookup["missing"]), then=_step(lookup)
    )


def _construct(root: yaml.Node | None) -> Any:
    """The plain data of the composed document (safe types only), without parsing it again."""
    if root is None:
        return None
    loader = _Loader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _duplicate_keys(node: yaml.Node | None) -> Iterator[Problem]:
    """Keys written twice in one mapping: YAML keeps the last silently, so a second `draws:` node
    would replace the first without a word, and problems would point at the wrong copy."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    yield file_problem(
                        key.start_mark.line + 1,
                        "'{key}' is written twice here; the second would replace the first",
                        key=key.value,
                    )
                seen.add(key.value)
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def _structure_problem(source: str) -> Problem | None:
    """What makes a file unsafe to build, found on the event stream before anything is built.

    Anchors and aliases let a few lines expand into millions of values, and flows need none.
    Nesting deeper than a flow ever goes ("[[[[…" a thousand times, in one kilobyte) would
    exhaust the recursion of YAML's composer; a flow nests about eight levels.
    """
    depth = 0
    for event in yaml.parse(source, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, yaml.AliasEvent):
            return file_problem(line, "aliases (*name) are not allowed in a flow")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                return file_problem(line, "nested deeper than {limit} levels", limit=MAX_NESTING)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _line(root: yaml.Node | None, path: Path | Sequence[Any]) -> int | None:
    """The 1-based line of the value at `path`, or of the deepest part of it that exists."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = next((pair for pair in node.value if getattr(pair[0], "value", None) == key), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


#: What a JSON type is called in a flow file's reasons.
_EXPECTED_TYPE = {
    "string": "expected text",
    "integer": "expected a whole number",
    "number": "expected a number",
    "object": "expected keys with values (a mapping)",
    "array": "expected a list",
    "boolean": "expected true or false",
}
_REQUIRED = re.compile(r"^'(.*)' is a required property$", re.S)


def _schema_problem(line: int | None, error: Any) -> Problem:
    """A JSON Schema error as an admin can act on it, in words a console can translate (the
    library's own messages are English and quote its internals, such as whole regexes)."""
    where = "/".join(str(p) for p in error.absolute_path)
    kind, value, instance = error.validator, error.validator_value, error.instance

    def problem(template: str, **params: str | int) -> Problem:
        return file_problem(line, template, where, **params)

    if kind == "anyOf":  # a hand-off's reason: one text, or one per language
        branch = 1 if isinstance(instance, dict) else 0  # the order of the schema's anyOf
        if isinstance(instance, str | dict):
            fitting = [e for e in error.context if e.relative_schema_path[0] == branch]
            return _schema_problem(line, fitting[0])
        return problem(
            "expected text, or the text in each language ({languages})", languages=", ".join(FLOW_LANGUAGES)
        )
    if kind == "oneOf":
        return problem(
            "say what it leads to with exactly one of: {keys}", keys=", ".join(f"'{k}'" for k in STEP_KEYS)
        )
    if kind == "enum" and isinstance(instance, bool):
        word = "yes" if instance else "no"
        return problem(
            'YAML reads a bare {word} as true/false: write the key in quotes, as "{word}"', word=word
        )
    if kind == "pattern" and tuple(error.absolute_path)[-1:] == ("token_env",):
        return problem(
            "the token comes from an environment variable named {prefix}…, "
            "set for lookups by whoever runs the server",
            prefix=LOOKUP_TOKEN_ENV_PREFIX,
        )
    if kind == "required" and (missing := _REQUIRED.match(error.message)):
        return problem("'{key}' is required here", key=missing.group(1))
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = ", ".join(repr(k) for k in sorted(map(str, instance)) if k not in known)
        return problem("not allowed here: {keys}", keys=extra)
    if kind == "type":
        wanted = value if isinstance(value, list) else [value]
        if wanted == ["string", "integer"]:
            return problem("expected text or a whole number")
        if len(wanted) == 1 and wanted[0] in _EXPECTED_TYPE:
            return problem(_EXPECTED_TYPE[wanted[0]])
    if kind == "enum":
        return problem(
            "'{value}' is not one of: {allowed}", value=str(instance), allowed=", ".join(map(str, value))
        )
    if kind == "pattern" and value == _ID_PATTERN:
        return problem(
            "'{value}' is not a usable id: a letter, then letters, digits, _ or -, at most 64 in all",
            value=str(instance),
        )
    if kind == "pattern" and value == _URL_PATTERN:
        return problem("the address must start with http:// or https://")
    limits = {
        "minLength": "must not be empty" if value == 1 else "must be at least {limit} characters long",
        "maxLength": "must be at most {limit} characters long",
        "minItems": "must have at least {limit} items" if value != 1 else "must not be empty",
        "maxItems": "must have at most {limit} items",
        "minProperties": "must not be empty" if value == 1 else "must have at least {limit} entries",
        "maxProperties": "must have at most {limit} entries",
        "maximum": "must be at most {limit}",
        "exclusiveMinimum": "must be more than {limit}",
    }
    if kind in limits and isinstance(value, int | float):
        return problem(limits[kind], limit=str(value))
    return problem("{reason}", reason=error.message)  # rare enough to stay in the library's English
