"""What every part that reads customers' text agrees on: what is invisible, which digits are
digits, which Arabic marks are spelling aids, and what no database can store.

The flow runtime (operator words, keys), the bot's classifier (n-grams and encoder input), the
request schemas, inbound ingest and storage's last check all read text; one definition here
keeps them from drifting apart (they had three copies of the digit table and two of the marks).
"""

from __future__ import annotations

import re

#: Format characters (Unicode category Cf as of Unicode 15.1, Python 3.13's ``unicodedata``;
#: written out because building it from ``unicodedata`` at import takes 0.15 s): soft hyphen,
#: zero-width space/joiners, bidi marks and embeddings, word joiner, BOM, tags… They are
#: invisible, so they carry nothing a customer meant, but left in they split a word in two (a
#: pasted "тираж" with a soft hyphen inside matched nothing, «опе­ратор» reached nobody).
FORMAT_CHARACTERS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)
#: Arabic harakat, Quranic marks and tatweel: spelling aids and stretching, not letters.
ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
#: Arabic-Indic and Persian digits as ASCII (NFKC folds fullwidth ones, not these).
ASCII_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def remove_invisible(text: str) -> str:
    """``text`` without format characters (soft hyphens, zero-width and bidi marks…)."""
    return FORMAT_CHARACTERS.sub("", text)


def unstorable_reason(text: str) -> str | None:
    """Why no database can store ``text`` (PostgreSQL refuses NUL; no UTF-8 store takes half a
    surrogate pair, which a JSON body can carry as "\\ud83d"), or None when it can."""
    if "\x00" in text:
        return "the NUL character (U+0000)"
    if has_lone_surrogate(text):
        return "half of a surrogate pair"
    return None


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def storable(text: str) -> str:
    """``text`` without NULs, and with lone surrogates as U+FFFD: what a database can hold."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if has_lone_surrogate(text):
        text = "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text
