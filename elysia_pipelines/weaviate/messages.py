"""Reading failures from their text alone: what survives in logs, batch errors, history.

Kept apart from `retry` (which needs weaviate-client, httpx and grpc for its
exception types) so that classifying a stored error message, e.g. in `repo status`
or `repo list`, costs no client import.
"""

from __future__ import annotations

import re

from elysia_pipelines.errors import TransientError

# gRPC reports an oversized message as RESOURCE_EXHAUSTED too; retrying never helps.
PERMANENT_TEXT = re.compile(r"larger than max|message too large|too large", re.IGNORECASE)
# Phrases that identify an outage when only an error *message* survived (gRPC
# details copied into a WeaviateQueryError, per-object batch errors, all-failed text).
TRANSIENT_TEXT = re.compile(
    r"UNAVAILABLE|DEADLINE_EXCEEDED|Deadline Exceeded|RESOURCE_EXHAUSTED|"
    r"Service Unavailable|Too Many Requests|status code: 50[0234]\b|status code: 429\b|"
    r"connection (?:reset|refused|aborted|closed|lost)|Socket closed|broken pipe|"
    r"failed to connect|timed? ?out|temporarily|try again|Retry-After|"
    r"server closed|Stream removed|GOAWAY|"
    # Weaviate's own transient errors (enterrors.IsTransient): a shard set read-only
    # over its disk limit, memory pressure, a full disk. gRPC sends them as UNKNOWN.
    r"store is read-only|not enough memory|no space left on device",
    re.IGNORECASE,
)


def is_transient_message(message: str) -> bool:
    """True when an error text (e.g. a per-object batch error) describes an outage."""
    return bool(TRANSIENT_TEXT.search(message)) and not PERMANENT_TEXT.search(message)


def short_error(exc: BaseException) -> str:
    """First line of an exception, with its type: enough for a log line or a failure record."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class WeaviateUnavailableError(TransientError):
    """Weaviate stayed unreachable or overloaded through every retry of an operation.

    `written` says how many objects of the operation were stored before it gave up,
    so a caller can checkpoint instead of redoing (or dead-lettering) everything.
    """

    def __init__(self, message: str, hint: str | None = None, *, written: int = 0) -> None:
        super().__init__(message, hint)
        self.written = written
