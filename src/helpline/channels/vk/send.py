"""Sending through the VK API as a community (`messages.send`), as its documentation specifies.

* `random_id` is VK's idempotency key ("unique identifier to avoid resending the message",
  messages.send): VK keeps the message it already has for a `random_id` it has seen instead of
  sending another. It is derived from `OutboundMessage.idempotency_key`, so a re-send after a
  worker crash (same message, same key) is not shown to the customer twice.
* Options become an inline keyboard of `text` buttons whose `payload` carries the ReplyOption
  payload (bots keyboard page: inline keyboards hold at most 10 keys in at most 6 rows, a label
  at most 40 characters, a payload at most 255). What does not fit goes as numbered text.
* Files are uploaded as VK documents them for messages: photos through
  photos.getMessagesUploadServer → upload (`photo` field) → photos.saveMessagesPhoto, anything
  else through docs.getMessagesUploadServer(type=doc) → upload (`file` field) → docs.save; the
  saved objects are attached to the message as `photo<owner>_<id>_<key>` / `doc<owner>_<id>`.

No reason this module returns contains a URL (upload URLs are signed) or the token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from itertools import zip_longest
from typing import Any, Final

import httpx

from helpline.channels.base import OutboundFile, OutboundMessage, ReplyOption
from helpline.channels.text import split_text, with_numbered_options
from helpline.channels.vk.api import ApiFailure, call
from helpline.channels.vk.parse import CHAT_PEER_BASE, OPTION_KEY
from helpline.domain.delivery import Delivered, DeliveryOutcome, Rejected, RetryLater, http_outcome

#: messages.send documents `message` up to 9000 characters; VK's apps show (and VK has long
#: enforced, error 914 "Message is too long") 4096, so longer texts go as several messages.
MAX_TEXT: Final = 4096
#: Inline keyboard: at most 6 rows and 10 keys; one option per row keeps labels readable.
MAX_BUTTONS: Final = 6
MAX_LABEL: Final = 40
MAX_PAYLOAD: Final = 255
#: messages.send takes at most 10 attachments.
MAX_ATTACHMENTS: Final = 10
#: What goes as a photo; GIFs go as documents, which keeps their animation.
PHOTO_TYPES: Final = frozenset({"image/jpeg", "image/png"})
#: 911 "Keyboard format is invalid", 912 "This is a chat bot feature, change this status in
#: settings" (bot capabilities switched off): the same message still goes, as numbered text.
KEYBOARD_ERRORS: Final = frozenset({911, 912})


def inline_keyboard(options: Sequence[ReplyOption]) -> str | None:
    """The `keyboard` parameter for `options`, or None when they cannot all be buttons."""
    if not options or len(options) > MAX_BUTTONS:
        return None
    rows: list[list[dict[str, Any]]] = []
    for option in options:
        payload = json.dumps({OPTION_KEY: option.payload}, ensure_ascii=False, separators=(",", ":"))
        if not option.label.strip() or len(option.label) > MAX_LABEL or len(payload) > MAX_PAYLOAD:
            return None
        rows.append([{"action": {"type": "text", "label": option.label, "payload": payload}}])
    return json.dumps({"inline": True, "buttons": rows}, ensure_ascii=False, separators=(",", ":"))


def random_id(key: str, part: str) -> int:
    """A positive 31-bit `random_id`, the same for the same message part every time.

    VK's schema types `random_id` as a plain int; 31 bits keep it valid everywhere. The price is
    a small chance (about n / 2^31 for a community that has sent n messages, if VK compares
    against its whole history) that a new message matches an old one and is not sent.
    """
    digest = hashlib.sha256(f"helpline:{key}:{part}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


class VkSender:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def send(self, config: Mapping[str, Any], message: OutboundMessage) -> DeliveryOutcome:
        if not config.get("access_token"):
            return Rejected("the VK account has no access token configured")
        try:
            peer_id = int(message.recipient)
        except ValueError:
            return Rejected("not a VK user id")
        if not 0 < peer_id < CHAT_PEER_BASE:
            return Rejected("not a VK user id")
        if not message.text.strip() and not message.files and not message.options:
            return Rejected("empty message")
        # Without a key from the worker, one per call still makes this call's own parts (and the
        # keyboard fallback below) idempotent; only a re-send by the worker can then double.
        key = message.idempotency_key or secrets.token_hex(16)
        attachments: list[str] = []
        for file in message.files:
            uploaded = await self._upload(config, peer_id, file)
            if isinstance(uploaded, ApiFailure):
                return uploaded.outcome
            attachments.append(uploaded)
        # VK shows no keyboard without a text to hang it on; the options then are the text.
        keyboard = inline_keyboard(message.options) if message.text.strip() else None
        outcome = await self._send_parts(config, peer_id, key, message, attachments, keyboard)
        if isinstance(outcome, ApiFailure) and keyboard is not None and outcome.code in KEYBOARD_ERRORS:
            # Parts already sent keep their random_id, so VK does not send them again.
            outcome = await self._send_parts(config, peer_id, key, message, attachments, None)
        return outcome.outcome if isinstance(outcome, ApiFailure) else outcome

    async def _send_parts(
        self,
        config: Mapping[str, Any],
        peer_id: int,
        key: str,
        message: OutboundMessage,
        attachments: list[str],
        keyboard: str | None,
    ) -> Delivered | ApiFailure:
        text = message.text
        if message.options and keyboard is None:
            text = with_numbered_options(text, message.options)
        pieces = split_text(text, MAX_TEXT) if text.strip() else []
        chunks = [attachments[i : i + MAX_ATTACHMENTS] for i in range(0, len(attachments), MAX_ATTACHMENTS)]
        parts = list(zip_longest(pieces, chunks, fillvalue=None))
        if not parts:
            return ApiFailure(Rejected("empty message"))
        delivered = Delivered(None)
        for n, (piece, chunk) in enumerate(parts):
            params: dict[str, Any] = {
                "peer_id": peer_id,
                "random_id": random_id(key, str(n)),
                "message": piece or None,
                "attachment": ",".join(chunk) if chunk else None,
                "keyboard": keyboard if n == len(parts) - 1 else None,
            }
            result = await call(self._http, config, "messages.send", params)
            if isinstance(result, ApiFailure):
                return result
            is_id = isinstance(result, int) and not isinstance(result, bool)
            delivered = Delivered(str(result) if is_id else None)
        return delivered

    # --- files ------------------------------------------------------------------------------------

    async def _upload(self, config: Mapping[str, Any], peer_id: int, file: OutboundFile) -> str | ApiFailure:
        if file.content_type in PHOTO_TYPES:
            return await self._upload_photo(config, peer_id, file)
        return await self._upload_doc(config, peer_id, file)

    async def _upload_photo(
        self, config: Mapping[str, Any], peer_id: int, file: OutboundFile
    ) -> str | ApiFailure:
        server = await call(self._http, config, "photos.getMessagesUploadServer", {"peer_id": peer_id})
        if isinstance(server, ApiFailure):
            return server
        uploaded = await self._post_file(server, "photo", file)
        if isinstance(uploaded, ApiFailure):
            return uploaded
        photo = uploaded.get("photo")
        if not isinstance(photo, str) or photo in ("", "[]"):
            return ApiFailure(Rejected(f"VK did not accept the photo {file.filename}"))
        saved = await call(
            self._http,
            config,
            "photos.saveMessagesPhoto",
            {"photo": photo, "server": uploaded.get("server"), "hash": uploaded.get("hash")},
        )
        if isinstance(saved, ApiFailure):
            return saved
        item = saved[0] if isinstance(saved, list) and saved else None
        if not isinstance(item, dict) or "id" not in item or "owner_id" not in item:
            return ApiFailure(RetryLater("VK answered photos.saveMessagesPhoto without a photo"))
        access_key = item.get("access_key")
        suffix = f"_{access_key}" if isinstance(access_key, str) and access_key else ""
        return f"photo{item['owner_id']}_{item['id']}{suffix}"

    async def _upload_doc(
        self, config: Mapping[str, Any], peer_id: int, file: OutboundFile
    ) -> str | ApiFailure:
        server = await call(
            self._http, config, "docs.getMessagesUploadServer", {"type": "doc", "peer_id": peer_id}
        )
        if isinstance(server, ApiFailure):
            return server
        uploaded = await self._post_file(server, "file", file)
        if isinstance(uploaded, ApiFailure):
            return uploaded
        token = uploaded.get("file")
        if not isinstance(token, str) or not token:
            return ApiFailure(Rejected(f"VK did not accept the file {file.filename}"))
        saved = await call(self._http, config, "docs.save", {"file": token, "title": file.filename})
        if isinstance(saved, ApiFailure):
            return saved
        doc = saved.get("doc") if isinstance(saved, dict) else None
        if not isinstance(doc, dict) or "id" not in doc or "owner_id" not in doc:
            return ApiFailure(RetryLater("VK answered docs.save without a document"))
        return f"doc{doc['owner_id']}_{doc['id']}"

    async def _post_file(self, server: object, field: str, file: OutboundFile) -> dict[str, Any] | ApiFailure:
        """Step two of an upload: the file as multipart/form-data to the address VK gave."""
        url = server.get("upload_url") if isinstance(server, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return ApiFailure(RetryLater("VK gave no upload address"))
        try:
            response = await self._http.post(
                url, files={field: (file.filename, file.data, file.content_type)}
            )
        except httpx.TimeoutException as exc:
            return ApiFailure(RetryLater(f"VK's upload server did not answer in time ({type(exc).__name__})"))
        except httpx.TransportError as exc:
            return ApiFailure(RetryLater(f"could not reach VK's upload server ({type(exc).__name__})"))
        if response.status_code != 200:
            return ApiFailure(
                http_outcome(response.status_code, f"VK's upload server answered {response.status_code}")
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return ApiFailure(RetryLater("VK's upload server answered something that is not JSON"))
        if data.get("error"):
            return ApiFailure(Rejected(f"VK refused the file {file.filename}: {str(data['error'])[:200]}"))
        return data
