"""Fast, path-safe reads of trees and blobs through git plumbing (via gitpython).

Extraction and discovery touch every file of a repository, so this module uses the
plumbing commands that scale: one `ls-tree -r -z -l` for a whole tree, one
`diff-tree -M -z` for renames, and one streaming `cat-file --batch` process fed
from a thread for all blob contents (one subprocess per file would cost
milliseconds each). Every listing uses `-z`, so paths with spaces, quotes,
newlines or non-ASCII characters arrive verbatim, never C-quoted.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import git

from elysia_pipelines.errors import ElysiaError, NotFoundError

MODE_SYMLINK = "120000"
MODE_SUBMODULE = "160000"
REGULAR_MODES = ("100644", "100755", "100664")


class TreeEntry(NamedTuple):
    """One file-like entry of a tree (a NamedTuple: 10,000 of them build fast)."""

    path: str
    mode: str
    sha: str
    size: int | None  # None: unknown yet, or a submodule (no object in this repository)
    path_ok: bool = True  # False when the path bytes are not valid UTF-8

    @property
    def is_regular(self) -> bool:
        return self.mode in REGULAR_MODES

    @property
    def has_object(self) -> bool:
        return self.mode != MODE_SUBMODULE


def open_repository(path: Path | str) -> git.Repo:
    """A gitpython Repo for a bare mirror or a work tree, with a clear error otherwise."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(
            f"repository {path} does not exist", "mirror the repository first (repo_mirror)"
        )
    return open_git_dir(
        path,
        f"{path} is not a git repository",
        "point at a bare mirror (ELYSIA_HOME/mirrors/<repo>.git) or a work tree",
    )


def open_git_dir(path: Path, message: str, hint: str) -> git.Repo:
    """gitpython's Repo, or an ElysiaError saying `message` when `path` holds none.

    gitpython raises one of two unrelated exceptions for the same user mistake; the
    caller knows what the directory was meant to be, so it words the error.
    """
    try:
        return git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ElysiaError(message, hint) from None


def resolve_commit(repo: git.Repo, rev: str) -> str | None:
    """Full commit id of `rev`, or None when it does not name an existing commit."""
    try:
        out = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    except git.GitCommandError:
        return None
    return out.strip() or None


def _shown_origin(repo: git.Repo) -> str:
    """The repository the user named (a mirror's origin, redacted), else the git dir.

    Mirrors are first cloned into a temporary directory whose name means nothing to
    the user.
    """
    from elysia_pipelines.redaction import redact_credentials

    try:
        origin = repo.git.config("--get", "remote.origin.url").strip()
    except git.GitCommandError:
        origin = ""
    return redact_credentials(origin.removeprefix("file://")) if origin else str(repo.git_dir)


def resolve_branch(repo: git.Repo, branch: str | None) -> tuple[str, str]:
    """(branch name, head commit) of `branch`, or of HEAD's branch when None."""
    if branch is None:
        # One call for both: the branch HEAD points to, and its commit.
        try:
            lines = repo.git.rev_parse("HEAD^{commit}", "--symbolic-full-name", "HEAD").split()
        except git.GitCommandError:
            lines = []
        commit = lines[0] if len(lines) == 2 else None
        ref = lines[1] if len(lines) == 2 else ""
        name = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else "HEAD"
        if commit is None:
            raise ElysiaError(
                f"repository {_shown_origin(repo)} has no commits on {name}",
                "push at least one commit, or choose a branch that has commits",
            )
        return name, commit
    commit = resolve_commit(repo, f"refs/heads/{branch}")
    if commit is None:
        available = list_branches(repo)
        raise NotFoundError(
            f"branch {branch!r} not found in {Path(repo.git_dir).name}",
            "available branches: " + (", ".join(available[:20]) or "none")
            if available
            else "the repository has no branches yet",
        )
    return branch, commit


def list_branches(repo: git.Repo) -> list[str]:
    out = repo.git.for_each_ref("--format=%(refname:short)", "refs/heads/")
    return [line for line in out.splitlines() if line]


def is_ancestor(repo: git.Repo, older: str, newer: str) -> bool:
    try:
        repo.git.merge_base("--is-ancestor", older, newer)
    except git.GitCommandError:
        return False
    return True


def _decode_path(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        # Legal in git, impossible in JSON text: keep a readable stand-in and flag it.
        return raw.decode("utf-8", errors="replace"), False


def list_tree(repo: git.Repo, commit: str, *, sizes: bool = True) -> dict[str, TreeEntry]:
    """Every non-tree entry of `commit`'s tree, recursively, by path.

    `sizes=False` is ten times faster on a packed repository (git need not look
    into every object); sizes are then None and `fill_sizes` can add them later
    for the few entries that need them. Holds the whole tree (about 0.3 KB a path):
    what only walks it once uses `iter_tree`.
    """
    return {entry.path: entry for entry in iter_tree(repo, commit, sizes=sizes)}


def iter_tree(repo: git.Repo, commit: str, *, sizes: bool = True) -> Iterator[TreeEntry]:
    """`list_tree`'s entries in git's order (bytewise by path), read as git writes them.

    Neither git's whole output nor the listing is ever in memory, so walking a
    100,000-file tree costs the same memory as a 1,000-file one. Closing the
    iterator early stops git.
    """
    args = ["-r", "-z", "--full-tree"] + (["-l"] if sizes else [])
    process = repo.git.ls_tree(*args, commit, as_process=True)
    stdout = process.stdout
    modes: dict[bytes, str] = {}  # a few distinct modes: one string each, not one a file
    completed = False
    try:
        rest = b""
        while chunk := stdout.read(1 << 16):
            items = (rest + chunk).split(b"\0")
            rest = items.pop()
            for item in items:
                if item:
                    yield _tree_entry(item, sizes, modes)
        if rest:
            yield _tree_entry(rest, sizes, modes)
        completed = True
    finally:
        proc = process.proc
        if not completed and proc is not None and proc.poll() is None:
            proc.kill()
        try:
            if completed:
                process.wait()  # GitCommandError with git's message when it failed
            elif proc is not None:
                proc.wait()
        finally:
            stdout.close()


def tree_totals(repo: git.Repo, commit: str) -> tuple[int, int]:
    """(paths, bytes) of `list_tree(repo, commit)`: its length and summed sizes, streamed.

    A path met twice counts once, with its last size, as in the listing's dict. git
    lists a tree sorted, so a repeated path follows its twin; paths that decode to
    U+FFFD (not UTF-8) may meet anywhere and are the only ones remembered.
    """
    count = total = 0
    previous: TreeEntry | None = None
    lossy: dict[str, int] = {}
    for entry in iter_tree(repo, commit):
        size = entry.size or 0
        if "\ufffd" in entry.path:
            if entry.path in lossy:
                total -= lossy[entry.path]
            else:
                count += 1
            lossy[entry.path] = size
        elif previous is not None and entry.path == previous.path:
            total -= previous.size or 0
        else:
            count += 1
        total += size
        previous = entry
    return count, total


def _tree_entry(item: bytes, sizes: bool, modes: dict[bytes, str]) -> TreeEntry:
    meta, raw_path = item.split(b"\t", 1)
    fields = meta.split()
    path, path_ok = _decode_path(raw_path)
    size = None
    if sizes and fields[3] != b"-":
        size = int(fields[3])
    mode = modes.get(fields[0])
    if mode is None:
        mode = modes[fields[0]] = fields[0].decode()
    return TreeEntry(path, mode, fields[2].decode(), size, path_ok)


_NULL_MODE = "000000"


def changed_entries(
    repo: git.Repo, old_commit: str, new_commit: str
) -> dict[str, tuple[TreeEntry | None, TreeEntry | None]]:
    """{path: (entry before, entry after)} for paths whose entry differs; sizes unknown.

    One `diff-tree` walks only the subtrees that differ, so a 10-file change in
    a 10,000-file repository costs milliseconds, not a listing of both trees.
    """
    raw: bytes = repo.git.diff_tree(
        "-r", "-z", "--raw", "--no-renames", old_commit, new_commit, stdout_as_string=False
    )
    fields = raw.split(b"\0")
    changes: dict[str, tuple[TreeEntry | None, TreeEntry | None]] = {}
    for index in range(0, len(fields) - 1, 2):
        meta = fields[index]
        if not meta.startswith(b":"):
            continue
        old_mode, new_mode, old_sha, new_sha, _status = meta[1:].decode().split()
        path, path_ok = _decode_path(fields[index + 1])
        before = (
            None if old_mode == _NULL_MODE else TreeEntry(path, old_mode, old_sha, None, path_ok)
        )
        after = (
            None if new_mode == _NULL_MODE else TreeEntry(path, new_mode, new_sha, None, path_ok)
        )
        changes[path] = (before, after)
    return changes


def object_sizes(repo: git.Repo, shas: Sequence[str]) -> dict[str, int]:
    """Sizes of objects by id, from one streaming `cat-file --batch-check`."""
    unique = list(dict.fromkeys(shas))
    if not unique:
        return {}
    out = _batch_check(repo, unique)
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            sizes[parts[0].decode()] = int(parts[2])
    return sizes


def _batch_check(repo: git.Repo, shas: list[str]) -> bytes:
    process = repo.git.cat_file(
        "--batch-check", "--buffer", as_process=True, istream=subprocess.PIPE
    )
    feeder = _feed(process.stdin, shas)
    completed = False
    try:
        out: bytes = process.stdout.read()
        completed = True
        return out
    finally:
        _finish(process, feeder, completed=completed)


def _feed(stdin: IO[bytes], shas: Sequence[str]) -> threading.Thread:
    """Write the requests from a thread, so git never blocks on a full pipe while we read."""

    def run() -> None:
        try:
            for sha in shas:
                stdin.write(sha.encode("ascii") + b"\n")
            stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # we stopped reading early and killed git

    feeder = threading.Thread(target=run, name="cat-file-feeder", daemon=True)
    feeder.start()
    return feeder


def _finish(process: Any, feeder: threading.Thread, *, completed: bool) -> None:
    """Reap the cat-file process: let it exit after a full read, kill it after an early stop."""
    proc = process.proc
    if proc is not None:
        if not completed and proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    feeder.join(timeout=5)
    process.stdout.close()


def with_sizes(repo: git.Repo, entries: Iterable[TreeEntry | None]) -> dict[str, int]:
    """Sizes for the object-backed entries given (None entries are ignored)."""
    return object_sizes(repo, [e.sha for e in entries if e is not None and e.has_object])


def renamed_pairs(repo: git.Repo, old_commit: str, new_commit: str) -> list[tuple[str, str]]:
    """(old path, new path) for files git's rename detection pairs between two commits."""
    raw: bytes = repo.git.diff_tree(
        "-r", "-z", "-M", "--diff-filter=R", old_commit, new_commit, stdout_as_string=False
    )
    fields = raw.split(b"\0")
    pairs: list[tuple[str, str]] = []
    index = 0
    while index < len(fields):
        meta = fields[index]
        if not meta.startswith(b":"):
            index += 1
            continue
        status = meta.split()[-1]
        if status.startswith(b"R") and index + 2 < len(fields):
            pairs.append((_decode_path(fields[index + 1])[0], _decode_path(fields[index + 2])[0]))
            index += 3
        else:
            index += 2
    return pairs


def iter_blobs(repo: git.Repo, shas: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    """(sha, content) for each sha in order, from one streaming `cat-file --batch`.

    A thread writes the requests while we read the answers, so git never waits
    for us and we never hold more than one blob in memory.
    """
    if not shas:
        return
    process = repo.git.cat_file("--batch", "--buffer", as_process=True, istream=subprocess.PIPE)
    stdout = process.stdout
    feeder = _feed(process.stdin, shas)
    completed = False
    try:
        for sha in shas:
            header = stdout.readline()
            parts = header.split()
            if len(parts) != 3:
                raise ElysiaError(
                    f"git object {sha} is missing from {Path(repo.git_dir).name}",
                    "the mirror may be damaged: delete it and mirror the repository again",
                )
            size = int(parts[2])
            data = stdout.read(size)
            stdout.read(1)  # the newline after each object
            if len(data) != size:
                raise ElysiaError(
                    f"git stopped while reading object {sha}", "check disk space and retry"
                )
            yield sha, data
        completed = True
    finally:
        _finish(process, feeder, completed=completed)


def read_blobs(repo: git.Repo, shas: Iterable[str]) -> dict[str, bytes]:
    """Small helper for a handful of blobs (manifests in discovery)."""
    unique = list(dict.fromkeys(shas))
    return dict(iter_blobs(repo, unique))
