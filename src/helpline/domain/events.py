"""Events the services record; they are published only after the transaction commits.

Publishing after commit means a console never shows a message that a rollback later
removed (Zulip's send_event_on_commit).
"""

from __future__ import annotations

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
