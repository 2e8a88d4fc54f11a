"""Telegram webhook updates, as the Bot API documents them, turned into stored customer messages."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.channels.telegram.parse import MediaRef, TelegramInbound, parse_update

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
MARIA = 412587349


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def parsed(update: dict[str, Any]) -> TelegramInbound:
    result = parse_update(update)
    assert result is not None
    return result


# --- the recorded updates -------------------------------------------------------------------------


def test_text_message_from_a_private_chat() -> None:
    assert parse_update(fixture("text")) == TelegramInbound(
        provider_message_id=f"{MARIA}:1024",
        user_id=str(MARIA),
        chat_id=MARIA,
        sender_name="Мария Иванова",
        language_code="ru",
        text="Здравствуйте! Не могу оплатить заказ №4821, карта отклоняется.",
        sent_at=datetime(2024, 6, 11, 10, 20, 34, tzinfo=UTC),
        media=(),
        shared_phone=None,
        callback_query_id=None,
    )


def test_photo_keeps_only_the_largest_size_and_the_caption() -> None:
    result = parsed(fixture("photo"))
    assert result.text == "Вот скриншот ошибки при оплате"
    assert result.media == (
        MediaRef(
            file_id="AgACAgIAAxkBAAIEAWZoQ1mW3x8AAbL7kC1Xy0KjU4tFAAKd2TEbZ8pBS3Ni7nQAAQhWAQADAgADeAADNQQ",
            file_unique_id="AQADndkxG2fKQUt9",
            kind="photo",
            filename="photo.jpg",
            content_type="image/jpeg",
            size=118643,
        ),
    )
    assert result.provider_message_id == f"{MARIA}:1025"


def test_largest_photo_is_chosen_by_area_whatever_the_order() -> None:
    update = fixture("photo")
    update["message"]["photo"].reverse()
    assert parsed(update).media[0].file_unique_id == "AQADndkxG2fKQUt9"


def test_pdf_document_keeps_its_name_type_and_size() -> None:
    result = parsed(fixture("document"))
    assert result.text == "Договор во вложении"
    assert result.media == (
        MediaRef(
            file_id="BQACAgIAAxkBAAIEA2ZoQ6tM6tXwd7Np0NF8tCo1OLRQAAImTgACZ8pBS7wctkMAAX1SYDUE",
            file_unique_id="AgADJk4AAmfKQUs",
            kind="document",
            filename="Договор_4821.pdf",
            content_type="application/pdf",
            size=284913,
        ),
    )


def test_document_without_name_or_type_gets_defaults() -> None:
    update = fixture("document")
    del update["message"]["document"]["file_name"]
    del update["message"]["document"]["mime_type"]
    del update["message"]["document"]["file_size"]
    media = parsed(update).media[0]
    assert (media.filename, media.content_type, media.size) == (
        "document.bin",
        "application/octet-stream",
        None,
    )
    update["message"]["document"]["mime_type"] = "application/pdf"
    assert parsed(update).media[0].filename == "document.pdf"


def test_voice_message_is_an_ogg_file_with_empty_text() -> None:
    result = parsed(fixture("voice"))
    assert result.text == ""
    assert result.media == (
        MediaRef(
            file_id="AwACAgIAAxkBAAIEBWZoQ-qP0a9bX0cWZf1qV1sCq2T6AAIoTgACZ8pBS2y2nG0AAVj0ZTUE",
            file_unique_id="AgADKE4AAmfKQUs",
            kind="voice",
            filename="voice.ogg",
            content_type="audio/ogg",
            size=24519,
        ),
    )


def test_location_becomes_a_line_with_coordinates_and_a_map_link() -> None:
    result = parsed(fixture("location"))
    assert result.text == (
        "Location: 55.751244, 37.618423 https://www.openstreetmap.org/?mlat=55.751244&mlon=37.618423"
    )
    assert result.media == ()


def test_venue_names_the_place() -> None:
    update = fixture("location")
    point = update["message"]["location"]
    update["message"]["venue"] = {"location": point, "title": "ГУМ", "address": "Красная площадь, 3"}
    assert parsed(update).text == (
        "Location: ГУМ, Красная площадь, 3 (55.751244, 37.618423) "
        "https://www.openstreetmap.org/?mlat=55.751244&mlon=37.618423"
    )


def test_own_contact_reveals_the_customers_phone() -> None:
    result = parsed(fixture("contact"))
    assert result.text == "Contact: Мария Иванова +79161234567"
    assert result.shared_phone == "+79161234567"


def test_a_shared_number_without_its_plus_is_read_as_international() -> None:
    update = fixture("contact")
    update["message"]["contact"]["phone_number"] = "447700900123"
    result = parsed(update)
    assert result.text == "Contact: Мария Иванова +447700900123"
    assert result.shared_phone == "+447700900123"


def test_someone_elses_contact_is_only_text() -> None:
    update = fixture("contact")
    update["message"]["contact"] = {"phone_number": "+79035550101", "first_name": "Пётр", "user_id": 5123400}
    result = parsed(update)
    assert result.text == "Contact: Пётр +79035550101"
    assert result.shared_phone is None
    del update["message"]["contact"]["user_id"]  # not a Telegram user at all
    assert parsed(update).shared_phone is None


def test_sticker_is_kept_as_its_emoji_and_a_placeholder_not_dropped() -> None:
    result = parsed(fixture("sticker"))
    assert result.text == "👍\n[unsupported message type: sticker]"
    assert result.media == ()
    assert result.provider_message_id == f"{MARIA}:1030"
    update = fixture("sticker")
    del update["message"]["sticker"]["emoji"]  # optional in the Bot API
    assert parsed(update).text == "[unsupported message type: sticker]"


def test_unknown_content_is_kept_as_a_placeholder() -> None:
    update = fixture("text")
    del update["message"]["text"]
    update["message"]["some_future_content"] = {"x": 1}
    assert parsed(update).text == "[unsupported message type: unknown]"


def test_callback_query_is_stored_as_the_label_of_the_button_pressed() -> None:
    when = datetime(2024, 6, 11, 10, 26, 41, tzinfo=UTC)
    assert parse_update(fixture("callback_query"), received_at=when) == TelegramInbound(
        provider_message_id="cb:1772046789514220615",
        user_id=str(MARIA),
        chat_id=MARIA,
        sender_name="Мария Иванова",
        language_code="ru",
        text="Баланс",
        sent_at=when,
        media=(),
        shared_phone=None,
        callback_query_id="1772046789514220615",
    )


def test_callback_query_without_received_at_is_dated_now() -> None:
    before = datetime.now(UTC)
    sent_at = parsed(fixture("callback_query")).sent_at
    assert before <= sent_at <= datetime.now(UTC)


def test_callback_on_an_inaccessible_message_still_has_its_chat_and_its_data() -> None:
    update = fixture("callback_query")
    old = update["callback_query"]["message"]
    update["callback_query"]["message"] = {"chat": old["chat"], "message_id": old["message_id"], "date": 0}
    assert (parsed(update).chat_id, parsed(update).text) == (MARIA, "menu:balance")


@pytest.mark.parametrize(
    "markup",
    [
        {"inline_keyboard": [[{"text": "Заказы", "callback_data": "menu:orders"}]]},
        {"inline_keyboard": "x"},
        [],
    ],
    ids=["no such button", "not a keyboard", "not an object"],
)
def test_a_press_whose_button_is_not_on_its_message_is_stored_as_its_data(markup: object) -> None:
    update = fixture("callback_query")
    update["callback_query"]["message"]["reply_markup"] = markup
    assert parsed(update).text == "menu:balance"


def test_edited_message_is_not_stored_again() -> None:
    assert parse_update(fixture("edited_message")) is None


# --- what is not a customer message ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["edited_message", "channel_post", "edited_channel_post", "business_message", "edited_business_message"],
)
def test_other_message_updates_are_ignored(kind: str) -> None:
    update = fixture("text")
    update[kind] = update.pop("message")
    assert parse_update(update) is None


def test_membership_and_other_updates_are_ignored() -> None:
    my_chat_member = {
        "update_id": 734209820,
        "my_chat_member": {
            "chat": {"id": MARIA, "first_name": "Мария", "type": "private"},
            "from": {"id": MARIA, "is_bot": False, "first_name": "Мария"},
            "date": 1718101700,
            "old_chat_member": {
                "user": {"id": 7012345678, "is_bot": True, "first_name": "Helpline"},
                "status": "member",
            },
            "new_chat_member": {
                "user": {"id": 7012345678, "is_bot": True, "first_name": "Helpline"},
                "status": "kicked",
                "until_date": 0,
            },
        },
    }
    assert parse_update(my_chat_member) is None
    assert parse_update({"update_id": 1}) is None


@pytest.mark.parametrize("chat_type", ["group", "supergroup", "channel"])
def test_messages_outside_private_chats_are_ignored(chat_type: str) -> None:
    update = fixture("text")
    update["message"]["chat"] = {"id": -1001234567890, "title": "Покупатели", "type": chat_type}
    assert parse_update(update) is None


def test_messages_from_bots_are_ignored() -> None:
    update = fixture("text")
    update["message"]["from"]["is_bot"] = True
    assert parse_update(update) is None


def test_inline_mode_and_game_callbacks_are_ignored() -> None:
    inline = fixture("callback_query")
    del inline["callback_query"]["message"]
    inline["callback_query"]["inline_message_id"] = "AAAAAKxbAQAwJ2sHZ2E2OTc1NjQ"
    assert parse_update(inline) is None
    game = fixture("callback_query")
    del game["callback_query"]["data"]
    game["callback_query"]["game_short_name"] = "tetris"
    assert parse_update(game) is None


def test_callbacks_from_group_messages_are_ignored() -> None:
    update = fixture("callback_query")
    update["callback_query"]["message"]["chat"] = {
        "id": -1001234567890,
        "title": "Покупатели",
        "type": "supergroup",
    }
    assert parse_update(update) is None


# --- names and languages --------------------------------------------------------------------------


def test_sender_name_falls_back_to_username_then_none() -> None:
    update = fixture("text")
    sender = update["message"]["from"]
    del sender["last_name"]
    assert parsed(update).sender_name == "Мария"
    sender["first_name"] = " "
    assert parsed(update).sender_name == "maria_iv"
    del sender["username"]
    assert parsed(update).sender_name is None
    del sender["language_code"]
    assert parsed(update).language_code is None


# --- malformed input ------------------------------------------------------------------------------


def _without(path: tuple[str | int, ...], name: str = "text") -> dict[str, Any]:
    update = fixture(name)
    target: Any = update
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return update


def _with(path: tuple[str | int, ...], value: object, name: str = "text") -> dict[str, Any]:
    update = fixture(name)
    target: Any = update
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return update


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        pytest.param(_without(("update_id",)), "update.update_id is required", id="no update_id"),
        pytest.param(
            _with(("update_id",), "734209811"), "update.update_id must be an integer", id="str update_id"
        ),
        pytest.param(_with(("update_id",), True), "update.update_id must be an integer", id="bool update_id"),
        pytest.param(_with(("message",), None), "update.message must be an object", id="null message"),
        pytest.param(_without(("message", "chat")), "message.chat is required", id="message without chat"),
        pytest.param(
            _with(("message", "chat"), []), "message.chat must be an object", id="chat not an object"
        ),
        pytest.param(
            _without(("message", "chat", "id")), "message.chat.id is required", id="chat without id"
        ),
        pytest.param(
            _without(("message", "chat", "type")), "message.chat.type is required", id="no chat type"
        ),
        pytest.param(
            _without(("message", "message_id")), "message.message_id is required", id="no message_id"
        ),
        pytest.param(_without(("message", "date")), "message.date is required", id="no date"),
        pytest.param(_with(("message", "date"), 0), "message.date must be a positive", id="zero date"),
        pytest.param(_with(("message", "date"), 10**20), "message.date is out of range", id="huge date"),
        pytest.param(_without(("message", "from")), "message.from is required", id="private without from"),
        pytest.param(
            _without(("message", "from", "is_bot")), "message.from.is_bot must be a boolean", id="no is_bot"
        ),
        pytest.param(
            _with(("message", "from", "id"), 1.5), "message.from.id must be an integer", id="float from.id"
        ),
        pytest.param(_with(("message", "text"), 42), "message.text must be a string", id="text not a string"),
        pytest.param(
            _with(("message", "photo"), [], "photo"), "message.photo must be a non-empty", id="no sizes"
        ),
        pytest.param(
            _without(("message", "photo", 2, "file_id"), "photo"),
            "message.photo[2].file_id is required",
            id="size",
        ),
        pytest.param(
            _with(("message", "voice", "file_size"), "big", "voice"),
            "message.voice.file_size must be an integer",
            id="voice size",
        ),
        pytest.param(
            _with(("message", "location", "latitude"), 91.0, "location"),
            "message.location.latitude must be between -90 and 90",
            id="latitude",
        ),
        pytest.param(
            _with(("message", "location", "longitude"), None, "location"),
            "message.location.longitude must be a number",
            id="longitude",
        ),
        pytest.param(
            _without(("message", "contact", "phone_number"), "contact"),
            "message.contact.phone_number is required",
            id="contact without phone",
        ),
        pytest.param(
            _without(("callback_query", "id"), "callback_query"),
            "callback_query.id is required",
            id="no query id",
        ),
        pytest.param(
            _without(("callback_query", "from"), "callback_query"),
            "callback_query.from must be an object",
            id="from",
        ),
        pytest.param(
            _without(("callback_query", "message", "chat"), "callback_query"),
            "callback_query.message.chat is required",
            id="callback message without chat",
        ),
    ],
)
def test_malformed_updates_are_refused_naming_the_field(update: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match="^" + reason.replace("[", r"\[").replace("]", r"\]")):
        parse_update(update)


def test_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="update must be a JSON object"):
        parse_update([1, 2, 3])  # type: ignore[arg-type]


def test_two_kinds_in_one_update_are_refused() -> None:
    update = fixture("text")
    update["callback_query"] = fixture("callback_query")["callback_query"]
    with pytest.raises(ValueError, match="at most one"):
        parse_update(update)


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
# Updates in which every field has its documented JSON type but a wild value (huge or negative ids
# and dates, NaN or out-of-range coordinates, empty strings): fuzzing that gets past the first
# checks into the parsing of each kind of content. Wrong types are the damaged-fixture test's job.
IDS = st.integers(min_value=-(2**70), max_value=2**70) | st.integers(min_value=0, max_value=2**31)
NAMES = st.text(max_size=10)
USERISH = st.fixed_dictionaries(
    {"id": IDS, "is_bot": st.just(False) | st.booleans(), "first_name": NAMES},
    optional={"last_name": NAMES, "username": NAMES, "language_code": NAMES},
)
CHATISH = st.fixed_dictionaries(
    {"id": IDS, "type": st.just("private") | st.sampled_from(["private", "group", "supergroup", "channel"])}
)
DATES = st.integers(min_value=1, max_value=2**40) | IDS
FILEISH = st.fixed_dictionaries(
    {"file_id": NAMES, "file_unique_id": NAMES},
    optional={"width": IDS, "height": IDS, "file_size": IDS, "file_name": NAMES, "mime_type": NAMES},
)
COORDINATES = st.floats() | st.integers(min_value=-(2**70), max_value=2**70)
POINTISH = st.fixed_dictionaries({"latitude": COORDINATES, "longitude": COORDINATES})
CONTENT = st.one_of(
    st.fixed_dictionaries({"text": NAMES}),
    st.fixed_dictionaries({"photo": st.lists(FILEISH, max_size=3)}, optional={"caption": NAMES}),
    st.fixed_dictionaries({"document": FILEISH}, optional={"caption": NAMES}),
    st.fixed_dictionaries({"voice": FILEISH}),
    st.fixed_dictionaries({"audio": FILEISH}),
    st.fixed_dictionaries({"video": FILEISH}),
    st.fixed_dictionaries({"video_note": FILEISH}),
    st.fixed_dictionaries({"location": POINTISH}),
    st.fixed_dictionaries(
        {
            "location": POINTISH,
            "venue": st.fixed_dictionaries({"location": POINTISH, "title": NAMES, "address": NAMES}),
        }
    ),
    st.fixed_dictionaries(
        {
            "contact": st.fixed_dictionaries(
                {"phone_number": NAMES, "first_name": NAMES}, optional={"user_id": IDS}
            )
        }
    ),
    st.fixed_dictionaries({"sticker": FILEISH}),
    st.just({}),
)
MESSAGEISH = st.builds(
    lambda envelope, content: {**envelope, **content},
    st.fixed_dictionaries(
        {"message_id": IDS, "chat": CHATISH, "date": DATES, "from": USERISH},
        optional={"is_automatic_forward": st.booleans()},
    ),
    CONTENT,
)
CALLBACKISH = st.fixed_dictionaries(
    {"id": NAMES, "from": USERISH, "chat_instance": NAMES}, optional={"message": MESSAGEISH, "data": NAMES}
)
UPDATEISH = st.builds(
    lambda update_id, body: {"update_id": update_id, **body},
    IDS,
    st.one_of(
        st.fixed_dictionaries({"message": MESSAGEISH}),
        st.fixed_dictionaries({"callback_query": CALLBACKISH}),
        st.fixed_dictionaries({"edited_message": MESSAGEISH}),
    ),
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


def _only_value_errors(update: object) -> None:
    try:
        result = parse_update(update)  # type: ignore[arg-type]
    except ValueError:
        return
    assert result is None or isinstance(result, TelegramInbound)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=15), JSON, max_size=5) | JSON)
def test_arbitrary_json_raises_nothing_but_value_error(update: object) -> None:
    _only_value_errors(update)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(UPDATEISH)
def test_well_typed_updates_with_wild_values_raise_nothing_but_value_error(update: dict[str, Any]) -> None:
    _only_value_errors(update)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_NAMES), st.data())
def test_damaged_fixtures_raise_nothing_but_value_error(name: str, data: st.DataObject) -> None:
    """Replace or delete one field anywhere in a real update: a ValueError at worst."""
    update = copy.deepcopy(fixture(name))
    path = data.draw(st.sampled_from(_paths(update)))
    target: Any = update
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(JSON)
    _only_value_errors(update)


@given(
    text=st.text(min_size=1, max_size=4096),
    user_id=st.integers(min_value=1, max_value=2**52),
    message_id=st.integers(min_value=1, max_value=2**31 - 1),
    date=st.integers(min_value=1, max_value=4_102_444_800),
)
def test_any_private_text_message_round_trips(text: str, user_id: int, message_id: int, date: int) -> None:
    update = {
        "update_id": 1,
        "message": {
            "message_id": message_id,
            "from": {"id": user_id, "is_bot": False, "first_name": "A"},
            "chat": {"id": user_id, "first_name": "A", "type": "private"},
            "date": date,
            "text": text,
        },
    }
    result = parsed(update)
    assert (result.text, result.user_id, result.chat_id) == (text, str(user_id), user_id)
    assert result.provider_message_id == f"{user_id}:{message_id}"
    assert result.sent_at == datetime.fromtimestamp(date, UTC)
    assert result.sent_at.tzinfo is not None
