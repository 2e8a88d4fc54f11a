"""The patterns an admin writes for a collected field (an order number, a ticket code, a name).

They run over what customers type, so they are matched by RE2, whose time is linear in the
message whatever the pattern: with Python's backtracking engine, `(a+)+$` against 30 characters
holds a worker for minutes, and every customer behind it waits. RE2 has no backreferences or
lookarounds; a pattern that uses them is refused when the flow is uploaded, with the reason.

Patterns keep the meaning they had under Python's engine, which validated them before, where
RE2 reads the same text differently: `\\w` and `\\s` are a letter (or digit, or _) and a space
of any alphabet (RE2's are ASCII), `{,n}` is 0 to n (RE2's is the literal text), `\\uXXXX`,
`\\N{…}`, `\\Z`, `(?u)` and `(?#…)` are what Python made of them. Word boundaries are refused:
RE2's `\\b` knows ASCII letters only, so `\\bИван\\b` would refuse every answer, and a field
pattern matches the whole answer anyway. `\\d` is a digit of any script, as in Python, and the
answer's digits of any script are matched and kept as ASCII («١٢٣٤٥٦», «१२३४५६» and «１２３４５６»
are one order number, and the lookup behind the field expects 123456), and so are fullwidth
letters and odd spaces.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import re2

from helpline.domain.text import remove_invisible


class PatternError(ValueError):
    """The pattern cannot be compiled for linear-time matching; the message says why.

    `reason` is the why alone, in English words a console translates; the message adds, once
    compiled, what the engine is (so the admin knows what is left to write instead)."""

    def __init__(self, reason: str, *, engine_note: bool = False) -> None:
        super().__init__(f"{reason} ({ENGINE_NOTE})" if engine_note else reason)
        self.reason = reason


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
ENGINE_NOTE = r"matched without backtracking; \p{L} is a letter of any alphabet"

#: What Python's `\w` and `\s` match (any alphabet; str.isspace), as RE2 class contents.
_WORD = r"\p{L}\p{N}_"
_SPACE = r"\t-\r\x1c-\x1f\x85\p{Z}"
#: Escapes whose meaning is a class: (contents, negated).
_DIGIT = r"\p{Nd}"
_CLASSES = {
    "w": (_WORD, False),
    "W": (_WORD, True),
    "s": (_SPACE, False),
    "S": (_SPACE, True),
    "d": (_DIGIT, False),
    "D": (_DIGIT, True),
}
_BRACES = re.compile(r"\{,([0-9]*)\}")
#: A repeat count left open: "[0-9]{6,12". Python reads it as the text "{6,12", so the field
#: would never accept a number; refused, as it is surely a typo.
_UNCLOSED_COUNT = re.compile(r"\{(?:[0-9]+,?[0-9]*|,[0-9]+)(?![0-9,}])")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_INLINE_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


def _escaped(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """The RE2 text for the escape at `pattern[i]` (a backslash), and where the pattern goes on."""
    escape = pattern[i + 1]
    after = i + 2
    if escape in _CLASSES:
        contents, negated = _CLASSES[escape]
        if not in_class:
            return f"[{'^' if negated else ''}{contents}]", after
        if negated:
            raise PatternError(
                r"\W, \S and \D inside [...] are not supported: list what is allowed, as [\p{L} -]"
            )
        return contents, after
    if escape in "bB":
        if in_class and escape == "b":
            return r"\x08", after  # Python's backspace
        raise PatternError(
            r"word boundaries (\b, \B) are not supported: a field pattern matches the whole answer"
        )
    if escape == "Z" and not in_class:
        return r"\z", after
    if escape in "uU":
        width = 4 if escape == "u" else 8
        digits = pattern[after : after + width]
        if len(digits) != width or not _HEX.fullmatch(digits):
            raise PatternError(r"\u needs 4 hexadecimal digits, \U needs 8")
        return f"\\x{{{digits}}}", after + width
    if escape == "N" and pattern[after : after + 1] == "{":
        end = pattern.find("}", after)
        try:
            named = unicodedata.lookup(pattern[after + 1 : end]) if end > after else ""
        except KeyError:
            named = ""
        if len(named) != 1:  # unknown, or a named sequence of several characters
            raise PatternError(r"\N{…} names no character")
        return f"\\x{{{ord(named):x}}}", end + 1
    return pattern[i : i + 2], after


def _after_comment(pattern: str, i: int) -> int:
    """Where the pattern goes on after the comment `(?#…)` at `i` (an escaped ")" is inside it)."""
    j = i + 3
    while j < len(pattern):
        if pattern[j] == "\\":
            j += 2
        elif pattern[j] == ")":
            return j + 1
        else:
            j += 1
    raise PatternError("missing ): unterminated comment (?#…")


def _flags(found: re.Match[str]) -> str:
    """An inline flag group in RE2's terms: Unicode matching is the rule here, (?u) says nothing."""
    flags = found.group(1).replace("u", "")
    if "a" in flags or "L" in flags:
        raise PatternError("the flags (?a) and (?L) are not supported: patterns match any alphabet")
    return f"(?{flags})" if flags else ""


def rewritten(pattern: str) -> str:
    """`pattern` in RE2's syntax with the meaning Python's engine gave it (see above)."""
    out: list[str] = []
    i, in_class, class_start = 0, False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            text, i = _escaped(pattern, i, in_class)
            out.append(text)
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
        elif char == "{" and (braces := _BRACES.match(pattern, i)) is not None:
            out.append(f"{{0,{braces.group(1)}}}")  # {,n} and {,} count from 0
            i = braces.end()
            continue
        elif char == "{" and _UNCLOSED_COUNT.match(pattern, i) is not None:
            raise PatternError("a repeat count {…} is not closed")
        elif pattern.startswith("(?#", i):  # a comment
            i = _after_comment(pattern, i)
            continue
        elif (flags := _INLINE_FLAGS.match(pattern, i)) is not None:
            out.append(_flags(flags))
            i = flags.end()
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
        raise PatternError(exc.reason, engine_note=True) from None
    except re2.error as exc:
        raise PatternError(_explained(exc), engine_note=True) from None


def _explained(exc: re2.error) -> str:
    reason = exc.args[0] if exc.args else ""
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    text = str(reason)
    for known, meaning in _UNSUPPORTED:
        if known.search(text):
            return meaning
    return text


#: Fullwidth ASCII (a phone's or an IME's keyboard) as ASCII.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}


def _folded(text: str) -> str:
    """Digits of any script and fullwidth letters as ASCII, any space as a space."""
    return "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else " " if c.isspace() else c
        for c in text.translate(_FULLWIDTH)
    )


def whole_value(pattern: str | None, typed: str, max_chars: int) -> str | None:
    """What to keep for a field the customer typed: the text if it is at most `max_chars` long
    and matches the whole pattern, None if not. A patterned field is a code, so it is kept as
    the code: digits of any script and fullwidth letters as ASCII, any space as a space, without
    invisible characters a copy and paste brought along; as typed if only that matches (a
    pattern that spells out Devanagari digits). Not NFKC: it would turn «№» into «No»."""
    value = typed.strip()
    if len(value) > max_chars:
        return None  # not the answer to the question; the pattern never runs over it
    if pattern is None:
        return value
    return _matching(compile_pattern(pattern), remove_invisible(value).strip())


def field_value(pattern: str | None, typed: str, max_chars: int) -> str | None:
    """`whole_value`, or the one word of the text that matches the pattern: people answer in
    sentences ("my order number is 1234567", "заказ №1234567", "#123-456-789"). A word is taken
    without the punctuation around it, and a code in dashed groups without its dashes if only
    that form matches; two words that match differently are no answer."""
    whole = whole_value(pattern, typed, max_chars)
    if whole is not None or pattern is None or len(typed.strip()) > max_chars:
        return whole
    compiled = compile_pattern(pattern)
    found: set[str] = set()
    for word in remove_invisible(typed).split():
        bare = word.strip(_AROUND_A_WORD)
        match = _matching(compiled, bare) if bare else None
        if match is None and _GROUPED_CODE.fullmatch(bare):
            match = _matching(compiled, bare.replace("-", ""))
        if match is not None:
            found.add(match)
    return found.pop() if len(found) == 1 else None


#: A code written in dashed groups of three or more ("123-456-789"): its dashes are left out.
#: Not a date ("2024-05-12") or a dashed phone number ("8-916-123-45-67"), whose short groups
#: would otherwise join into a plausible order number.
_GROUPED_CODE = re.compile(r"[^\W_]{3,}(?:-[^\W_]{3,})+")
#: What may stand around the code in a sentence: «№1234567», "(1234567)", "1234567.", "#1234567".
_AROUND_A_WORD = "\"'«»“”„()[]{}<>.,;:!?¿¡،؟؛…#№*"


def _matching(compiled: re2._Regexp, text: str) -> str | None:
    for candidate in (_folded(text).strip(), text):
        if compiled.fullmatch(candidate) is not None:
            return candidate
    return None
