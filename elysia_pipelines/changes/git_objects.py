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
from dataclasses import dataclass
from pathlib import Path

import git

from elysia_pipelines.errors import ElysiaError, NotFoundError

MODE_SYMLINK = "120000"
MODE_SUBMODULE = "160000"
REGULAR_MODES = ("100644", "100755", "100664")


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str
    mode: str
    sha: str
    size: int | None  # None for submodules (no object in this repository)
    path_ok: bool = True  # False when the path bytes are not valid UTF-8

    @property
    def is_regular(self) -> bool:
        return self.mode in REGULAR_MODES


def open_repository(path: Path | str) -> git.Repo:
    """A gitpython Repo for a bare mirror or a work tree, with a clear error otherwise."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(
            f"repository {path} does not exist", "mirror the repository first (repo_mirror)"
        )
    try:
        return git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ElysiaError(
            f"{path} is not a git repository",
            "point at a bare mirror (ELYSIA_HOME/mirrors/<repo>.git) or a work tree",
        ) from None


def resolve_commit(repo: git.Repo, rev: str) -> str | None:
    """Full commit id of `rev`, or None when it does not name an existing commit."""
    try:
        out = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    except git.GitCommandError:
        return None
    return out.strip() or None


def resolve_branch(repo: git.Repo, branch: str | None) -> tuple[str, str]:
    """(branch name, head commit) of `branch`, or of HEAD's branch when None."""
    if branch is None:
        try:
            ref = repo.git.symbolic_ref("--quiet", "HEAD").strip()
        except git.GitCommandError:
            ref = ""
        name = ref.removeprefix("refs/heads/") if ref else "HEAD"
        commit = resolve_commit(repo, "HEAD")
        if commit is None:
            raise ElysiaError(
                f"repository {repo.git_dir} has no commits on {name}",
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


def list_tree(repo: git.Repo, commit: str) -> dict[str, TreeEntry]:
    """Every non-tree entry of `commit`'s tree, recursively, with blob sizes."""
    raw: bytes = repo.git.ls_tree("-r", "-z", "-l", "--full-tree", commit, stdout_as_string=False)
    entries: dict[str, TreeEntry] = {}
    for item in raw.split(b"\0"):
        if not item:
            continue
        meta, raw_path = item.split(b"\t", 1)
        mode, _kind, sha, size = meta.split()
        path, path_ok = _decode_path(raw_path)
        entries[path] = TreeEntry(
            path=path,
            mode=mode.decode(),
            sha=sha.decode(),
            size=None if size == b"-" else int(size),
            path_ok=path_ok,
        )
    return entries


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
    stdin = process.stdin
    stdout = process.stdout

    def feed() -> None:
        try:
            for sha in shas:
                stdin.write(sha.encode("ascii") + b"\n")
            stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    feeder = threading.Thread(target=feed, name="cat-file-feeder", daemon=True)
    feeder.start()
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
    finally:
        if process.proc is not None and process.proc.poll() is None:
            process.proc.kill()
        process.proc.wait() if process.proc is not None else None
        feeder.join(timeout=5)
        stdout.close()


def read_blobs(repo: git.Repo, shas: Iterable[str]) -> dict[str, bytes]:
    """Small helper for a handful of blobs (manifests in discovery)."""
    unique = list(dict.fromkeys(shas))
    return dict(iter_blobs(repo, unique))
