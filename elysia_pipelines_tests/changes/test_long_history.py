"""A long generated history, synced commit by commit: after every sync the change sets,
replayed in record order (skips included), agree with `git ls-tree` at HEAD.

The history mixes what real repositories do: merges, renames, type changes (file <->
symlink), binary flips, submodules, odd names (spaces, backslashes, unicode), filter
changes and a force-push, once with the old commit kept and once garbage-collected.
"""

from __future__ import annotations

import random
from pathlib import Path

from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.changes.reader import iter_change_set, read_header
from elysia_pipelines_tests.changes.test_extract import MAX, Syncer
from elysia_pipelines_tests.gitrepo import GitRepo

NAMES = ["a.py", "dir/b.md", "x\\..\\y.txt", "sp ace/ü.txt", "deep/er/c.ts", "n.lock", "z.bin"]


def _replay_in_order(paths: list[Path]) -> tuple[set[str], set[str]]:
    """(document paths, skipped paths) after applying every record in file order."""
    docs: set[str] = set()
    skipped: set[str] = set()
    for path in paths:
        if read_header(path).full_snapshot:
            docs, skipped = set(), set()
        for record in iter_change_set(path):
            op, name = record["op"], record.get("path")
            if op in ("add", "modify", "rename"):
                docs.discard(record.get("previous_path"))
                docs.add(name)
                skipped.discard(name)
            elif op == "delete":
                docs.discard(name)
                skipped.discard(name)
            elif op == "skip":
                skipped.add(name)
    return docs, skipped


def _check(syncer: Syncer) -> None:
    syncer.sync()  # replays contents and compares them with git's blobs at HEAD
    docs, skipped = _replay_in_order(syncer.written)
    tree = syncer.repo.files()
    assert docs <= set(tree) and not docs & skipped, docs & skipped
    left_out = set(tree) - docs
    assert left_out <= skipped, left_out - skipped  # every file left out is named


def _mutate(repo: GitRepo, rng: random.Random, step: int) -> None:
    name = rng.choice(NAMES)
    present = repo.files()
    action = rng.choice(["write", "write", "binary", "move", "delete", "symlink", "big"])
    if action == "write" or name not in present:
        repo.write(name, f"{name} at {step}\n" * rng.randint(1, 5))
    elif action == "binary":
        repo.write(name, b"\0binary " + str(step).encode())
    elif action == "move":
        repo.move(name, rng.choice([n for n in NAMES if n != name and n not in present] or [name]))
    elif action == "delete":
        repo.delete(name)
    elif action == "symlink":
        repo.delete(name)
        repo.symlink(name, "a.py")
    else:
        repo.write(name, "x" * (MAX + rng.randint(1, 50)))


def test_long_generated_history_replays_exactly(tmp_path: Path) -> None:
    rng = random.Random(14)
    repo = GitRepo.init(tmp_path / "source")
    for name in NAMES[:4]:
        repo.write(name, f"{name}\n")
    repo.commit("initial")
    syncer = Syncer(repo, tmp_path / "pending" / "Demo")
    _check(syncer)
    for step in range(1, 31):
        _mutate(repo, rng, step)
        if step == 5:
            repo.add_submodule_entry("vendor/lib", "1" * 40)
        if step in (8, 20):  # a side branch, merged back
            repo.commit(f"step {step}", allow_empty=True)
            repo.branch(f"side{step}")
            repo.write(f"side{step}/s.py", f"side {step}\n")
            repo.commit("side work")
            repo.checkout("main")
            repo.write("main-only.txt", f"main {step}\n")
            repo.commit("main work")
            repo.git("merge", "-q", "--no-ff", "-m", "merge", f"side{step}")
        else:
            repo.commit(f"step {step}", allow_empty=True)
        if step == 12:  # the filter changes: markdown out, lock files in
            old = syncer.rules
            syncer.rules = FileFilter.of([], ["node_modules/**", "*.md"], MAX)
            syncer.sync(previous_filter=old)
        if step in (15, 25):  # force-push: back two commits and diverge
            repo.reset_hard("HEAD~2")
            repo.write("rewritten.txt", f"rewritten at {step}\n")
            repo.commit("rewritten")
            if step == 25:
                repo.forget_unreachable()  # the old commit is gone: a full snapshot
        _check(syncer)
    assert any(read_header(p).full_snapshot for p in syncer.written[1:])
