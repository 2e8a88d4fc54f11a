"""Console text in Russian, English and Arabic (gettext catalogues maintained with Babel).

The .po files are the source; they are compiled in memory at first use, so there is no
build step and no binary .mo file in the repository. English is the source language.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from helpline.domain.contacts import RTL_LANGUAGES, Language

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"


@cache
def translations(language: Language) -> gettext.NullTranslations:
    po = LOCALE_DIR / language.value / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language is Language.EN or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=language.value)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def text_direction(language: Language) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"


def language_of(value: str | None) -> Language:
    try:
        return Language(value or "en")
    except ValueError:
        return Language.EN


def browser_language(accept_language: str) -> Language | None:
    """The first of ours an Accept-Language header names ("de,ru;q=0.8" → ru), None for none."""
    for part in accept_language.split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in _CODES:
            return Language(code)
    return None


_CODES = frozenset(language.value for language in Language)
