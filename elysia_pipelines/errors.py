"""One exception type that every layer raises for problems a user can act on.

The CLI and the Dagster layer show `message` and `hint` and never a traceback, so
domain code raises `ElysiaError` (or a subclass) whenever the cause is outside our
code: bad input, a missing server, a corrupt file.
"""

from __future__ import annotations


class ElysiaError(Exception):
    """A problem the user can fix; `hint` says how."""

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
