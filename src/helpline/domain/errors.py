"""Errors the domain raises when a request breaks a rule.

They carry the offending field so the web layer can answer 422 naming it, exactly like
input-validation errors, instead of a vague 400 the client cannot act on.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request that breaks a business rule; nothing has been changed."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class NotFound(DomainError):
    """The thing referred to does not exist (or the caller may not know it exists)."""


class Conflict(DomainError):
    """The request collides with existing data, e.g. an identity owned by another contact."""


class PermissionDenied(DomainError):
    """The caller's role or team membership does not allow this."""
