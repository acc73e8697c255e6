"""Plumbing reads: trees with odd names, streamed blobs, sizes, early stops, missing objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from elysia_pipelines.changes.git_objects import (
    changed_entries,
    iter_blobs,
    list_tree,
    object_sizes,
    open_repository,
)
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines_tests.gitrepo import GitRepo


def test_trees_blobs_and_sizes(tmp_path: Path) -> None:
    source = GitRepo.init(tmp_path / "r")
    names = [
        "plain.txt",
        "with space.md",
        'quote"d.py',
        "new\nline.txt",
        "\u00fcml\u00e4ut/\u00e9.rs",
    ]
    for index, name in enumerate(names):
        source.write(name, f"content {index}\n" * (index + 1))
    first = source.commit()
    source.write("plain.txt", "changed\n")
    source.delete("with space.md")
    second = source.commit()

    repo = open_repository(source.path)
    try:
        tree = list_tree(repo, first)
        assert sorted(tree) == sorted(names)
        assert tree["new\nline.txt"].size == len("content 3\n") * 4
        assert list_tree(repo, first, sizes=False)["plain.txt"].size is None

        shas = [tree[name].sha for name in names]
        contents = dict(iter_blobs(repo, shas))
        assert contents[tree['quote"d.py'].sha] == b"content 2\n" * 3
        assert object_sizes(repo, shas) == {tree[n].sha: tree[n].size for n in names}

        stream = iter_blobs(repo, shas)
        next(stream)
        stream.close()  # stopping early kills and reaps git; the next read still works
        assert len(list(iter_blobs(repo, shas))) == len(names)

        changes = changed_entries(repo, first, second)
        assert set(changes) == {"plain.txt", "with space.md"}
        before, after = changes["with space.md"]
        assert before is not None and after is None

        with pytest.raises(ElysiaError, match="missing"):
            list(iter_blobs(repo, ["0" * 40]))
    finally:
        repo.close()
    with pytest.raises(NotFoundError):
        open_repository(tmp_path / "absent")
