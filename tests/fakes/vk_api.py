"""A local stand-in for the VK API, its upload servers and its file servers, for integration tests.

It speaks the documented wire format (https://dev.vk.com/ru/api/api-requests): methods at
`/method/METHOD` (GET or POST; parameters in the query string or a urlencoded/multipart form),
`access_token` and `v` among the parameters, answers HTTP 200 with `{"response": ...}` or
`{"error": {"error_code": N, "error_msg": "...", "request_params": [...]}}`. Error texts are VK's
own (the "Error codes" reference). A wrong token answers error 5, as the real API does.

Implemented methods: messages.send, messages.sendMessageEventAnswer, users.get,
photos.getMessagesUploadServer, photos.saveMessagesPhoto, docs.getMessagesUploadServer, docs.save.
Upload servers live at `/upload/photo/N` (field `photo`, answers `server`/`photo`/`hash`) and
`/upload/doc/N` (field `file`, answers `file`); files customers "sent" are served at `/files/...`.

messages.send honours `random_id` as VK documents it: "unique (bound to the API_ID and the
sender's ID) identifier to prevent sending the same message again... checked for uniqueness over
the whole message history" (messages.send, Russian page). A `random_id` the community already
used sends nothing and answers the id of the message that has it; 0 means "no check".

Tests make it misbehave with `fail_next`, which queues canned answers per method:

    with running_fake_vk("vk1.a.TEST") as fake:
        fake.fail_next("messages.send", ("error", 6), ("status", 502))
        ...  # the first call gets error 6, the second HTTP 502, the third succeeds
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.serving import serving_in_thread

__all__ = [
    "ERROR_MESSAGES",
    "FILE_DOWNLOAD",
    "GROUP_ID",
    "UPLOAD",
    "Failure",
    "FakeVk",
    "RecordedRequest",
    "running_fake_vk",
]

GROUP_ID = 218400119
#: Pseudo-method under which downloads from `/files/...` are recorded and can be made to fail.
FILE_DOWNLOAD = "file"
#: Pseudo-method for the upload servers (`/upload/...`), likewise.
UPLOAD = "upload"
#: messages.send: "Max. length = 9000" (the sender splits at 4096, well inside it).
MAX_MESSAGE = 9000

#: One canned answer for `FakeVk.fail_next`:
#: ("status", 500) | ("error", 901) | ("error", 901, "text") | ("delay", 2.5)
Failure = tuple[Any, ...]

#: VK's texts for the codes tests use ("Error codes" reference).
ERROR_MESSAGES: dict[int, str] = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    7: "Permission to perform this action is denied",
    8: "Invalid request",
    9: "Flood control",
    10: "Internal server error",
    14: "Captcha needed",
    15: "Access denied",
    29: "Rate limit reached",
    100: "One of the parameters specified was missing or invalid",
    113: "Invalid user id",
    121: "Invalid hash",
    900: "Can't send messages for users from blacklist",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
    911: "Keyboard format is invalid",
    912: "This is a chat bot feature, change this status in settings",
    914: "Message is too long",
}

# Bots keyboard reference: inline keyboards 5 x 6 at most, 10 keys; labels 40, payloads 255.
_INLINE_ROWS, _ROW_KEYS, _INLINE_KEYS, _LABEL, _PAYLOAD = 6, 5, 10, 40, 255


class RecordedRequest(NamedTuple):
    """One call made with the right token: the method name and its parameters (token removed)."""

    method: str
    params: dict[str, Any]


class _ApiError(Exception):
    def __init__(self, code: int, detail: str | None = None) -> None:
        message = ERROR_MESSAGES.get(code, "Error")
        super().__init__(f"{message}: {detail}" if detail else message)
        self.code = code


@dataclass
class _Sent:
    id: int
    peer_id: int
    random_id: int
    text: str
    attachments: list[str]
    keyboard: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "peer_id": self.peer_id,
            "random_id": self.random_id,
            "text": self.text,
            "attachments": list(self.attachments),
            "keyboard": self.keyboard,
        }


_Handler = Callable[[dict[str, Any]], Any]


class FakeVk:
    """State and behaviour of one fake VK API for one community token.

    `api_base` is what an account's `api_base` setting points at instead of
    `https://api.vk.com/method`; `file_url(path)` is where a customer's file can be downloaded.
    """

    def __init__(self, access_token: str, group_id: int = GROUP_ID) -> None:
        self.access_token = access_token
        self.group_id = group_id
        self.base_url = ""
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._sent: list[_Sent] = []
        self._failures: dict[str, deque[Failure]] = {}
        self._files: dict[str, bytes] = {}
        self._users: dict[int, tuple[str, str]] = {}
        self._uploads: dict[str, tuple[str, str | None, bytes]] = {}  # token -> (kind, name, data)
        self._photos: dict[str, dict[str, Any]] = {}
        self._docs: dict[str, dict[str, Any]] = {}
        self._next_message_id = 2001
        self._next_object_id = 457240001
        self._methods: dict[str, _Handler] = {
            "messages.send": self._messages_send,
            "messages.sendMessageEventAnswer": self._send_message_event_answer,
            "users.get": self._users_get,
            "photos.getMessagesUploadServer": self._photo_upload_server,
            "photos.saveMessagesPhoto": self._save_messages_photo,
            "docs.getMessagesUploadServer": self._doc_upload_server,
            "docs.save": self._docs_save,
        }
        self.app = Starlette(
            routes=[
                Route("/method/{method}", self._api, methods=["GET", "POST"]),
                Route("/upload/{kind}/{server:int}", self._upload, methods=["POST"]),
                Route("/files/{path:path}", self._download, methods=["GET"]),
            ]
        )

    # --- what tests use -------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/method"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call to `method`, in arrival order (failed ones included)."""
        return [r.params for r in self.requests if r.method == method]

    def sent_messages(self, peer_id: int | str) -> list[dict[str, Any]]:
        """Messages this fake "delivered" to `peer_id`, oldest first (duplicates by random_id excluded)."""
        with self._lock:
            return [m.as_dict() for m in self._sent if m.peer_id == int(peer_id)]

    def add_user(self, user_id: int, first_name: str, last_name: str) -> None:
        with self._lock:
            self._users[user_id] = (first_name, last_name)

    def add_file(self, path: str, content: bytes) -> str:
        """Serve `content` at `/files/<path>` and return its URL."""
        with self._lock:
            self._files[path.lstrip("/")] = content
        return self.file_url(path)

    def file_url(self, path: str) -> str:
        return f"{self.base_url}/files/{path.lstrip('/')}"

    def fail_next(self, method: str, *responses: Failure) -> None:
        """Answer the next calls to `method` (or FILE_DOWNLOAD) with `responses`, one each.

        * ("status", 502): that HTTP status, as from an overloaded front end;
        * ("error", 901) or ("error", 901, "text"): an API error, HTTP 200 as VK sends them;
        * ("delay", 2.5): wait that long, then answer normally (the call still takes effect,
          like a real request whose answer was lost to a client timeout).
        """
        if not responses:
            raise ValueError("fail_next needs at least one response")
        for response in responses:
            _check_failure(response)
        with self._lock:
            self._failures.setdefault(method, deque()).extend(responses)

    # --- HTTP -------------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = str(request.path_params["method"])
        params = await _read_params(request)
        if not secrets.compare_digest(
            str(params.pop("access_token", "")).encode(), self.access_token.encode()
        ):
            return _error(5, method, params)
        failure = self._take_failure(method)
        with self._lock:
            self._requests.append(RecordedRequest(method, dict(params)))
        if failure is not None:
            answer = await self._failure(failure, method, params)
            if answer is not None:
                return answer
        handler = self._methods.get(method)
        if handler is None:
            return _error(3, method, params)
        if "v" not in params:
            return _error(8, method, params, "v is required")
        try:
            with self._lock:
                result = handler(params)
        except _ApiError as exc:
            return JSONResponse(
                {
                    "error": {
                        "error_code": exc.code,
                        "error_msg": str(exc),
                        "request_params": _echo(method, params),
                    }
                }
            )
        return JSONResponse({"response": result})

    async def _upload(self, request: Request) -> Response:
        failure = self._take_failure(UPLOAD)
        if failure is not None:
            answer = await self._failure(failure, UPLOAD, {})
            if answer is not None:
                return answer
        kind = str(request.path_params["kind"])
        field_name = "photo" if kind == "photo" else "file"
        upload: tuple[str | None, bytes] | None = None
        async with request.form() as form:
            value = form.get(field_name)
            if isinstance(value, UploadFile):
                upload = (value.filename, await value.read())
        server = int(request.path_params["server"])
        if kind == "photo":
            if upload is None:
                return JSONResponse({"server": server, "photo": "[]", "hash": ""})
            token = secrets.token_hex(8)
            with self._lock:
                self._uploads[token] = ("photo", upload[0], upload[1])
            photo = json.dumps([{"photo": f"{token}:w", "sizes": [], "kid": token}])
            return JSONResponse({"server": server, "photo": photo, "hash": _hash(token)})
        if upload is None:
            return JSONResponse({"error": "no_file"})
        token = secrets.token_hex(8)
        with self._lock:
            self._uploads[token] = ("doc", upload[0], upload[1])
        return JSONResponse({"file": f"{server}|0|0|{token}|{_hash(token)}"})

    async def _download(self, request: Request) -> Response:
        failure = self._take_failure(FILE_DOWNLOAD)
        if failure is not None:
            answer = await self._failure(failure, FILE_DOWNLOAD, {})
            if answer is not None:
                return answer
        with self._lock:
            content = self._files.get(str(request.path_params["path"]))
        if content is None:
            return Response(b"Not Found", status_code=404)
        return Response(content, media_type="application/octet-stream")

    def _take_failure(self, method: str) -> Failure | None:
        with self._lock:
            queue = self._failures.get(method)
            return queue.popleft() if queue else None

    async def _failure(self, failure: Failure, method: str, params: Mapping[str, Any]) -> Response | None:
        kind = failure[0]
        if kind == "delay":
            await self._pause(float(failure[1]))
            return None
        if kind == "error":
            code = int(failure[1])
            return _error(code, method, params, None, failure[2] if len(failure) > 2 else None)
        status = int(failure[1])
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return Response(
            f"<html><body>{status} {phrase}</body></html>", status_code=status, media_type="text/html"
        )

    async def _pause(self, seconds: float) -> None:
        steps = max(1, math.ceil(seconds / 0.05))
        for _ in range(steps):
            if self._closing.is_set():
                return
            await asyncio.sleep(seconds / steps)

    # --- methods (called with the lock held) ------------------------------------------------------

    def _messages_send(self, params: dict[str, Any]) -> int:
        peer_id = _int(params.get("peer_id", params.get("user_id")), "peer_id")
        random_id = _int(params.get("random_id"), "random_id")
        text = str(params.get("message") or "")
        attachment = str(params.get("attachment") or "")
        if not text and not attachment:
            raise _ApiError(100, "message is empty or invalid")
        if len(text) > MAX_MESSAGE:
            raise _ApiError(914)
        attachments = [a for a in attachment.split(",") if a]
        for item in attachments:
            if item not in self._photos and item not in self._docs:
                raise _ApiError(100, "attachment is invalid")
        keyboard = _keyboard(params.get("keyboard"))
        if random_id != 0:
            for sent in self._sent:
                if sent.random_id == random_id:
                    return sent.id
        message = _Sent(self._next_message_id, peer_id, random_id, text, attachments, keyboard)
        self._next_message_id += 1
        self._sent.append(message)
        return message.id

    def _send_message_event_answer(self, params: dict[str, Any]) -> int:
        for key in ("event_id", "user_id", "peer_id"):
            if not params.get(key):
                raise _ApiError(100, f"{key} is required")
        return 1

    def _users_get(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        users = []
        for raw in str(params.get("user_ids") or "").split(","):
            user_id = _int(raw, "user_ids")
            if user_id not in self._users:
                raise _ApiError(113)
            first, last = self._users[user_id]
            users.append(
                {
                    "id": user_id,
                    "first_name": first,
                    "last_name": last,
                    "can_access_closed": True,
                    "is_closed": False,
                }
            )
        return users

    def _photo_upload_server(self, params: dict[str, Any]) -> dict[str, Any]:
        _int(params.get("peer_id"), "peer_id")
        return {
            "upload_url": f"{self.base_url}/upload/photo/{secrets.randbelow(900000) + 100000}",
            "album_id": -3,
            "group_id": self.group_id,
        }

    def _doc_upload_server(self, params: dict[str, Any]) -> dict[str, Any]:
        _int(params.get("peer_id"), "peer_id")
        if params.get("type", "doc") not in ("doc", "audio_message", "graffiti"):
            raise _ApiError(100, "type is invalid")
        return {"upload_url": f"{self.base_url}/upload/doc/{secrets.randbelow(900000) + 100000}"}

    def _save_messages_photo(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            photo = json.loads(str(params.get("photo") or ""))
            token = str(photo[0]["kid"])
        except (ValueError, LookupError, TypeError):
            raise _ApiError(100, "photo is undefined") from None
        if token not in self._uploads or params.get("hash") != _hash(token):
            raise _ApiError(121)
        _kind, _name, data = self._uploads.pop(token)
        photo_id = self._next_object_id
        self._next_object_id += 1
        access_key = secrets.token_hex(9)
        saved = {
            "album_id": -3,
            "date": int(time.time()),
            "id": photo_id,
            "owner_id": -self.group_id,
            "access_key": access_key,
            "sizes": [
                {"height": 960, "width": 1280, "type": "w", "url": self.file_url(f"photos/{photo_id}.jpg")}
            ],
            "text": "",
        }
        self._photos[f"photo{-self.group_id}_{photo_id}_{access_key}"] = saved
        self._files[f"photos/{photo_id}.jpg"] = data
        return [saved]

    def _docs_save(self, params: dict[str, Any]) -> dict[str, Any]:
        parts = str(params.get("file") or "").split("|")
        token = parts[3] if len(parts) == 5 else ""
        if token not in self._uploads or parts[4] != _hash(token):
            raise _ApiError(121)
        _kind, name, data = self._uploads.pop(token)
        doc_id = self._next_object_id
        self._next_object_id += 1
        title = str(params.get("title") or name or "document")
        ext = title.rsplit(".", 1)[-1].lower() if "." in title else ""
        doc = {
            "id": doc_id,
            "owner_id": -self.group_id,
            "title": title,
            "size": len(data),
            "ext": ext,
            "date": int(time.time()),
            "type": 1 if ext in ("txt", "pdf", "doc", "docx") else 8,
            "url": self.file_url(f"docs/{doc_id}"),
        }
        self._docs[f"doc{-self.group_id}_{doc_id}"] = doc
        self._files[f"docs/{doc_id}"] = data
        return {"type": "doc", "doc": doc}


# --- request decoding and validation --------------------------------------------------------------


async def _read_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        async with request.form() as form:
            for key, value in form.multi_items():
                params[key] = value if isinstance(value, str) else "<file>"
    return params


def _int(value: object, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise _ApiError(100, f"{name} is undefined") from None


def _keyboard(raw: object) -> dict[str, Any] | None:
    """The keyboard as VK would accept it, or error 911 (bots keyboard reference)."""
    if raw is None or raw == "":
        return None
    try:
        keyboard = json.loads(str(raw))
    except ValueError:
        raise _ApiError(911) from None
    if not isinstance(keyboard, dict) or not isinstance(keyboard.get("buttons"), list):
        raise _ApiError(911)
    rows = keyboard["buttons"]
    inline = keyboard.get("inline") is True
    keys = sum(len(row) if isinstance(row, list) else 0 for row in rows)
    if inline and (len(rows) > _INLINE_ROWS or keys > _INLINE_KEYS):
        raise _ApiError(911)
    for row in rows:
        if not isinstance(row, list) or len(row) > _ROW_KEYS:
            raise _ApiError(911)
        for button in row:
            action = button.get("action") if isinstance(button, dict) else None
            if not isinstance(action, dict) or action.get("type") != "text":
                raise _ApiError(911)
            label, payload = action.get("label"), action.get("payload")
            if not isinstance(label, str) or not label or len(label) > _LABEL:
                raise _ApiError(911)
            if payload is not None:
                if not isinstance(payload, str) or len(payload) > _PAYLOAD:
                    raise _ApiError(911)
                try:
                    json.loads(payload)
                except ValueError:
                    raise _ApiError(911) from None
    return keyboard


def _hash(token: str) -> str:
    return f"h{sum(token.encode()) * 7919 % 1000003:07d}"


def _echo(method: str, params: Mapping[str, Any]) -> list[dict[str, str]]:
    """request_params as VK echoes them: the method and the parameters, the token as `oauth: 1`."""
    echoed = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    echoed += [{"key": k, "value": str(v)} for k, v in params.items() if k not in ("access_token",)]
    return echoed


def _error(
    code: int,
    method: str,
    params: Mapping[str, Any],
    detail: str | None = None,
    message: str | None = None,
) -> JSONResponse:
    text = message or str(_ApiError(code, detail))
    return JSONResponse(
        {"error": {"error_code": code, "error_msg": text, "request_params": _echo(method, params)}}
    )


def _check_failure(response: Failure) -> None:
    match response:
        case ("status", int() as status) if 400 <= status <= 599:
            return
        case ("error", int()):
            return
        case ("error", int(), str()):
            return
        case ("delay", int() | float() as seconds) if seconds >= 0:
            return
    raise ValueError(f"not a failure fail_next understands: {response!r}")


# --- running it -----------------------------------------------------------------------------------


@contextmanager
def running_fake_vk(access_token: str, group_id: int = GROUP_ID) -> Iterator[FakeVk]:
    """Serve a FakeVk on a free 127.0.0.1 port until the block ends."""
    fake = FakeVk(access_token, group_id)
    with serving_in_thread(fake.app, "fake-vk", fake._closing) as url:
        fake.base_url = url
        yield fake
