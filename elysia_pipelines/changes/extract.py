"""Turn the difference between two commits of a mirror into an exact change set.

The collection is a function of (commit, file filter): it holds one document per
*ingestible* file (a regular file, selected by the patterns, not larger than the
limit, not binary). So instead of translating `git diff` line by line, we compare
that function at the last synced commit and at the new head, path by path, over
the paths whose tree entry changed (or every path, when the filter changed). This
gets the awkward cases right by construction:

* a file that becomes binary, too large, excluded, a symlink or a submodule is
  deleted from the collection (a `delete` record, then a `skip` saying why), and the reverse
  is an add;
* renames come from git's rename detection and become `rename` records (with the
  new content, so rename+edit is one record) when the old path held a document
  and the new one will;
* an exec-bit-only change produces no record: no document property depends on
  the mode, and the content hash is unchanged;
* after a force-push the old commit usually still exists in the mirror (fetch
  does not delete objects), and a diff between any two commits is exact whether
  or not one is an ancestor of the other. Only when the old commit is gone (gc,
  fresh mirror) do we emit a *full snapshot*: `begin.full_snapshot = true`, every
  ingestible file as `add`, and the ingester deletes every document of the repo
  the snapshot does not name.

A file that leaves the collection is written as `delete` then `skip`, so records
applied in order end with it skipped. Nothing changed (same commit, or only
exec-bit changes) means no file is written; a sync whose only news is a skip
still writes one, so every file left out on purpose is named.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import git

from elysia_pipelines.changes.format import (
    DEFAULT_INLINE_MAX_BYTES,
    FILE_OPS,
    OP_ADD,
    OP_MODIFY,
    OP_RENAME,
    SKIP_BINARY,
    SKIP_EXCLUDED,
    SKIP_SUBMODULE,
    SKIP_SYMLINK,
    SKIP_TOO_LARGE,
    is_binary,
    path_problem,
)
from elysia_pipelines.changes.git_objects import (
    MODE_SUBMODULE,
    MODE_SYMLINK,
    TreeEntry,
    changed_entries,
    is_ancestor,
    iter_blobs,
    iter_tree,
    list_tree,
    open_repository,
    renamed_pairs,
    resolve_branch,
    resolve_commit,
    with_sizes,
)
from elysia_pipelines.changes.languages import detect_language
from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.changes.sync_cache import BlobKinds, BlobKindsRewrite, TrackedCounts
from elysia_pipelines.changes.writer import ChangeSetWriter
from elysia_pipelines.errors import ElysiaError

SKIP_INVALID_PATH = "invalid_path_encoding"
# A tree entry like `../x` (git's fsck forbids it, a hostile push may still bring it)
# cannot be named in a change set without failing validation: counted, not written.
SKIP_UNSAFE_PATH = "unsafe_path"
SKIP_UNSUPPORTED_MODE = "unsupported_mode"

_CANDIDATE = "candidate"  # passes everything but the binary check (needs content)
_DOC = "doc"
_READ_WITHOUT_CACHE = 256
# Entries of a streamed snapshot handled at a time (their blobs read by one cat-file).
_SNAPSHOT_CHUNK = 2048
_NO_ENTRY = TreeEntry("", "", "", None)


@dataclass(frozen=True)
class ExtractResult:
    path: Path | None  # None: nothing to ingest, no file written
    from_commit: str | None  # the commit diffed against (None for a full snapshot)
    to_commit: str
    counts: dict[str, int]  # file records by op
    skipped: dict[str, int]  # skip records by reason
    tracked_files: int  # documents the collection holds after applying
    full_snapshot: bool
    bytes_written: int
    branch: str = ""
    history_rewritten: bool = False  # from_commit is not an ancestor of to_commit
    reason: str = ""  # one sentence for run metadata: why full, why nothing
    changed_files: int = field(default=0)

    @property
    def written(self) -> bool:
        return self.path is not None

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for run/asset metadata (paths as strings)."""
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


def skip_reason(entry: TreeEntry, rules: FileFilter) -> str | None:
    """Why `entry` cannot become a document from its path, mode and size alone (None: it
    may, if its content is text). Discovery calls this too, so `repo add`'s preview
    skips exactly what the first change set skips."""
    if not entry.path_ok:
        return SKIP_INVALID_PATH
    if path_problem(entry.path):
        return SKIP_UNSAFE_PATH
    if not rules.includes(entry.path):
        return SKIP_EXCLUDED
    if entry.mode == MODE_SYMLINK:
        return SKIP_SYMLINK
    if entry.mode == MODE_SUBMODULE:
        return SKIP_SUBMODULE
    if not entry.is_regular:
        return SKIP_UNSUPPORTED_MODE
    if entry.size is not None and entry.size > rules.max_file_size:
        return SKIP_TOO_LARGE
    return None


def _static_state(entry: TreeEntry | None, rules: FileFilter) -> str | None:
    """None (absent), a skip reason, or _CANDIDATE; the content check comes later."""
    if entry is None:
        return None
    return skip_reason(entry, rules) or _CANDIDATE


class _LazyWriter:
    """Opens the change set at the first record, so a no-op sync touches no file."""

    def __init__(self, **kwargs: object) -> None:
        self._kwargs = kwargs
        self.writer: ChangeSetWriter | None = None
        self.unnamed: Counter[str] = Counter()  # skipped without a record

    def get(self) -> ChangeSetWriter:
        if self.writer is None:
            self.writer = ChangeSetWriter(**self._kwargs)  # type: ignore[arg-type]
            self.writer.open()
        return self.writer

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()

    def restart(self) -> None:
        """Forget every record written so far: the change set starts again, unopened."""
        self.abort()
        self.writer = None
        self.unnamed.clear()

    def skip(self, path: str, reason: str, size_bytes: int | None) -> None:
        if reason == SKIP_UNSAFE_PATH:
            self.unnamed[reason] += 1
        else:
            self.get().write_skip(path, reason, size_bytes=size_bytes)


@dataclass(frozen=True)
class ChangeSetTarget:
    """Whose change set is written, and where: `out_dir/<seq>-<head>.jsonl`."""

    repo: str
    collection: str
    out_dir: Path
    seq: int


@dataclass(frozen=True)
class ExtractOptions:
    """What to extract: from which commit, on which branch, under which file rules.

    `previous_filter` is the include/exclude/size rule set the collection was last
    synced with; when it differs from `rules` every path is re-evaluated, so newly
    excluded files are deleted and newly included ones added. When None, the rules
    remembered in the mirror for the last extraction up to `from_commit` are used
    (and, failing that, `rules`).
    """

    from_commit: str | None = None  # None: a full snapshot (first sync)
    branch: str | None = None  # None: the mirror's default branch
    rules: FileFilter = field(default_factory=FileFilter)
    previous_filter: FileFilter | None = None
    inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES
    now: datetime | None = None  # the change set's created_at (tests pin it)


def extract_change_set(
    mirror_path: Path | str,
    target: ChangeSetTarget,
    options: ExtractOptions = ExtractOptions(),
) -> ExtractResult:
    """Write `target.out_dir/<seq>-<head>.jsonl` for from_commit..head of the branch."""
    repo, collection, out_dir, seq = target.repo, target.collection, target.out_dir, target.seq
    from_commit, previous_filter = options.from_commit, options.previous_filter
    rules = options.rules
    repository = open_repository(mirror_path)
    try:
        branch_name, to_commit = resolve_branch(repository, options.branch)
        base, history_rewritten, reason = _choose_base(repository, from_commit, to_commit)
        git_dir = Path(repository.git_dir)
        kinds = BlobKinds(git_dir)
        tracked_counts = TrackedCounts(git_dir)
        if previous_filter is None and base is not None:
            # Not told: trust the rules the last extraction up to `base` used.
            previous_filter = tracked_counts.last_filter(base)
        old_rules = previous_filter or rules
        rules_changed = old_rules != rules
        writer = _LazyWriter(
            out_dir=Path(out_dir),
            seq=seq,
            repo=repo,
            collection=collection,
            from_commit=from_commit,
            to_commit=to_commit,
            full_snapshot=base is None,
            created_at=options.now,
            inline_max_bytes=options.inline_max_bytes,
            begin_extra=_begin_extra(rules, old_rules),
        )
        try:
            if base is None:
                streamed = _write_snapshot_streamed(repository, writer, to_commit, rules, kinds)
                if streamed is None:
                    # A path the stream cannot place (not UTF-8, out of order): the
                    # listing in memory, sorted as Python sorts it, as always.
                    writer.restart()
                    new_tree = list_tree(repository, to_commit)
                    tracked = _write_snapshot(repository, writer, new_tree, rules, kinds)
                    kinds.save(keep={entry.sha for entry in new_tree.values()})
                else:
                    tracked = streamed
            else:
                if base == to_commit and not rules_changed:
                    reason = reason or "already at the head commit"
                tracked = _write_diff(
                    repository,
                    writer,
                    base,
                    to_commit,
                    rules,
                    old_rules,
                    kinds,
                    tracked_counts.get(base, old_rules),
                )
            tracked_counts.put(to_commit, rules, tracked)
            result_writer = writer.writer
            counts = dict(result_writer.counts) if result_writer else {}
            skipped = dict((result_writer.skipped if result_writer else Counter()) + writer.unnamed)
            changed = sum(counts.get(op, 0) for op in FILE_OPS)
            # Any record at all is news: a sync that only skips (a binary file or a
            # submodule added) still names what it left out.
            if result_writer is not None:
                path: Path | None = result_writer.commit(tracked_files=tracked)
                bytes_written = result_writer.bytes_written
            else:
                writer.abort()
                path, bytes_written = None, 0
                reason = reason or "no ingestible file changed"
        except BaseException:
            writer.abort()
            raise
    except OSError as exc:
        raise ElysiaError(
            f"could not write the change set for {repo} in {out_dir}: {exc.strerror or exc}",
            "check free disk space and permissions; nothing was published to pending/",
        ) from None
    except git.GitCommandError as exc:
        raise ElysiaError(
            f"git failed while extracting {repo}: {(exc.stderr or str(exc)).strip()[:500]}",
            "check that the mirror is intact (git fsck) or delete it and mirror again",
        ) from None
    finally:
        repository.close()
    return ExtractResult(
        path=path,
        from_commit=base,
        to_commit=to_commit,
        counts=counts,
        skipped=skipped,
        tracked_files=tracked,
        full_snapshot=base is None,
        bytes_written=bytes_written,
        branch=branch_name,
        history_rewritten=history_rewritten,
        reason=reason,
        changed_files=changed,
    )


def _begin_extra(rules: FileFilter, old_rules: FileFilter) -> dict[str, Any]:
    """Optional begin fields: the selection rules, and whether they changed.

    With `filter_changed` every path was re-evaluated, so records may name files
    git did not change; the audit (and a human reading the file) needs to know.
    """
    extra: dict[str, Any] = {"filter": rules.to_dict()}
    if rules != old_rules:
        extra["filter_changed"] = True
        extra["previous_filter"] = old_rules.to_dict()
    return extra


def _choose_base(
    repository: git.Repo, from_commit: str | None, to_commit: str
) -> tuple[str | None, bool, str]:
    """(commit to diff against or None for a full snapshot, history rewritten?, reason)."""
    if from_commit is None:
        return None, False, "first sync: full snapshot"
    base = resolve_commit(repository, from_commit)
    if base is None:
        return (
            None,
            True,
            f"last synced commit {from_commit[:12]} no longer exists (history rewritten "
            "and collected): full snapshot that replaces the collection",
        )
    if base != to_commit and not is_ancestor(repository, base, to_commit):
        return base, True, f"history rewritten since {base[:12]}: diffed against it directly"
    return base, False, ""


def _blob_stream(repository: git.Repo, entries: list[TreeEntry]) -> Iterator[tuple[str, bytes]]:
    return iter_blobs(repository, [entry.sha for entry in entries])


def _write_snapshot(
    repository: git.Repo,
    writer: _LazyWriter,
    new_tree: dict[str, TreeEntry],
    rules: FileFilter,
    kinds: BlobKinds,
) -> int:
    paths = sorted(new_tree)
    states = {path: _static_state(new_tree[path], rules) for path in paths}
    readable = [new_tree[p] for p in paths if states[p] == _CANDIDATE]
    blobs = _blob_stream(repository, readable)
    tracked = 0
    for path in paths:
        entry = new_tree[path]
        state = states[path]
        if state == _CANDIDATE:
            _, data = next(blobs)
            binary = is_binary(data)
            kinds.set(entry.sha, binary)
            if binary:
                writer.skip(path, SKIP_BINARY, len(data))
                continue
            writer.get().write_file(OP_ADD, path, data, language=detect_language(path))
            tracked += 1
        else:
            assert state is not None
            writer.skip(path, state, entry.size)
    writer.get()  # a snapshot is written even when empty: it empties the collection
    return tracked


def _write_snapshot_streamed(
    repository: git.Repo,
    writer: _LazyWriter,
    to_commit: str,
    rules: FileFilter,
    kinds: BlobKinds,
) -> int | None:
    """`_write_snapshot` without the tree in memory: the listing is walked as git writes it.

    git lists a tree bytewise by path, which is the order `sorted()` gives `str` paths
    when every path is valid UTF-8; so the records are the ones `_write_snapshot`
    writes, byte for byte, `_SNAPSHOT_CHUNK` entries (and their blobs) at a time. The
    first path that is not valid UTF-8 or not after the one before (a damaged or
    hostile tree) returns None, and the caller starts again the old way.
    """
    tracked = 0
    previous: str | None = None
    chunk: list[TreeEntry] = []
    with BlobKindsRewrite(kinds) as rewrite:
        entries = iter_tree(repository, to_commit)
        try:
            for entry in entries:
                if not entry.path_ok or (previous is not None and entry.path <= previous):
                    return None
                previous = entry.path
                chunk.append(entry)
                if len(chunk) >= _SNAPSHOT_CHUNK:
                    tracked += _write_snapshot_chunk(
                        repository, writer, chunk, rules, kinds, rewrite
                    )
                    chunk = []
        finally:
            entries.close()
        tracked += _write_snapshot_chunk(repository, writer, chunk, rules, kinds, rewrite)
        writer.get()  # a snapshot is written even when empty: it empties the collection
        rewrite.commit()
    return tracked


def _write_snapshot_chunk(
    repository: git.Repo,
    writer: _LazyWriter,
    entries: list[TreeEntry],
    rules: FileFilter,
    kinds: BlobKinds,
    rewrite: BlobKindsRewrite,
) -> int:
    """`_write_snapshot`'s loop for consecutive entries; verdicts go to the rewritten cache."""
    states = [_static_state(entry, rules) for entry in entries]
    blobs = _blob_stream(
        repository, [e for e, state in zip(entries, states, strict=True) if state == _CANDIDATE]
    )
    tracked = 0
    try:
        for entry, state in zip(entries, states, strict=True):
            if state == _CANDIDATE:
                _, data = next(blobs)
                binary = is_binary(data)
                rewrite.add(entry.sha, binary)
                if binary:
                    writer.skip(entry.path, SKIP_BINARY, len(data))
                    continue
                writer.get().write_file(
                    OP_ADD, entry.path, data, language=detect_language(entry.path)
                )
                tracked += 1
            else:
                assert state is not None
                rewrite.add(entry.sha, kinds.get(entry.sha) if entry.has_object else None)
                writer.skip(entry.path, state, entry.size)
        next(blobs, None)  # past the last blob: cat-file exits on its own
    finally:
        blobs.close()
    return tracked


def _old_states(
    repository: git.Repo,
    candidates: list[str],
    before: dict[str, TreeEntry | None],
    old_rules: FileFilter,
    kinds: BlobKinds,
) -> dict[str, str | None]:
    """What each candidate path was in the collection before: None, a skip reason, _DOC."""
    states = {p: _static_state(before[p], old_rules) for p in candidates}
    readable = [e for p in candidates if states[p] == _CANDIDATE and (e := before[p])]
    # Reading a few blobs is cheaper than loading the cache of a whole repository.
    use_cache = len(readable) > _READ_WITHOUT_CACHE
    unknown = [e for e in readable if not use_cache or kinds.get(e.sha) is None]
    for sha, data in _blob_stream(repository, unknown):
        kinds.set(sha, is_binary(data))
    for path, state in states.items():
        entry = before[path]
        if state == _CANDIDATE and entry is not None:
            states[path] = SKIP_BINARY if kinds.get(entry.sha) else _DOC
    return states


def _changed_pairs(
    repository: git.Repo, base: str, to_commit: str, rules_changed: bool
) -> dict[str, tuple[TreeEntry | None, TreeEntry | None]]:
    """{path: (before, after)} with sizes, for every path whose verdict may differ."""
    if rules_changed:
        # Unchanged files can change verdict too: every path is a candidate.
        old_tree = list_tree(repository, base)
        new_tree = old_tree if base == to_commit else list_tree(repository, to_commit)
        return {p: (old_tree.get(p), new_tree.get(p)) for p in old_tree.keys() | new_tree.keys()}
    if base == to_commit:
        return {}
    pairs = changed_entries(repository, base, to_commit)
    sizes = with_sizes(repository, [e for pair in pairs.values() for e in pair])

    def sized(entry: TreeEntry | None) -> TreeEntry | None:
        if entry is None or not entry.has_object:
            return entry
        return entry._replace(size=sizes.get(entry.sha))

    return {p: (sized(before), sized(after)) for p, (before, after) in pairs.items()}


def _write_diff(
    repository: git.Repo,
    writer: _LazyWriter,
    base: str,
    to_commit: str,
    rules: FileFilter,
    old_rules: FileFilter,
    kinds: BlobKinds,
    base_tracked: int | None,
) -> int:
    rules_changed = rules != old_rules
    pairs = _changed_pairs(repository, base, to_commit, rules_changed)
    candidates = sorted(pairs)
    before = {p: pairs[p][0] for p in candidates}
    after = {p: pairs[p][1] for p in candidates}
    old_states = _old_states(repository, candidates, before, old_rules, kinds)
    new_static = {p: _static_state(after[p], rules) for p in candidates}

    # Rename sources: old documents whose path is gone; targets: paths that had none.
    rename_from: dict[str, str] = {}
    vanished = {p for p in candidates if old_states[p] == _DOC and after[p] is None}
    if vanished and any(old_states[p] != _DOC and new_static[p] == _CANDIDATE for p in candidates):
        for old_path, new_path in renamed_pairs(repository, base, to_commit):
            if old_path in vanished and new_path in new_static:
                rename_from[new_path] = old_path

    readable = [e for p in candidates if new_static[p] == _CANDIDATE and (e := after[p])]
    blobs = _blob_stream(repository, readable)
    to_delete: list[str] = []
    consumed: set[str] = set()
    new_docs = 0
    old_docs = 0
    for path in candidates:
        old_state = old_states[path]
        old_docs += old_state == _DOC
        entry = after[path]
        state = new_static[path]
        data = b""
        if state == _CANDIDATE:
            assert entry is not None
            _, data = next(blobs)
            binary = is_binary(data)
            kinds.set(entry.sha, binary)
            state = SKIP_BINARY if binary else _DOC
        if state == _DOC:
            assert entry is not None
            new_docs += 1
            language = detect_language(path)
            if old_state == _DOC:
                previous = before[path]
                if previous is None or previous.sha != entry.sha:
                    writer.get().write_file(OP_MODIFY, path, data, language=language)
                continue
            source = rename_from.get(path)
            if source is not None and source not in consumed:
                consumed.add(source)
                writer.get().write_file(
                    OP_RENAME, path, data, previous_path=source, language=language
                )
            else:
                writer.get().write_file(OP_ADD, path, data, language=language)
            continue
        if old_state == _DOC:
            if entry is None:
                to_delete.append(path)  # gone: may still become a rename's source
            else:
                # Left out from now on: delete first, then the skip saying why, so a
                # consumer applying records in order ends with the file skipped.
                writer.get().write_delete(path)
        # Every path git reports as changed is named: a file that was never a
        # document and is now gone keeps the reason the *current* rules give.
        reason = state
        if state is None and old_state not in (None, _DOC):
            reason = _gone_reason(before[path], rules, old_state, kinds)
        if reason is not None and (before[path] != entry or old_state != state):
            if reason == SKIP_BINARY and state == SKIP_BINARY:
                size: int | None = len(data)
            else:
                size = (entry or before[path] or _NO_ENTRY).size
            writer.skip(path, reason, size)
    for path in to_delete:
        if path not in consumed:
            writer.get().write_delete(path)

    if rules_changed:
        kinds.save()
        return new_docs  # every path was a candidate
    if base_tracked is not None:
        kinds.save()
        return base_tracked + new_docs - old_docs
    return _count_tracked(repository, to_commit, set(candidates), new_docs, rules, kinds)


def _gone_reason(
    entry: TreeEntry | None, rules: FileFilter, old_state: str, kinds: BlobKinds
) -> str | None:
    """Why a deleted file that never was a document was left out, by today's rules.

    None when today's rules would have taken it: then nothing was left out on purpose.
    """
    state = _static_state(entry, rules)
    if state != _CANDIDATE:
        return state
    binary = old_state == SKIP_BINARY or (entry is not None and kinds.get(entry.sha))
    return SKIP_BINARY if binary else None


def _count_tracked(
    repository: git.Repo,
    to_commit: str,
    candidates: set[str],
    candidate_docs: int,
    rules: FileFilter,
    kinds: BlobKinds,
) -> int:
    """Count ingestible files the slow way: when the count at the base is unknown."""
    new_tree = list_tree(repository, to_commit)
    tracked = candidate_docs
    unknown: list[TreeEntry] = []
    for path, entry in new_tree.items():
        if path in candidates or _static_state(entry, rules) != _CANDIDATE:
            continue
        binary = kinds.get(entry.sha)
        if binary is None:
            unknown.append(entry)
        elif not binary:
            tracked += 1
    for sha, data in _blob_stream(repository, unknown):
        binary = is_binary(data)
        kinds.set(sha, binary)
        tracked += 0 if binary else 1
    kinds.save(keep={entry.sha for entry in new_tree.values()})
    return tracked
