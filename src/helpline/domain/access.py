"""Who may see and act on which conversation.

One place for the rule, used by the REST API, the websocket fan-out and the console, so a
new entry point cannot quietly widen what an agent sees.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from helpline.domain.users import Role


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: int
    role: Role
    team_ids: frozenset[int]

    @property
    def sees_everything(self) -> bool:
        return self.role.at_least(Role.SUPERVISOR)


def can_view_conversation(viewer: Viewer, assignee_id: int | None, team_id: int | None) -> bool:
    """Agents see their own work, their teams' inboxes and conversations not yet routed to a team."""
    if viewer.sees_everything:
        return True
    return assignee_id == viewer.user_id or team_id is None or team_id in viewer.team_ids


def can_assign(
    viewer: Viewer, assignee_id: int | None, assignee_team_ids: Collection[int], team_id: int | None
) -> bool:
    """Agents may hand work to themselves or to colleagues and teams they share; supervisors to anyone."""
    if viewer.sees_everything:
        return True
    if team_id is not None and team_id not in viewer.team_ids:
        return False
    if assignee_id is None or assignee_id == viewer.user_id:
        return True
    return bool(viewer.team_ids.intersection(assignee_team_ids))
