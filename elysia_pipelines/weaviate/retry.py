"""Which Weaviate failures are worth retrying, and one tenacity policy for them.

weaviate-client raises a different exception for the same outage depending on the
call: a REST call gives `UnexpectedStatusCodeError(503)` or a wrapped httpx error, a
gRPC search gives `WeaviateQueryError` with only the status *details* in its message
(the `RpcError` is left as `__context__`), a batch gives `WeaviateBatchError` or
`WeaviateRetryError` after the client's own UNAVAILABLE backoff gave up, and a batch
in which every object failed gives `WeaviateInsertManyAllFailedError` with the
server's messages joined. `is_transient` walks the exception chain and looks at all
of these, so ingestion, backup and restore share one definition of "try again".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import grpc
import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)
from weaviate.exceptions import (
    AuthenticationFailedError,
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateInvalidInputError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.weaviate.messages import PERMANENT_TEXT
from elysia_pipelines.weaviate.messages import (
    WeaviateUnavailableError as WeaviateUnavailableError,
)
from elysia_pipelines.weaviate.messages import is_transient_message as is_transient_message
from elysia_pipelines.weaviate.messages import short_error as short_error

log = logging.getLogger(__name__)

TRANSIENT_HTTP_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
TRANSIENT_GRPC_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
_RETRY_AFTER_TEXT = re.compile(r"retry[-_ ]after\W{0,3}(\d+(?:\.\d+)?)", re.IGNORECASE)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts (the client often raises inside `except`)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _grpc_code(exc: BaseException) -> grpc.StatusCode | None:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        try:
            code = exc.code()
        except Exception:
            return None
        return code if isinstance(code, grpc.StatusCode) else None
    return None


def _grpc_details(exc: BaseException) -> str:
    if hasattr(exc, "details"):
        try:
            return str(exc.details() or "")
        except Exception:
            return ""
    return ""


def _single_is_transient(exc: BaseException) -> bool | None:
    """True/False when this one exception decides it; None to look further down the chain."""
    if isinstance(exc, ElysiaError | WeaviateClosedClientError | WeaviateInvalidInputError):
        return False
    if isinstance(exc, AuthenticationFailedError | InsufficientPermissionsError):
        return False
    if isinstance(exc, UnexpectedStatusCodeError):
        status = exc.status_code
        if status < 100:  # built from a gRPC call: the gRPC status code number
            codes = {c.value[0]: c for c in grpc.StatusCode}
            code = codes.get(status)
            return code in TRANSIENT_GRPC_CODES and not PERMANENT_TEXT.search(str(exc))
        return status in TRANSIENT_HTTP_STATUS
    if isinstance(exc, WeaviateStartUpError) and "not supported" in str(exc):
        return False  # server too old or platform unsupported: waiting will not fix it
    code = _grpc_code(exc)
    if code is not None:
        details = _grpc_details(exc)
        if code == grpc.StatusCode.UNKNOWN:
            # Weaviate answers its own errors as UNKNOWN; only the text tells them apart.
            return is_transient_message(details)
        return code in TRANSIENT_GRPC_CODES and not PERMANENT_TEXT.search(details)
    if isinstance(
        exc,
        WeaviateTimeoutError
        | WeaviateConnectionError
        | WeaviateRetryError
        | WeaviateGRPCUnavailableError
        | WeaviateStartUpError,
    ):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in TRANSIENT_HTTP_STATUS
    if isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError):
        return True
    return None


def is_transient(exc: BaseException) -> bool:
    """Would the same call plausibly succeed if tried again in a moment?"""
    for link in _chain(exc):
        verdict = _single_is_transient(link)
        if verdict is not None:
            return verdict
    # Only text survived (WeaviateQueryError/BatchError/InsertManyAllFailed/DeleteMany).
    return isinstance(exc, WeaviateBaseError) and is_transient_message(str(exc))


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (HTTP 429 Retry-After or gRPC metadata), if any."""
    for link in _chain(exc):
        if isinstance(link, httpx.HTTPStatusError):
            header = link.response.headers.get("retry-after")
            if header is not None:
                try:
                    return max(0.0, float(header))
                except ValueError:
                    return None
        if isinstance(link, grpc.RpcError) and hasattr(link, "trailing_metadata"):
            try:
                metadata = link.trailing_metadata() or ()
            except Exception:
                metadata = ()
            for key, value in metadata:
                if key.lower() == "retry-after":
                    try:
                        return max(0.0, float(value))
                    except (TypeError, ValueError):
                        return None
        if isinstance(link, UnexpectedStatusCodeError):
            # The client keeps only the body, so the server's hint survives as text.
            match = _RETRY_AFTER_TEXT.search(f"{link} {link.error}")
            if match:
                return float(match.group(1))
    match = _RETRY_AFTER_TEXT.search(str(exc))
    return float(match.group(1)) if match else None


class _WaitRespectingRetryAfter:
    """Exponential backoff with jitter, unless the server named a wait (then capped)."""

    def __init__(self, initial_s: float, max_wait_s: float, max_retry_after_s: float) -> None:
        self._backoff = wait_exponential(multiplier=initial_s, max=max_wait_s) + wait_random(
            0, initial_s
        )
        self._max_retry_after_s = max_retry_after_s

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None:
            asked = retry_after_s(exc)
            if asked is not None:
                return min(asked, self._max_retry_after_s)
        return float(self._backoff(state))


def _log_retry(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s failed (attempt %d): %s; retrying in %.1fs",
            what,
            state.attempt_number,
            str(exc).splitlines()[0] if exc else "?",
            wait,
        )

    return before_sleep


def transient_retry(
    attempts: int = 5,
    max_wait_s: float = 30.0,
    *,
    initial_wait_s: float = 0.5,
    max_retry_after_s: float = 60.0,
    deadline_s: float | None = None,
    what: str = "Weaviate call",
) -> Retrying:
    """A tenacity policy: retry only transient errors, re-raise the last one unchanged.

    Use it as a loop (`for attempt in transient_retry(): with attempt: ...`), as a call
    (`transient_retry()(fn, *args)`) or as a decorator (`@transient_retry().wraps`).
    `attempts` counts the first try; 1 means no retry. A server's Retry-After is
    honoured up to `max_retry_after_s` so a misbehaving proxy cannot stall a run.
    `deadline_s` stops retrying once that much time has passed since the first try:
    the client itself already backs off on UNAVAILABLE (up to about a minute for a
    search), so attempts alone would not bound how long an outage blocks a run.
    """
    stop = stop_after_attempt(max(1, attempts))
    if deadline_s is not None:
        stop = stop | stop_after_delay(deadline_s)
    return Retrying(
        stop=stop,
        wait=_WaitRespectingRetryAfter(initial_wait_s, max_wait_s, max_retry_after_s),
        retry=retry_if_exception(is_transient),
        before_sleep=_log_retry(what),
        reraise=True,
    )
