"""The domain's rules and invariants, without I/O (property-based where a rule has an invariant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline.domain.access import Viewer, can_assign, can_view_conversation
from helpline.domain.contacts import (
    ContactFields,
    Language,
    check_merge,
    merge_contact_fields,
    normalise_tags,
)
from helpline.domain.conversations import (
    KEPT_BY_CUSTOMER_MESSAGE,
    REOPEN_WINDOW,
    ConversationStatus,
    InboundTarget,
    LatestConversation,
    check_status_change,
    choose_inbound_target,
)
from helpline.domain.errors import DomainError
from helpline.domain.identities import IdentityKind, normalise_identity
from helpline.domain.users import Role
from helpline.services.passwords import check_password_strength, hash_password, verify_password
from helpline.services.ratelimit import SlidingWindowLimiter

# --- identities -----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["8 912 345-67-89", "+7 (912) 345-67-89", "9123456789", "89123456789"])
def test_russian_numbers_normalise_to_e164(typed: str) -> None:
    assert normalise_identity(IdentityKind.PHONE, typed).value == "+79123456789"


def test_foreign_numbers_keep_their_country() -> None:
    assert normalise_identity("phone", "+971 50 123 4567").value == "+971501234567"
    assert normalise_identity("phone", "07700 900123", default_region="GB").value == "+447700900123"


@pytest.mark.parametrize("garbage", ["not a number", "12", "+", ""])
def test_non_numbers_are_refused_naming_the_field(garbage: str) -> None:
    with pytest.raises(DomainError) as err:
        normalise_identity(IdentityKind.PHONE, garbage)
    assert err.value.field == "value"


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert normalise_identity("email", "  Maria@Example.COM ").value == "maria@example.com"
    for bad in ["no-at-sign", "a@b", "two words@example.com", "@example.com"]:
        with pytest.raises(DomainError):
            normalise_identity("email", bad)


def test_unknown_kind_and_bad_values() -> None:
    with pytest.raises(DomainError) as err:
        normalise_identity("pigeon", "x")
    assert err.value.field == "kind"
    with pytest.raises(DomainError):
        normalise_identity("telegram", "   ")
    with pytest.raises(DomainError):
        normalise_identity("telegram", "9" * 256)


REGIONS = ["RU", "GB", "AE", "SA", "EG", "US", "DE", "KZ"]


@settings(max_examples=60)
@given(
    region=st.sampled_from(REGIONS),
    last_digits=st.integers(min_value=0, max_value=9999),
    style=st.sampled_from(
        [
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.E164,
            phonenumbers.PhoneNumberFormat.RFC3966,
        ]
    ),
)
def test_any_formatting_of_a_number_normalises_to_one_idempotent_value(
    region: str, last_digits: int, style: int
) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    number = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{last_digits:04d}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    formatted = phonenumbers.format_number(number, style).removeprefix("tel:")
    once = normalise_identity(IdentityKind.PHONE, formatted)
    assert once.value == e164
    assert normalise_identity(IdentityKind.PHONE, once.value) == once


@given(st.emails())
def test_email_normalisation_is_idempotent(address: str) -> None:
    once = normalise_identity(IdentityKind.EMAIL, address.upper())
    assert once.value == address.lower()
    assert normalise_identity(IdentityKind.EMAIL, once.value) == once


# --- contacts -------------------------------------------------------------------------------------


def test_tags_are_cleaned_and_deduplicated_in_order() -> None:
    assert normalise_tags([" VIP", "vip", "", "Lottery ", "new"]) == ["vip", "lottery", "new"]
    with pytest.raises(DomainError):
        normalise_tags(["x" * 65])
    with pytest.raises(DomainError):
        normalise_tags([f"t{i}" for i in range(51)])


tags = st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=5), max_size=6)
attributes = st.dictionaries(
    st.sampled_from(["tier", "city", "since", "note"]), st.text(max_size=5), max_size=4
)
fields = st.builds(
    ContactFields,
    name=st.none() | st.text(min_size=1, max_size=8),
    language=st.none() | st.sampled_from(list(Language)),
    is_vip=st.booleans(),
    personal_manager_id=st.none() | st.integers(1, 5),
    tags=tags.map(tuple),
    attributes=attributes,
)


@given(target=fields, source=fields)
def test_merge_keeps_everything_and_prefers_the_target(target: ContactFields, source: ContactFields) -> None:
    merged = merge_contact_fields(target, source)
    assert merged.name == (target.name or source.name)
    assert merged.language == (target.language or source.language)
    assert merged.personal_manager_id == (target.personal_manager_id or source.personal_manager_id)
    assert merged.is_vip == (target.is_vip or source.is_vip)
    assert set(merged.tags) == set(normalise_tags([*target.tags, *source.tags]))
    assert set(merged.attributes) == set(target.attributes) | set(source.attributes)
    for key, value in target.attributes.items():
        assert merged.attributes[key] == value


def test_merge_refuses_self_and_repeated_merges() -> None:
    with pytest.raises(DomainError):
        check_merge(1, 1, None, None)
    with pytest.raises(DomainError):
        check_merge(1, 2, source_merged_into=3, target_merged_into=None)
    with pytest.raises(DomainError):
        check_merge(1, 2, source_merged_into=None, target_merged_into=3)
    check_merge(1, 2, None, None)


# --- conversations --------------------------------------------------------------------------------

S = ConversationStatus


@given(st.sampled_from(list(S)))
def test_closed_is_final_and_staying_put_is_allowed(new: ConversationStatus) -> None:
    check_status_change(new, new)
    if new is not S.CLOSED:
        with pytest.raises(DomainError) as err:
            check_status_change(S.CLOSED, new)
        assert err.value.field == "status"


def test_working_transitions() -> None:
    for new in (S.PENDING, S.RESOLVED, S.CLOSED):
        check_status_change(S.OPEN, new)
    check_status_change(S.RESOLVED, S.OPEN)
    with pytest.raises(DomainError):
        check_status_change(S.RESOLVED, S.PENDING)


NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_where_an_inbound_message_goes() -> None:
    assert choose_inbound_target(None, NOW) is InboundTarget.NEW
    for status in (S.OPEN, S.PENDING):
        assert choose_inbound_target(LatestConversation(1, status, None), NOW) is InboundTarget.APPEND
    recent = LatestConversation(1, S.RESOLVED, NOW - REOPEN_WINDOW + timedelta(seconds=1))
    old = LatestConversation(1, S.RESOLVED, NOW - REOPEN_WINDOW - timedelta(seconds=1))
    assert choose_inbound_target(recent, NOW) is InboundTarget.REOPEN
    assert choose_inbound_target(old, NOW) is InboundTarget.NEW


@given(
    st.sampled_from(sorted(KEPT_BY_CUSTOMER_MESSAGE)),
    st.datetimes(timezones=st.just(UTC)),
    st.none() | st.datetimes(timezones=st.just(UTC)),
)
def test_a_conversation_kept_as_it_is_always_takes_the_message(
    status: ConversationStatus, now: datetime, resolved_at: datetime | None
) -> None:
    # PostgreSQL's ingest appends to these in SQL, without asking choose_inbound_target.
    assert choose_inbound_target(LatestConversation(1, status, resolved_at), now) is InboundTarget.APPEND


@given(st.datetimes(timezones=st.just(UTC)), st.none() | st.datetimes(timezones=st.just(UTC)))
def test_a_closed_conversation_never_takes_new_messages(now: datetime, resolved_at: datetime | None) -> None:
    assert choose_inbound_target(LatestConversation(1, S.CLOSED, resolved_at), now) is InboundTarget.NEW


# --- roles and access -----------------------------------------------------------------------------


@given(st.sampled_from(list(Role)), st.sampled_from(list(Role)), st.sampled_from(list(Role)))
def test_roles_form_a_total_order(a: Role, b: Role, c: Role) -> None:
    assert a.at_least(a)
    assert a.at_least(b) or b.at_least(a)
    if a.at_least(b) and b.at_least(c):
        assert a.at_least(c)
    assert Role.ADMIN.at_least(Role.SUPERVISOR)
    assert Role.SUPERVISOR.at_least(Role.AGENT)
    assert not Role.AGENT.at_least(Role.SUPERVISOR)


ids = st.none() | st.integers(1, 4)


@given(
    me=st.integers(1, 4),
    teams=st.frozensets(st.integers(1, 4)),
    assignee=ids,
    team=ids,
    role=st.sampled_from(list(Role)),
)
def test_agents_never_see_colleagues_work_outside_their_teams(
    me: int, teams: frozenset[int], assignee: int | None, team: int | None, role: Role
) -> None:
    viewer = Viewer(me, role, teams)
    visible = can_view_conversation(viewer, assignee, team)
    if role is not Role.AGENT:
        assert visible
    elif assignee not in (None, me) and team is not None and team not in teams:
        assert not visible
    elif assignee == me or team is None or team in teams:
        assert visible


def test_assignment_rules() -> None:
    agent = Viewer(1, Role.AGENT, frozenset({10}))
    assert can_assign(agent, 1, {10}, 10)
    assert can_assign(agent, 2, {10, 11}, None)
    assert not can_assign(agent, 3, {11}, None)
    assert not can_assign(agent, 1, {10}, 11)
    assert can_assign(Viewer(1, Role.SUPERVISOR, frozenset()), 3, {11}, 11)


# --- passwords and throttling ---------------------------------------------------------------------


def test_password_hashes_verify_only_the_right_password() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong horse battery")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("not a hash", "x")
    with pytest.raises(DomainError) as err:
        check_password_strength("short")
    assert err.value.field == "password"


def test_sliding_window_limiter() -> None:
    now = [1000.0]
    limiter = SlidingWindowLimiter(limit=3, window_seconds=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("k") == 0
        limiter.hit("k")
    assert limiter.retry_after("k") == pytest.approx(60)
    assert limiter.retry_after("other") == 0
    now[0] += 30
    assert limiter.retry_after("k") == pytest.approx(30)
    now[0] += 31
    assert limiter.retry_after("k") == 0
    limiter.hit("k")
    limiter.reset("k")
    assert limiter.retry_after("k") == 0


# --- attachments ----------------------------------------------------------------------------------


def test_uploads_are_judged_by_their_bytes() -> None:
    from helpline.domain.attachments import MAX_ATTACHMENT_BYTES, safe_filename, sniff

    assert sniff(b"\x89PNG\r\n\x1a\n....") == ("image/png", ".png")
    assert sniff(b"\xff\xd8\xff\xe0....") == ("image/jpeg", ".jpg")
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ("image/webp", ".webp")
    assert sniff(b"%PDF-1.7\n") == ("application/pdf", ".pdf")
    for bad in (b"MZ\x90\x00", b"<html><script>", b"", b"%PDF-" + b"0" * MAX_ATTACHMENT_BYTES):
        with pytest.raises(DomainError) as err:
            sniff(bad)
        assert err.value.field == "file"
    assert safe_filename("../../etc/passwd\x07 photo.jpeg", ".png") == "passwd photo.png"
    assert safe_filename("C:\\Users\\me\\scan.PDF", ".pdf") == "scan.pdf"
    assert safe_filename(None, ".pdf") == "file.pdf"
    assert safe_filename("  ...  ", ".jpg") == "file.jpg"


def test_sliding_window_limiter_forgets_stale_keys_when_flooded() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(limit=3, window_seconds=60, clock=lambda: now[0], max_keys=100)
    for n in range(100):
        limiter.hit(f"ip:{n}")
    now[0] += 61  # every one of them is out of the window now
    limiter.hit("ip:new")
    assert len(limiter) == 1
    for n in range(150):  # fresh keys are all kept: the cap drops only stale ones
        limiter.hit(f"fresh:{n}")
    assert len(limiter) == 151


@pytest.mark.parametrize(
    ("text", "phones"),
    [
        ("Contact: Мария +79123456789", ["+79123456789"]),
        ("мой номер 8 912 345-67-89, повторю: +7 (912) 345-67-89", ["+79123456789"]),
        ("رقمي +971 50 123 4567", ["+971501234567"]),
        ("заказ 123456789 от 2024-05-01, билет 0012345", []),
        ("", []),
    ],
)
def test_phones_in_text_finds_valid_numbers_once(text: str, phones: list[str]) -> None:
    from helpline.domain.identities import phones_in_text

    assert phones_in_text(text) == phones


@given(st.text(max_size=300))
def test_phones_in_text_gives_normalised_numbers_only(text: str) -> None:
    from helpline.domain.identities import normalise_phone, phones_in_text

    found = phones_in_text(text, limit=3)
    assert len(found) <= 3
    assert len(set(found)) == len(found)
    assert all(normalise_phone(phone) == phone for phone in found)
