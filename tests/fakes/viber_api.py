"""A local stand-in for the Viber REST bot API, for integration tests.

It speaks the documented wire format (https://developers.viber.com/docs/api/rest-bot-api/):
`POST <base_url>/send_message` with a JSON body and the account's token in the
`X-Viber-Auth-Token` header, answered with HTTP 200 and `{"status": 0, "status_message": "ok",
"message_token": ..., "chat_hostname": ...}`, or, for Viber's own errors, still HTTP 200 with the
failing `status` and its `status_message`. It also serves media files, as Viber's media host does
for the `media` URLs of incoming callbacks.

Checked as Viber documents it: the token (a missing one answers `missing_auth_token`, a wrong one
status 2), required fields (status 4), the text limit of 7,000 characters, `sender.name` of at most
28 characters, the 30 KB request limit, and the keyboard schema (`Buttons` with a valid
`ActionType`, an `ActionBody`, `Text` of at most 250 characters; status 3 "keyboard is not valid",
the text the real server gives).

Tests make it misbehave with `fail_next`, which queues canned answers per method:

    with running_fake_viber("4453b6ac12345678-e02c5f12174805f9-9b4e7f2b1c3d5a7e") as fake:
        fake.fail_next(SEND_MESSAGE, ("viber", 12), ("status", 502))
        ...  # the first call gets status 12 (too many requests), the second HTTP 502, the third succeeds

Requests are served by uvicorn in a background thread; all state is guarded by a lock so the test
thread can read `sent_messages()` while the server runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.serving import serving_in_thread

__all__ = [
    "MEDIA",
    "SEND_MESSAGE",
    "STATUS_MESSAGES",
    "Failure",
    "FakeViber",
    "RecordedRequest",
    "running_fake_viber",
]

#: Method names for `fail_next` and `calls`.
SEND_MESSAGE = "send_message"
MEDIA = "media"

#: `status_message` for each documented status: the names of the REST bot API's Error Codes table,
#: except 12, whose text the send_message page quotes, and 6, which the real server words
#: "notSubscribed" (as users of viber-bot-php report it: "Remote error: notSubscribed").
STATUS_MESSAGES: dict[int, str] = {
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "notSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    10: "webhookNotSet",
    11: "receiverNoSuitableDevice",
    12: "Too many requests",
    13: "apiVersionNotSupported",
    14: "incompatibleWithVersion",
    15: "publicAccountNotAuthorized",
}

#: One canned answer for `FakeViber.fail_next`:
#: ("status", 500) | ("viber", 6) | ("viber", 6, "custom status_message") | ("delay", 2.5)
Failure = tuple[Any, ...]

_MAX_TEXT = 7000
_MAX_SENDER_NAME = 28
_MAX_REQUEST_BYTES = 30 * 1024
_MAX_BUTTON_TEXT = 250
_ACTION_TYPES = frozenset({"reply", "open-url", "location-picker", "share-phone", "none"})
#: Keyboards docs: "The api level 3 is supported on devices running Viber version 7.6 and above.
#: If you use api level 3 parameters you will have to set the min_api_version parameter on right
#: api level as well." Below it Viber refuses these action types as not in its enum.
_API_LEVEL_3_ACTIONS = frozenset({"location-picker", "share-phone"})
_MESSAGE_TYPES = frozenset(
    {"text", "picture", "video", "file", "location", "contact", "sticker", "carousel content", "url"}
)
_CHAT_HOSTNAME = "SN-CHAT-05_"


class RecordedRequest(NamedTuple):
    """One call as received: the method and its decoded JSON body (media: the file name)."""

    method: str
    params: dict[str, Any]


class _ViberError(Exception):
    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or STATUS_MESSAGES.get(status, "failure")


class FakeViber:
    """State and behaviour of one fake Viber API for one account token.

    `base_url` is what a client uses instead of `https://chatapi.viber.com/pa`.
    """

    def __init__(self, auth_token: str) -> None:
        self.auth_token = auth_token
        self.root_url = ""
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._sent: list[tuple[str, dict[str, Any]]] = []
        self._media: dict[str, tuple[bytes, str]] = {}
        self._failures: dict[str, deque[Failure]] = {}
        # Tokens are 64-bit integers (e.g. 5741311803571721087); start high and count up.
        self._next_token = 5741311803571721087
        self.app = Starlette(
            routes=[
                Route("/pa/send_message", self._send_message, methods=["POST"]),
                Route("/media/{name:path}", self._download, methods=["GET"]),
            ]
        )

    # --- what tests use -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API base: append "/send_message"."""
        return f"{self.root_url}/pa"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every call in arrival order, failed and unauthorised ones included."""
        with self._lock:
            return list(self._requests)

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [r.params for r in self.requests if r.method == method]

    def sent_messages(self, receiver: str) -> list[dict[str, Any]]:
        """Bodies of the messages accepted for `receiver`, each with the `message_token` it got."""
        with self._lock:
            return [dict(body) for who, body in self._sent if who == receiver]

    def add_media(self, name: str, content: bytes, content_type: str = "application/octet-stream") -> str:
        """Serve `content` and return its URL, as a callback's `media` field would carry it."""
        with self._lock:
            self._media[name] = (content, content_type)
        return f"{self.root_url}/media/{name}"

    def fail_next(self, method: str, *responses: Failure) -> None:
        """Answer the next calls to `method` (SEND_MESSAGE or MEDIA) with `responses`, one each.

        * ("status", 500): that HTTP status, as from an overloaded server or proxy;
        * ("viber", 12) or ("viber", 6, "notSubscribed"): HTTP 200 with that Viber `status`, as
          Viber reports its own errors (send_message only);
        * ("delay", 2.5): wait that long, then answer normally (to provoke client timeouts; the
          call still takes effect, like a real request whose answer was lost).
        """
        if method not in (SEND_MESSAGE, MEDIA):
            raise ValueError(f"no such method: {method!r}")
        if not responses:
            raise ValueError("fail_next needs at least one response")
        for response in responses:
            _check_failure(method, response)
        with self._lock:
            self._failures.setdefault(method, deque()).extend(responses)

    # --- HTTP -------------------------------------------------------------------------------------

    async def _send_message(self, request: Request) -> Response:
        body = await request.body()
        presented = request.headers.get("x-viber-auth-token")
        try:
            params = json.loads(body) if body else None
        except ValueError:
            params = None
        with self._lock:
            self._requests.append(
                RecordedRequest(SEND_MESSAGE, params if isinstance(params, dict) else {"raw": body})
            )
        if presented is None:
            return _status(2, "missing_auth_token")
        if not secrets.compare_digest(presented.encode(), self.auth_token.encode()):
            return _status(2)
        canned = self._next_failure(SEND_MESSAGE)
        if isinstance(canned, Response):
            return canned
        response = self._accept(params, body)
        if canned is not None:  # the message is taken; only the answer comes late (or never)
            await self._pause(canned)
        return response

    def _accept(self, params: object, body: bytes) -> Response:
        try:
            if not isinstance(params, dict):
                raise _ViberError(3)
            if len(body) > _MAX_REQUEST_BYTES:
                raise _ViberError(3, "message size exceeds the limit")
            receiver = _check_message(params)
        except _ViberError as exc:
            return _status(exc.status, exc.message)
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._sent.append((receiver, {**params, "message_token": token}))
        return JSONResponse(
            {
                "status": 0,
                "status_message": "ok",
                "message_token": token,
                "chat_hostname": _CHAT_HOSTNAME,
                "billing_status": 1,
            }
        )

    async def _download(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        with self._lock:
            self._requests.append(RecordedRequest(MEDIA, {"name": name}))
        canned = self._next_failure(MEDIA)
        if isinstance(canned, Response):
            return canned
        if canned is not None:
            await self._pause(canned)
        with self._lock:
            stored = self._media.get(name)
        if stored is None:
            return Response("Not Found", status_code=404)
        return Response(stored[0], media_type=stored[1])

    def _next_failure(self, method: str) -> Response | float | None:
        """The next programmed failure for `method`: an answer to give, seconds to wait, or None."""
        with self._lock:
            queue = self._failures.get(method)
            failure = queue.popleft() if queue else None
        if failure is None:
            return None
        kind = failure[0]
        if kind == "delay":
            return float(failure[1])
        if kind == "viber":
            return _status(int(failure[1]), str(failure[2]) if len(failure) > 2 else None)
        status = int(failure[1])
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return Response(f"<html><body><h1>{status} {phrase}</h1></body></html>", status_code=status)

    async def _pause(self, seconds: float) -> None:
        # In small steps, so that stopping the server does not wait for a long programmed delay.
        steps = max(1, math.ceil(seconds / 0.05))
        for _ in range(steps):
            if self._closing.is_set():
                return
            await asyncio.sleep(seconds / steps)


# --- request validation ---------------------------------------------------------------------------


def _check_message(params: Mapping[str, Any]) -> str:
    """Validate a send_message body as the documentation describes it; the receiver if it is valid."""
    receiver = params.get("receiver")
    kind = params.get("type")
    sender = params.get("sender")
    if not isinstance(receiver, str) or not receiver or not isinstance(kind, str):
        raise _ViberError(4)
    if not isinstance(sender, dict) or not isinstance(sender.get("name"), str) or not sender["name"]:
        raise _ViberError(4)
    if len(sender["name"]) > _MAX_SENDER_NAME:
        raise _ViberError(3, "sender name is too long")
    if kind not in _MESSAGE_TYPES:
        raise _ViberError(3)
    version = params.get("min_api_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _ViberError(3)
    if kind == "text":
        text = params.get("text")
        if not isinstance(text, str) or not text:
            raise _ViberError(4)
        if len(text) > _MAX_TEXT:
            raise _ViberError(3, "text is too long")
    if "keyboard" in params:
        _check_keyboard(params["keyboard"], version)
    return receiver


def _check_keyboard(board: object, api_version: int = 1) -> None:
    def invalid(detail: str) -> _ViberError:
        return _ViberError(3, f"keyboard is not valid. [{detail}]")

    if not isinstance(board, dict):
        raise invalid("instance type is not an object")
    if board.get("Type", "keyboard") != "keyboard":
        raise invalid("Type must be keyboard")
    buttons = board.get("Buttons")
    if not isinstance(buttons, list) or not buttons:
        raise invalid('object has missing required properties (["Buttons"])')
    for button in buttons:
        if not isinstance(button, dict):
            raise invalid("button is not an object")
        action = button.get("ActionType", "reply")
        allowed = _ACTION_TYPES if api_version >= 3 else _ACTION_TYPES - _API_LEVEL_3_ACTIONS
        if action not in allowed:
            raise invalid(f'instance value ("{action}") not found in enum')
        if not isinstance(button.get("ActionBody"), str):
            raise invalid('object has missing required properties (["ActionBody"])')
        text = button.get("Text")
        if text is not None and (not isinstance(text, str) or len(text) > _MAX_BUTTON_TEXT):
            raise invalid("Text is too long")
        for key, low, high in (("Columns", 1, 6), ("Rows", 1, 2)):
            value = button.get(key, low)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise invalid(f"{key} out of range")


def _check_failure(method: str, response: Failure) -> None:
    def number(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0

    match response:
        case ("status", int() as status) if 400 <= status <= 599:
            return
        case ("viber", int() as status) if status > 0 and method == SEND_MESSAGE:
            return
        case ("viber", int() as status, str()) if status > 0 and method == SEND_MESSAGE:
            return
        case ("delay", seconds) if number(seconds):
            return
    raise ValueError(f"not a failure fail_next understands for {method}: {response!r}")


def _status(status: int, message: str | None = None) -> JSONResponse:
    """A Viber error: HTTP 200, the failing status in the body (send_message's documented shape)."""
    body: dict[str, Any] = {
        "status": status,
        "status_message": message or STATUS_MESSAGES.get(status, "failure"),
        "chat_hostname": _CHAT_HOSTNAME,
    }
    return JSONResponse(body)


# --- running it -----------------------------------------------------------------------------------


@contextmanager
def running_fake_viber(auth_token: str) -> Iterator[FakeViber]:
    """Serve a FakeViber for `auth_token` on a free 127.0.0.1 port until the block ends.

    The listening socket is bound before uvicorn starts, so the port cannot be taken in between;
    the context is entered only once the server answers HTTP.
    """
    fake = FakeViber(auth_token)
    with serving_in_thread(fake.app, "fake-viber", fake._closing) as url:
        fake.root_url = url
        yield fake
