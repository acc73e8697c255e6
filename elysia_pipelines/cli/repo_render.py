"""Rich renderables for `elysiactl repo`: tables, trees, the diagnosis and the dashboard.

Kept apart from the commands so every view is a pure function of the domain data
(operations.status / diagnose): the commands stay short, and the dashboard's single
frame (`--once`) is exactly what the live view refreshes. Everything fits in 80
columns, the width of the smallest terminal people still use and of piped output.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from elysia_pipelines.operations.status import DashboardData, RecentChange, RepoStatus
from elysia_pipelines.registry import Repository, Status
from elysia_pipelines.settings import format_size

if TYPE_CHECKING:
    from elysia_pipelines.operations.diagnose import Diagnosis

HEALTH_STYLES = {
    "healthy": "green",
    "paused": "cyan",
    "pending": "blue",
    "overdue": "yellow",
    "unknown": "yellow",
    "degraded": "yellow",
    "failing": "bold red",
    "empty": "dim",
}
CHECK_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def health_text(health: str) -> Text:
    return Text(health, style=HEALTH_STYLES.get(health, ""))


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'5m ago' / 'in 25m' / 'never': what people scan a status table for."""
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    if span < 60:
        text = f"{int(span)}s"
    elif span < 3600:
        text = f"{int(span // 60)}m"
    elif span < 86400:
        text = f"{int(span // 3600)}h{int(span % 3600 // 60):02d}m"
    else:
        text = f"{int(span // 86400)}d"
    if span < 1:
        return "now"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def next_sync_text(status: RepoStatus, now: datetime | None = None) -> str:
    if status.paused:
        return "paused"
    if status.next_sync_at is None:
        return "manual"
    now = now or datetime.now(UTC)
    return "due now" if status.next_sync_at <= now else ago(status.next_sync_at, now)


def count_text(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def rate_text(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.0%}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def repo_list_table(repos: Sequence[Repository]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    table.add_column("Repository", overflow="fold", max_width=22)
    table.add_column("Collection", overflow="fold", max_width=20)
    table.add_column("Schedule", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("Vectorizer", overflow="fold", max_width=14)
    for repo in repos:
        table.add_row(
            repo.name,
            repo.collection,
            repo.schedule,
            Text("paused", style="cyan") if repo.paused else Text("active", style="green"),
            repo.vectorizer,
        )
    return table


def status_table(statuses: Sequence[RepoStatus], now: datetime | None = None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Repository", overflow="fold", max_width=24)
    table.add_column("Documents", justify="right", no_wrap=True)
    table.add_column("Last sync", no_wrap=True)
    table.add_column("Next sync", no_wrap=True)
    table.add_column("Health", no_wrap=True)
    for status in statuses:
        table.add_row(
            status.name,
            count_text(status.documents),
            ago(status.last_sync_at, now),
            next_sync_text(status, now),
            health_text(status.health),
        )
    return table


def change_line(change: RecentChange, now: datetime | None = None, *, repo: bool = False) -> Text:
    text = Text(f"{ago(change.at, now):>8}  ")
    if repo:
        text.append(f"{change.repo}  ", style="bold")
    text.append(f"{change.stage} ")
    style = (
        "red"
        if change.status == Status.FAILED
        else ("dim" if change.status == Status.NOOP else "green")
    )
    text.append(change.status, style=style)
    detail = change.error.strip().splitlines()[0] if change.error else change.summary
    text.append(f"  {detail}")
    return text


def status_tree(status: RepoStatus, now: datetime | None = None) -> Tree:
    tree = Tree(Text.assemble((status.name, "bold"), "  ", health_text(status.health)))
    tree.add(Text.assemble("URL: ", (status.url, "")))
    expected = (
        f" (expected {status.expected_documents:,})"
        if status.expected_documents is not None and status.expected_documents != status.documents
        else ""
    )
    tree.add(f"Collection: {status.collection}, {count_text(status.documents)} documents{expected}")
    tree.add(f"Schedule: {status.schedule}{' (paused)' if status.paused else ''}")
    tree.add(f"Last sync: {ago(status.last_sync_at, now)}" + _stamp(status.last_sync_at))
    tree.add(f"Next sync: {next_sync_text(status, now)}" + _stamp(status.next_sync_at))
    tree.add(f"Success rate: {rate_text(status.success_rate)} (last 20 stages)")
    tree.add(f"Health: {status.health_reason}")
    if status.pending_change_sets:
        tree.add(f"Pending change sets: {status.pending_change_sets}")
    if status.last_error:
        first = status.last_error.strip().splitlines()[0]
        tree.add(Text(f"Last error: {first}", style="red"))
    changes = tree.add("Recent changes")
    if not status.recent_changes:
        changes.add(Text("none yet", style="dim"))
    for change in status.recent_changes:
        changes.add(change_line(change, now))
    return tree


def _stamp(moment: datetime | None) -> str:
    return f" ({moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC)" if moment else ""


def diagnosis_table(diagnosis: Diagnosis) -> Group:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Check", no_wrap=True)
    table.add_column("Result", no_wrap=True)
    table.add_column("Detail", overflow="fold")
    for check in diagnosis.checks:
        table.add_row(
            check.name, Text(check.status, style=CHECK_STYLES[check.status]), check.detail
        )
    parts: list[RenderableType] = [table]
    if diagnosis.recommendations:
        parts.append(Text("Recommendations", style="bold"))
        parts.extend(Text(f"- {r}") for r in diagnosis.recommendations)
    elif not diagnosis.ok:  # never "fine" next to a failed check
        parts.append(Text("No recommendations; see the failed checks above.", style="red"))
    else:
        parts.append(Text("No recommendations: everything looks fine.", style="green"))
    return Group(*parts)


def dashboard(data: DashboardData, now: datetime | None = None) -> Group:
    """One frame of `repo dashboard`; the live view re-renders this on each refresh."""
    now = now or data.generated_at
    header = Text.assemble(
        ("elysia dashboard  ", "bold"),
        "overall health: ",
        health_text(data.overall_health),
        f"  ({data.generated_at.astimezone(UTC):%H:%M:%S} UTC)",
    )
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_column(style="bold")
    summary.add_column()
    counts = ", ".join(f"{n} {h}" for h, n in sorted(data.health_counts.items())) or "none"
    summary.add_row(
        "Repositories", f"{data.repositories} ({counts})", "Documents", f"{data.documents_total:,}"
    )
    summary.add_row(
        "Success rate",
        rate_text(data.success_rate),
        "Avg sync time",
        duration_text(data.average_sync_s),
    )
    summary.add_row(
        "Active syncs",
        str(len(data.active_syncs)),
        "Storage",
        f"mirrors {format_size(data.mirrors_bytes)}, backups {format_size(data.backups_bytes)}",
    )
    parts: list[RenderableType] = [header, summary]
    if data.weaviate_error:
        parts.append(Text(f"Weaviate: {data.weaviate_error}", style="yellow"))
    if data.statuses:
        parts.append(status_table(data.statuses, now))
    else:
        parts.append(Text("No repositories yet: elysiactl repo add URL --watch", style="dim"))
    active = Tree(Text("Active syncs", style="bold"))
    for run in data.active_syncs:
        started = ago(run.started_at, now) if run.started_at else "queued"
        active.add(f"{run.repo or '?'}  {run.job}  {run.status.lower()}  {started}")
    if not data.active_syncs:
        active.add(Text("none", style="dim"))
    parts.append(active)
    activity = Tree(Text("Recent activity", style="bold"))
    for change in data.recent_activity:
        activity.add(change_line(change, now, repo=True))
    if not data.recent_activity:
        activity.add(Text("none yet", style="dim"))
    parts.append(activity)
    return Group(Panel(Group(*parts), box=box.ROUNDED, padding=(0, 1)))
