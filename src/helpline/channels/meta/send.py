"""Sending through the Send API (`POST /{version}/me/messages`), for Messenger and Instagram.

A Page access token makes `me` the Page, so one endpoint serves both products: Messenger's
Send API reference and Instagram's "Send a Message" both post `recipient: {"id": PSID|IGSID}`
and a `message`, and answer `{"recipient_id", "message_id"}`; that `message_id` is the `mid`
that `delivery`/`read` webhooks later name. Every reply is `messaging_type: "RESPONSE"` (an
answer within the 24-hour window; outside it Meta refuses with 10/2018278, shown to the agent).

Files go first (an attachment message carries no caption), then the text in as many pieces as
the limit needs, with the options as quick replies on the last piece. Messenger uploads and
sends a file in one multipart call (`filedata`); Instagram's documentation uploads it with the
Attachment Upload API (`platform=instagram`) and sends the returned `attachment_id`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from helpline.channels.base import OutboundFile, OutboundMessage
from helpline.channels.meta.graph import auth_headers, failure
from helpline.channels.meta.platform import INSTAGRAM, MAX_ATTACHMENT_BYTES, MESSENGER, MetaPlatform
from helpline.channels.meta.render import attachment_type, text_messages
from helpline.domain.delivery import Delivered, DeliveryOutcome, Rejected, RetryLater


class MetaSender:
    def __init__(self, platform: MetaPlatform, http: httpx.AsyncClient) -> None:
        self._platform = platform
        self._http = http

    async def send(self, config: Mapping[str, Any], message: OutboundMessage) -> DeliveryOutcome:
        name = self._platform.name
        if not config.get("page_access_token"):
            return Rejected(f"the {name} account has no page access token configured")
        recipient = message.recipient.strip()
        if not recipient or not recipient.isascii() or not recipient.isalnum():
            return Rejected(f"not a {name} recipient id")
        root = self._platform.api_root(config)
        headers = auth_headers(config)
        if not message.files and not message.text.strip() and not message.options:
            return Rejected("nothing to send: the message is empty")
        outcome: DeliveryOutcome = Rejected("nothing to send: the message is empty")
        for file in message.files:
            outcome = await self._send_file(root, headers, recipient, file)
            if not isinstance(outcome, Delivered):
                return outcome
        if message.text.strip() or message.options:
            for body in text_messages(self._platform, message.text, message.options):
                outcome = await self._send_json(root, headers, recipient, body)
                if not isinstance(outcome, Delivered):
                    return outcome
        return outcome

    async def _send_json(
        self, root: str, headers: dict[str, str], recipient: str, body: dict[str, Any]
    ) -> DeliveryOutcome:
        request = {"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": body}
        return _delivered(await self._post(f"{root}/me/messages", headers, json=request))

    async def _send_file(
        self, root: str, headers: dict[str, str], recipient: str, file: OutboundFile
    ) -> DeliveryOutcome:
        if len(file.data) > MAX_ATTACHMENT_BYTES:
            return Rejected(f"{self._platform.name} takes files of up to 25 MB; {file.filename} is larger")
        kind = attachment_type(file.content_type)
        upload = {"filedata": (file.filename, file.data, file.content_type or "application/octet-stream")}
        if not self._platform.upload_first:
            form = {
                "recipient": json.dumps({"id": recipient}),
                "messaging_type": "RESPONSE",
                "message": json.dumps({"attachment": {"type": kind, "payload": {"is_reusable": False}}}),
            }
            return _delivered(await self._post(f"{root}/me/messages", headers, data=form, files=upload))
        form = {
            **dict(self._platform.upload_fields),
            "message": json.dumps({"attachment": {"type": kind, "payload": {"is_reusable": True}}}),
        }
        uploaded = await self._post(f"{root}/me/message_attachments", headers, data=form, files=upload)
        if not isinstance(uploaded, Mapping):
            return uploaded
        attachment_id = uploaded.get("attachment_id")
        if not isinstance(attachment_id, str | int) or isinstance(attachment_id, bool) or not attachment_id:
            return RetryLater(f"{self._platform.name} answered the upload without an attachment_id")
        body = {"attachment": {"type": kind, "payload": {"attachment_id": str(attachment_id)}}}
        return await self._send_json(root, headers, recipient, body)

    async def _post(
        self, url: str, headers: dict[str, str], **request: Any
    ) -> Mapping[str, Any] | RetryLater | Rejected:
        """The JSON object of a successful answer, or what the failure means."""
        name = self._platform.name
        try:
            response = await self._http.post(url, headers=headers, **request)
        except httpx.TimeoutException as exc:
            return RetryLater(f"{name} did not answer in time ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return RetryLater(f"could not reach {name} ({type(exc).__name__})")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, Mapping) and "error" not in body:
            return body
        return failure(name, response, body)


def _delivered(answer: Mapping[str, Any] | RetryLater | Rejected) -> DeliveryOutcome:
    if not isinstance(answer, Mapping):
        return answer
    message_id = answer.get("message_id")
    return Delivered(str(message_id) if isinstance(message_id, str | int) and message_id else None)


def messenger_sender(http: httpx.AsyncClient) -> MetaSender:
    return MetaSender(MESSENGER, http)


def instagram_sender(http: httpx.AsyncClient) -> MetaSender:
    return MetaSender(INSTAGRAM, http)
