"""Errors the domain raises when a request breaks a rule.

They carry the offending field so the web layer can answer 422 naming it, exactly like
input-validation errors, instead of a vague 400 the client cannot act on.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request that breaks a business rule; nothing has been changed."""

    def __init__(self, reason: str, field: str | None = None, **params: str | int | list[str]) -> None:
        """`reason` is English; with `params` it is a template ("longer than {limit} characters")
        that the console translates before filling in, and `reason` the English text filled in."""
        filled = reason.format(**{k: _plain(v) for k, v in params.items()}) if params else reason
        super().__init__(filled)
        self.template = reason
        self.params = params
        self.reason = filled
        self.field = field


def _plain(value: str | int | list[str]) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


class NotFound(DomainError):
    """The thing referred to does not exist (or the caller may not know it exists)."""


class Conflict(DomainError):
    """The request collides with existing data, e.g. an identity owned by another contact."""


class PermissionDenied(DomainError):
    """The caller's role or team membership does not allow this."""
