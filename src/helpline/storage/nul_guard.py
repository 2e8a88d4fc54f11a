"""No text with a NUL character (U+0000) reaches the database, on either engine.

PostgreSQL cannot store NUL in text or JSONB and fails the statement; SQLite stores it. Left
alone, the same request would be a 500 on PostgreSQL and succeed on SQLite, so a test suite on
SQLite would never see the crash, and a widget that retries 5xx would resend the message forever.
Checking the parameters of every statement makes both engines refuse it the same way, with a
DomainError (a 422), before anything is written, whichever route or service the text came through.
The edges (JSON schemas, message checks, inbound ingest) deal with NUL first and say which field;
this is the net under them.
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


def refuse_nul_characters(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _check(
        _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _executemany: bool
    ) -> None:
        if parameters and holds_nul(parameters):
            raise DomainError("text must not contain the NUL character (U+0000)")
