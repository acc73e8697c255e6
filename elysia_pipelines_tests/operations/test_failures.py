from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from elysia_pipelines.operations.failures import (
    Backoff,
    FailureKind,
    classify_failure,
    next_retry_at,
)

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "kind", "reason"),
    [
        ("fatal: Authentication failed for 'https://github.com/o/r.git/'", "user_fixable", "auth"),
        ("remote: Invalid username or password.", "user_fixable", "auth"),
        (
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
            "user_fixable",
            "auth",
        ),
        ("The requested URL returned error: 403", "user_fixable", "auth"),
        (
            "remote: Repository not found.\nfatal: repository 'https://x/y.git/' not found",
            "user_fixable",
            "not_found",
        ),
        ("fatal: '/tmp/nope' does not appear to be a git repository", "user_fixable", "not_found"),
        ("fatal: unable to access 'https://h/': Could not resolve host: h", "transient", "network"),
        (
            "error: RPC failed; curl 56 Recv failure: Connection reset by peer",
            "transient",
            "network",
        ),
        ("Weaviate call timed out after 60s", "transient", "timeout"),
        ("UnexpectedStatusCodeError: status code: 503 Service Unavailable", "transient", "network"),
        (
            "change set 00000002-abc.jsonl could not be applied: invalid change set: 1 problem(s)"
            " line 1: not found",
            "permanent",
            "blocked",
        ),
        ("ingestion is blocked by failed/Demo/x.jsonl", "permanent", "blocked"),
        ("something odd happened", "transient", "unknown"),
        ("", "transient", "unknown"),
    ],
)
def test_classify(message: str, kind: str, reason: str) -> None:
    failure = classify_failure(message, now=NOW)
    assert failure.kind == FailureKind(kind)
    assert failure.reason == reason
    assert failure.retryable == (kind in ("transient", "rate_limited"))
    assert failure.hint


@pytest.mark.parametrize(
    ("message", "kind", "reason", "retryable"),
    [
        # The raiser's kind wins over text that would read otherwise.
        ("the call timed out? no: bad option --x", "user_fixable", "user_input", False),
        ("fatal: Authentication failed", "transient", "network", True),
        ("corrupt file", "permanent", "permanent", False),
        ("asset check(s) failed: change_set/is_valid", "user_fixable", "check_failed", False),
    ],
)
def test_the_raisers_kind_decides(message: str, kind: str, reason: str, retryable: bool) -> None:
    failure = classify_failure(message, kind=kind, reason=reason, now=NOW)
    assert (failure.kind, failure.reason, failure.retryable) == (
        FailureKind(kind),
        reason,
        retryable,
    )
    assert failure.hint


def test_a_raised_auth_error_gets_the_fix_auth_hint() -> None:
    failure = classify_failure("authentication failed for x", kind="user_fixable", reason="auth")
    assert "fix-auth" in failure.hint


def test_rate_limit_reset_from_header_epoch() -> None:
    reset = int((NOW + timedelta(minutes=7)).timestamp())
    failure = classify_failure(
        f"HTTP 403: API rate limit exceeded\nX-RateLimit-Remaining: 0\nX-RateLimit-Reset: {reset}",
        now=NOW,
    )
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.retry_at == NOW + timedelta(minutes=7)
    assert "12:07:00" in failure.hint


def test_rate_limit_retry_after_seconds_and_date() -> None:
    seconds = classify_failure("HTTP 429 Too Many Requests; Retry-After: 120", now=NOW)
    assert seconds.kind is FailureKind.RATE_LIMITED
    assert seconds.retry_at == NOW + timedelta(seconds=120)
    dated = classify_failure(
        "429 Too Many Requests (Retry-After: Sat, 10 Jan 2026 12:30:00 GMT)", now=NOW
    )
    assert dated.retry_at == datetime(2026, 1, 10, 12, 30, tzinfo=UTC)
    unknown = classify_failure("secondary rate limit hit", now=NOW)
    assert unknown.kind is FailureKind.RATE_LIMITED and unknown.retry_at is None


def test_backoff_schedule_is_exponential_and_capped() -> None:
    backoff = Backoff(base=timedelta(minutes=1), factor=2, cap=timedelta(minutes=10), max_retries=6)
    assert [d.total_seconds() / 60 for d in backoff.delays()] == [1, 2, 4, 8, 10, 10]
    assert backoff.delay(6) is None
    assert backoff.delay(-1) is None


def test_next_retry_at_respects_kind_and_reset() -> None:
    backoff = Backoff(base=timedelta(minutes=1), max_retries=3)
    transient = classify_failure("connection reset by peer", now=NOW)
    assert next_retry_at(transient, 0, NOW, backoff=backoff) == NOW + timedelta(minutes=1)
    assert next_retry_at(transient, 2, NOW, backoff=backoff) == NOW + timedelta(minutes=4)
    assert next_retry_at(transient, 3, NOW, backoff=backoff) is None
    permanent = classify_failure("Authentication failed", now=NOW)
    assert next_retry_at(permanent, 0, NOW, backoff=backoff) is None
    limited = classify_failure("429; Retry-After: 1800", now=NOW)
    assert next_retry_at(limited, 0, NOW, backoff=backoff) == NOW + timedelta(minutes=30)
    soon = classify_failure("429; Retry-After: 5", now=NOW)
    assert next_retry_at(soon, 0, NOW, backoff=backoff) == NOW + timedelta(minutes=1)
