"""Sending through the WhatsApp Cloud API (`POST /{phone-number-id}/messages`), as Meta documents it.

Every call carries the access token as `Authorization: Bearer`. Errors come back as Graph API errors,
`{"error": {"message", "type", "code", "error_subcode", "error_data": {"details"}, "fbtrace_id"}}`,
and Meta asks clients to act on `code`, not on the HTTP status (its throttling codes arrive with
HTTP 400, and some permanent errors with 500). So `classify_error` reads the code first and falls
back to the status only for codes it does not know. Reasons shown to agents hold Meta's message and
details, never a URL or a header, and the token is scrubbed from them in any case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from helpline.channels.base import OutboundFile, OutboundMessage, ReplyOption
from helpline.channels.text import split_text, with_numbered_options
from helpline.domain.delivery import Delivered, DeliveryOutcome, Rejected, RetryLater, http_outcome

DEFAULT_API_BASE = "https://graph.facebook.com"
#: Graph API version used when the account does not name one (`api_version` in its config).
DEFAULT_API_VERSION = "v25.0"

#: Text messages: `text.body`, up to 4096 characters.
MAX_TEXT = 4096
#: Media captions (image, video, document): up to 1024 characters.
MAX_CAPTION = 1024
#: Interactive reply buttons: at most 3; title 20 characters, id 256; body text 1024.
MAX_REPLY_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_BUTTON_BODY = 1024
#: Interactive list: at most 10 rows in all; row title 24 characters, id 200; body 4096;
#: the button that opens the list: 20 characters.
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_ID = 200
MAX_LIST_BODY = 4096
MAX_LIST_BUTTON = 20
#: Label of that button unless the account sets `list_button`: a symbol reads the same in every language.
LIST_BUTTON = "☰"

#: Graph error codes that mean "too much, too fast" (Cloud API error codes, throttling errors):
#: 4 app call limit, 80007 WABA limit, 130429 message throughput, 131048 spam rate limit,
#: 131056 pair rate limit (one business number to one customer).
RATE_LIMIT_CODES: Final = frozenset({4, 80007, 130429, 131048, 131056})
#: Codes Meta documents as temporary: 1 unknown/possible server error, 2 service down or
#: overloaded, 131000 something went wrong ("try again"), 131016 service unavailable,
#: 131057 account in maintenance mode, 133004 server temporarily unavailable.
TEMPORARY_CODES: Final = frozenset({1, 2, 131000, 131016, 131057, 133004})
#: Codes that come with HTTP 5xx yet will fail the same way next time: 3 capability or
#: permission issue, 131045 incorrect certificate (number registration), 133000 incomplete
#: deregistration.
PERMANENT_SERVER_CODES: Final = frozenset({3, 131045, 133000})

#: What each send type accepts (Cloud API "Supported media types"); the rest goes as a document.
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png"})
AUDIO_TYPES: Final = frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"})
VIDEO_TYPES: Final = frozenset({"video/mp4", "video/3gpp"})


def graph_url(config: Mapping[str, Any], *path: str) -> str:
    base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
    version = str(config.get("api_version") or DEFAULT_API_VERSION).strip("/")
    return "/".join([base, version, *path])


def auth_headers(config: Mapping[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {config.get('access_token') or ''}"}


def media_type(content_type: str) -> str:
    """The message type a file goes out as: image, audio, video, or document for anything else."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base in IMAGE_TYPES:
        return "image"
    if base in AUDIO_TYPES:
        return "audio"
    if base in VIDEO_TYPES:
        return "video"
    return "document"


def interactive(
    text: str, options: Sequence[ReplyOption], list_button: str = LIST_BUTTON
) -> dict[str, Any] | None:
    """The native form for `options` with `text` as its body, or None where none fits.

    Up to 3 options become reply buttons (titles of 20 characters at most), up to 10 a list (row
    titles of 24). Titles are never cut: a cut label can read as something else, so a label too long
    for both forms, a payload longer than the documented id limit, two equal labels or payloads, or
    an empty text (the body is required) fall back to numbered text.
    """
    labels = [o.label for o in options]
    payloads = [o.payload for o in options]
    if (
        not text.strip()
        or not options
        or len(set(labels)) != len(labels)
        or len(set(payloads)) != len(payloads)
    ):
        return None
    if any(not label.strip() or not payload for label, payload in zip(labels, payloads, strict=True)):
        return None
    fits_buttons = (
        len(options) <= MAX_REPLY_BUTTONS
        and len(text) <= MAX_BUTTON_BODY
        and all(len(o.label) <= MAX_BUTTON_TITLE and len(o.payload) <= MAX_BUTTON_ID for o in options)
    )
    if fits_buttons:
        buttons = [{"type": "reply", "reply": {"id": o.payload, "title": o.label}} for o in options]
        return {"type": "button", "body": {"text": text}, "action": {"buttons": buttons}}
    fits_list = (
        len(options) <= MAX_LIST_ROWS
        and len(text) <= MAX_LIST_BODY
        and all(len(o.label) <= MAX_ROW_TITLE and len(o.payload) <= MAX_ROW_ID for o in options)
    )
    if fits_list:
        rows = [{"id": o.payload, "title": o.label} for o in options]
        return {
            "type": "list",
            "body": {"text": text},
            "action": {"button": list_button, "sections": [{"rows": rows}]},
        }
    return None


class WhatsAppSender:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def send(self, config: Mapping[str, Any], message: OutboundMessage) -> DeliveryOutcome:
        token = str(config.get("access_token") or "")
        number_id = str(config.get("phone_number_id") or "")
        if not token:
            return Rejected("the WhatsApp account has no access token configured")
        if not number_id:
            return Rejected("the WhatsApp account has no phone number id configured")
        to = message.recipient.strip().lstrip("+")
        if not to.isascii() or not to.isdigit():
            return Rejected("not a WhatsApp ID (the digits of a phone number)")
        call = _Calls(self._http, config, token, to)
        text = message.text
        caption = None
        if message.files and len(text) <= MAX_CAPTION and not message.options:
            caption, text = text, ""
        outcome: DeliveryOutcome = Rejected("empty message")
        for n, file in enumerate(message.files):
            outcome = await call.send_file(file, caption if n == 0 else None)
            if not isinstance(outcome, Delivered):
                return outcome
        if text.strip() or not message.files:
            for body in _text_messages(text, message.options, list_button_label(config)):
                outcome = await call.message(body)
                if not isinstance(outcome, Delivered):
                    return outcome
        return outcome


def list_button_label(config: Mapping[str, Any]) -> str:
    """The account's `list_button` when it fits the documented 1-20 characters, else the default."""
    label = str(config.get("list_button") or "").strip()
    return label if 0 < len(label) <= MAX_LIST_BUTTON else LIST_BUTTON


def _text_messages(text: str, options: Sequence[ReplyOption], list_button: str) -> list[dict[str, Any]]:
    """The message objects that say `text` and offer `options`, in sending order.

    A text too long for an interactive body goes first as plain text; its last piece carries the
    buttons or list.
    """
    if options:
        limit = MAX_BUTTON_BODY if len(options) <= MAX_REPLY_BUTTONS else MAX_LIST_BODY
        pieces = split_text(text, limit) if text.strip() else [""]
        native = interactive(pieces[-1], options, list_button)
        if native is not None:
            return [*(_text(p) for p in pieces[:-1]), {"type": "interactive", "interactive": native}]
        text = with_numbered_options(text, options)
    return [_text(piece) for piece in split_text(text, MAX_TEXT)]


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"preview_url": False, "body": body}}


class _Calls:
    """The Graph API calls of one send, sharing the account's base URL, token and recipient."""

    def __init__(self, http: httpx.AsyncClient, config: Mapping[str, Any], token: str, to: str) -> None:
        self._http = http
        self._config = config
        self._token = token
        self._to = to
        self._number_id = str(config["phone_number_id"])

    async def message(self, content: Mapping[str, Any]) -> DeliveryOutcome:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": self._to, **content}
        outcome = await self._post(graph_url(self._config, self._number_id, "messages"), json=body)
        if isinstance(outcome, _Answer):
            messages = outcome.data.get("messages")
            first = messages[0] if isinstance(messages, list) and messages else None
            wamid = first.get("id") if isinstance(first, dict) else None
            return Delivered(wamid if isinstance(wamid, str) and wamid else None)
        return outcome

    async def send_file(self, file: OutboundFile, caption: str | None) -> DeliveryOutcome:
        """Upload the file (`POST /{phone-number-id}/media`), then send it by the id Meta gives."""
        content_type = file.content_type.split(";", 1)[0].strip().lower() or "application/octet-stream"
        uploaded = await self._post(
            graph_url(self._config, self._number_id, "media"),
            data={"messaging_product": "whatsapp", "type": content_type},
            files={"file": (file.filename, file.data, content_type)},
        )
        if not isinstance(uploaded, _Answer):
            return uploaded
        media_id = uploaded.data.get("id")
        if not isinstance(media_id, str) or not media_id:
            return RetryLater("WhatsApp accepted the upload but gave no media id")
        kind = media_type(content_type)
        media: dict[str, Any] = {"id": media_id}
        if caption and kind != "audio":  # audio messages take no caption
            media["caption"] = caption
        if kind == "document":
            media["filename"] = file.filename
        return await self.message({"type": kind, kind: media})

    async def _post(self, url: str, **request: Any) -> _Answer | RetryLater | Rejected:
        try:
            response = await self._http.post(
                url, headers={"Authorization": f"Bearer {self._token}"}, **request
            )
        except httpx.TimeoutException as exc:
            return RetryLater(f"WhatsApp did not answer in time ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return RetryLater(f"could not reach WhatsApp ({type(exc).__name__})")
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code == 200 and isinstance(data, dict) and "error" not in data:
            return _Answer(data)
        outcome = classify_error(response.status_code, data, retry_after(response))
        return _scrubbed(outcome, self._token)


class _Answer:
    """A successful Graph API answer (HTTP 200 with a JSON object)."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


def classify_error(
    status: int, body: object, retry_after_seconds: float | None = None
) -> RetryLater | Rejected:
    """RetryLater or Rejected for a failed Graph API call, with Meta's own words as the reason."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return http_outcome(status, f"WhatsApp answered HTTP {status}", retry_after_seconds)
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    reason = error_reason(error, status)
    if status == 429 or code in RATE_LIMIT_CODES:
        return RetryLater(reason, retry_after_seconds)
    if code in TEMPORARY_CODES:
        return RetryLater(reason, retry_after_seconds)
    if code in PERMANENT_SERVER_CODES:
        return Rejected(reason)
    return http_outcome(status, reason, retry_after_seconds)


def error_reason(error: Mapping[str, Any], status: int) -> str:
    """Meta's words for an error: `WhatsApp 131047: Re-engagement message (details...)`."""
    code = error.get("code")
    message = error.get("message")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, Mapping) else None
    text = (
        f"WhatsApp {code}: "
        if isinstance(code, int) and not isinstance(code, bool)
        else f"WhatsApp {status}: "
    )
    text += str(message) if isinstance(message, str) and message else "error"
    if isinstance(details, str) and details and details not in text:
        text += f" ({details})"
    return text[:300]


def retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("retry-after")
    if header is None:
        return None
    try:
        seconds = float(header)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _scrubbed(outcome: RetryLater | Rejected, token: str) -> RetryLater | Rejected:
    """Whatever an error message says, the access token never reaches agents or logs."""
    if token and token in outcome.reason:
        reason = outcome.reason.replace(token, "[redacted]")
        return (
            RetryLater(reason, outcome.retry_after) if isinstance(outcome, RetryLater) else Rejected(reason)
        )
    return outcome
