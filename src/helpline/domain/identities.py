"""Channel identities: how one customer is recognised on each channel.

A customer writes from a phone, an e-mail address, a Telegram account… Each of those is an
identity, and identities are compared after normalisation so that "+7 (912) 345-67-89" and
"89123456789" find the same person.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from helpline.domain.errors import DomainError


class IdentityKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    VIBER = "viber"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    VK = "vk"
    WEBCHAT = "webchat"


#: Kinds whose value is a phone number and therefore normalised to E.164.
PHONE_KINDS = frozenset({IdentityKind.PHONE})

MAX_IDENTITY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Identity:
    """A normalised (kind, value) pair; equal pairs denote the same customer."""

    kind: IdentityKind
    value: str


def normalise_phone(raw: str, default_region: str = "RU") -> str:
    """Return the E.164 form of a phone number, or raise DomainError if it is not one.

    A national number without a country code is read in `default_region` (the operator's
    country), which is how customers usually type their own number.
    """
    try:
        parsed = phonenumbers.parse(raw, None if raw.strip().startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise _unparsable(str(exc)) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise DomainError("not a possible phone number", field="value")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


#: phonenumbers' refusals of a number ("(1) The string supplied did not seem to be a phone
#: number.") as the API has always worded them, each a reason the console translates (written as
#: refusals so the catalogue's test finds them).
_WORDED = frozenset(
    error.reason
    for error in (
        DomainError(
            "not a phone number: (1) The string supplied did not seem to be a phone number.", "value"
        ),
        DomainError("not a phone number: (1) The phone-context value is invalid", "value"),
        DomainError("not a phone number: (0) Could not interpret numbers after plus-sign.", "value"),
        DomainError("not a phone number: (0) Country calling code supplied was not recognised.", "value"),
        DomainError("not a phone number: (0) Missing or invalid default region.", "value"),
        DomainError(
            "not a phone number: (2) Phone number had an IDD, but after this was not long enough"
            " to be a viable phone number.",
            "value",
        ),
        DomainError(
            "not a phone number: (3) The string supplied is too short to be a phone number.", "value"
        ),
        DomainError("not a phone number: (4) The string supplied is too long to be a phone number.", "value"),
        DomainError("not a phone number: (4) The string supplied was too long to parse.", "value"),
    )
)


def _unparsable(said: str) -> DomainError:
    """phonenumbers' refusal in the words above; a reason a later version of the library adds is
    shown in its own words."""
    english = f"not a phone number: {said}"
    if english in _WORDED:
        return DomainError(english, field="value")
    return DomainError("not a phone number: {problem}", field="value", problem=said)


def normalise_email(raw: str) -> str:
    """Lower-case an address and check its rough shape (one @, something on both sides).

    Full RFC 5322 validation rejects real addresses customers use; delivery is the real test.
    """
    value = raw.strip().lower()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or "." not in domain or any(c.isspace() for c in value):
        raise DomainError("not an e-mail address", field="value")
    return value


def normalise_identity(kind: IdentityKind | str, raw: str, default_region: str = "RU") -> Identity:
    """Normalise `raw` for `kind`; raise DomainError (field "value" or "kind") if invalid."""
    try:
        kind = IdentityKind(kind)
    except ValueError as exc:
        raise DomainError("unknown identity kind {kind}", field="kind", kind=repr(kind)) from exc
    if kind in PHONE_KINDS:
        value = normalise_phone(raw, default_region)
    elif kind is IdentityKind.EMAIL:
        value = normalise_email(raw)
    else:
        value = raw.strip()
    if not value:
        raise DomainError("identity value is empty", field="value")
    if len(value) > MAX_IDENTITY_LENGTH:
        raise DomainError("identity value longer than {limit}", field="value", limit=MAX_IDENTITY_LENGTH)
    return Identity(kind, value)


def phones_in_text(text: str, default_region: str = "RU", limit: int = 5) -> list[str]:
    """Valid phone numbers written in a message, in E.164, first mention first, at most ``limit``.

    Customers type their number ("my number is 8 912 345-67-89") or share a contact card (Viber
    and Telegram contacts arrive as "Contact: Name +7…"). Such a number is only a clue, never an
    identity by itself: anyone can type anyone's number. The console offers it to the agent,
    who decides. Only numbers valid for their country count, so order and ticket numbers
    are not mistaken for phones.
    """
    found: list[str] = []
    matcher = phonenumbers.PhoneNumberMatcher(text, default_region, leniency=phonenumbers.Leniency.VALID)
    for match in matcher:
        number = str(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
        if number not in found:
            found.append(number)
        if len(found) >= limit:
            break
    return found
