"""A local stand-in for the Telegram Bot API server, for integration tests.

It speaks the documented wire format (https://core.telegram.org/bots/api#making-requests):
methods at `/bot<token>/METHOD_NAME` (case-insensitive, GET or POST, parameters in the query
string, a JSON body, a urlencoded form or multipart/form-data), answers `{"ok": true, "result": ...}`
or `{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`, and serves file
contents at `/file/bot<token>/<file_path>` as `getFile` describes.

Implemented: getMe, sendMessage, sendPhoto, sendDocument, getFile, answerCallbackQuery; any other
method answers 404 "Not Found: method not found". A wrong token answers 401 "Unauthorized", as the
real server does. Descriptions of the errors it produces on its own are the real server's.

Tests make it misbehave with `fail_next`, which queues canned answers per method:

    with running_fake_telegram("123456:TEST") as fake:
        fake.fail_next("sendMessage", ("retry_after", 3), ("status", 502))
        ...  # the first call gets 429, the second 502, the third succeeds

Requests are served by uvicorn in a background thread; all state is guarded by a lock so the
test thread can read `requests` and `sent_messages()` while the server runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
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
    "FILE_DOWNLOAD",
    "MAX_DOWNLOAD_BYTES",
    "Failure",
    "FakeTelegram",
    "RecordedRequest",
    "UploadedFile",
    "running_fake_telegram",
]

#: Bots can download files of up to 20 MB (Bot API, File / getFile).
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
#: Pseudo-method name under which file downloads are recorded and can be made to fail.
FILE_DOWNLOAD = "file"

#: One canned answer for `FakeTelegram.fail_next`:
#: ("status", 500) | ("retry_after", 3) | ("error", 403, "Forbidden: ...") | ("delay", 2.5)
Failure = tuple[Any, ...]

_NUMERIC = re.compile(r"-?\d+")
# Parameters whose documented type is an object or array: in a form or query string they arrive as
# JSON-serialized strings ("A JSON-serialized object for an inline keyboard...").
_JSON_PARAMS = frozenset(
    {"reply_markup", "entities", "caption_entities", "reply_parameters", "link_preview_options"}
)
# InlineKeyboardButton: "Exactly one of the optional fields must be used to specify type of the button."
_REPLY_BUTTON_KINDS = frozenset(
    {"request_users", "request_chat", "request_contact", "request_location", "request_poll", "web_app"}
)
_BUTTON_KINDS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)


class RecordedRequest(NamedTuple):
    """One authorised call as received: the documented method name and its decoded parameters."""

    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart/form-data request, as it appears in `RecordedRequest.params`."""

    filename: str | None
    content_type: str | None
    content: bytes


@dataclass(frozen=True, slots=True)
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes | None  # None: known by id only (sent by file_id or URL), nothing to download


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


_Handler = Callable[[dict[str, Any]], Any]


class FakeTelegram:
    """State and behaviour of one fake Bot API server for one bot token.

    `base_url` is what a client uses instead of `https://api.telegram.org`.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        bot_id = token.split(":", 1)[0]
        #: Bot tokens are "<bot id>:<secret>"; the bot's User id comes from the first part.
        self.bot_id = int(bot_id) if bot_id.isdigit() else 1
        self.base_url = ""
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._sent: list[tuple[int | str, dict[str, Any]]] = []
        self._files: dict[str, _StoredFile] = {}
        self._failures: dict[str, deque[Failure]] = {}
        self._next_message_id = 1
        self._next_file = 1
        self._methods: dict[str, tuple[str, _Handler]] = {
            name.lower(): (name, handler)
            for name, handler in (
                ("getMe", self._get_me),
                ("sendMessage", self._send_message),
                ("sendPhoto", self._send_photo),
                ("sendDocument", self._send_document),
                ("getFile", self._get_file),
                ("answerCallbackQuery", self._answer_callback_query),
            )
        }
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._download, methods=["GET"]),
            ]
        )

    # --- what tests use -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """`<base_url>/bot<token>`: append "/sendMessage" etc."""
        return f"{self.base_url}/bot{self.token}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every call made with the right token, in arrival order, failed ones included."""
        with self._lock:
            return list(self._requests)

    def calls(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call to `method` (case-insensitive), in arrival order."""
        wanted = method.lower()
        return [r.params for r in self.requests if r.method.lower() == wanted]

    def sent_messages(self, chat_id: int | str) -> list[dict[str, Any]]:
        """Message objects this fake returned for sendMessage/sendPhoto/sendDocument to `chat_id`."""
        with self._lock:
            return [message for chat, message in self._sent if str(chat) == str(chat_id)]

    def add_file(
        self, file_id: str, content: bytes, file_path: str, *, file_unique_id: str | None = None
    ) -> None:
        """Make `file_id` known to getFile and its bytes downloadable at `/file/bot<token>/<file_path>`."""
        with self._lock:
            unique = file_unique_id or f"AgAD{secrets.token_urlsafe(9)}"
            self._files[file_id] = _StoredFile(file_id, unique, file_path.lstrip("/"), content)

    def number_messages_from(self, message_id: int) -> None:
        """Give the next sent message this id. Telegram numbers a chat's messages in one sequence
        for both sides; a test that posts updates itself can make the fake reuse one of theirs."""
        with self._lock:
            self._next_message_id = message_id

    def fail_next(self, method: str, *responses: Failure) -> None:
        """Answer the next calls to `method` with `responses`, one each, then behave normally again.

        `method` is a Bot API method name (case-insensitive) or FILE_DOWNLOAD for file downloads.
        Each response is one of:

        * ("status", 500): that HTTP status with an error body, as from an overloaded server;
        * ("retry_after", 3): HTTP 429 with `parameters.retry_after` and a Retry-After header;
        * ("error", 403, "Forbidden: bot was blocked by the user"): a Bot API error;
        * ("delay", 2.5): wait that long, then answer normally (to provoke client timeouts; the
          call still takes effect, like a real request whose answer was lost).
        """
        if not responses:
            raise ValueError("fail_next needs at least one response")
        for response in responses:
            _check_failure(response)
        with self._lock:
            self._failures.setdefault(method.lower(), deque()).extend(responses)

    # --- HTTP -------------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        if not secrets.compare_digest(request.path_params["token"].encode(), self.token.encode()):
            return _error(401, "Unauthorized")
        requested = str(request.path_params["method"])
        name, handler = self._methods.get(requested.lower(), (requested, None))
        try:
            params = await _read_params(request)
        except _ApiError as exc:
            return _error(exc.code, exc.description)
        with self._lock:
            self._requests.append(RecordedRequest(name, params))
        if (canned := await self._canned(name)) is not None:
            return canned
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            with self._lock:
                result = handler(params)
        except _ApiError as exc:
            return _error(exc.code, exc.description)
        return JSONResponse({"ok": True, "result": result})

    async def _download(self, request: Request) -> Response:
        if not secrets.compare_digest(request.path_params["token"].encode(), self.token.encode()):
            return _error(401, "Unauthorized")
        file_path = str(request.path_params["file_path"])
        with self._lock:
            self._requests.append(RecordedRequest(FILE_DOWNLOAD, {"file_path": file_path}))
        if (canned := await self._canned(FILE_DOWNLOAD)) is not None:
            return canned
        with self._lock:
            stored = next((f for f in self._files.values() if f.file_path == file_path), None)
        if stored is None or stored.content is None:
            return _error(404, "Not Found")
        return Response(stored.content, media_type="application/octet-stream")

    async def _canned(self, method: str) -> Response | None:
        """The next programmed failure for `method`, if any; a delay just waits and yields None."""
        with self._lock:
            queue = self._failures.get(method.lower())
            failure = queue.popleft() if queue else None
        if failure is None:
            return None
        kind = failure[0]
        if kind == "delay":
            await self._pause(float(failure[1]))
            return None
        if kind == "retry_after":
            seconds = int(failure[1])
            return _error(
                429,
                f"Too Many Requests: retry after {seconds}",
                parameters={"retry_after": seconds},
                headers={"Retry-After": str(seconds)},
            )
        if kind == "error":
            return _error(int(failure[1]), str(failure[2]))
        status = int(failure[1])
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return _error(status, phrase)

    async def _pause(self, seconds: float) -> None:
        # In small steps, so that stopping the server does not wait for a long programmed delay.
        steps = max(1, math.ceil(seconds / 0.05))
        for _ in range(steps):
            if self._closing.is_set():
                return
            await asyncio.sleep(seconds / steps)

    # --- methods (called with the lock held) ------------------------------------------------------

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Helpline Test Bot",
            "username": "helpline_test_bot",
        }

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        return self._new_message(chat_id, {"text": text}, _inline_keyboard(params))

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        stored = self._input_file(params, "photo", "photos", ".jpg")
        size = len(stored.content) if stored.content is not None else None
        thumbnail = {"file_id": f"{stored.file_id}-s", "file_unique_id": f"{stored.file_unique_id}-s"}
        full = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        photo = [
            {**thumbnail, "width": 90, "height": 90, **({"file_size": min(size, 1500)} if size else {})},
            {**full, "width": 1280, "height": 1280, **({"file_size": size} if size is not None else {})},
        ]
        return self._new_message(chat_id, {"photo": photo, **_caption(params)}, _inline_keyboard(params))

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        upload = params.get("document")
        stored = self._input_file(params, "document", "documents", "")
        document: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if isinstance(upload, UploadedFile):
            document["file_name"] = upload.filename or "document"
            document["mime_type"] = upload.content_type or "application/octet-stream"
        if stored.content is not None:
            document["file_size"] = len(stored.content)
        return self._new_message(
            chat_id, {"document": document, **_caption(params)}, _inline_keyboard(params)
        )

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params.get("file_id")
        stored = self._files.get(file_id) if isinstance(file_id, str) else None
        if stored is None or stored.content is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_BYTES:
            raise _ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = params.get("callback_query_id")
        if not isinstance(query_id, str) or not query_id:
            raise _ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > 200):
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _input_file(self, params: dict[str, Any], field: str, folder: str, extension: str) -> _StoredFile:
        """The file a send method refers to: a multipart upload (stored) or a file_id / URL string."""
        value = params.get(field)
        if isinstance(value, UploadedFile):
            number = self._next_file
            self._next_file += 1
            suffix = extension or _suffix(value.filename)
            stored = _StoredFile(
                file_id=f"{field[:2].upper()}ACAgIAAxkDAAI{number:04d}{secrets.token_urlsafe(24)}",
                file_unique_id=f"AgAD{secrets.token_urlsafe(9)}",
                file_path=f"{folder}/file_{number}{suffix}",
                content=value.content,
            )
            self._files[stored.file_id] = stored
            return stored
        if isinstance(value, str) and value:
            if value in self._files:
                return self._files[value]
            # An id this fake never issued, or an HTTP URL: accepted, but there is nothing to download.
            return _StoredFile(value, f"AgAD{secrets.token_urlsafe(9)}", "", None)
        raise _ApiError(400, f"Bad Request: there is no {field} in the request")

    def _new_message(
        self, chat_id: int | str, content: dict[str, Any], keyboard: dict[str, Any] | None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._next_message_id,
            "from": self._bot_user(),
            "chat": _chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        if keyboard is not None:
            message["reply_markup"] = keyboard
        self._next_message_id += 1
        self._sent.append((chat_id, message))
        return message


# --- request decoding and validation --------------------------------------------------------------


async def _read_params(request: Request) -> dict[str, Any]:
    """Parameters from the query string and the body, in any of the four documented encodings."""
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = await request.body()
        if body:
            try:
                decoded = json.loads(body)
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse JSON request body") from None
            if not isinstance(decoded, dict):
                raise _ApiError(400, "Bad Request: JSON request body must be an object")
            params.update(decoded)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            async with request.form() as form:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        data = await value.read()
                        params[key] = UploadedFile(value.filename, value.content_type, data)
                    else:
                        params[key] = value
        except Exception as exc:  # a malformed multipart body is the client's fault: answer 400
            raise _ApiError(400, f"Bad Request: can't parse request body ({type(exc).__name__})") from None
    for key in _JSON_PARAMS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise _ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
    if isinstance(params.get("chat_id"), str) and _NUMERIC.fullmatch(params["chat_id"]):
        params["chat_id"] = int(params["chat_id"])
    return params


def _chat_id(params: Mapping[str, Any]) -> int | str:
    """`chat_id`: "Integer or String" (a chat id, or @channelusername)."""
    value = params.get("chat_id")
    if value is None or value == "":
        raise _ApiError(400, "Bad Request: chat_id is empty")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _ApiError(400, "Bad Request: chat not found")
    if isinstance(value, str) and not value.startswith("@"):
        raise _ApiError(400, "Bad Request: chat not found")
    return value


def _chat(chat_id: int | str) -> dict[str, Any]:
    if isinstance(chat_id, str):
        return {"id": -1001000000001, "title": chat_id[1:], "username": chat_id[1:], "type": "channel"}
    if chat_id > 0:
        return {"id": chat_id, "type": "private"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "title": "Test group", "type": kind}


def _caption(params: Mapping[str, Any]) -> dict[str, Any]:
    caption = params.get("caption")
    if caption is None or caption == "":
        return {}
    if not isinstance(caption, str):
        raise _ApiError(400, "Bad Request: can't parse caption")
    if len(caption) > 1024:
        raise _ApiError(400, "Bad Request: message caption is too long")
    return {"caption": caption}


def _inline_keyboard(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The InlineKeyboardMarkup to echo in the sent Message, after checking it as Telegram would.

    Other reply markups (reply keyboards, ReplyKeyboardRemove, ForceReply) are accepted but, as
    documented for Message.reply_markup, not part of the returned message.
    """
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        if "keyboard" in markup:
            _check_reply_keyboard(markup["keyboard"])
            return None
        if {"remove_keyboard", "force_reply"} & markup.keys():
            return None
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array of Arrays')
    for row in rows:
        for button in row:
            _check_button(button)
    return {"inline_keyboard": rows}


def _check_reply_keyboard(rows: object) -> None:
    """ReplyKeyboardMarkup.keyboard: Array of Array of KeyboardButton, each with its `text`; of
    the optional fields (request_contact, request_location, ...) at most one."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _ApiError(400, 'Bad Request: field "keyboard" must be an Array of Arrays')
    for row in rows:
        for button in row:
            if isinstance(button, str):
                continue
            if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
                raise _ApiError(400, "Bad Request: can't parse keyboard button: Text must be non-empty")
            if len(_REPLY_BUTTON_KINDS & button.keys()) > 1:
                raise _ApiError(
                    400, "Bad Request: can't parse keyboard button: fields are mutually exclusive"
                )
            if "request_contact" in button and not isinstance(button["request_contact"], bool):
                raise _ApiError(
                    400, "Bad Request: can't parse keyboard button: request_contact must be Boolean"
                )


def _check_button(button: object) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
        raise _ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed")
    kinds = _BUTTON_KINDS & button.keys()
    if len(kinds) != 1:
        raise _ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed")
    if "callback_data" in kinds:
        data = button["callback_data"]
        # "Data to be sent in a callback query to the bot when the button is pressed, 1-64 bytes"
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
            raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _check_failure(response: Failure) -> None:
    def number(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0

    match response:
        case ("status", int() as status) if 400 <= status <= 599:
            return
        case ("retry_after", int() as seconds) if seconds >= 0:
            return
        case ("error", int() as code, str()) if 400 <= code <= 599:
            return
        case ("delay", seconds) if number(seconds):
            return
    raise ValueError(f"not a failure fail_next understands: {response!r}")


def _suffix(filename: str | None) -> str:
    if filename and "." in filename:
        return "." + filename.rsplit(".", 1)[-1].lower()
    return ""


def _error(
    code: int,
    description: str,
    *,
    parameters: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = dict(parameters)
    return JSONResponse(body, status_code=code, headers=dict(headers) if headers else None)


# --- running it -----------------------------------------------------------------------------------


@contextmanager
def running_fake_telegram(token: str) -> Iterator[FakeTelegram]:
    """Serve a FakeTelegram for `token` on a free 127.0.0.1 port until the block ends.

    The listening socket is bound before uvicorn starts, so the port cannot be taken in between;
    the context is entered only once the server answers HTTP.
    """
    fake = FakeTelegram(token)
    with serving_in_thread(fake.app, "fake-telegram", fake._closing) as url:
        fake.base_url = url
        yield fake
