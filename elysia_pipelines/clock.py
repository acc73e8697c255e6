"""The one source of "now": every timestamp the project stores is timezone-aware UTC.

Registry rows, checkpoints, dead letters and backup manifests are compared and sorted
across processes; a naive or local-time value in any of them would silently misorder.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_now_iso() -> str:
    """Second precision, `+00:00` offset: the form checkpoint and dead-letter files carry."""
    return utc_now().isoformat(timespec="seconds")
