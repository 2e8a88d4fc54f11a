"""Users of the console: roles, presence and what each role may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Roles are ordered: each one may do everything the roles below it may."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_ROLE_RANK = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


class Presence(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


MAX_CAPACITY = 100
DEFAULT_CAPACITY = 5
