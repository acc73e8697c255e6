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
    """A problem the user can fix; `hint` says how. Subclasses name other kinds.

    `reason` is a short label (auth, not_found, timeout, blocked, ...) that the
    registry stores beside the kind, so `diagnose`, alerts and `fix-auth` can branch on
    what the raiser knew instead of re-reading the message text.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.USER_FIXABLE
    default_reason: ClassVar[str] = "user_input"

    def __init__(self, message: str, hint: str | None = None, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.reason = reason or self.default_reason

    def __str__(self) -> str:
        return f"{self.message}\n{HINT_PREFIX}{self.hint}" if self.hint else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Exception's own pickling calls type(self)(*self.args), which drops the hint and
        # reason; errors cross process boundaries whole (the warm worker's children).
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(
    cls: type[ElysiaError], args: tuple[object, ...], state: dict[str, object]
) -> ElysiaError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(ElysiaError):
    """A setting (environment variable or option) has a value we cannot use."""

    default_reason = "config"


class NotFoundError(ElysiaError):
    """A named thing (repository, collection, backup) does not exist."""

    default_reason = "not_found"


class AuthError(ElysiaError):
    """A remote refused our credentials: waits for a person to give a valid token."""

    default_reason = "auth"


class TransientError(ElysiaError):
    """A failure that heals without anyone acting: a timeout, an unreachable remote."""

    kind = ErrorKind.TRANSIENT
    default_reason = "network"


class Interrupted(TransientError):
    """The user stopped a command (Ctrl-C); `hint` says how to finish what it was doing.

    Raised by the code that knows what an interruption leaves behind (a restore resumes
    with --resume, a registered repository needs `repo sync`); the CLI exits with 130.
    """

    default_reason = "interrupted"


class RateLimitedError(ElysiaError):
    """The remote throttles us; retrying before it says so only extends the limit."""

    kind = ErrorKind.RATE_LIMITED
    default_reason = "rate_limit"


class PermanentError(ElysiaError):
    """Neither a retry nor a setting changes the outcome (corrupt data, a blocked collection)."""

    kind = ErrorKind.PERMANENT
    default_reason = "permanent"


class BlockedError(PermanentError):
    """A rejected change set in failed/ holds back its collection until an operator acts."""

    default_reason = "blocked"


HINT_PREFIX = "  hint: "


def split_hint(text: str) -> tuple[str, str | None]:
    """(message, hint) back from `str(ElysiaError)` text, e.g. a failed run's error.

    A failed Dagster step stores the error as text; showing that text whole would put
    the raiser's `hint:` line inside the message, above a second hint. Several joined
    errors give their messages (one a line) and their hints joined by '; '.
    """
    messages: list[str] = []
    hints: list[str] = []
    for line in text.splitlines():
        if line.startswith(HINT_PREFIX):
            hints.append(line.removeprefix(HINT_PREFIX).strip())
        else:
            messages.append(line)
    return "\n".join(messages).strip(), "; ".join(dict.fromkeys(h for h in hints if h)) or None


def error_kind(error: BaseException) -> ErrorKind | None:
    """The kind the raiser gave `error`; None for exceptions from outside our code."""
    return error.kind if isinstance(error, ElysiaError) else None
