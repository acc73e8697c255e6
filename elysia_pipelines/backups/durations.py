"""Parse the human time spans and points the backup commands accept (`30d`, `2024-01-01`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from elysia_pipelines.errors import ElysiaError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Far beyond any backup's age, and `now - span` stays a valid datetime.
_MAX_SPAN = timedelta(days=1000 * 365)


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """`90s`, `15m`, `12h`, `30d`, `2w` -> timedelta."""
    match = _DURATION_RE.match(str(text))
    if not match:
        raise ElysiaError(
            f"{what}: {text!r} is not a duration",
            "use a number with a unit: s, m, h, d or w (e.g. 30d, 12h)",
        )
    number, unit = match.groups()
    seconds = float(number) * _UNITS[unit.lower()]
    if seconds > _MAX_SPAN.total_seconds():  # timedelta itself overflows near 2.7e6 years
        raise ElysiaError(
            f"{what}: {text!r} is longer than {_MAX_SPAN.days // 365} years",
            "use a shorter span, e.g. 30d or 52w",
        )
    return timedelta(seconds=seconds)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time: a duration back from now (`7d`) or a date/time (`2024-01-01`)."""
    now = now or datetime.now(UTC)
    if _DURATION_RE.match(str(text)):
        return now - parse_duration(text, what="--since")
    try:
        value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ElysiaError(
            f"--since: {text!r} is neither a duration nor a date",
            "use e.g. 7d, 12h or 2024-01-01 or 2024-01-01T12:00:00Z",
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
