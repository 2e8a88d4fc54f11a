"""The patterns an admin writes for a collected field (an order number, a ticket code, a name).

They run over what customers type, so they are matched by RE2, whose time is linear in the
message whatever the pattern: with Python's backtracking engine, `(a+)+$` against 30 characters
holds a worker for minutes, and every customer behind it waits. RE2 has no backreferences or
lookarounds; a pattern that uses them is refused when the flow is uploaded, with the reason.

Patterns keep the meaning they had under Python's engine, which validated them before, where
RE2 reads the same text differently: `\\w` is a letter, digit or underscore of any alphabet
(RE2's is ASCII), `{,n}` is 0 to n (RE2's is the literal text), `\\uXXXX`, `\\N{…}` and `\\Z`
are what Python made of them. `\\d` needs no rewriting: every decimal digit of the answer is
matched and kept as ASCII («١٢٣٤٥٦», «१२३४५६» and «１２３４５６» are the same order number, and
the lookup behind the field expects 123456). `\\b` stays ASCII-only.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import re2

from helpline.domain.text import remove_invisible


class PatternError(ValueError):
    """The pattern cannot be compiled for linear-time matching; the message says why."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the reason goes to the admin, not to the server's stderr
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
    (re.compile(r"invalid perl operator: \(\?[a-z]*x"), "the verbose flag (?x) is not supported"),
    (re.compile(r"invalid repetition size|too (large|big)"), "the pattern is too large"),
)
_WHY = r"matched without backtracking; \p{L} is a letter of any alphabet"

_WORD = r"\p{L}\p{N}_"
_EMPTY_UPTO = re.compile(r"\{,(\d*)\}")
_HEX = re.compile(r"[0-9A-Fa-f]+")


def rewritten(pattern: str) -> str:
    """`pattern` in RE2's syntax with the meaning Python's engine gave it (see above)."""
    out: list[str] = []
    i, in_class, class_start = 0, False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escape = pattern[i + 1]
            i += 2
            if escape == "w":
                out.append(_WORD if in_class else f"[{_WORD}]")
            elif escape == "W":
                if in_class:
                    raise PatternError(
                        r"\W inside [...] is not supported: list what is allowed, as [\p{L} -]"
                    )
                out.append(f"[^{_WORD}]")
            elif escape == "Z" and not in_class:
                out.append(r"\z")
            elif escape in "uU":
                width = 4 if escape == "u" else 8
                digits = pattern[i : i + width]
                if len(digits) != width or not _HEX.fullmatch(digits):
                    raise PatternError(f"\\{escape} needs {width} hexadecimal digits")
                out.append(f"\\x{{{digits}}}")
                i += width
            elif escape == "N" and pattern[i : i + 1] == "{":
                end = pattern.find("}", i)
                try:
                    code = ord(unicodedata.lookup(pattern[i + 1 : end])) if end > i else -1
                except KeyError:
                    code = -1
                if code < 0:
                    raise PatternError(r"\N{…} names no character")
                out.append(f"\\x{{{code:x}}}")
                i = end + 1
            else:
                out.append(char + escape)
            continue
        if in_class:
            if char == "]" and i > class_start:
                in_class = False
            elif char == "[":
                char = r"\["  # Python reads a [ inside a class as itself; RE2 may start [:alpha:]
        elif char == "[":
            in_class = True
            class_start = i + 1
            if pattern[class_start : class_start + 1] == "^":
                class_start += 1
                out.append("[^")
                i += 2
                continue
        elif char == "{" and (upto := _EMPTY_UPTO.match(pattern, i)) is not None and upto.group(1):
            out.append(f"{{0,{upto.group(1)}}}")
            i = upto.end()
            continue
        out.append(char)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled pattern, or PatternError with the reason (in the admin's terms)."""
    try:
        return re2.compile(rewritten(pattern), _OPTIONS)
    except PatternError as exc:
        raise PatternError(f"{exc} ({_WHY})") from None
    except re2.error as exc:
        raise PatternError(f"{_explained(exc)} ({_WHY})") from None


def _explained(exc: re2.error) -> str:
    reason = exc.args[0] if exc.args else ""
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    text = str(reason)
    for known, meaning in _UNSUPPORTED:
        if known.search(text):
            return meaning
    return text


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text)


def field_value(pattern: str | None, typed: str, max_chars: int) -> str | None:
    """What to keep for a field the customer typed: the text if it is at most `max_chars` long
    and matches the whole pattern, None if not. A patterned field is a code, so it is kept as
    the code: every decimal digit as ASCII, without invisible characters a copy and paste
    brought along. (Not NFKC: it would turn «№» into «No» and «²» into «2».)"""
    value = typed.strip()
    if len(value) > max_chars:
        return None  # not the answer to the question; the pattern never runs over it
    if pattern is None:
        return value
    value = _ascii_digits(remove_invisible(value)).strip()
    return value if compile_pattern(pattern).fullmatch(value) is not None else None
