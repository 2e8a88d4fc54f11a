"""The patterns an admin writes for a collected field (an order number, a ticket code).

They run over what customers type, so they are matched by RE2, whose time is linear in the
message whatever the pattern: with Python's backtracking engine, `(a+)+$` against 30 characters
holds a worker for minutes, and every customer behind it waits. RE2 has no backreferences or
lookarounds; a pattern that uses them is refused when the flow is uploaded, with the reason.

Digits are matched and kept as ASCII: a customer on an Arabic keyboard types «١٢٣٤٥٦» for the
same order number, and the lookup behind the field expects 123456.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import re2

from helpline.domain.text import ASCII_DIGITS, remove_invisible

#: Memory RE2 may use for one compiled pattern; `(a{999}){999}` and the like are refused.
_MAX_PROGRAM_BYTES = 1 << 20


class PatternError(ValueError):
    """The pattern cannot be compiled for linear-time matching; the message says why."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the reason goes to the admin, not to the server's stderr
    options.max_mem = _MAX_PROGRAM_BYTES
    return options


_OPTIONS = _options()


#: RE2's reasons for what only a backtracking engine can do, in the admin's terms.
_UNSUPPORTED = (
    (re.compile(r"invalid escape sequence: \\[1-9k]"), r"backreferences (\1, \k<name>) are not supported"),
    (re.compile(r"invalid perl operator: \(\?P=?$"), "backreferences (?P=name) are not supported"),
    (re.compile(r"invalid perl operator: \(\?[=!]"), "lookaheads (?=…) and (?!…) are not supported"),
    (re.compile(r"invalid perl operator: \(\?<"), "lookbehinds (?<=…) and (?<!…) are not supported"),
    (re.compile(r"invalid perl operator: \(\?>"), "atomic groups (?>…) are not supported"),
    (re.compile(r"bad repetition operator: [*+?]\+"), "possessive quantifiers (++, *+) are not supported"),
    (
        re.compile(r"invalid repetition size|too (large|big)"),
        "the pattern is too large: nested repeat counts multiply",
    ),
)
_WHY = r"matched without backtracking: \d and \w are ASCII, \p{L} is a letter of any alphabet"


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled pattern, or PatternError with RE2's reason (in the admin's terms)."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise PatternError(f"{_explained(exc)} ({_WHY})") from None


def _explained(exc: re2.error) -> str:
    reason = exc.args[0] if exc.args else ""
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    text = str(reason)
    for known, meaning in _UNSUPPORTED:
        if known.match(text):
            return meaning
    return text


def field_value(pattern: str | None, typed: str) -> str | None:
    """What to keep for a field the customer typed: the text if it matches the whole pattern, None
    if it does not. A patterned field is a code, so it is kept as the code: fullwidth and
    Arabic-Indic digits as ASCII, without invisible characters a copy and paste brought along."""
    value = typed.strip()
    if pattern is None:
        return value
    value = remove_invisible(unicodedata.normalize("NFKC", value)).translate(ASCII_DIGITS).strip()
    return value if compile_pattern(pattern).fullmatch(value) is not None else None
