"""One exception type that every layer raises for problems a user can act on.

The CLI and the Dagster layer show `message` and `hint` and never a traceback, so
domain code raises `ElysiaError` (or a subclass) whenever the cause is outside our
code: bad input, a missing server, a corrupt file.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorKind(StrEnum):
    """How a failure heals, decided where it is raised (as dlt's terminal/transient errors).

    transient: heals by itself (dropped connection, timeout), worth retrying soon;
    rate_limited: heals at a time the server names; user_fixable: waits for a person
    (bad token, bad option); permanent: retrying or reconfiguring changes nothing.
    """

    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    USER_FIXABLE = "user_fixable"
    PERMANENT = "permanent"


class ElysiaError(Exception):
    """A problem the user can fix; `hint` says how. Subclasses name other kinds."""

    kind: ClassVar[ErrorKind] = ErrorKind.USER_FIXABLE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(ElysiaError):
    """A setting (environment variable or option) has a value we cannot use."""


class NotFoundError(ElysiaError):
    """A named thing (repository, collection, backup) does not exist."""


class TransientError(ElysiaError):
    """A failure that heals without anyone acting: a timeout, an unreachable remote."""

    kind = ErrorKind.TRANSIENT


class RateLimitedError(ElysiaError):
    """The remote throttles us; retrying before it says so only extends the limit."""

    kind = ErrorKind.RATE_LIMITED


class PermanentError(ElysiaError):
    """Neither a retry nor a setting changes the outcome (corrupt data, a blocked collection)."""

    kind = ErrorKind.PERMANENT


def error_kind(error: BaseException) -> ErrorKind | None:
    """The kind the raiser gave `error`; None for exceptions from outside our code."""
    return error.kind if isinstance(error, ElysiaError) else None
