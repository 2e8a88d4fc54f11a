"""A local stand-in for the WhatsApp Cloud API (Graph API), for integration tests.

It speaks the documented wire format: every call carries `Authorization: Bearer <access token>`;

* `POST /{version}/{phone-number-id}/messages` with a JSON message object answers
  `{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}`;
* `POST /{version}/{phone-number-id}/media` (multipart: `file`, `type`, `messaging_product`)
  answers `{"id": "<media id>"}`;
* `GET /{version}/{media-id}` answers `{"messaging_product", "url", "mime_type", "sha256", "file_size",
  "id"}`, and the `url` serves the bytes (with the same bearer token), as Meta's media URLs do.

Errors are Graph API errors: `{"error": {"message", "type", "code", "error_data": {"messaging_product",
"details"}, "fbtrace_id"}}`. A wrong or missing token answers HTTP 401 with code 190, as Graph does
for an invalid OAuth access token. Message objects are checked against the documented limits (text
4096 characters; up to 3 reply buttons with titles of 20 characters and ids of 256; lists of up to
10 rows with titles of 24 and ids of 200; captions of 1024) and a breach answers HTTP 400 with code
131009 "Parameter value is not valid", naming the parameter in `details`.

Tests make it misbehave with `fail_next`, which queues canned answers per endpoint
("messages", "media_upload", "media_info", "media_download"):

    with running_fake_whatsapp("EAAG...") as fake:
        fake.fail_next("messages", ("retry_after", 3), ("status", 502))
        ...  # the first call gets 429, the second 502, the third succeeds

Requests are served by uvicorn in a background thread; all state is guarded by a lock so the test
thread can read `requests` and `sent_messages()` while the server runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.serving import serving_in_thread

__all__ = [
    "ENDPOINTS",
    "Failure",
    "FakeWhatsApp",
    "RecordedRequest",
    "StoredMedia",
    "running_fake_whatsapp",
]

#: Endpoint names for `fail_next` and `calls`.
ENDPOINTS = frozenset({"messages", "media_upload", "media_info", "media_download"})

#: One canned answer for `FakeWhatsApp.fail_next`:
#: ("status", 502): that HTTP status with a plain-text body, as from a proxy in front of Graph;
#: ("retry_after", 3): HTTP 429, Retry-After: 3, Graph error 130429 "Rate limit hit";
#: ("error", 400, 131047, "Re-engagement message"[, "details"]): a Graph API error;
#: ("delay", 2.5): wait that long, then answer normally (the call still takes effect).
Failure = tuple[Any, ...]

_MESSAGE_TYPES = frozenset({"text", "image", "audio", "video", "document", "sticker", "interactive"})


class RecordedRequest(NamedTuple):
    """One authorised call as received: the endpoint name and its decoded parameters."""

    endpoint: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredMedia:
    media_id: str
    content: bytes
    mime_type: str
    filename: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class _GraphError(Exception):
    def __init__(self, status: int, code: int, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class FakeWhatsApp:
    """State and behaviour of one fake Graph API server for one access token.

    `base_url` is what a client uses instead of `https://graph.facebook.com`.
    """

    def __init__(self, access_token: str) -> None:
        self.access_token = access_token
        self.base_url = ""
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._sent: list[tuple[str, dict[str, Any]]] = []
        self._media: dict[str, StoredMedia] = {}
        self._failures: dict[str, deque[Failure]] = {}
        self._next_media = 1_000_000_000_000_001
        self.app = Starlette(
            routes=[
                Route("/{version}/{number_id}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{number_id}/media", self._upload, methods=["POST"]),
                Route("/whatsapp_business/attachments/", self._download, methods=["GET"]),
                Route("/{version}/{media_id}", self._media_info, methods=["GET"]),
            ]
        )

    # --- what tests use -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every call made with the right token, in arrival order, failed ones included."""
        with self._lock:
            return list(self._requests)

    def calls(self, endpoint: str) -> list[dict[str, Any]]:
        return [r.params for r in self.requests if r.endpoint == endpoint]

    def sent_messages(self, to: str) -> list[dict[str, Any]]:
        """Message objects accepted for `to` (a wa_id), each with the `id` this fake gave it."""
        with self._lock:
            return [message for recipient, message in self._sent if recipient == to]

    def media(self, media_id: str) -> StoredMedia | None:
        with self._lock:
            return self._media.get(media_id)

    def add_media(self, media_id: str, content: bytes, mime_type: str, filename: str | None = None) -> str:
        """Make `media_id` known to `GET /{media-id}` and downloadable; returns its SHA-256 (hex)."""
        stored = StoredMedia(media_id, content, mime_type, filename)
        with self._lock:
            self._media[media_id] = stored
        return stored.sha256

    def fail_next(self, endpoint: str, *responses: Failure) -> None:
        """Answer the next calls to `endpoint` with `responses`, one each, then behave normally again."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {sorted(ENDPOINTS)}")
        if not responses:
            raise ValueError("fail_next needs at least one response")
        for response in responses:
            _check_failure(response)
        with self._lock:
            self._failures.setdefault(endpoint, deque()).extend(responses)

    # --- HTTP -------------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            presented.strip().encode(), self.access_token.encode()
        )

    async def _messages(self, request: Request) -> Response:
        if not self._authorised(request):
            return _token_error()
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _graph_error(_GraphError(400, 100, "(#100) Invalid parameter", "The body is not JSON"))
        if not isinstance(body, dict):
            return _graph_error(
                _GraphError(400, 100, "(#100) Invalid parameter", "The body is not an object")
            )
        self._record("messages", body)
        if (canned := await self._canned("messages")) is not None:
            return canned
        try:
            to = _check_message(body, self._media)
        except _GraphError as exc:
            return _graph_error(exc)
        wamid = "wamid." + secrets.token_urlsafe(36)
        with self._lock:
            self._sent.append((to, {**body, "id": wamid}))
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid}],
            }
        )

    async def _upload(self, request: Request) -> Response:
        if not self._authorised(request):
            return _token_error()
        params: dict[str, Any] = {}
        upload: tuple[bytes, str | None, str | None] | None = None
        try:
            async with request.form() as form:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        data = await value.read()
                        upload = (data, value.filename, value.content_type)
                        params[key] = {"filename": value.filename, "size": len(data)}
                    else:
                        params[key] = value
        except Exception:  # a malformed multipart body is the client's fault
            return _graph_error(
                _GraphError(400, 100, "(#100) Invalid parameter", "Unreadable multipart body")
            )
        self._record("media_upload", params)
        if (canned := await self._canned("media_upload")) is not None:
            return canned
        if params.get("messaging_product") != "whatsapp":
            return _graph_error(
                _GraphError(400, 131008, "(#131008) Required parameter is missing", "messaging_product")
            )
        if upload is None or not upload[0]:
            return _graph_error(_GraphError(400, 131008, "(#131008) Required parameter is missing", "file"))
        mime_type = params.get("type")
        if not isinstance(mime_type, str) or not mime_type:
            return _graph_error(_GraphError(400, 131008, "(#131008) Required parameter is missing", "type"))
        with self._lock:
            media_id = str(self._next_media)
            self._next_media += 1
            self._media[media_id] = StoredMedia(media_id, upload[0], mime_type, upload[1])
        return JSONResponse({"id": media_id})

    async def _media_info(self, request: Request) -> Response:
        if not self._authorised(request):
            return _token_error()
        media_id = str(request.path_params["media_id"])
        self._record("media_info", {"media_id": media_id})
        if (canned := await self._canned("media_info")) is not None:
            return canned
        with self._lock:
            stored = self._media.get(media_id)
        if stored is None:
            return _graph_error(
                _GraphError(
                    400,
                    100,
                    f"Unsupported get request. Object with ID '{media_id}' does not exist",
                    None,
                )
            )
        url = f"{self.base_url}/whatsapp_business/attachments/?mid={media_id}&ext={int(time.time())}"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": url,
                "mime_type": stored.mime_type,
                "sha256": stored.sha256,
                "file_size": str(len(stored.content)),
                "id": media_id,
            }
        )

    async def _download(self, request: Request) -> Response:
        if not self._authorised(request):
            return _token_error()
        media_id = request.query_params.get("mid", "")
        self._record("media_download", {"media_id": media_id})
        if (canned := await self._canned("media_download")) is not None:
            return canned
        with self._lock:
            stored = self._media.get(media_id)
        if stored is None:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(stored.content, media_type=stored.mime_type)

    def _record(self, endpoint: str, params: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(endpoint, params))

    async def _canned(self, endpoint: str) -> Response | None:
        """The next programmed failure for `endpoint`, if any; a delay just waits and yields None."""
        with self._lock:
            queue = self._failures.get(endpoint)
            failure = queue.popleft() if queue else None
        if failure is None:
            return None
        kind = failure[0]
        if kind == "delay":
            await self._pause(float(failure[1]))
            return None
        if kind == "retry_after":
            seconds = int(failure[1])
            return _graph_error(
                _GraphError(
                    429,
                    130429,
                    "(#130429) Rate limit hit",
                    "Cloud API message throughput has been reached.",
                ),
                headers={"Retry-After": str(seconds)},
            )
        if kind == "error":
            details = str(failure[4]) if len(failure) > 4 else None
            return _graph_error(_GraphError(int(failure[1]), int(failure[2]), str(failure[3]), details))
        status = int(failure[1])
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return PlainTextResponse(phrase, status_code=status)

    async def _pause(self, seconds: float) -> None:
        # In small steps, so that stopping the server does not wait for a long programmed delay.
        steps = max(1, math.ceil(seconds / 0.05))
        for _ in range(steps):
            if self._closing.is_set():
                return
            await asyncio.sleep(seconds / steps)


# --- message validation (the documented limits) -----------------------------------------------------


def _invalid(details: str) -> _GraphError:
    return _GraphError(400, 131009, "(#131009) Parameter value is not valid", details)


def _missing(details: str) -> _GraphError:
    return _GraphError(400, 131008, "(#131008) Required parameter is missing", details)


def _check_message(body: Mapping[str, Any], media: Mapping[str, StoredMedia]) -> str:
    """The recipient of a valid message object; _GraphError naming the parameter otherwise."""
    if body.get("messaging_product") != "whatsapp":
        raise _missing("messaging_product must be 'whatsapp'")
    to = body.get("to")
    if not isinstance(to, str) or not to.lstrip("+").isdigit():
        raise _invalid("to must be a WhatsApp user phone number")
    kind = body.get("type", "text")
    if kind not in _MESSAGE_TYPES:
        raise _invalid(f"type {kind!r} is not supported here")
    content = body.get(kind)
    if not isinstance(content, dict):
        raise _missing(f"{kind} object is required")
    if kind == "text":
        text = content.get("body")
        if not isinstance(text, str) or not text.strip():
            raise _missing("text.body is required")
        if len(text) > 4096:
            raise _invalid("text.body is longer than 4096 characters")
    elif kind == "interactive":
        _check_interactive(content)
    else:
        _check_media(kind, content, media)
    return to.lstrip("+")


def _check_media(kind: str, content: Mapping[str, Any], media: Mapping[str, StoredMedia]) -> None:
    media_id, link = content.get("id"), content.get("link")
    if (media_id is None) == (link is None):
        raise _invalid(f"{kind} needs exactly one of id and link")
    if media_id is not None and media_id not in media:
        raise _invalid(f"{kind}.id is not a media id of this business")
    caption = content.get("caption")
    if caption is not None:
        if kind in ("audio", "sticker"):
            raise _invalid(f"{kind} messages take no caption")
        if not isinstance(caption, str) or len(caption) > 1024:
            raise _invalid(f"{kind}.caption must be a string of at most 1024 characters")


def _check_interactive(content: Mapping[str, Any]) -> None:
    kind = content.get("type")
    body = content.get("body")
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise _missing("interactive.body.text is required")
    action = content.get("action")
    if not isinstance(action, dict):
        raise _missing("interactive.action is required")
    if kind == "button":
        if len(text) > 1024:
            raise _invalid("interactive.body.text is longer than 1024 characters")
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise _invalid("interactive.action.buttons must hold 1 to 3 buttons")
        titles, ids = [], []
        for button in buttons:
            reply = button.get("reply") if isinstance(button, dict) else None
            if not isinstance(button, dict) or button.get("type") != "reply" or not isinstance(reply, dict):
                raise _invalid("each button is {type: reply, reply: {id, title}}")
            title, button_id = reply.get("title"), reply.get("id")
            if not isinstance(title, str) or not 1 <= len(title) <= 20:
                raise _invalid("button title must be 1 to 20 characters")
            if not isinstance(button_id, str) or not 1 <= len(button_id) <= 256:
                raise _invalid("button id must be 1 to 256 characters")
            titles.append(title)
            ids.append(button_id)
        if len(set(titles)) != len(titles) or len(set(ids)) != len(ids):
            raise _invalid("button titles and ids must be unique within the message")
    elif kind == "list":
        if len(text) > 4096:
            raise _invalid("interactive.body.text is longer than 4096 characters")
        label = action.get("button")
        if not isinstance(label, str) or not 1 <= len(label) <= 20:
            raise _invalid("interactive.action.button must be 1 to 20 characters")
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            raise _invalid("interactive.action.sections must hold 1 to 10 sections")
        row_ids: list[str] = []
        for section in sections:
            rows = section.get("rows") if isinstance(section, dict) else None
            if not isinstance(rows, list) or not rows:
                raise _invalid("each section needs rows")
            if len(sections) > 1 and not isinstance(section.get("title"), str):
                raise _missing("section title is required when there is more than one section")
            for row in rows:
                title = row.get("title") if isinstance(row, dict) else None
                row_id = row.get("id") if isinstance(row, dict) else None
                if not isinstance(title, str) or not 1 <= len(title) <= 24:
                    raise _invalid("row title must be 1 to 24 characters")
                if not isinstance(row_id, str) or not 1 <= len(row_id) <= 200:
                    raise _invalid("row id must be 1 to 200 characters")
                row_ids.append(row_id)
        if len(row_ids) > 10:
            raise _invalid("a list holds at most 10 rows in all")
        if len(set(row_ids)) != len(row_ids):
            raise _invalid("row ids must be unique")
    else:
        raise _invalid(f"interactive type {kind!r} is not supported here")


def _check_failure(response: Failure) -> None:
    def number(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0

    match response:
        case ("status", int() as status) if 400 <= status <= 599:
            return
        case ("retry_after", int() as seconds) if seconds >= 0:
            return
        case ("error", int() as status, int(), str()) if 400 <= status <= 599:
            return
        case ("error", int() as status, int(), str(), str()) if 400 <= status <= 599:
            return
        case ("delay", seconds) if number(seconds):
            return
    raise ValueError(f"not a failure fail_next understands: {response!r}")


def _graph_error(error: _GraphError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "message": error.message,
        "type": "OAuthException",
        "code": error.code,
        "fbtrace_id": "A" + secrets.token_urlsafe(16),
    }
    if error.details is not None:
        body["error_data"] = {"messaging_product": "whatsapp", "details": error.details}
    return JSONResponse({"error": body}, status_code=error.status, headers=dict(headers) if headers else None)


def _token_error() -> JSONResponse:
    """What Graph answers for a wrong or expired access token."""
    return _graph_error(_GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token"))


# --- running it -----------------------------------------------------------------------------------


@contextmanager
def running_fake_whatsapp(access_token: str) -> Iterator[FakeWhatsApp]:
    """Serve a FakeWhatsApp for `access_token` on a free 127.0.0.1 port until the block ends."""
    fake = FakeWhatsApp(access_token)
    with serving_in_thread(fake.app, "fake-whatsapp", fake._closing) as url:
        fake.base_url = url
        yield fake
