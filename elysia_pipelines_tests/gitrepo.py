"""Build real git repositories in tests, with the `git` command line.

Tests of mirroring, extraction and ingestion need repositories with a known
history: adds, edits, renames, deletes, binary files, symlinks, exec bits, a
submodule entry, and rewritten (force-pushed) history. `GitRepo` keeps that short:

    repo = GitRepo.init(tmp_path / "src")
    repo.write("src/app.py", "print('hi')\\n")
    repo.write("logo.png", b"\\x89PNG\\0...")
    first = repo.commit("initial")
    repo.move("src/app.py", "src/main.py")
    repo.delete("logo.png")
    second = repo.commit("rename and delete")
    repo.reset_hard(first)          # rewrite history...
    remote = init_bare(tmp_path / "remote.git")
    repo.push(remote, force=True)   # ...and force-push it to a bare "hosted" remote
    repo.url                        # file:// URL to clone or mirror from

Every call runs git with a fixed identity and without the user's global or
system config, so tests behave the same on every machine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_ENV_OVERRIDES = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def git_env() -> dict[str, str]:
    """The environment every helper call uses: fixed identity, no user config."""
    return {**os.environ, **_ENV_OVERRIDES}


def run_git(
    cwd: Path, *args: str, input_bytes: bytes | None = None, input_text: str | None = None
) -> str:
    """Run `git <args>` in `cwd`; return stdout as text, raise with stderr on failure."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=git_env(),
        input=input_text.encode("utf-8") if input_text is not None else input_bytes,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} failed ({result.returncode}): "
            f"{result.stderr.decode(errors='replace')}"
        )
    return result.stdout.decode("utf-8", errors="surrogateescape")


class GitRepo:
    """A non-bare repository with a work tree, on branch `main` by default."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def init(cls, path: Path, *, branch: str = "main") -> GitRepo:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        run_git(path, "init", "-q", "-b", branch)
        run_git(path, "config", "commit.gpgsign", "false")
        run_git(path, "config", "core.autocrlf", "false")
        return cls(path)

    @property
    def url(self) -> str:
        """A file:// URL of this repository, as a remote for clones and mirrors."""
        return self.path.resolve().as_uri()

    def git(self, *args: str, input_text: str | None = None) -> str:
        """Any git command in this repository; `input_text` is sent to its stdin."""
        return run_git(self.path, *args, input_text=input_text)

    # --- changing the work tree (changes are staged at once) ---------------------
    def write(self, relpath: str, content: str | bytes, *, executable: bool = False) -> Path:
        """Create or overwrite a file; str is written as UTF-8 without newline translation."""
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        if target.is_symlink():
            target.unlink()
        target.write_bytes(data)
        target.chmod(0o755 if executable else 0o644)
        self.git("add", "--", relpath)
        return target

    def set_executable(self, relpath: str, executable: bool = True) -> None:
        """Flip only the exec bit (git records mode 100755 vs 100644)."""
        (self.path / relpath).chmod(0o755 if executable else 0o644)
        self.git("add", "--", relpath)

    def symlink(self, relpath: str, target: str) -> None:
        link = self.path / relpath
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        os.symlink(target, link)
        self.git("add", "--", relpath)

    def delete(self, relpath: str) -> None:
        self.git("rm", "-q", "-r", "--", relpath)

    def move(self, old: str, new: str) -> None:
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", "--", old, new)

    def add_submodule_entry(self, relpath: str, commit: str) -> None:
        """Record a submodule (gitlink, mode 160000) without cloning anything."""
        self.git("update-index", "--add", "--cacheinfo", f"160000,{commit},{relpath}")

    # --- history -------------------------------------------------------------------
    def commit_hostile_tree(self) -> str:
        """Point main at a commit whose tree has a `..` directory (holding `x`) beside
        `ok.txt`: git's fsck refuses such a tree, a hostile push may still bring one."""
        blob = self.git("hash-object", "-w", "--stdin", input_text="evil\n").strip()
        inner = self.git("mktree", input_text=f"100644 blob {blob}\tx\n").strip()
        good = self.git("hash-object", "-w", "--stdin", input_text="fine\n").strip()
        tree = self.git(
            "mktree", input_text=f"040000 tree {inner}\t..\n100644 blob {good}\tok.txt\n"
        )
        commit = self.git("commit-tree", tree.strip(), "-m", "hostile").strip()
        self.git("update-ref", "refs/heads/main", commit)
        return commit

    def commit(self, message: str = "change", *, allow_empty: bool = False) -> str:
        args = ["commit", "-q", "-m", message]
        if allow_empty:
            args.append("--allow-empty")
        self.git(*args)
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", f"{rev}^{{commit}}").strip()

    def branch(self, name: str, *, checkout: bool = True) -> None:
        self.git("checkout", "-q", "-b", name) if checkout else self.git("branch", name)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)

    def reset_hard(self, rev: str) -> None:
        """Move the branch back to `rev`: the next commit rewrites history (a force-push)."""
        self.git("reset", "-q", "--hard", rev)

    def push(self, remote: Path | str, branch: str = "main", *, force: bool = False) -> None:
        """Push `branch` to a bare repository path or URL (`force=True` for rewritten history)."""
        args = ["push", "-q"]
        if force:
            args.append("--force")
        self.git(*args, str(remote), f"{branch}:{branch}")

    def forget_unreachable(self) -> None:
        """Delete objects no ref reaches, so a rewritten-away commit is really gone."""
        forget_unreachable(self.path)

    # --- reading ---------------------------------------------------------------------
    def files(self, rev: str = "HEAD") -> dict[str, tuple[str, str]]:
        """{path: (mode, blob sha)} for every entry of the tree at `rev` (recursive)."""
        out = self.git("ls-tree", "-r", "-z", rev)
        entries: dict[str, tuple[str, str]] = {}
        for item in out.split("\0"):
            if not item:
                continue
            meta, path = item.split("\t", 1)
            mode, _kind, sha = meta.split(" ")
            entries[path] = (mode, sha)
        return entries

    def read_blob(self, sha: str) -> bytes:
        """Raw content of a blob by id (ids come from `files()`)."""
        result = subprocess.run(
            ["git", "cat-file", "blob", sha],
            cwd=self.path,
            env=git_env(),
            capture_output=True,
            check=True,
        )
        return result.stdout


def init_bare(path: Path, *, branch: str = "main") -> Path:
    """An empty bare repository to push to: a stand-in for a hosted remote."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    run_git(path, "init", "-q", "--bare", "-b", branch)
    return path


def forget_unreachable(git_dir: Path) -> None:
    """Expire reflogs and prune now, in a work tree or a bare repository."""
    run_git(git_dir, "reflog", "expire", "--expire=now", "--all")
    run_git(git_dir, "gc", "-q", "--prune=now")


def make_repo(path: Path, files: dict[str, str] | None = None) -> GitRepo:
    """A fresh repository with one commit: `files`, or a three-file demo project."""
    repo = GitRepo.init(path)
    for name, content in (
        files
        or {
            "README.md": "# Demo\n\nA small demo project.\n",
            "app/main.py": "def main() -> None:\n    print('hello')\n",
            "app/util.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
        }
    ).items():
        repo.write(name, content)
    repo.commit("initial")
    return repo
