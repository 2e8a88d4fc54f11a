"""Viber webhook callbacks, as the REST bot API documents them, turned into what Helpline stores."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.channels.base import StatusReceipt
from helpline.channels.viber.parse import MediaRef, Notice, ViberInbound, parse_callback
from helpline.domain.conversations import DeliveryStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "viber"
JOHN = "01234567890A="
DOC_TIME = datetime(2016, 3, 12, 6, 29, 57, 627000, tzinfo=UTC)  # "timestamp": 1457764197627


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def inbound(callback: dict[str, Any]) -> ViberInbound:
    result = parse_callback(callback)
    assert isinstance(result, ViberInbound)
    return result


# --- messages -------------------------------------------------------------------------------------


def test_text_message() -> None:
    assert parse_callback(fixture("message_text")) == ViberInbound(
        provider_message_id="4912661846655238145",
        user_id=JOHN,
        sender_name="John McClane",
        language_code="en",
        text="a message to the service",
        sent_at=DOC_TIME,
        media=(),
    )


def test_picture_is_a_media_url_with_its_description_as_text() -> None:
    result = inbound(fixture("message_picture"))
    assert result.text == "Photo description"
    assert result.media == (
        MediaRef("http://www.images.com/img.jpg", "picture", "picture.jpg", "image/jpeg", None),
    )
    assert result.provider_message_id == "4912661846655238146"
    assert result.sent_at == datetime(2016, 3, 12, 6, 30, 1, 345000, tzinfo=UTC)


def test_file_keeps_its_name_and_size() -> None:
    result = inbound(fixture("message_file"))
    assert result.text == ""
    assert result.media == (
        MediaRef(
            "http://www.images.com/file.doc", "file", "name_of_file.doc", "application/octet-stream", 10000
        ),
    )


def test_video_is_downloaded_like_any_media() -> None:
    (media,) = inbound(fixture("message_video")).media
    assert (media.kind, media.filename, media.content_type) == ("video", "video.mp4", "video/mp4")


def test_location_becomes_a_line_with_coordinates_and_a_map_link() -> None:
    assert inbound(fixture("message_location")).text == (
        "Location: 50.768910, 6.114990 https://www.openstreetmap.org/?mlat=50.768910&mlon=6.114990"
    )


def test_location_given_as_strings_like_the_send_example_is_read_too() -> None:
    callback = fixture("message_location")
    callback["message"]["location"] = {"lat": "37.7898", "lon": "-122.3997"}
    assert inbound(callback).text.startswith("Location: 37.789800, -122.399700 ")


def test_shared_contact_is_text_for_the_agent_and_nothing_more() -> None:
    """Viber gives no owner for a contact card, so it is never taken for the sender's own number."""
    result = inbound(fixture("message_contact"))
    assert result.text == "Contact: Itamar +972511123123"
    assert result.media == ()
    assert not hasattr(result, "shared_phone")


def test_contact_without_number_still_says_what_came() -> None:
    callback = fixture("message_contact")
    callback["message"]["contact"] = {"name": "Itamar"}  # what desktop clients send for share-phone
    assert inbound(callback).text == "Contact: Itamar"
    callback["message"]["contact"] = {}
    assert inbound(callback).text == "Contact: (empty)"


def test_url_message_is_its_url() -> None:
    assert inbound(fixture("message_url")).text == "http://www.website.com/go_here"


def test_sticker_is_kept_as_a_placeholder_not_dropped() -> None:
    result = inbound(fixture("message_sticker"))
    assert result.text == "[unsupported message type: sticker]"
    assert result.media == ()


def test_unknown_message_type_is_kept_as_a_placeholder() -> None:
    callback = fixture("message_text")
    callback["message"] = {"type": "rich_media", "rich_media": {"Buttons": []}}
    assert inbound(callback).text == "[unsupported message type: rich_media]"


def test_a_pressed_reply_button_arrives_as_text_and_is_stored_as_its_payload() -> None:
    callback = fixture("message_text")
    callback["message"] = {"type": "text", "text": "menu:balance", "tracking_data": "x"}
    assert inbound(callback).text == "menu:balance"


def test_sender_without_name_or_language() -> None:
    callback = fixture("message_text")
    del callback["sender"]["name"]
    callback["sender"]["language"] = ""
    result = inbound(callback)
    assert (result.sender_name, result.language_code) == (None, None)


# --- receipts and events --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("delivered", DeliveryStatus.DELIVERED, None),
        ("seen", DeliveryStatus.READ, None),
        ("failed", DeliveryStatus.FAILED, "Viber: failure description"),
    ],
)
def test_receipts_name_the_sent_message_by_its_token(
    name: str, status: DeliveryStatus, error: str | None
) -> None:
    assert parse_callback(fixture(name)) == StatusReceipt("4912661846655238145", status, DOC_TIME, error)


def test_failed_without_description_leaves_the_reason_to_the_service() -> None:
    callback = fixture("failed")
    del callback["desc"]
    result = parse_callback(callback)
    assert isinstance(result, StatusReceipt)
    assert result.error is None


@pytest.mark.parametrize(
    ("name", "user_id"),
    [("webhook", None), ("subscribed", JOHN), ("unsubscribed", JOHN), ("conversation_started", JOHN)],
)
def test_events_without_a_message_are_acknowledged(name: str, user_id: str | None) -> None:
    assert parse_callback(fixture(name)) == Notice(name, user_id, DOC_TIME)


def test_an_event_added_later_is_acknowledged_not_refused() -> None:
    assert parse_callback({"event": "client_status", "timestamp": 1457764197627}) == Notice(
        "client_status", None, DOC_TIME
    )


# --- malformed input ------------------------------------------------------------------------------


def _without(name: str, *path: str) -> dict[str, Any]:
    callback = fixture(name)
    target: Any = callback
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return callback


def _with(name: str, value: object, *path: str) -> dict[str, Any]:
    callback = fixture(name)
    target: Any = callback
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return callback


@pytest.mark.parametrize(
    ("callback", "reason"),
    [
        pytest.param(_without("message_text", "event"), "callback.event is required", id="no event"),
        pytest.param(_with("message_text", 1, "event"), "callback.event must be a string", id="int event"),
        pytest.param(_with("message_text", "", "event"), "callback.event must not be empty", id="empty"),
        pytest.param(_without("webhook", "timestamp"), "callback.timestamp is required", id="no time"),
        pytest.param(
            _with("message_text", "1457764197627", "timestamp"),
            "callback.timestamp must be an integer",
            id="str time",
        ),
        pytest.param(_with("seen", 0, "timestamp"), "callback.timestamp must be a positive", id="zero"),
        pytest.param(
            _with("message_text", 10**30, "timestamp"), "callback.timestamp is out of range", id="huge"
        ),
        pytest.param(
            _without("message_text", "message_token"), "callback.message_token is required", id="no token"
        ),
        pytest.param(
            _with("delivered", "4912661846655238145", "message_token"),
            "callback.message_token must be an integer",
            id="str token",
        ),
        pytest.param(
            _with("seen", True, "message_token"), "callback.message_token must be an integer", id="bool"
        ),
        pytest.param(_without("delivered", "user_id"), "callback.user_id is required", id="no user_id"),
        pytest.param(_with("failed", 7, "desc"), "callback.desc must be a string", id="desc"),
        pytest.param(_without("message_text", "sender"), "callback.sender must be an object", id="sender"),
        pytest.param(
            _without("message_text", "sender", "id"), "callback.sender.id is required", id="no sender id"
        ),
        pytest.param(
            _with("message_text", " ", "sender", "id"), "callback.sender.id must not be empty", id="blank"
        ),
        pytest.param(
            _with("message_text", 5, "sender", "name"), "callback.sender.name must be a string", id="name"
        ),
        pytest.param(
            _with("message_text", "1", "sender", "api_version"),
            "callback.sender.api_version must be an integer",
            id="api_version",
        ),
        pytest.param(_without("message_text", "message"), "callback.message must be an object", id="body"),
        pytest.param(_without("message_text", "message", "type"), "message.type is required", id="type"),
        pytest.param(_without("message_text", "message", "text"), "message.text is required", id="text"),
        pytest.param(
            _with("message_text", ["a"], "message", "text"), "message.text must be a string", id="list"
        ),
        pytest.param(
            _without("message_picture", "message", "media"), "message.media is required", id="no media"
        ),
        pytest.param(
            _with("message_picture", "file:///etc/passwd", "message", "media"),
            "message.media must be an http(s) URL",
            id="media scheme",
        ),
        pytest.param(
            _with("message_file", -1, "message", "file_size"),
            "message.file_size must not be negative",
            id="size",
        ),
        pytest.param(
            _with("message_location", 91, "message", "location", "lat"),
            "message.location.lat must be between -90 and 90",
            id="lat",
        ),
        pytest.param(
            _with("message_location", "east", "message", "location", "lon"),
            "message.location.lon must be a number",
            id="lon",
        ),
        pytest.param(
            _with("message_location", float("nan"), "message", "location", "lon"),
            "message.location.lon must be between -180 and 180",
            id="nan",
        ),
        pytest.param(
            _without("message_contact", "message", "contact"),
            "message.contact must be an object",
            id="contact",
        ),
        pytest.param(
            _with("message_contact", 972511123123, "message", "contact", "phone_number"),
            "message.contact.phone_number must be a string",
            id="phone",
        ),
        pytest.param(
            _with("message_sticker", "46105", "message", "sticker_id"),
            "message.sticker_id must be an integer",
            id="sticker",
        ),
        pytest.param(_without("subscribed", "user"), "callback.user must be an object", id="no user"),
        pytest.param(_without("unsubscribed", "user_id"), "callback.user_id is required", id="unsub"),
    ],
)
def test_malformed_callbacks_are_refused_naming_the_field(callback: dict[str, Any], reason: str) -> None:
    escaped = reason.replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match="^" + escaped):
        parse_callback(callback)


def test_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="a callback must be a JSON object"):
        parse_callback([1, 2, 3])  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
# Callbacks in which every field has its documented JSON type but a wild value (huge or negative
# tokens and times, NaN or out-of-range coordinates, empty strings), to get past the first checks.
BIG = st.integers(min_value=-(2**70), max_value=2**70)
NAMES = st.text(max_size=10)
USERISH = st.fixed_dictionaries(
    {"id": NAMES},
    optional={"name": NAMES, "avatar": NAMES, "country": NAMES, "language": NAMES, "api_version": BIG},
)
COORDINATES = st.floats() | BIG | st.text(max_size=8)
MESSAGE_BODY = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": NAMES}, optional={"tracking_data": NAMES}),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["picture", "video", "file"]), "media": NAMES | st.just("https://x/y")},
        optional={"text": NAMES, "file_name": NAMES, "file_size": BIG, "duration": BIG},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("location"),
            "location": st.fixed_dictionaries({"lat": COORDINATES, "lon": COORDINATES}),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("contact"),
            "contact": st.fixed_dictionaries({}, optional={"name": NAMES, "phone_number": NAMES}),
        }
    ),
    st.fixed_dictionaries({"type": st.just("url"), "media": NAMES}),
    st.fixed_dictionaries({"type": NAMES}, optional={"sticker_id": BIG}),
)
CALLBACKISH = st.one_of(
    st.fixed_dictionaries(
        {
            "event": st.just("message"),
            "timestamp": BIG,
            "message_token": BIG,
            "sender": USERISH,
            "message": MESSAGE_BODY,
        }
    ),
    st.fixed_dictionaries(
        {
            "event": st.sampled_from(["delivered", "seen", "failed"]),
            "timestamp": BIG,
            "message_token": BIG,
            "user_id": NAMES,
        },
        optional={"desc": NAMES},
    ),
    st.fixed_dictionaries(
        {"event": st.sampled_from(["subscribed", "conversation_started"]), "timestamp": BIG, "user": USERISH}
    ),
    st.fixed_dictionaries({"event": NAMES, "timestamp": BIG}, optional={"user_id": NAMES}),
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


def _only_value_errors(callback: object) -> None:
    try:
        result = parse_callback(callback)  # type: ignore[arg-type]
    except ValueError:
        return
    assert isinstance(result, ViberInbound | StatusReceipt | Notice)
    assert result.__class__ is not ViberInbound or isinstance(result.text, str)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=15), JSON, max_size=5) | JSON)
def test_arbitrary_json_raises_nothing_but_value_error(callback: object) -> None:
    _only_value_errors(callback)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(CALLBACKISH)
def test_well_typed_callbacks_with_wild_values_raise_nothing_but_value_error(
    callback: dict[str, Any],
) -> None:
    _only_value_errors(callback)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_NAMES), st.data())
def test_damaged_fixtures_raise_nothing_but_value_error(name: str, data: st.DataObject) -> None:
    """Replace or delete one field anywhere in a documented callback: a ValueError at worst."""
    callback = copy.deepcopy(fixture(name))
    path = data.draw(st.sampled_from(_paths(callback)))
    target: Any = callback
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(JSON)
    _only_value_errors(callback)


@given(
    text=st.text(min_size=1, max_size=7000),
    user_id=st.text(min_size=1, max_size=40).filter(str.strip),
    token=st.integers(min_value=0, max_value=2**64),
    millis=st.integers(min_value=1, max_value=4_102_444_800_000),
)
def test_any_text_message_round_trips(text: str, user_id: str, token: int, millis: int) -> None:
    callback = {
        "event": "message",
        "timestamp": millis,
        "message_token": token,
        "sender": {"id": user_id, "name": "A"},
        "message": {"type": "text", "text": text},
    }
    result = inbound(callback)
    assert (result.text, result.user_id, result.provider_message_id) == (text, user_id.strip(), str(token))
    assert result.sent_at == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    assert result.sent_at.tzinfo is not None
