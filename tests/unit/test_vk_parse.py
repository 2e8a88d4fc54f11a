"""VK Callback API notifications, as VK documents them, turned into what Helpline stores."""

from __future__ import annotations

import contextlib
import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.channels.base import ReplyOption
from helpline.channels.vk.parse import (
    OPTION_KEY,
    CallbackEnvelope,
    MediaRef,
    VkInbound,
    VkRead,
    option_payload,
    parse_envelope,
    parse_event,
)
from helpline.channels.vk.receive import configured_group_id
from helpline.channels.vk.send import MAX_LABEL, inline_keyboard, random_id

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vk"
MARIA = 743784474
GROUP = 218400119
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def event(body: dict[str, Any]) -> VkInbound | VkRead | None:
    return parse_event(parse_envelope(body), received_at=NOW)


def inbound(body: dict[str, Any]) -> VkInbound:
    result = event(body)
    assert isinstance(result, VkInbound)
    return result


# --- the recorded notifications -------------------------------------------------------------------


def test_envelope_of_a_confirmation_has_no_secret_or_event_id() -> None:
    assert parse_envelope(fixture("confirmation")) == CallbackEnvelope(
        type="confirmation", group_id=GROUP, event_id=None, secret=None, object=None
    )
    assert event(fixture("confirmation")) is None


def test_text_message_from_a_private_dialog() -> None:
    body = fixture("message_new_text")
    envelope = parse_envelope(body)
    assert (envelope.type, envelope.group_id, envelope.secret) == ("message_new", GROUP, "Xq7LmR2vT9pZ")
    assert envelope.event_id == "7c6f2a4e9d1b3c5a8e0f2d4b6a8c0e1f3a5b7d90"
    assert inbound(body) == VkInbound(
        provider_message_id="1024",
        user_id=MARIA,
        peer_id=MARIA,
        text="Здравствуйте! Не могу оплатить заказ №4821, карта отклоняется.",
        sent_at=datetime.fromtimestamp(1718101234, UTC),
        media=(),
        language="ru",
    )


def test_photo_keeps_the_largest_size_and_the_text() -> None:
    result = inbound(fixture("message_new_photo"))
    assert result.text == "Вот скриншот ошибки при оплате"
    (photo,) = result.media
    assert photo.url.startswith("https://sun9-32.userapi.com/impg/c2/shot_w.jpg?size=1280x960")
    assert (photo.kind, photo.content_type) == ("photo", "image/jpeg")


def test_largest_photo_by_letter_when_sizes_have_no_dimensions() -> None:
    body = fixture("message_new_photo")
    for size in body["object"]["message"]["attachments"][0]["photo"]["sizes"]:
        size["width"] = size["height"] = 0
    assert "shot_w.jpg" in inbound(body).media[0].url


def test_document_keeps_its_name_type_and_size() -> None:
    (doc,) = inbound(fixture("message_new_doc")).media
    assert doc == MediaRef(
        url="https://vk.com/doc743784474_669012345?hash=9f8e7d6c5b&dl=GE2TSNJQGE2DEMA&api=1&no_preview=1",
        kind="doc",
        filename="Договор.pdf",
        content_type="application/pdf",
        size=14854,
    )


def test_voice_note_prefers_the_ogg_original() -> None:
    result = inbound(fixture("message_new_audio_message"))
    assert result.text == ""
    assert result.media == (
        MediaRef(
            url="https://psv4.userapi.com/c237231//u743784474/audiomsg/d1/2a3b4c5d6e.ogg",
            kind="audio_message",
            filename="voice.ogg",
            content_type="audio/ogg",
            size=None,
        ),
    )
    body = fixture("message_new_audio_message")
    del body["object"]["message"]["attachments"][0]["audio_message"]["link_ogg"]
    assert inbound(body).media[0].content_type == "audio/mpeg"


def test_location_is_readable_text() -> None:
    assert inbound(fixture("message_new_geo")).text == (
        "Я здесь\n📍 59.939095, 30.315868 (Санкт-Петербург, Дворцовая площадь)"
    )


def test_sticker_is_named_not_dropped() -> None:
    result = inbound(fixture("message_new_sticker"))
    assert result.text == "[unsupported message type: sticker]"
    assert result.language == "en"


def test_links_wall_posts_and_forwards_become_text() -> None:
    body = fixture("message_new_text")
    message = body["object"]["message"]
    message["text"] = "Смотрите"
    message["attachments"] = [
        {"type": "link", "link": {"url": "https://example.org/order/4821", "title": "Заказ 4821"}},
        {"type": "wall", "wall": {"id": 77, "owner_id": -GROUP, "from_id": -GROUP, "text": "Акция"}},
        {"type": "video", "video": {"id": 1, "owner_id": MARIA}},
    ]
    message["fwd_messages"] = [{"date": 1718100000, "from_id": MARIA, "text": "первая\nвторая"}]
    assert inbound(body).text == "\n".join(
        [
            "Смотрите",
            "🔗 Заказ 4821 https://example.org/order/4821",
            f"https://vk.com/wall-{GROUP}_77",
            "[unsupported message type: video]",
            "» первая",
            "» вторая",
        ]
    )


def test_our_button_is_read_by_its_label_and_by_its_payload_only_without_one() -> None:
    result = inbound(fixture("message_new_button"))
    assert (result.text, result.provider_message_id) == ("Оплата и счета", "1030")
    body = fixture("message_new_button")
    body["object"]["message"]["text"] = ""
    assert inbound(body).text == "billing"


def test_callback_button_event_is_stored_with_its_own_id() -> None:
    assert event(fixture("message_event")) == VkInbound(
        provider_message_id="event:3159dc190b1f",
        user_id=MARIA,
        peer_id=MARIA,
        text='{"command": "operator"}',
        sent_at=NOW,
        media=(),
        language=None,
        event_id="3159dc190b1f",
    )
    body = fixture("message_event")
    body["object"]["payload"] = {OPTION_KEY: "operator"}
    assert inbound(body).text == "operator"


def test_read_mark() -> None:
    assert event(fixture("message_read")) == VkRead(MARIA, MARIA, 1032)


def test_our_own_replies_group_chats_and_other_events_carry_nothing() -> None:
    assert event(fixture("message_reply")) is None
    chat = fixture("message_new_text")
    chat["object"]["message"]["peer_id"] = 2000000001
    assert event(chat) is None
    outgoing = fixture("message_new_text")
    outgoing["object"]["message"]["out"] = 1
    assert event(outgoing) is None
    for kind in ("message_edit", "group_join", "wall_post_new", "message_typing_state"):
        assert event({**fixture("message_new_text"), "type": kind}) is None


def test_a_message_without_id_uses_its_number_in_the_dialog() -> None:
    body = fixture("message_new_text")
    body["object"]["message"]["id"] = 0
    assert inbound(body).provider_message_id == f"{MARIA}:c18"


# --- bad shapes -----------------------------------------------------------------------------------


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = changed
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return changed


_DELETE = object()


@pytest.mark.parametrize(
    ("name", "path", "value", "complaint"),
    [
        ("message_new_text", "type", 5, "notification.type must be a string"),
        ("message_new_text", "group_id", "218400119", "notification.group_id must be an integer"),
        ("message_new_text", "group_id", _DELETE, "notification.group_id is required"),
        ("message_new_text", "secret", 42, "notification.secret must be a string"),
        ("message_new_text", "object", [], "object must be an object"),
        ("message_new_text", "object.message", _DELETE, "object.message is required"),
        ("message_new_text", "object.message.id", True, "object.message.id must be an integer"),
        ("message_new_text", "object.message.from_id", _DELETE, "object.message.from_id is required"),
        ("message_new_text", "object.message.date", 0, "object.message.date must be a positive Unix time"),
        ("message_new_text", "object.message.text", None, "object.message.text must be a string"),
        ("message_new_text", "object.message.attachments", "photo", "attachments must be an array"),
        ("message_new_photo", "object.message.attachments.0.photo.sizes", [], "sizes must be a non-empty"),
        (
            "message_new_photo",
            "object.message.attachments.0.photo.sizes.0.url",
            "file:///etc/passwd",
            "must be an http(s) URL",
        ),
        ("message_new_doc", "object.message.attachments.0.doc.size", -1, "size must not be negative"),
        ("message_new_geo", "object.message.geo.coordinates.latitude", 91, "between -90 and 90"),
        ("message_event", "object.event_id", "", "object.event_id must not be empty"),
        ("message_read", "object.read_message_id", "1032", "read_message_id must be an integer"),
    ],
)
def test_bad_shapes_are_refused_naming_the_field(name: str, path: str, value: Any, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        event(_set(fixture(name), path, value))


def test_a_body_that_is_not_an_object_is_refused() -> None:
    bodies: tuple[object, ...] = ([], "ok", 3, None)
    for body in bodies:
        with pytest.raises(ValueError, match="JSON object"):
            parse_envelope(body)


# --- properties -----------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["message_new", "message_event", "message_read", "confirmation", "group_join"]),
    obj=_json,
    message=st.dictionaries(
        st.sampled_from(["id", "from_id", "peer_id", "date", "text", "attachments", "geo", "payload", "out"]),
        _json,
    ),
)
def test_any_object_parses_or_raises_value_error(kind: str, obj: object, message: dict[str, Any]) -> None:
    """Whatever VK (or an attacker with the secret) sends, the parser answers or says what is wrong."""
    for candidate in (obj, {"message": message}, message):
        body: dict[str, Any] = {"type": kind, "group_id": GROUP, "event_id": "e", "object": candidate}
        with contextlib.suppress(ValueError):
            event(body)


@settings(max_examples=200)
@given(
    text=st.text(max_size=300),
    message_id=st.integers(min_value=1, max_value=2**53),
    user=st.integers(min_value=1, max_value=1_999_999_999),
    date=st.integers(min_value=1, max_value=4_102_444_800),
)
def test_a_valid_message_keeps_its_text_sender_and_id(
    text: str, message_id: int, user: int, date: int
) -> None:
    body = fixture("message_new_text")
    body["object"]["message"].update(id=message_id, from_id=user, peer_id=user, date=date, text=text)
    result = inbound(body)
    assert (result.text, result.user_id, result.provider_message_id) == (text, user, str(message_id))
    assert result.sent_at == datetime.fromtimestamp(date, UTC)


@settings(max_examples=200)
@given(payload=st.text(min_size=1, max_size=60), label=st.text(min_size=1, max_size=MAX_LABEL))
def test_a_button_payload_comes_back_unchanged(payload: str, label: str) -> None:
    """What inline_keyboard puts on a button is what the parser reads from the press."""
    keyboard = inline_keyboard([ReplyOption(payload, label)])
    if keyboard is None:  # a label of blanks, or a payload too long once JSON-escaped
        return
    (row,) = json.loads(keyboard)["buttons"]
    assert option_payload(row[0]["action"]["payload"]) == payload


@given(key=st.text(max_size=40), part=st.text(max_size=5))
def test_random_id_is_a_stable_positive_int32(key: str, part: str) -> None:
    value = random_id(key, part)
    assert 0 < value < 2**31
    assert value == random_id(key, part)


@pytest.mark.parametrize(
    ("typed", "group_id"),
    [
        (GROUP, GROUP),
        (str(GROUP), GROUP),
        (f"-{GROUP}", GROUP),
        (f"club{GROUP}", GROUP),
        ("", None),
        ("x1", None),
    ],
)
def test_the_community_id_is_read_as_admins_type_it(typed: object, group_id: int | None) -> None:
    assert configured_group_id({"group_id": typed}) == group_id
