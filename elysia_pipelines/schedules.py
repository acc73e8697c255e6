"""Per-repository sync schedules: intervals (15m ... 6h), cron expressions, or manual.

Dagster cannot build a schedule per dynamic partition, so one sensor asks this module
"which repositories are due now?" at every tick. Keeping the parsing and the due-time
arithmetic here (no Dagster) lets the CLI validate `--schedule` with the exact rules
the sensor applies and show the same "next sync" time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from elysia_pipelines.errors import ConfigError

SCHEDULE_CHOICES = ("15m", "30m", "1h", "2h", "6h", "12h", "24h", "manual")
_INTERVAL_RE = re.compile(r"^(\d+)\s*(m|min|mins|minutes?|h|hr|hours?|d|days?)$", re.IGNORECASE)
MIN_INTERVAL = timedelta(minutes=5)
# Beyond this `last_run + interval` approaches datetime's range; a year is plenty.
MAX_INTERVAL = timedelta(days=365)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; exactly one of `interval` / `cron` is set unless manual."""

    text: str
    interval: timedelta | None = None
    cron: str | None = None

    @property
    def manual(self) -> bool:
        return self.interval is None and self.cron is None

    def next_due(self, last_run: datetime | None, now: datetime) -> datetime | None:
        """When the next sync should start; None for manual schedules.

        A repository that never ran is due immediately. Interval schedules count from
        the last run (so a slow sync never piles up runs); cron schedules take the first
        cron time after the last run.
        """
        if self.manual:
            return None
        if last_run is None:
            return now
        if self.interval is not None:
            return last_run + self.interval
        assert self.cron is not None
        return croniter(self.cron, last_run.astimezone(UTC)).get_next(datetime)

    def is_due(self, last_run: datetime | None, now: datetime) -> bool:
        due = self.next_due(last_run, now)
        return due is not None and due <= now

    def slot(self, now: datetime) -> str:
        """A stable label for the current period, used in run keys to avoid double launches."""
        if self.interval is not None:
            seconds = int(self.interval.total_seconds())
            return str(int(now.timestamp()) // seconds)
        if self.cron is not None:
            # get_prev is strictly before its start, so start one second later to include `now`.
            start = now.astimezone(UTC) + timedelta(seconds=1)
            prev = croniter(self.cron, start).get_prev(datetime)
            return prev.strftime("%Y%m%dT%H%M")
        return "manual"


def _check_fires(cron: str) -> None:
    """Refuse a valid cron that names no real date (`0 0 31 2 *`): croniter raises when
    asked for its next time, which `repo status` and the sync sensor do at every look."""
    from croniter import CroniterBadDateError

    try:
        croniter(cron, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise ConfigError(
            f"cron expression {cron!r} never fires: no month has that day",
            "check the day-of-month and month fields (e.g. February has no 30th or 31st)",
        ) from None


def parse_schedule(text: str) -> Schedule:
    """Parse '15m', '30 minutes', '1h', '6h', '1d', 'manual' or a 5-field cron expression."""
    raw = (text or "").strip()
    if raw.lower() in ("manual", "none", "off"):
        return Schedule(text="manual")
    match = _INTERVAL_RE.match(raw)
    if match:
        amount, unit = int(match.group(1)), match.group(2)[0].lower()
        minutes = amount * {"m": 1, "h": 60}.get(unit, 24 * 60)
        if minutes > MAX_INTERVAL // timedelta(minutes=1):
            raise ConfigError(
                f"schedule {raw!r} is longer than a year",
                "use an interval of at most 365d, a cron expression, or 'manual'",
            )
        delta = timedelta(minutes=minutes)
        if delta < MIN_INTERVAL:
            raise ConfigError(
                f"schedule {raw!r} is shorter than 5 minutes",
                "syncing more often only queues runs behind each other; use 15m or more",
            )
        canonical = f"{amount}{unit}"
        return Schedule(text=canonical, interval=delta)
    if len(raw.split()) == 5 and croniter.is_valid(raw):
        _check_fires(raw)
        return Schedule(text=raw, cron=raw)
    raise ConfigError(
        f"schedule {raw!r} is neither an interval, 'manual' nor a cron expression",
        f"use one of {', '.join(SCHEDULE_CHOICES)}, an interval like 45m or 3h, or a "
        "5-field cron expression like '0 */2 * * *'",
    )


# A repository is stale (red in the UI) once it is more than this many of its own sync
# intervals behind: one late sync is normal (a slow run, a retry), three missed are not.
ALLOWED_INTERVALS_BEHIND = 2
# Counting cron ticks stops here: far enough past the threshold to say "stale" honestly.
_MAX_TICKS_COUNTED = 1000


@dataclass(frozen=True)
class Freshness:
    """How far a repository's last successful sync lags its own schedule."""

    judged: bool  # False for manual schedules and paused repositories: nothing is expected
    intervals_behind: float
    since: datetime  # the last successful sync, or when the repository was added
    next_due: datetime | None

    @property
    def fresh(self) -> bool:
        return not self.judged or self.intervals_behind <= ALLOWED_INTERVALS_BEHIND


def freshness(
    schedule: Schedule,
    last_sync: datetime | None,
    added_at: datetime,
    now: datetime,
    *,
    paused: bool = False,
) -> Freshness:
    """Missed sync slots since `last_sync` (or `added_at` if it never synced).

    Intervals: time past the due time, in intervals (a sync 2.5 intervals overdue is 2.5
    behind). Cron: the ticks that passed after the first one that was due. Never-synced
    repositories count from when they were added, so a first sync that keeps failing
    turns stale too.
    """
    since = last_sync or added_at
    if schedule.manual or paused:
        return Freshness(judged=False, intervals_behind=0.0, since=since, next_due=None)
    due = schedule.next_due(since, now) if last_sync else since
    assert due is not None
    if schedule.interval is not None:
        behind = max(0.0, (now - due) / schedule.interval)
    else:
        assert schedule.cron is not None
        ticks = croniter(schedule.cron, since.astimezone(UTC))
        passed = 0
        while passed < _MAX_TICKS_COUNTED and ticks.get_next(datetime) <= now:
            passed += 1
        behind = float(max(0, passed - 1))
    return Freshness(judged=True, intervals_behind=behind, since=since, next_due=due)
