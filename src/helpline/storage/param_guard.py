"""Statement parameters that one engine would store and the other refuse never reach either.

PostgreSQL cannot store a NUL character (U+0000) in text or JSONB, and SQLite stores it; SQLite
overflows on an integer beyond 64 bits, and PostgreSQL's BIGINT fails one too. Left alone, such a
value (a NUL in a message, `/versions/99999999999999999999` in a URL) is a 500 on one engine or
both, a test suite on SQLite never sees the PostgreSQL crash, and a widget that retries 5xx
resends the message forever. Checking the parameters of every statement makes both engines refuse
them the same way, with a DomainError (a 422), before anything is written, whichever route or
service the value came through. The edges (JSON schemas, message checks, inbound ingest) deal with
them first and name the field; this is the net under them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from psycopg.types.json import Json, Jsonb
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline.domain.errors import DomainError
from helpline.domain.text import has_lone_surrogate

#: A JSON document's escaped NUL: "\u0000" not preceded by an escaping backslash.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
#: The range of a 64-bit signed integer: SQLite's INTEGER and PostgreSQL's BIGINT.
_INT64 = range(-(2**63), 2**63)


def _leaves(value: Any) -> Iterator[Any]:
    """The plain values of a statement's parameters, inside dicts, lists, tuples and psycopg's
    JSON wrappers (PostgreSQL's JSONB reaches the driver as one)."""
    if isinstance(value, Json | Jsonb):
        yield from _leaves(value.obj)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _json_nul(text: str) -> bool:
    """A NUL as a JSON escape: SQLite's JSON columns reach the driver serialised."""
    return "\\u0000" in text and _JSON_NUL.search(text) is not None


def holds_nul(value: Any) -> bool:
    return any(isinstance(v, str) and ("\x00" in v or _json_nul(v)) for v in _leaves(value))


def holds_lone_surrogate(value: Any) -> bool:
    return any(isinstance(v, str) and has_lone_surrogate(v) for v in _leaves(value))


def holds_huge_integer(value: Any) -> bool:
    return any(isinstance(v, int) and v not in _INT64 for v in _leaves(value))


def _problem(parameters: Any) -> DomainError | None:
    """What in the parameters no database can store, in one walk over them (what
    unstorable_reason finds, or a NUL as a JSON escape), each a reason the console translates."""
    for value in _leaves(parameters):
        if isinstance(value, str):
            if "\x00" in value:
                return DomainError("text must not contain the NUL character (U+0000)")
            if has_lone_surrogate(value):
                return DomainError("text must not contain half of a surrogate pair")
            if _json_nul(value):
                return DomainError("text must not contain the NUL character (U+0000)")
        elif isinstance(value, int) and value not in _INT64:
            return DomainError("a number is out of range (more than 64 bits)")
    return None


def refuse_unstorable_parameters(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _check(
        _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _executemany: bool
    ) -> None:
        if parameters and (problem := _problem(parameters)) is not None:
            raise problem
