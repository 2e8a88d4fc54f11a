"""WhatsApp Cloud API webhook documents, as Meta documents them, turned into messages and receipts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.channels.whatsapp.parse import (
    MediaRef,
    WhatsAppBatch,
    WhatsAppInbound,
    WhatsAppStatus,
    parse_webhook,
)
from helpline.domain.conversations import DeliveryStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
WA_ID = "16505551234"
NUMBER_ID = "106540352242922"
SENT_WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBIyRkI0NDY4QjQ3RjJFNDdCNEEA"


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def value_of(payload: dict[str, Any]) -> dict[str, Any]:
    value = payload["entry"][0]["changes"][0]["value"]
    assert isinstance(value, dict)
    return value


def message_of(payload: dict[str, Any]) -> dict[str, Any]:
    message = value_of(payload)["messages"][0]
    assert isinstance(message, dict)
    return message


def only_message(payload: dict[str, Any]) -> WhatsAppInbound:
    batch = parse_webhook(payload)
    assert batch.statuses == ()
    (message,) = batch.messages
    return message


def only_status(payload: dict[str, Any]) -> WhatsAppStatus:
    batch = parse_webhook(payload)
    assert batch.messages == ()
    (status,) = batch.statuses
    return status


# --- the documented payloads ------------------------------------------------------------------------


def test_text_message() -> None:
    assert only_message(fixture("text")) == WhatsAppInbound(
        provider_message_id="wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        wa_id=WA_ID,
        sender_name="Sheena Nelson",
        text="Does it come in another color?",
        sent_at=datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC),
        media=(),
        reply_id=None,
    )


def test_image_keeps_caption_id_type_and_hash() -> None:
    message = only_message(fixture("image"))
    assert message.text == "Here is the damaged item"
    assert message.media == (
        MediaRef(
            media_id="1003383421387256",
            kind="image",
            filename="image.jpg",
            content_type="image/jpeg",
            sha256="e4d2d2bc0c5b1c58e4f1b3a7ac4ab7f0c5e4bd91e3c98a0a7fb6a32b6b2b6f21",
        ),
    )


def test_document_keeps_the_senders_file_name() -> None:
    message = only_message(fixture("document"))
    assert message.text == "Invoice for order 4821"
    assert [(m.kind, m.filename, m.content_type) for m in message.media] == [
        ("document", "invoice_4821.pdf", "application/pdf")
    ]


def test_voice_note_is_an_ogg_file_named_as_one() -> None:
    message = only_message(fixture("audio_voice"))
    assert message.text == ""
    assert [(m.kind, m.filename, m.content_type) for m in message.media] == [
        ("audio", "voice.ogg", "audio/ogg")
    ]


def test_media_without_type_or_name_gets_defaults() -> None:
    payload = fixture("image")
    image = message_of(payload)["image"]
    del image["mime_type"], image["sha256"], image["caption"]
    message = only_message(payload)
    assert message.text == ""
    assert message.media == (MediaRef("1003383421387256", "image", "image.jpg", "image/jpeg", None),)
    for kind, filename in (("video", "video.mp4"), ("sticker", "sticker.webp")):
        other = fixture("image")
        body = message_of(other).pop("image")
        del body["mime_type"], body["caption"]
        message_of(other).update(type=kind, **{kind: body})
        assert only_message(other).media[0].filename == filename


def test_reply_button_and_list_row_read_as_their_titles_and_keep_their_ids() -> None:
    button = only_message(fixture("interactive_button_reply"))
    assert (button.text, button.reply_id) == ("Change", "change-button")
    row = only_message(fixture("interactive_list_reply"))
    assert (row.text, row.reply_id) == ("Priority Mail Express", "priority_express")
    template = only_message(fixture("button"))
    assert (template.text, template.reply_id) == ("Unsubscribe from Promos", "Unsubscribe from Promos")


def test_location_is_a_pin_with_coordinates_name_and_address() -> None:
    assert only_message(fixture("location")).text == (
        "📍 37.483307, -122.148981\nMeta Headquarters\n1 Hacker Way, Menlo Park, CA 94025"
    )
    bare = fixture("location")
    for key in ("name", "address"):
        del message_of(bare)["location"][key]
    assert only_message(bare).text == "📍 37.483307, -122.148981"


def test_shared_contacts_are_text_with_names_and_phones() -> None:
    payload = fixture("contacts")
    assert only_message(payload).text == "👤 Barbara J. Johnson: +1 (650) 555-1234"
    second = {"name": {"first_name": "Omar", "last_name": "Haddad"}, "phones": []}
    message_of(payload)["contacts"].append(second)
    assert only_message(payload).text.splitlines() == [
        "👤 Barbara J. Johnson: +1 (650) 555-1234",
        "👤 Omar Haddad",
    ]


def test_reactions_and_unsupported_messages_are_never_dropped() -> None:
    assert only_message(fixture("reaction")).text == "👍\n[reaction]"
    removed = fixture("reaction")
    del message_of(removed)["reaction"]["emoji"]
    assert only_message(removed).text == "[reaction removed]"
    assert only_message(fixture("unsupported")).text == "[unsupported message type: unsupported]"
    for kind in ("order", "request_welcome", "something_new"):
        other = fixture("text")
        message_of(other)["type"] = kind
        assert only_message(other).text == f"[unsupported message type: {kind}]"
    flow = fixture("interactive_button_reply")
    message_of(flow)["interactive"] = {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}
    assert only_message(flow).text == "[unsupported message type: interactive nfm_reply]"


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("status_sent", DeliveryStatus.SENT),
        ("status_delivered", DeliveryStatus.DELIVERED),
        ("status_read", DeliveryStatus.READ),
    ],
)
def test_statuses_become_receipts(name: str, status: DeliveryStatus) -> None:
    receipt = only_status(fixture(name))
    assert (receipt.provider_message_id, receipt.status, receipt.recipient_id, receipt.error) == (
        SENT_WAMID,
        status,
        WA_ID,
        None,
    )
    assert receipt.at == datetime.fromtimestamp(int(value_of(fixture(name))["statuses"][0]["timestamp"]), UTC)


def test_failed_status_carries_metas_reason_without_the_link() -> None:
    receipt = only_status(fixture("status_failed"))
    assert receipt.status is DeliveryStatus.FAILED
    assert receipt.error == (
        "WhatsApp 131047: Re-engagement message (Message failed to send because more than 24 hours "
        "have passed since the customer last replied to this number.)"
    )
    assert "http" not in (receipt.error or "")
    bare = fixture("status_failed")
    del value_of(bare)["statuses"][0]["errors"]
    assert only_status(bare).error == "WhatsApp reported the message as failed"


def test_statuses_we_do_not_track_are_acknowledged_only() -> None:
    payload = fixture("status_sent")
    value_of(payload)["statuses"][0]["status"] = "deleted"
    assert parse_webhook(payload) == WhatsAppBatch((), ())


def test_one_document_with_many_messages_and_statuses_keeps_their_order() -> None:
    payload = fixture("text")
    value = value_of(payload)
    value["messages"].append(message_of(fixture("location")))
    value["statuses"] = value_of(fixture("status_read"))["statuses"]
    payload["entry"].append(fixture("interactive_list_reply")["entry"][0])
    batch = parse_webhook(payload)
    assert [m.text.splitlines()[0] for m in batch.messages] == [
        "Does it come in another color?",
        "📍 37.483307, -122.148981",
        "Priority Mail Express",
    ]
    assert [s.status for s in batch.statuses] == [DeliveryStatus.READ]


def test_other_fields_and_other_business_numbers_are_skipped() -> None:
    payload = fixture("text")
    assert len(parse_webhook(payload, phone_number_id=NUMBER_ID).messages) == 1
    assert parse_webhook(payload, phone_number_id="111222333444555") == WhatsAppBatch((), ())
    update = {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
    payload["entry"][0]["changes"] = [update]
    assert parse_webhook(payload) == WhatsAppBatch((), ())


def test_the_senders_name_comes_from_their_contact_entry() -> None:
    payload = fixture("text")
    value_of(payload)["contacts"] = [{"profile": {"name": "Someone else"}, "wa_id": "447700900123"}]
    assert only_message(payload).sender_name is None
    del value_of(payload)["contacts"]
    assert only_message(payload).sender_name is None


# --- bad shapes -------------------------------------------------------------------------------------


def broken(change: str) -> dict[str, Any]:
    """The text fixture with one documented field made wrong."""
    payload = fixture("text")
    value = value_of(payload)
    message = value["messages"][0]
    match change:
        case "object":
            payload["object"] = "page"
        case "entry":
            payload["entry"] = {"id": "1"}
        case "changes":
            del payload["entry"][0]["changes"]
        case "field":
            del payload["entry"][0]["changes"][0]["field"]
        case "metadata":
            del value["metadata"]
        case "messages":
            value["messages"] = "hello"
        case "id":
            message["id"] = ""
        case "from":
            message["from"] = "+1 650 555 1234"
        case "timestamp":
            message["timestamp"] = "yesterday"
        case "negative_time":
            message["timestamp"] = "0"
        case "type":
            del message["type"]
        case "text_body":
            message["text"] = {"body": 42}
        case "text_missing":
            del message["text"]
        case "interactive":
            message.update(
                type="interactive", interactive={"type": "button_reply", "button_reply": {"id": "x"}}
            )
        case "location":
            message.update(type="location", location={"latitude": 91.0, "longitude": 0})
        case "location_type":
            message.update(type="location", location={"latitude": "55.7", "longitude": 37.6})
        case "media_id":
            message.update(type="image", image={"mime_type": "image/jpeg"})
        case "contacts":
            message.update(type="contacts", contacts={"name": {}})
        case "status":
            value["statuses"] = [{"id": SENT_WAMID, "timestamp": "1749416800"}]
        case "status_time":
            value["statuses"] = [{"id": SENT_WAMID, "status": "read", "timestamp": 1.5}]
        case _:
            raise AssertionError(change)
    return payload


@pytest.mark.parametrize(
    "change",
    [
        "object",
        "entry",
        "changes",
        "field",
        "metadata",
        "messages",
        "id",
        "from",
        "timestamp",
        "negative_time",
        "type",
        "text_body",
        "text_missing",
        "interactive",
        "location",
        "location_type",
        "media_id",
        "contacts",
        "status",
        "status_time",
    ],
)
def test_bad_shapes_raise_value_error(change: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_webhook(broken(change))


def test_non_objects_raise_value_error() -> None:
    values: tuple[object, ...] = (None, [], "text", 7)
    for value in values:
        with pytest.raises(ValueError, match="JSON object"):
            parse_webhook(value)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FIELDS = (
    "object",
    "entry",
    "changes",
    "value",
    "messages",
    "statuses",
    "metadata",
    "from",
    "id",
    "timestamp",
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.lists(st.sampled_from(FIELDS), min_size=1, max_size=6), junk=JSON)
def test_any_corruption_of_a_real_document_is_parsed_or_refused_with_value_error(
    path: list[str], junk: object
) -> None:
    """Whatever a sender puts anywhere in a document, the parser answers a batch or ValueError,
    never another exception (which would be a 500 and Meta retrying a bad document for days)."""
    payload = fixture("text")
    value_of(payload)["statuses"] = copy.deepcopy(value_of(fixture("status_failed"))["statuses"])
    node: dict[str, Any] = payload
    for key in path[:-1]:  # walk down as far as the path leads, then replace the last key there
        child = node.get(key)
        if isinstance(child, list) and child:
            child = child[0]
        if not isinstance(child, dict):
            break
        node = child
    node[path[-1]] = junk
    try:
        result = parse_webhook(payload)
    except ValueError:
        return
    assert isinstance(result, WhatsAppBatch)


@settings(max_examples=200)
@given(
    body=st.text(min_size=1, max_size=4096),
    name=st.text(max_size=40),
    wa_id=st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True),
    seconds=st.integers(min_value=1, max_value=4_102_444_800),
)
def test_a_text_message_is_read_back_exactly(body: str, name: str, wa_id: str, seconds: int) -> None:
    """Text, sender, name and time come out as they went in, whatever the characters."""
    payload = fixture("text")
    value = value_of(payload)
    value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
    value["messages"][0].update({"from": wa_id, "timestamp": str(seconds), "text": {"body": body}})
    message = only_message(json.loads(json.dumps(payload)))
    assert message.text == body
    assert message.wa_id == wa_id
    assert message.sender_name == (name.strip() or None)
    assert message.sent_at == datetime.fromtimestamp(seconds, UTC)
