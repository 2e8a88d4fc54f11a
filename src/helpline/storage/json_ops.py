"""JSON-array membership as SQL on both databases.

Tags are small JSON lists; asking "does this list contain X" needs JSONB's `?` operator on
PostgreSQL and json_each on SQLite. The expression compiles per dialect, so queries that
use it stay one code path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean


class json_array_contains(FunctionElement[bool]):
    """`json_array_contains(column, value)`: true when the JSON array in `column` holds `value`."""

    inherit_cache = True
    type = Boolean()
    name = "json_array_contains"


def _parts(element: json_array_contains, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    # Both parts are compiled SQL elements; the value is always a bound parameter, never text.
    column, value = list(element.clauses)
    return compiler.process(column, **kw), compiler.process(value, **kw)


@compiles(json_array_contains, "sqlite")
def _sqlite(element: json_array_contains, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = _parts(element, compiler, **kw)
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {value})"  # noqa: S608


@compiles(json_array_contains, "postgresql")
def _postgresql(element: json_array_contains, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = _parts(element, compiler, **kw)
    return f"({column} ? {value})"
