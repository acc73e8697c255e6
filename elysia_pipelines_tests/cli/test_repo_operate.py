"""Operating registered repositories: status, logs, dashboard, update, pause, sync, retry, remove.

Each test adds one real repository (a full sync through Dagster into the Weaviate test
server) and then walks through several commands, because the add is the slow part.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from elysia_pipelines.ingest.checkpoint import checkpoint_path
from elysia_pipelines.ingest.dead_letter import dead_letter_dir
from elysia_pipelines.layout import collection_state_paths
from elysia_pipelines.orchestration import PARTITIONS_NAME, get_instance
from elysia_pipelines.weaviate.connection import open_client
from elysia_pipelines.weaviate.schema import collection_exists
from elysia_pipelines_tests.cli.conftest import Cli
from elysia_pipelines_tests.gitrepo import GitRepo
from elysia_pipelines_tests.support import DASHBOARD_TILES, assert_mentions, run_cli


@pytest.fixture
def added(cli: Cli, source: GitRepo) -> GitRepo:
    result = cli.run("add", source.url, "--watch")
    assert result.exit_code == 0, result.output
    return source


def test_sync_status_logs_dashboard_update_pause(cli: Cli, added: GitRepo) -> None:
    diagnosis = cli.run("diagnose", "demo")
    assert diagnosis.exit_code == 0, diagnosis.output
    assert_mentions(
        diagnosis.output,
        (
            "remote",
            "authentication",
            "weaviate",
            "collection",
            "disk (mirrors)",
            "disk (backups)",
            "pending change sets",
            "dead letters",
            "recent errors",
        ),
    )
    assert "3 documents, as expected" in diagnosis.output

    added.write("app/extra.py", "X = 1\n")
    added.delete("README.md")
    added.write("app/util.py", "def add(a, b):\n    return a + b + 0\n")
    added.commit("more")
    result = cli.run("sync", "demo", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["success"] is True and data["documents"] == 3
    assert "+1 ~1 -1" in cli.run("status", "demo").output

    logs = cli.run("logs", "demo", "--tail", "5")
    assert logs.exit_code == 0
    assert "history      ingest success: +1 ~1 -1" in logs.output
    assert len(json.loads(cli.run("logs", "demo", "--tail", "5", "--json").stdout)) == 5
    entries = json.loads(cli.run("logs", "demo", "--tail", "500", "--json").stdout)
    sources = {e["source"] for e in entries}
    assert "history" in sources
    assert any(s.startswith("run ") for s in sources)
    assert len({e["run_id"] for e in entries if e["source"] != "history"}) == 2

    frame = cli.run("dashboard", "--once")
    assert frame.exit_code == 0, frame.output
    assert_mentions(frame.output, (*DASHBOARD_TILES, "mirrors", "backups", "demo"))
    board = json.loads(cli.run("dashboard", "--json").stdout)
    assert board["documents_total"] == 3
    assert board["repositories"] == 1
    assert board["mirrors_bytes"] > 0
    assert board["success_rate"] == 1.0
    assert board["active_syncs"] == []

    updated = cli.run("update", "demo", "--schedule", "1h", "--exclude-pattern", "*.md")
    assert updated.exit_code == 0, updated.output
    assert "schedule: 30m -> 1h" in updated.output
    repo = cli.registry().get("demo")
    assert repo.schedule == "1h" and repo.exclude_patterns == ("*.md",)
    bad = cli.run("update", "demo", "--schedule", "whenever")
    assert bad.exit_code == 1
    assert "neither an interval" in bad.output and "Traceback" not in bad.output
    assert cli.registry().get("demo").schedule == "1h"
    fixed = cli.run("update", "demo", "--vectorizer", "text2vec-openai")
    assert fixed.exit_code == 1 and "cannot be changed" in fixed.output
    nothing = cli.run("update", "demo")
    assert nothing.exit_code == 1 and "nothing to change" in nothing.output

    assert cli.run("pause", "demo").exit_code == 0
    status = json.loads(cli.run("status", "demo", "--json").stdout)
    assert status["paused"] is True and status["health"] == "paused"
    assert status["next_sync_at"] is None
    assert "paused" in cli.run("status").output
    assert cli.run("resume", "demo").exit_code == 0
    assert cli.registry().get("demo").paused is False


def test_failed_sync_retry_and_fix_auth(
    cli: Cli, added: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nothing = cli.run("retry", "demo")
    assert nothing.exit_code == 0
    assert "nothing to retry" in nothing.output

    moved = tmp_path / "moved-away"
    shutil.move(added.path, moved)
    failed = cli.run("sync", "demo")
    assert failed.exit_code == 1
    assert "sync of demo failed" in failed.output and "Traceback" not in failed.output
    repo = cli.registry().get("demo")
    assert repo.last_error and repo.last_error_reason == "not_found"
    assert (
        len([r for r in cli.registry().history("demo", stage="run") if r.status == "failed"]) == 1
    )
    status = json.loads(cli.run("status", "demo", "--json").stdout)
    assert status["health"] == "failing"
    diagnosis = cli.run("diagnose", "demo", "--json")
    assert diagnosis.exit_code == 1
    checks = {c["name"]: c["status"] for c in json.loads(diagnosis.stdout)["checks"]}
    assert checks["remote"] == "fail" and checks["weaviate"] == "ok"
    assert checks["recent errors"] == "warn"

    shutil.move(moved, added.path)
    added.write("new.py", "print(1)\n")
    added.commit("after outage")
    retried = cli.run("retry", "demo", "--json")
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["documents"] == 4
    assert json.loads(cli.run("status", "demo", "--json").stdout)["health"] == "healthy"
    assert "nothing to retry" in cli.run("retry", "demo").output

    monkeypatch.delenv("ELYSIA_TEST_TOKEN", raising=False)
    bad = cli.run("fix-auth", "demo", "--token-env", "ELYSIA_TEST_TOKEN")
    assert bad.exit_code == 1
    assert "nothing was saved" in bad.output
    assert bad.output.count("export") == 1  # the hint used to say it twice
    assert cli.registry().get("demo").token_env is None
    monkeypatch.setenv("ELYSIA_TEST_TOKEN", "s3cr3t-value")
    good = cli.run("fix-auth", "demo", "--token-env", "ELYSIA_TEST_TOKEN")
    assert good.exit_code == 0, good.output
    assert "$ELYSIA_TEST_TOKEN" in good.output
    assert "s3cr3t-value" not in good.output
    assert cli.registry().get("demo").token_env == "ELYSIA_TEST_TOKEN"
    monkeypatch.delenv("ELYSIA_TEST_TOKEN")
    unset = cli.run("diagnose", "demo")
    assert unset.exit_code == 1
    assert "ELYSIA_TEST_TOKEN is not set" in unset.output
    assert "fix-auth demo" in unset.output


def test_remove_asks_and_cleans_up(cli: Cli, added: GitRepo) -> None:
    settings = cli.settings()
    mirror = settings.mirror_path("demo")
    assert mirror.exists()
    declined = cli.run("remove", "demo", input="n\n")
    assert declined.exit_code == 1 and "nothing was removed" in declined.output
    assert cli.registry().names() == ["demo"]

    again = cli.run("add", added.url, "--name", "demo2", "--collection", "Demo2", "--no-sync")
    assert again.exit_code == 0, again.output

    # What the pipeline keeps for the collection: a synced repository has processed change
    # sets and a checkpoint; a failed change set and a dead letter are written as ingestion
    # writes them.
    state = collection_state_paths(settings, "Demo")
    assert (settings.processed_dir / "Demo").is_dir() and checkpoint_path(settings, "Demo").exists()
    (settings.failed_dir / "Demo").mkdir(parents=True, exist_ok=True)
    (settings.failed_dir / "Demo" / "00000009-abc.jsonl").write_text("{}\n")
    dead_letter_dir(settings, "Demo").mkdir(parents=True, exist_ok=True)
    (dead_letter_dir(settings, "Demo") / "00000009-abc.jsonl").write_text("{}\n")

    # A backup of the collection: removing the repository keeps it (and its catalog row).
    backup = run_cli("col", "backup", "Demo", "--json")
    assert backup.exit_code == 0, backup.output
    backup_path = Path(json.loads(backup.stdout)["path"])

    kept = cli.run("remove", "demo", "--yes")
    assert kept.exit_code == 0, kept.output
    assert "Backups of Demo are kept" in kept.output
    assert cli.registry().names() == ["demo2"]
    assert not mirror.exists()
    assert [p for p in state if p.exists()] == []
    assert backup_path.is_dir()
    listed = json.loads(run_cli("col", "catalog", "list", "--collection", "Demo", "--json").stdout)
    assert [entry["path"] for entry in listed] == [str(backup_path)]
    with open_client(settings) as client:
        assert collection_exists(client, "Demo")

    gone = cli.run("remove", "demo2", "--yes", "--delete-collection", "--json")
    assert gone.exit_code == 0, gone.output
    assert json.loads(gone.stdout)["collection_deleted"] is True
    with open_client(settings) as client:
        assert not collection_exists(client, "Demo2")
    assert get_instance(settings).get_dynamic_partitions(PARTITIONS_NAME) == []
    assert os.listdir(settings.mirrors_dir) == []
    assert cli.registry().names() == []


def test_blocked_collection_is_released_with_unblock(cli: Cli, added: GitRepo) -> None:
    settings = cli.settings()
    pending = settings.pending_dir / "Demo"
    pending.mkdir(parents=True, exist_ok=True)
    bad = pending / "zz-foreign.jsonl"
    bad.write_text('{"op": "add", "repo": "demo", "path": "x.py"}\n')  # no content
    os.utime(bad, (1_000_000_000, 1_000_000_000))  # a settled flat file
    blocked = cli.run("sync", "demo")
    assert blocked.exit_code == 1 and "Traceback" not in blocked.output
    said = " ".join(blocked.output.split())  # rich wraps long lines
    assert "could not be applied" in said and "repo unblock demo --retry" in said
    assert "retried a few times" not in said
    diagnosis = cli.run("diagnose", "demo", "--json")
    assert "repo unblock demo --retry" in diagnosis.stdout

    # A new commit cannot get past the blocked file: its change set waits.
    added.write("later.py", "later = 1\n")
    added.commit("later")
    waiting = cli.run("sync", "demo")
    assert waiting.exit_code == 1, waiting.output
    assert [p.name for p in pending.glob("*.jsonl")] != []

    # Fix the file where it lies, put it back, sync: both apply, in order.
    fixed = settings.failed_dir / "Demo" / bad.name
    fixed.write_text('{"op": "add", "repo": "demo", "path": "x.py", "content": "x = 1\\n"}\n')
    os.utime(fixed, (1_000_000_000, 1_000_000_000))
    released = cli.run("unblock", "demo", "--retry", "--json")
    assert released.exit_code == 0, released.output
    assert json.loads(released.stdout) == {
        "repo": "demo",
        "collection": "Demo",
        "unblocked": bad.name,
        "action": "retry",
        "still_blocking": 0,
    }
    synced = cli.run("sync", "demo", "--json")
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.stdout)["documents"] == 5  # 3 files + later.py + x.py
    assert "Nothing to unblock" in cli.run("unblock", "demo").output

    # Discard drops a bad file for good.
    bad.write_text("{not json\n")
    os.utime(bad, (1_000_000_000, 1_000_000_000))
    added.write("last.py", "last = 1\n")
    added.commit("last")
    assert cli.run("sync", "demo").exit_code == 1
    both = cli.run("unblock", "demo", "--retry", "--discard")
    assert both.exit_code == 1 and "error:" in both.output
    discarded = cli.run("unblock", "demo", "--discard")
    assert discarded.exit_code == 0
    assert "Discarded zz-foreign.jsonl" in " ".join(discarded.output.split())
    assert not (settings.failed_dir / "Demo" / bad.name).exists()
    assert cli.run("sync", "demo").exit_code == 0
