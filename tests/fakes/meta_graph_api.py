"""A local stand-in for Meta's Graph API (Messenger Platform), for integration tests.

It speaks the documented wire format of what Helpline calls:

* `POST /{version}/{me|page-id}/messages` — the Send API: `recipient`, `messaging_type`,
  `message` (`text` with optional `quick_replies`, or an `attachment` by `attachment_id`, by
  `url`, or uploaded in the same multipart request as `filedata`), as a JSON body, a form whose
  object fields are JSON strings, or multipart/form-data. Answers `{"recipient_id", "message_id"}`.
* `POST /{version}/{me|page-id}/message_attachments` — the Attachment Upload API (`message`,
  `filedata`, optional `platform=instagram`), answering `{"attachment_id"}`.
* `GET /{version}/{user-id}?fields=…` — the User Profile API for profiles added with `add_profile`.
* `GET /cdn/{name}` — attachment files for inbound webhooks (Meta's CDN: no token needed),
  added with `add_file`, which returns the URL to put into a webhook's `payload.url`.

The access token is taken, as Graph takes it, from `Authorization: Bearer …` or an
`access_token` parameter. A wrong one answers HTTP 400 with the Graph error
`{"error": {"message": "Invalid OAuth access token - Cannot parse access token", "type":
"OAuthException", "code": 190, "fbtrace_id": …}}`; none at all answers code 2500.

Tests make it misbehave with `fail_next`, per endpoint ("messages", "message_attachments",
"profile", "cdn"):

    with running_fake_graph("EAAG…") as fake:
        fake.fail_next("messages", ("status", 502), ("error", 10, 2018278, "(#10) This message …"))

* ("status", 500): that HTTP status with a non-Graph body (an overloaded edge);
* ("retry_after", 3): HTTP 429 with `Retry-After: 3`;
* ("rate_limit", 613, 2): a Graph rate-limit error (HTTP 400, code 613) whose
  `X-Business-Use-Case-Usage` header says `estimated_time_to_regain_access: 2` (minutes);
* ("error", code, subcode or None, message): a Graph error (HTTP 400, or 500 for codes 1 and 2);
* ("delay", 2.5): wait that long, then answer normally (the call still takes effect).

Served by uvicorn in a background thread; state is guarded by a lock.
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
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.serving import serving_in_thread

__all__ = ["FakeGraph", "RecordedRequest", "UploadedFile", "running_fake_graph"]

#: One canned answer for `FakeGraph.fail_next` (see the module docstring).
Failure = tuple[Any, ...]
ENDPOINTS = frozenset({"messages", "message_attachments", "profile", "cdn"})
MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
ATTACHMENT_TYPES = frozenset({"image", "audio", "video", "file", "template"})
_OBJECT_PARAMS = frozenset({"recipient", "message"})


class RecordedRequest(NamedTuple):
    """One call made with the right token: the endpoint and its decoded parameters."""

    endpoint: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UploadedFile:
    filename: str | None
    content_type: str | None
    content: bytes


class _GraphError(Exception):
    def __init__(self, code: int, message: str, subcode: int | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.subcode, self.status = code, message, subcode, status


class FakeGraph:
    """State and behaviour of one fake Graph API for one Page access token.

    `instagram=True` applies Instagram's text limit (1000 UTF-8 bytes) instead of Messenger's
    (2000 characters).
    """

    def __init__(self, page_access_token: str, *, page_id: str = "682498302938465", instagram: bool = False):
        self.token = page_access_token
        self.page_id = page_id
        self.instagram = instagram
        self.base_url = ""
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._sent: list[tuple[str, dict[str, Any]]] = []
        self._attachments: dict[str, UploadedFile] = {}
        self._files: dict[str, tuple[bytes, str]] = {}
        self._profiles: dict[str, dict[str, str]] = {}
        self._failures: dict[str, deque[Failure]] = {}
        self.app = Starlette(
            routes=[
                Route("/cdn/{name}", self._cdn, methods=["GET"]),
                Route("/{version}/{node}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{node}/message_attachments", self._upload, methods=["POST"]),
                Route("/{version}/{node}", self._profile, methods=["GET"]),
            ]
        )

    # --- what tests use -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, endpoint: str) -> list[dict[str, Any]]:
        return [r.params for r in self.requests if r.endpoint == endpoint]

    def sent_messages(self, recipient_id: str) -> list[dict[str, Any]]:
        """The `message` objects accepted for `recipient_id`, each with the `mid` it was given.

        An attachment sent by `attachment_id` or uploaded inline carries the file under "file".
        """
        with self._lock:
            return [message for recipient, message in self._sent if recipient == str(recipient_id)]

    def add_file(self, name: str, content: bytes, content_type: str = "application/octet-stream") -> str:
        """Serve `content` for inbound downloads; returns the CDN-like URL to put in a webhook."""
        with self._lock:
            self._files[name] = (content, content_type)
        return f"{self.base_url}/cdn/{name}?_nc_cat=1&oh=00_{secrets.token_hex(6)}&oe=6755F1A2"

    def add_profile(self, user_id: str, **fields: str) -> None:
        """What the User Profile API answers for `user_id` (first_name/last_name, name/username…)."""
        with self._lock:
            self._profiles[str(user_id)] = dict(fields)

    def fail_next(self, endpoint: str, *responses: Failure) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {sorted(ENDPOINTS)}")
        if not responses:
            raise ValueError("fail_next needs at least one response")
        for response in responses:
            _check_failure(response)
        with self._lock:
            self._failures.setdefault(endpoint, deque()).extend(responses)

    # --- HTTP -------------------------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        return await self._api(request, "messages", self._send)

    async def _upload(self, request: Request) -> Response:
        return await self._api(request, "message_attachments", self._store_attachment)

    async def _profile(self, request: Request) -> Response:
        return await self._api(request, "profile", self._read_profile)

    async def _api(self, request: Request, endpoint: str, handler: Any) -> Response:
        try:
            params = await _read_params(request)
            token = _token_of(request, params)
            if token is None:
                raise _GraphError(2500, "An active access token must be used to query information.")
            if not secrets.compare_digest(token.encode(), self.token.encode()):
                raise _GraphError(190, "Invalid OAuth access token - Cannot parse access token")
            node = str(request.path_params["node"])
            if endpoint != "profile" and node not in ("me", self.page_id):
                raise _GraphError(
                    100, f"(#100) Unsupported post request. Object with ID '{node}' does not exist"
                )
            params.pop("access_token", None)
            params["_node"] = node
            with self._lock:
                self._requests.append(RecordedRequest(endpoint, params))
            if (canned := await self._canned(endpoint)) is not None:
                return canned
            with self._lock:
                result = handler(params)
        except _GraphError as exc:
            return _graph_error(exc.code, exc.message, exc.subcode, status=exc.status)
        return JSONResponse(result)

    async def _cdn(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        with self._lock:
            self._requests.append(RecordedRequest("cdn", {"name": name}))
        if (canned := await self._canned("cdn")) is not None:
            return canned
        with self._lock:
            stored = self._files.get(name)
        if stored is None:
            return Response("URL signature expired", status_code=403, media_type="text/plain")
        return Response(stored[0], media_type=stored[1])

    async def _canned(self, endpoint: str) -> Response | None:
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
            return Response(
                "Too Many Requests",
                status_code=429,
                headers={"Retry-After": str(failure[1])},
                media_type="text/plain",
            )
        if kind == "rate_limit":
            usage = {
                self.page_id: [
                    {
                        "type": "messenger",
                        "call_count": 100,
                        "total_cputime": 25,
                        "total_time": 25,
                        "estimated_time_to_regain_access": int(failure[2]),
                    }
                ]
            }
            messages = {
                4: "(#4) Application request limit reached",
                17: "(#17) User request limit reached",
                32: "(#32) Page request limit reached",
                613: "(#613) Calls to this api have exceeded the rate limit.",
            }
            code = int(failure[1])
            return _graph_error(
                code,
                messages.get(code, "Rate limit reached"),
                None,
                headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            )
        if kind == "error":
            code, subcode, message = int(failure[1]), failure[2], str(failure[3])
            return _graph_error(code, message, subcode, status=500 if code in (1, 2) else 400)
        status = int(failure[1])
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return Response(phrase, status_code=status, media_type="text/plain")

    async def _pause(self, seconds: float) -> None:
        steps = max(1, math.ceil(seconds / 0.05))
        for _ in range(steps):
            if self._closing.is_set():
                return
            await asyncio.sleep(seconds / steps)

    # --- endpoints (called with the lock held) ----------------------------------------------------

    def _send(self, params: dict[str, Any]) -> dict[str, Any]:
        recipient = params.get("recipient")
        if not isinstance(recipient, dict) or not isinstance(recipient.get("id"), str | int):
            raise _GraphError(100, "(#100) param recipient must be non-empty.")
        recipient_id = str(recipient["id"])
        if params.get("messaging_type") not in MESSAGING_TYPES:
            raise _GraphError(
                100, "(#100) param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"
            )
        message = params.get("message")
        if not isinstance(message, dict):
            raise _GraphError(100, "(#100) param message must be non-empty.")
        sent: dict[str, Any]
        if "text" in message and "attachment" in message:
            raise _GraphError(100, "(#100) Only one of text or attachment can be specified")
        if "text" in message:
            sent = {"text": self._text(message["text"])}
        elif "attachment" in message:
            sent = {"attachment": self._attachment(message["attachment"], params.get("filedata"))}
        else:
            raise _GraphError(100, "(#100) Must send either message text or an attachment")
        if "quick_replies" in message:
            sent["quick_replies"] = _quick_replies(message["quick_replies"])
        sent["mid"] = f"m_{secrets.token_urlsafe(48)}"
        self._sent.append((recipient_id, sent))
        return {"recipient_id": recipient_id, "message_id": sent["mid"]}

    def _text(self, text: object) -> str:
        if not isinstance(text, str) or not text.strip():
            raise _GraphError(100, "(#100) Param message[text] must be a non-empty UTF-8 encoded string")
        if self.instagram and len(text.encode()) > 1000:
            raise _GraphError(100, "(#100) Length of param message[text] must be less than or equal to 1000")
        if not self.instagram and len(text.encode("utf-16-le")) // 2 > 2000:
            raise _GraphError(100, "(#100) Length of param message[text] must be less than or equal to 2000")
        return text

    def _attachment(self, attachment: object, filedata: object) -> dict[str, Any]:
        if not isinstance(attachment, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
            raise _GraphError(100, "(#100) Invalid attachment type")
        payload = attachment.get("payload")
        if not isinstance(payload, dict):
            raise _GraphError(100, "(#100) param message[attachment][payload] must be an object")
        sent: dict[str, Any] = {"type": attachment["type"]}
        if isinstance(filedata, UploadedFile):
            sent["file"] = filedata
        elif "attachment_id" in payload:
            uploaded = self._attachments.get(str(payload["attachment_id"]))
            if uploaded is None:
                raise _GraphError(100, "(#100) Invalid attachment_id", 2018047)
            sent["file"] = uploaded
        elif isinstance(payload.get("url"), str):
            sent["url"] = payload["url"]
        else:
            raise _GraphError(100, "(#100) Upload attachment failure.", 2018047)
        return sent

    def _store_attachment(self, params: dict[str, Any]) -> dict[str, Any]:
        message = params.get("message")
        attachment = message.get("attachment") if isinstance(message, dict) else None
        if not isinstance(attachment, dict) or attachment.get("type") not in ATTACHMENT_TYPES - {"template"}:
            raise _GraphError(100, "(#100) Invalid attachment type")
        filedata = params.get("filedata")
        if not isinstance(filedata, UploadedFile) or not filedata.content:
            raise _GraphError(100, "(#100) Upload attachment failure.", 2018047)
        attachment_id = str(1857777774821032 + len(self._attachments))
        self._attachments[attachment_id] = filedata
        return {"attachment_id": attachment_id}

    def _read_profile(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params["_node"]
        profile = self._profiles.get(user_id)
        if profile is None:
            raise _GraphError(
                100,
                f"Unsupported get request. Object with ID '{user_id}' does not exist, cannot be loaded "
                "due to missing permissions, or does not support this operation.",
                33,
            )
        fields = str(params.get("fields") or "").split(",")
        return {"id": user_id, **{k: v for k, v in profile.items() if k in fields}}


# --- request decoding -----------------------------------------------------------------------------


async def _read_params(request: Request) -> dict[str, Any]:
    """Query string and body (JSON, urlencoded or multipart); object fields may be JSON strings."""
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = await request.body()
        try:
            decoded = json.loads(body) if body else {}
        except ValueError:
            raise _GraphError(100, "(#100) Invalid JSON for postcard") from None
        if not isinstance(decoded, dict):
            raise _GraphError(100, "(#100) Invalid JSON body")
        params.update(decoded)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    params[key] = UploadedFile(value.filename, value.content_type, await value.read())
                else:
                    params[key] = value
    for key in _OBJECT_PARAMS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise _GraphError(100, f"(#100) param {key} must be a JSON object") from None
    return params


def _token_of(request: Request, params: Mapping[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    token = params.get("access_token")
    return token if isinstance(token, str) and token else None


def _quick_replies(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _GraphError(100, "(#100) param message[quick_replies] must be a non-empty array")
    if len(value) > 13:
        raise _GraphError(100, "(#100) param message[quick_replies] must have at most 13 elements")
    for reply in value:
        if not isinstance(reply, dict) or reply.get("content_type") not in (
            "text",
            "user_phone_number",
            "user_email",
        ):
            raise _GraphError(100, "(#100) param message[quick_replies][content_type] is invalid")
        if reply["content_type"] == "text":
            if not isinstance(reply.get("title"), str) or not reply["title"]:
                raise _GraphError(100, "(#100) param message[quick_replies][title] must be non-empty")
            if not isinstance(reply.get("payload"), str | int) or len(str(reply["payload"])) > 1000:
                raise _GraphError(100, "(#100) param message[quick_replies][payload] is invalid")
    return value


def _check_failure(response: Failure) -> None:
    match response:
        case ("status", int() as status) if 400 <= status <= 599:
            return
        case ("retry_after", int() as seconds) if seconds >= 0:
            return
        case ("rate_limit", int(), int() as minutes) if minutes >= 0:
            return
        case ("error", int(), int() | None, str()):
            return
        case ("delay", int() | float() as seconds) if seconds >= 0:
            return
    raise ValueError(f"not a failure fail_next understands: {response!r}")


def _graph_error(
    code: int,
    message: str,
    subcode: int | None,
    *,
    status: int = 400,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if code in (1, 2):
        error["is_transient"] = True
    error["fbtrace_id"] = secrets.token_urlsafe(8)
    extra = dict(headers or {})
    if code == 190:
        extra["WWW-Authenticate"] = 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token."'
    return JSONResponse({"error": error}, status_code=status, headers=extra)


# --- running it -----------------------------------------------------------------------------------


@contextmanager
def running_fake_graph(
    page_access_token: str, *, page_id: str = "682498302938465", instagram: bool = False
) -> Iterator[FakeGraph]:
    """Serve a FakeGraph on a free 127.0.0.1 port until the block ends."""
    fake = FakeGraph(page_access_token, page_id=page_id, instagram=instagram)
    with serving_in_thread(fake.app, "fake-graph", fake._closing) as url:
        fake.base_url = url
        yield fake
