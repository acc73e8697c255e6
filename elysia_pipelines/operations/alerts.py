"""Post a JSON alert to a webhook when a sync fails.

Slack, Teams, PagerDuty bridges and home-grown receivers all accept a JSON POST, so
the payload is one flat object (repo, run_id, job, error, time, hint) that a person
can read in a chat message and a script can route on. Webhook endpoints blip as
often as anything else, so delivery is retried with backoff; a webhook that stays
down must never turn a failed sync into a crashed sensor, so `post_alert` reports
the outcome instead of raising.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from elysia_pipelines.operations.failures import FailureClass, classify_failure
from elysia_pipelines.settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = "elysia-pipelines-alerts/1"


@dataclass(frozen=True)
class Alert:
    repo: str
    run_id: str | None
    job: str | None
    error: str
    time: str
    hint: str
    kind: str  # errors.ErrorKind: transient | rate_limited | user_fixable | permanent

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class AlertResult:
    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None


class _RetryableDelivery(Exception):
    """A delivery failure worth another attempt (network error or 5xx/429)."""


def build_alert(
    repo: str,
    error: str,
    *,
    run_id: str | None = None,
    job: str | None = None,
    at: datetime | None = None,
    hint: str | None = None,
    failure: FailureClass | None = None,
) -> Alert:
    """An alert whose hint comes from the failure's verdict unless one is given.

    Pass the `failure` recorded for the run (it knows the kind its raiser gave it);
    without one the verdict comes from the message text.
    """
    failure = failure or classify_failure(error)
    return Alert(
        repo=repo,
        run_id=run_id,
        job=job,
        error=error.strip()[:4000],
        time=(at or datetime.now(UTC)).astimezone(UTC).isoformat(),
        hint=hint or failure.hint.replace("NAME", repo),
        kind=failure.kind.value,
    )


def _deliver(url: str, body: bytes, timeout_s: float) -> int:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise _RetryableDelivery(f"webhook answered HTTP {exc.code}") from None
        return int(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        raise _RetryableDelivery(f"webhook unreachable: {exc}") from None


def post_alert(
    url: str,
    alert: Alert,
    *,
    attempts: int = 3,
    timeout_s: float = 10.0,
    initial_wait_s: float = 1.0,
) -> AlertResult:
    """POST the alert as JSON; retry network errors, 429 and 5xx; never raise."""
    body = json.dumps(alert.to_dict()).encode("utf-8")
    retrying = Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=initial_wait_s, max=30),
        retry=retry_if_exception_type(_RetryableDelivery),
        reraise=False,
    )
    tried = 0
    try:
        for attempt in retrying:
            with attempt:
                tried = attempt.retry_state.attempt_number
                status = _deliver(url, body, timeout_s)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        log.warning("alert for %s not delivered after %d attempts: %s", alert.repo, tried, last)
        return AlertResult(False, tried, error=str(last))
    if 200 <= status < 300:
        return AlertResult(True, tried, status=status)
    log.warning("alert for %s rejected by the webhook: HTTP %d", alert.repo, status)
    return AlertResult(False, tried, status=status, error=f"webhook answered HTTP {status}")


def send_failure_alert(
    settings: Settings,
    repo: str,
    error: str,
    *,
    run_id: str | None = None,
    job: str | None = None,
    attempts: int = 3,
    failure: FailureClass | None = None,
) -> AlertResult | None:
    """Alert on a failed sync if ELYSIA_ALERT_WEBHOOK_URL is set; None when alerts are off."""
    if not settings.alert_webhook_url:
        return None
    alert = build_alert(repo, error, run_id=run_id, job=job, failure=failure)
    return post_alert(settings.alert_webhook_url, alert, attempts=attempts)
