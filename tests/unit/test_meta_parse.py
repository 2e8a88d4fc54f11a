"""Messenger and Instagram webhook notifications, as Meta documents them, turned into what we store."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.channels.meta.parse import (
    MediaRef,
    MetaInbound,
    MetaNotification,
    MetaReceipt,
    MetaWatermark,
    parse_notification,
)
from helpline.domain.conversations import DeliveryStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
PAGE = "682498302938465"
PSID = "1254477777772919"
IG_ACCOUNT = "17841405822304914"
IGSID = "6211934818837021"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def parse(payload: dict[str, Any]) -> MetaNotification:
    result = parse_notification(payload, payload["object"], received_at=NOW)
    assert result is not None
    return result


def only_message(payload: dict[str, Any]) -> MetaInbound:
    result = parse(payload)
    assert len(result.messages) == 1
    assert (result.receipts, result.watermarks) == ((), ())
    return result.messages[0]


def event(payload: dict[str, Any]) -> dict[str, Any]:
    found = payload["entry"][0]["messaging"][0]
    assert isinstance(found, dict)
    return found


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


# --- Messenger --------------------------------------------------------------------------------------


def test_text_message() -> None:
    assert only_message(fixture("messenger_text")) == MetaInbound(
        provider_message_id="mid.1457764197618:41d102a3e1ae206a38",
        page_id=PAGE,
        sender_id=PSID,
        text="hello, world!",
        sent_at=ms(1458692752478),
        media=(),
        payload=None,
    )


def test_quick_reply_tap_keeps_the_title_as_text_and_the_payload() -> None:
    message = only_message(fixture("messenger_quick_reply"))
    assert (message.text, message.payload) == ("Red", "DEVELOPER_DEFINED_PAYLOAD_FOR_PICKING_RED")


def test_image_attachment_is_a_file_to_download() -> None:
    message = only_message(fixture("messenger_attachments"))
    assert message.text == ""
    assert message.media == (
        MediaRef(
            url=event(fixture("messenger_attachments"))["message"]["attachments"][0]["payload"]["url"],
            kind="image",
            filename="28276640_10156235127541426_1736126564_n.jpg",
            content_type="image/jpeg",
        ),
    )


@pytest.mark.parametrize(
    ("kind", "url", "filename", "content_type"),
    [
        (
            "audio",
            "https://cdn.fbsbx.com/v/t59.3654-21/audioclip-1518479195308-2931.mp4?dl=0",
            None,
            "audio/mp4",
        ),
        ("video", "https://video.xx.fbcdn.net/v/t42.3356-2/10000000_n.mp4?_nc_cat=1", None, "video/mp4"),
        (
            "file",
            "https://cdn.fbsbx.com/v/t59.2708-21/1234_n.pdf/%D0%A1%D1%87%D1%91%D1%82.pdf?_nc_cat=1",
            "Счёт.pdf",
            None,
        ),
        ("file", "https://cdn.fbsbx.com/v/t59.2708-21/", "file.bin", "application/octet-stream"),
    ],
)
def test_audio_video_and_files_are_named_from_their_url(
    kind: str, url: str, filename: str | None, content_type: str | None
) -> None:
    payload = fixture("messenger_attachments")
    event(payload)["message"]["attachments"] = [{"type": kind, "payload": {"url": url}}]
    media = only_message(payload).media[0]
    assert media.kind == kind
    assert media.url == url
    assert media.filename == (filename or url.split("?")[0].rsplit("/", 1)[-1])
    if content_type:
        assert media.content_type == content_type


def test_text_and_several_attachments_stay_together() -> None:
    payload = fixture("messenger_attachments")
    message = event(payload)["message"]
    image = message["attachments"][0]
    message["text"] = "Вот скриншот ошибки"
    message["attachments"] = [
        image,
        {"type": "file", "payload": {"url": "https://cdn.fbsbx.com/a/report.pdf"}},
    ]
    result = only_message(payload)
    assert result.text == "Вот скриншот ошибки"
    assert [m.kind for m in result.media] == ["image", "file"]


def test_location_is_readable_text() -> None:
    assert only_message(fixture("messenger_location")).text == "📍 55.751244, 37.618423 (Pinned Location)"


def test_shared_link_adds_what_the_text_does_not_already_say() -> None:
    payload = fixture("messenger_fallback")
    assert only_message(payload).text == "https://www.messenger.com\nMessenger"
    event(payload)["message"].pop("text")
    assert only_message(payload).text == "Messenger https://www.messenger.com"


def test_fallback_without_payload_is_a_placeholder() -> None:
    payload = fixture("messenger_fallback")
    message = event(payload)["message"]
    message.pop("text")
    message["attachments"] = [{"type": "fallback", "payload": None}]
    assert only_message(payload).text == "[unsupported message type: fallback]"
    message["attachments"] = [
        {"title": "Old style", "url": "https://example.com/a", "type": "fallback", "payload": None}
    ]
    assert only_message(payload).text == "Old style https://example.com/a"


def test_template_names_its_kind_and_elements() -> None:
    payload = fixture("messenger_text")
    message = event(payload)["message"]
    message.pop("text")
    message["attachments"] = [
        {
            "type": "template",
            "payload": {
                "template_type": "generic",
                "elements": [{"title": "Welcome!", "subtitle": "We have the right hat"}, {"title": "Sale"}],
            },
        }
    ]
    assert only_message(payload).text == "[generic] Welcome!; Sale"
    message["attachments"] = [{"type": "template", "payload": {"product": {"elements": [{"title": "Hat"}]}}}]
    assert only_message(payload).text == "[template] Hat"


def test_a_sticker_sent_twice_during_metas_transition_is_one_placeholder() -> None:
    payload = fixture("messenger_attachments")
    url = event(payload)["message"]["attachments"][0]["payload"]["url"]
    event(payload)["message"]["attachments"] = [
        {"type": "image", "payload": {"url": url, "sticker_id": 126362187548578}},
        {"type": "sticker", "payload": {"url": url, "sticker_id": 126362187548578}},
    ]
    message = only_message(payload)
    assert (message.text, message.media) == ("[unsupported message type: sticker]", ())


def test_the_like_button_is_a_thumbs_up() -> None:
    payload = fixture("messenger_attachments")
    url = event(payload)["message"]["attachments"][0]["payload"]["url"]
    event(payload)["message"]["attachments"] = [
        {"type": "image", "payload": {"url": url, "sticker_id": 369239263222822}}
    ]
    assert only_message(payload).text == "👍"


def test_unknown_attachment_types_are_kept_as_placeholders_with_their_link() -> None:
    payload = fixture("messenger_attachments")
    event(payload)["message"]["attachments"] = [
        {"type": "reel", "payload": {"url": "https://www.facebook.com/reel/123", "reel_video_id": 123}},
        {"type": "appointment_booking"},
    ]
    assert only_message(payload).text == (
        "[unsupported message type: reel] https://www.facebook.com/reel/123\n"
        "[unsupported message type: appointment_booking]"
    )


def test_a_message_with_nothing_in_it_is_still_stored() -> None:
    payload = fixture("messenger_text")
    del event(payload)["message"]["text"]
    assert only_message(payload).text == "[unsupported message type: unknown]"


def test_postback_is_stored_as_its_title_with_its_mid() -> None:
    assert only_message(fixture("messenger_postback")) == MetaInbound(
        provider_message_id="m_MESSAGE-ID",
        page_id=PAGE,
        sender_id=PSID,
        text="TITLE-FOR-THE-CTA",
        sent_at=datetime(2018, 5, 27, 22, 23, 44, tzinfo=UTC),  # "1527459824": seconds, as documented
        media=(),
        payload="USER-DEFINED-PAYLOAD",
    )


def test_postback_without_mid_gets_an_id_that_a_retry_repeats() -> None:
    payload = fixture("messenger_postback")
    del event(payload)["postback"]["mid"]
    event(payload)["timestamp"] = 1527459824650
    first = only_message(payload).provider_message_id
    assert first == only_message(copy.deepcopy(payload)).provider_message_id
    assert first.startswith(f"postback:{PSID}:1527459824650:")
    event(payload)["postback"]["payload"] = "ANOTHER"
    assert only_message(payload).provider_message_id != first
    del event(payload)["timestamp"]
    with pytest.raises(ValueError, match="without a mid needs the event's timestamp"):
        parse(payload)


def test_get_started_without_title_falls_back_to_the_payload() -> None:
    payload = fixture("messenger_postback")
    del event(payload)["postback"]["title"]
    assert only_message(payload).text == "USER-DEFINED-PAYLOAD"


def test_echoes_of_our_own_sends_are_ignored() -> None:
    assert parse(fixture("messenger_echo")) == MetaNotification()
    payload = fixture("messenger_echo")
    del event(payload)["message"]["is_echo"]  # still from the Page itself
    assert parse(payload) == MetaNotification()


def test_delivery_with_mids_is_a_receipt_per_message() -> None:
    assert parse(fixture("messenger_delivery")) == MetaNotification(
        receipts=(
            MetaReceipt(
                PAGE,
                PSID,
                "mid.1458668856218:ed81099e15d3f4f233",
                DeliveryStatus.DELIVERED,
                ms(1458668856253),
            ),
        )
    )


def test_delivery_without_mids_is_a_watermark() -> None:
    payload = fixture("messenger_delivery")
    del event(payload)["delivery"]["mids"]
    at = ms(1458668856253)
    assert parse(payload) == MetaNotification(
        watermarks=(MetaWatermark(PAGE, PSID, DeliveryStatus.DELIVERED, at, until=at),)
    )


def test_read_is_a_watermark() -> None:
    at = ms(1458668856253)
    assert parse(fixture("messenger_read")) == MetaNotification(
        watermarks=(MetaWatermark(PAGE, PSID, DeliveryStatus.READ, at, until=at),)
    )


def test_batched_entries_and_events_all_come_out_in_order() -> None:
    text, postback, read = fixture("messenger_text"), fixture("messenger_postback"), fixture("messenger_read")
    text["entry"][0]["messaging"].append(event(postback))
    text["entry"].append(read["entry"][0])
    result = parse(text)
    assert [m.text for m in result.messages] == ["hello, world!", "TITLE-FOR-THE-CTA"]
    assert len(result.watermarks) == 1


def test_events_we_do_not_store_are_skipped() -> None:
    payload = fixture("messenger_text")
    reaction = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": 1458668856463,
        "reaction": {"reaction": "love", "emoji": "❤", "action": "react", "mid": "m_x"},
    }
    payload["entry"][0]["messaging"] = [reaction]
    payload["entry"].append(
        {"id": PAGE, "time": 1570053170926, "standby": [event(fixture("messenger_text"))]}
    )
    payload["entry"].append({"id": PAGE, "time": 1570053170926, "changes": [{"field": "feed", "value": {}}]})
    assert parse(payload) == MetaNotification()


def test_chat_plugin_guests_without_an_id_are_skipped() -> None:
    payload = fixture("messenger_postback")
    event(payload)["sender"] = {"user_ref": "USER-REF-ID"}
    assert parse(payload) == MetaNotification()


def test_notifications_for_another_object_are_not_ours() -> None:
    assert parse_notification(fixture("instagram_text"), "page") is None
    assert parse_notification({"object": "user", "entry": []}, "page") is None


def test_events_without_a_timestamp_are_dated_by_their_entry() -> None:
    payload = fixture("messenger_text")
    del event(payload)["timestamp"]
    assert only_message(payload).sent_at == ms(1458692752478)
    del payload["entry"][0]["time"]
    assert only_message(payload).sent_at == NOW


def test_numeric_ids_are_accepted_as_strings() -> None:
    payload = fixture("messenger_text")
    event(payload)["sender"]["id"] = int(PSID)
    payload["entry"][0]["id"] = int(PAGE)
    message = only_message(payload)
    assert (message.sender_id, message.page_id) == (PSID, PAGE)


# --- Instagram --------------------------------------------------------------------------------------


def test_instagram_text_message() -> None:
    message = only_message(fixture("instagram_text"))
    assert (message.page_id, message.sender_id, message.text) == (
        IG_ACCOUNT,
        IGSID,
        "Hi! Is the blue jacket still available?",
    )
    assert message.sent_at == ms(1569262485349)
    assert message.provider_message_id == event(fixture("instagram_text"))["message"]["mid"]


def test_instagram_image_gets_a_default_name() -> None:
    media = only_message(fixture("instagram_image")).media
    assert [(m.kind, m.filename, m.content_type) for m in media] == [("image", "image.jpg", "image/jpeg")]


def test_instagram_story_mention_is_a_placeholder_with_its_link() -> None:
    assert only_message(fixture("instagram_story_mention")).text == (
        "[unsupported message type: story_mention] "
        "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17952754183513524&signature=Ab7cH2kQ"
    )


def test_instagram_quick_reply_and_postback() -> None:
    quick = only_message(fixture("instagram_quick_reply"))
    assert (quick.text, quick.payload) == ("TITLE_1", "POSTBACK_PAYLOAD_1")
    button = only_message(fixture("instagram_postback"))
    assert (button.text, button.payload) == ("Talk to a human", "ICEBREAKER_HUMAN")


def test_instagram_echoes_and_deleted_messages_are_ignored() -> None:
    assert parse(fixture("instagram_echo")) == MetaNotification()
    assert parse(fixture("instagram_deleted")) == MetaNotification()


def test_instagram_unsupported_media_is_a_placeholder() -> None:
    payload = fixture("instagram_text")
    message = event(payload)["message"]
    del message["text"]
    message["is_unsupported"] = True
    assert only_message(payload).text == "[unsupported message type: unsupported]"


def test_instagram_read_names_the_last_message_seen() -> None:
    mid = event(fixture("instagram_read"))["read"]["mid"]
    assert parse(fixture("instagram_read")) == MetaNotification(
        watermarks=(
            MetaWatermark(IG_ACCOUNT, IGSID, DeliveryStatus.READ, ms(1569262485349), through_message_id=mid),
        )
    )


# --- malformed input ------------------------------------------------------------------------------


def _without(name: str, path: tuple[str | int, ...]) -> dict[str, Any]:
    payload = fixture(name)
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return payload


def _with(name: str, path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    payload = fixture(name)
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


EVENT = ("entry", 0, "messaging", 0)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(
            _without("messenger_text", ("object",)), "notification.object is required", id="no object"
        ),
        pytest.param(
            _with("messenger_text", ("object",), 1), "notification.object must be a string", id="object"
        ),
        pytest.param(
            _without("messenger_text", ("entry",)), "notification.entry must be an array", id="no entry"
        ),
        pytest.param(_with("messenger_text", ("entry", 0), "x"), "entry[0] must be an object", id="entry"),
        pytest.param(
            _without("messenger_text", ("entry", 0, "id")), "entry[0].id is required", id="no entry id"
        ),
        pytest.param(
            _with("messenger_text", ("entry", 0, "time"), "soon"),
            "entry[0].time must be an integer",
            id="entry time",
        ),
        pytest.param(
            _with("messenger_text", ("entry", 0, "messaging"), {}),
            "entry[0].messaging must be an array",
            id="messaging",
        ),
        pytest.param(
            _without("messenger_text", (*EVENT, "sender")),
            "entry[0].messaging[0].sender must be an object",
            id="no sender",
        ),
        pytest.param(
            _with("messenger_text", (*EVENT, "sender"), {}),
            "entry[0].messaging[0].sender.id is required",
            id="sender without id",
        ),
        pytest.param(
            _with("messenger_text", (*EVENT, "sender", "id"), ""),
            "entry[0].messaging[0].sender.id must be a non-empty string",
            id="empty sender",
        ),
        pytest.param(
            _with("messenger_text", (*EVENT, "timestamp"), -5),
            "entry[0].messaging[0].timestamp must be a positive time",
            id="negative time",
        ),
        pytest.param(
            _with("messenger_text", (*EVENT, "timestamp"), 10**30),
            "entry[0].messaging[0].timestamp is out of range",
            id="huge time",
        ),
        pytest.param(
            _with("messenger_text", (*EVENT, "message"), []),
            "entry[0].messaging[0].message must be an object",
            id="message",
        ),
        pytest.param(
            _without("messenger_text", (*EVENT, "message", "mid")),
            "entry[0].messaging[0].message.mid is required",
            id="no mid",
        ),
        pytest.param(
            _with("messenger_text", (*EVENT, "message", "text"), 42),
            "entry[0].messaging[0].message.text must be a string",
            id="text",
        ),
        pytest.param(
            _with("messenger_echo", (*EVENT, "message", "is_echo"), "yes"),
            "entry[0].messaging[0].message.is_echo must be a boolean",
            id="is_echo",
        ),
        pytest.param(
            _with("messenger_quick_reply", (*EVENT, "message", "quick_reply", "payload"), 7),
            "entry[0].messaging[0].message.quick_reply.payload must be a string",
            id="quick reply",
        ),
        pytest.param(
            _with("messenger_attachments", (*EVENT, "message", "attachments"), {}),
            "entry[0].messaging[0].message.attachments must be an array",
            id="attachments",
        ),
        pytest.param(
            _without("messenger_attachments", (*EVENT, "message", "attachments", 0, "type")),
            "entry[0].messaging[0].message.attachments[0].type is required",
            id="attachment type",
        ),
        pytest.param(
            _without("messenger_attachments", (*EVENT, "message", "attachments", 0, "payload", "url")),
            "entry[0].messaging[0].message.attachments[0].payload.url is required",
            id="no url",
        ),
        pytest.param(
            _with(
                "messenger_attachments",
                (*EVENT, "message", "attachments", 0, "payload", "url"),
                "file:///etc/passwd",
            ),
            "entry[0].messaging[0].message.attachments[0].payload.url must be an http(s) URL",
            id="file url",
        ),
        pytest.param(
            _with(
                "messenger_location",
                (*EVENT, "message", "attachments", 0, "payload", "coordinates", "lat"),
                91,
            ),
            "entry[0].messaging[0].message.attachments[0].payload.coordinates.lat must be between -90 and 90",
            id="latitude",
        ),
        pytest.param(
            _with("messenger_postback", (*EVENT, "postback", "title"), ["x"]),
            "entry[0].messaging[0].postback.title must be a string",
            id="postback title",
        ),
        pytest.param(
            _without("messenger_delivery", (*EVENT, "delivery", "watermark")),
            "entry[0].messaging[0].delivery.watermark is required",
            id="delivery watermark",
        ),
        pytest.param(
            _with("messenger_delivery", (*EVENT, "delivery", "mids"), [""]),
            "entry[0].messaging[0].delivery.mids[0] must be a non-empty string",
            id="mids",
        ),
        pytest.param(
            _with("messenger_read", (*EVENT, "read"), {}),
            "entry[0].messaging[0].read needs a watermark (Messenger) or a mid (Instagram)",
            id="empty read",
        ),
        pytest.param(
            _with("instagram_read", (*EVENT, "read", "mid"), 3),
            "entry[0].messaging[0].read.mid must be a string",
            id="read mid",
        ),
    ],
)
def test_malformed_notifications_are_refused_naming_the_field(payload: dict[str, Any], reason: str) -> None:
    kind = payload.get("object")
    with pytest.raises(ValueError, match="^" + re.escape(reason)):
        parse_notification(payload, kind if isinstance(kind, str) else "page")


def test_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="the notification must be a JSON object"):
        parse_notification([1, 2], "page")  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
IDS = st.text(max_size=8) | st.integers(min_value=-(2**70), max_value=2**70)
TIMES = st.integers(min_value=-(2**70), max_value=2**70) | st.text(alphabet="0123456789", max_size=25)
URLS = st.sampled_from(["https://cdn.example/a.jpg", "http://x/", "ftp://x/y", "", "https://x/%ZZ.pdf"])
ATTACHMENTISH = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["image", "audio", "video", "file", "location", "fallback", "template", "sticker", "x"]
        )
    },
    optional={
        "payload": st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "url": URLS,
                "title": st.text(max_size=5),
                "sticker_id": IDS,
                "coordinates": st.fixed_dictionaries(
                    {"lat": st.floats() | st.integers(), "long": st.floats() | st.integers()}
                ),
                "template_type": st.text(max_size=5),
                "elements": st.lists(
                    st.fixed_dictionaries({}, optional={"title": st.text(max_size=5)}), max_size=2
                ),
            },
        ),
        "title": st.text(max_size=5),
        "url": URLS,
    },
)
EVENTISH = st.fixed_dictionaries(
    {"sender": st.fixed_dictionaries({"id": IDS}), "recipient": st.fixed_dictionaries({"id": IDS})},
    optional={"timestamp": TIMES},
).flatmap(
    lambda envelope: st.one_of(
        st.fixed_dictionaries(
            {
                "message": st.fixed_dictionaries(
                    {"mid": st.text(max_size=6)},
                    optional={
                        "text": st.text(max_size=10),
                        "is_echo": st.booleans(),
                        "attachments": st.lists(ATTACHMENTISH, max_size=3),
                        "quick_reply": st.fixed_dictionaries({"payload": st.text(max_size=5)}),
                    },
                )
            }
        ),
        st.fixed_dictionaries(
            {
                "postback": st.fixed_dictionaries(
                    {}, optional={"mid": st.text(max_size=4), "payload": st.text(max_size=4)}
                )
            }
        ),
        st.fixed_dictionaries(
            {
                "delivery": st.fixed_dictionaries(
                    {"watermark": TIMES}, optional={"mids": st.lists(st.text(max_size=4))}
                )
            }
        ),
        st.fixed_dictionaries(
            {"read": st.fixed_dictionaries({}, optional={"watermark": TIMES, "mid": st.text(max_size=4)})}
        ),
    ).map(lambda body: {**envelope, **body})
)
NOTIFICATIONISH = st.fixed_dictionaries(
    {
        "object": st.sampled_from(["page", "instagram"]),
        "entry": st.lists(
            st.fixed_dictionaries(
                {"id": IDS}, optional={"time": TIMES, "messaging": st.lists(EVENTISH, max_size=3)}
            ),
            max_size=3,
        ),
    }
)
FIXTURE_NAMES = [p.stem for p in sorted(FIXTURES.glob("*.json"))]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _only_value_errors(payload: object, expected: str = "page") -> None:
    try:
        result = parse_notification(payload, expected, received_at=NOW)  # type: ignore[arg-type]
    except ValueError:
        return
    assert result is None or isinstance(result, MetaNotification)
    for message in result.messages if result else ():
        assert message.text or message.media  # never an empty message
        assert message.provider_message_id
        assert message.sent_at.tzinfo is not None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=15), JSON, max_size=5) | JSON)
def test_arbitrary_json_raises_nothing_but_value_error(payload: object) -> None:
    _only_value_errors(payload)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(NOTIFICATIONISH)
def test_well_typed_notifications_with_wild_values_raise_nothing_but_value_error(
    payload: dict[str, Any],
) -> None:
    _only_value_errors(payload, payload["object"])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_NAMES), st.data())
def test_damaged_fixtures_raise_nothing_but_value_error(name: str, data: st.DataObject) -> None:
    """Replace or delete one field anywhere in a documented notification: a ValueError at worst."""
    payload = copy.deepcopy(fixture(name))
    expected = payload["object"]
    path = data.draw(st.sampled_from(_paths(payload)))
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()):
        target[path[-1]] = data.draw(JSON)
    elif isinstance(target, dict):
        del target[path[-1]]
    else:
        target.pop(path[-1])
    _only_value_errors(payload, expected)
