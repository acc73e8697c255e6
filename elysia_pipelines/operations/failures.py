"""What kind of failure a sync hit, and when (if ever) it is worth trying again.

A failed sync leaves its message and, when our code raised it, the kind and reason
the raiser gave it (stored in the registry beside the message). The right reaction
differs by kind: a dropped connection heals by itself, a rate limit heals at a time
the server told us, and a revoked token or a deleted repository never heals until a
person acts. Retrying the last kind only burns the rate limit and buries the real
message, so the retry planner, alerts and `diagnose` all start from `classify_failure`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from elysia_pipelines.errors import ErrorKind
from elysia_pipelines.weaviate.messages import is_transient_message

# One vocabulary for raised errors and for verdicts on stored messages.
FailureKind = ErrorKind


@dataclass(frozen=True)
class FailureClass:
    """The verdict on one error message; `retry_at` is set only for rate limits with a reset."""

    kind: FailureKind
    reason: str  # short machine-friendly label: timeout, auth, not_found, rate_limit ...
    hint: str
    retry_at: datetime | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in (FailureKind.TRANSIENT, FailureKind.RATE_LIMITED)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind.value,
            "reason": self.reason,
            "hint": self.hint,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
        }


_RATE_LIMIT_RE = re.compile(
    r"\b429\b|too many requests|rate[- ]?limit|secondary rate|abuse detection|"
    r"x-ratelimit-remaining\W{0,3}0\b",
    re.IGNORECASE,
)
_BLOCKED_RE = re.compile(r"could not be applied: |ingestion is blocked by failed/")
_RESET_EPOCH_RE = re.compile(r"x-ratelimit-reset\W{0,3}(\d{9,12})", re.IGNORECASE)
_RETRY_AFTER_SECONDS_RE = re.compile(r"retry[-_ ]after\W{0,3}(\d+(?:\.\d+)?)\b", re.IGNORECASE)
_RETRY_AFTER_DATE_RE = re.compile(
    r"retry[-_ ]after\W{0,3}((?:mon|tue|wed|thu|fri|sat|sun), \d{1,2} \w{3} \d{4} "
    r"\d{2}:\d{2}:\d{2} (?:gmt|utc))",
    re.IGNORECASE,
)
_AUTH_RE = re.compile(
    r"authentication failed|\b401\b|\b403\b|unauthori[sz]ed|forbidden|bad credentials|"
    r"invalid (?:username or password|credentials|token)|could not read username|"
    r"could not read password|terminal prompts disabled|permission denied \(publickey|"
    r"access denied|requested url returned error: 40[13]",
    re.IGNORECASE,
)
_NOT_FOUND_RE = re.compile(
    r"repository ['\"]?[^ ]*['\"]? not found|repository not found|\b404\b|"
    r"does not appear to be a git repository|not a git repository|"
    r"no such file or directory|remote branch \S+ not found|couldn't find remote ref|"
    r"invalid refspec|unknown revision",
    re.IGNORECASE,
)
_TIMEOUT_RE = re.compile(r"timed? ?out|timeout|deadline", re.IGNORECASE)
_NETWORK_RE = re.compile(
    r"could not resolve host|connection (?:reset|refused|timed out|closed)|early eof|"
    r"unexpected disconnect|the remote end hung up|rpc failed|\b50[0234]\b|"
    r"temporary failure in name resolution|network is unreachable|tls|ssl",
    re.IGNORECASE,
)


def _rate_limit_reset(message: str, now: datetime) -> datetime | None:
    """The moment the server said the limit lifts: X-RateLimit-Reset epoch or Retry-After."""
    if match := _RESET_EPOCH_RE.search(message):
        return datetime.fromtimestamp(int(match.group(1)), UTC)
    if match := _RETRY_AFTER_DATE_RE.search(message):
        try:
            return parsedate_to_datetime(match.group(1)).astimezone(UTC)
        except (TypeError, ValueError):
            return None
    if match := _RETRY_AFTER_SECONDS_RE.search(message):
        return now + timedelta(seconds=float(match.group(1)))
    return None


_BLOCKED_HINT = (
    "a change set in failed/ blocks the collection: fix it and run "
    "`elysiactl repo unblock NAME --retry`, or `elysiactl repo unblock NAME --discard`"
)
_AUTH_HINT = (
    "the remote refused our credentials: point to a valid token with "
    "`elysiactl repo fix-auth NAME --token-env VAR`"
)
_NOT_FOUND_HINT = (
    "the repository, branch or path does not exist (or is private): check the URL and "
    "--branch, or give a token with `elysiactl repo fix-auth NAME --token-env VAR`"
)
_TIMEOUT_HINT = (
    "a call timed out; it is retried automatically. If it keeps happening raise "
    "WEAVIATE_TIMEOUT_S (Weaviate) or ELYSIA_GIT_TIMEOUT_S (git)"
)
_NETWORK_HINT = "a network or server error; it is retried automatically with backoff"
_UNKNOWN_HINT = "unrecognised error; it is retried a few times. Run `elysiactl repo diagnose NAME`"

# What each reason a raiser can give means for retries, and what to tell the user.
_REASONS: dict[str, tuple[FailureKind, str]] = {
    "blocked": (FailureKind.PERMANENT, _BLOCKED_HINT),
    "auth": (FailureKind.USER_FIXABLE, _AUTH_HINT),
    "not_found": (FailureKind.USER_FIXABLE, _NOT_FOUND_HINT),
    "timeout": (FailureKind.TRANSIENT, _TIMEOUT_HINT),
    "network": (FailureKind.TRANSIENT, _NETWORK_HINT),
}
_KIND_HINTS: dict[FailureKind, str] = {
    FailureKind.TRANSIENT: _NETWORK_HINT,
    FailureKind.USER_FIXABLE: "fix the cause named in the error, then `elysiactl repo retry NAME`",
    FailureKind.PERMANENT: "retrying changes nothing; run `elysiactl repo diagnose NAME`",
}


def _rate_limited(text: str, now: datetime) -> FailureClass:
    reset = _rate_limit_reset(text, now)
    when = f" until {reset:%Y-%m-%d %H:%M:%S} UTC" if reset else ""
    return FailureClass(
        FailureKind.RATE_LIMITED,
        "rate_limit",
        f"the remote is rate limiting requests; automatic retries wait{when or ' and back off'}"
        " (a token raises the limit: --token-env VAR)",
        retry_at=reset,
    )


def classify_failure(
    message: str | None,
    *,
    kind: FailureKind | str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> FailureClass:
    """The verdict on a failure: from the kind its raiser gave it, else from its text.

    Our own errors carry `kind` and `reason` (see `errors.ElysiaError`) and the
    registry stores them, so those decide. The text rules remain for failures from
    outside our code (a Dagster-wrapped exception, rows written by an older release).
    Order matters there: a 429 body often also says "forbidden" or "try again", and
    the rate-limit verdict (with its reset time) is the useful one. Unknown messages
    are treated as transient: one more automatic attempt is cheap, and `diagnose`
    still shows the text.
    """
    text = message or ""
    now = now or datetime.now(UTC)
    if kind is not None:
        kind = FailureKind(kind)
        if kind is FailureKind.RATE_LIMITED:
            return _rate_limited(text, now)
        known = _REASONS.get(reason or "")
        hint = known[1] if known is not None and known[0] is kind else _KIND_HINTS[kind]
        return FailureClass(kind, reason or kind.value, hint)
    if _BLOCKED_RE.search(text):
        # Our own message: a rejected change set waits for an operator; retrying the
        # run changes nothing until it is unblocked.
        return FailureClass(FailureKind.PERMANENT, "blocked", _BLOCKED_HINT)
    if _RATE_LIMIT_RE.search(text) or _RESET_EPOCH_RE.search(text):
        return _rate_limited(text, now)
    if _AUTH_RE.search(text):
        return FailureClass(FailureKind.USER_FIXABLE, "auth", _AUTH_HINT)
    if _NOT_FOUND_RE.search(text):
        return FailureClass(FailureKind.USER_FIXABLE, "not_found", _NOT_FOUND_HINT)
    if _TIMEOUT_RE.search(text):
        return FailureClass(FailureKind.TRANSIENT, "timeout", _TIMEOUT_HINT)
    if _NETWORK_RE.search(text) or is_transient_message(text):
        return FailureClass(FailureKind.TRANSIENT, "network", _NETWORK_HINT)
    return FailureClass(FailureKind.TRANSIENT, "unknown", _UNKNOWN_HINT)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff for automatic sync retries: base * factor**n, capped."""

    base: timedelta = timedelta(minutes=1)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=1)
    max_retries: int = 5

    def delays(self) -> list[timedelta]:
        """The whole schedule, e.g. 1m, 2m, 4m, 8m, 16m: shown by `diagnose` and the docs."""
        return [
            min(self.cap, self.base * (self.factor**attempt)) for attempt in range(self.max_retries)
        ]

    def delay(self, attempt: int) -> timedelta | None:
        """Wait before retry number `attempt` (0-based); None when retries are used up."""
        if attempt < 0 or attempt >= self.max_retries:
            return None
        return self.delays()[attempt]


DEFAULT_BACKOFF = Backoff()


def next_retry_at(
    failure: FailureClass,
    attempt: int,
    failed_at: datetime,
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> datetime | None:
    """When to retry a failed sync automatically, or None if it should not be retried.

    Permanent failures are never retried. A rate limit with a known reset waits for
    the reset (never earlier than the backoff would), because retrying before it only
    extends the limit.
    """
    if not failure.retryable:
        return None
    delay = backoff.delay(attempt)
    if delay is None:
        return None
    planned = failed_at + delay
    if failure.retry_at is not None and failure.retry_at > planned:
        return failure.retry_at
    return planned
