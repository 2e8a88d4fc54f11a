"""Events the services record; they are published only after the transaction commits.

Publishing after commit means a console never shows a message that a rollback later
removed (Zulip's send_event_on_commit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """A fact about one conversation or contact, addressed for access filtering."""

    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    conversation_id: int | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    _client_text: str | None = field(default=None, init=False, repr=False, compare=False)

    def client_text(self) -> str:
        """The frame an agent's websocket receives, encoded once however many agents get it."""
        if self._client_text is None:
            text = json.dumps({**self.payload, "type": self.type}, ensure_ascii=False, separators=(",", ":"))
            object.__setattr__(self, "_client_text", text)  # a cache, not a change: still frozen
        return self._client_text  # type: ignore[return-value]


def to_json(event: Event) -> str:
    """The wire form used between `helpline serve` instances (Redis pub/sub).

    Payloads are what the websocket sends with `send_json`, so they are JSON already;
    anything else (a datetime, say) raises TypeError here just as it would there.
    """
    return json.dumps(
        {
            "type": event.type,
            "payload": event.payload,
            "conversation_id": event.conversation_id,
            "team_id": event.team_id,
            "assignee_id": event.assignee_id,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _optional_id(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"event {key} must be an integer or null")


def from_json(raw: str | bytes) -> Event:
    """Parse `to_json` output; ValueError for anything that is not a well-formed event."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("an event must be a JSON object")
    kind, payload = data.get("type"), data.get("payload", {})
    if not isinstance(kind, str) or not kind:
        raise ValueError("event type must be a non-empty string")
    if not isinstance(payload, dict):
        raise ValueError("event payload must be an object")
    return Event(
        type=kind,
        payload=payload,
        conversation_id=_optional_id(data, "conversation_id"),
        team_id=_optional_id(data, "team_id"),
        assignee_id=_optional_id(data, "assignee_id"),
    )
