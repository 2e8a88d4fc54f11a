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
from collections.abc import Mapping
from typing import Any

from psycopg.types.json import Json, Jsonb
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from helpline.domain.errors import DomainError

#: A JSON document's escaped NUL: "\u0000" not preceded by an escaping backslash.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
#: The range of a 64-bit signed integer: SQLite's INTEGER and PostgreSQL's BIGINT.
_INT64 = range(-(2**63), 2**63)


def holds_nul(value: Any) -> bool:
    """Whether a statement parameter carries a NUL: raw, as a JSON escape (SQLite's JSON columns
    reach the driver serialised), or inside psycopg's JSON wrappers (PostgreSQL's JSONB)."""
    if isinstance(value, Json | Jsonb):
        return holds_nul(value.obj)
    if isinstance(value, str):
        return "\x00" in value or ("\\u0000" in value and _JSON_NUL.search(value) is not None)
    if isinstance(value, Mapping):
        return any(holds_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(holds_nul(v) for v in value)
    return False


def holds_lone_surrogate(value: Any) -> bool:
    """Whether a statement parameter holds half of a UTF-16 pair ("\\ud83d" in a JSON body):
    no UTF-8 database can store it, and the driver fails with an encoding error."""
    if isinstance(value, Json | Jsonb):
        return holds_lone_surrogate(value.obj)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, Mapping):
        return any(holds_lone_surrogate(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(holds_lone_surrogate(v) for v in value)
    return False


def holds_huge_integer(value: Any) -> bool:
    """Whether a statement parameter is (or holds) an integer no 64-bit column can take."""
    if isinstance(value, int):
        return value not in _INT64
    if isinstance(value, Mapping):
        return any(holds_huge_integer(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(holds_huge_integer(v) for v in value)
    return False


def refuse_unstorable_parameters(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _check(
        _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _executemany: bool
    ) -> None:
        if not parameters:
            return
        if holds_nul(parameters):
            raise DomainError("text must not contain the NUL character (U+0000)")
        if holds_lone_surrogate(parameters):
            raise DomainError("text must be valid Unicode (half of a surrogate pair was sent)")
        if holds_huge_integer(parameters):
            raise DomainError("a number is out of range (more than 64 bits)")
