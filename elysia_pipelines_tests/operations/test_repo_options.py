from __future__ import annotations

from pathlib import Path

import pytest

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.operations.repo_options import (
    RepoOptions,
    build_repository,
    default_replicas,
    resolve_schedule,
    suggest_vectorizer,
    update_changes,
)
from elysia_pipelines.settings import Settings


@pytest.fixture
def conf(tmp_path: Path) -> Settings:
    return Settings.from_env({"ELYSIA_HOME": str(tmp_path)})


def test_watch_means_default_schedule_and_plain_add_is_manual(conf: Settings) -> None:
    assert resolve_schedule(RepoOptions(url="/r"), conf) == "manual"
    assert resolve_schedule(RepoOptions(url="/r", watch=True), conf) == "30m"
    assert resolve_schedule(RepoOptions(url="/r", schedule="2 hours"), conf) == "2h"


def test_build_repository_applies_defaults(conf: Settings) -> None:
    repo = build_repository(RepoOptions(url="/srv/git/my-repo", watch=True), conf, "my-repo")
    assert (repo.name, repo.collection, repo.schedule) == ("my-repo", "My_repo", "30m")
    assert (repo.vectorizer, repo.model, repo.replicas) == ("none", None, 1)
    assert repo.max_file_size == conf.default_max_file_size
    openai = build_repository(
        RepoOptions(url="/r", vectorizer="text2vec-openai", max_file_size="512KB"), conf, "r"
    )
    assert openai.model == "text-embedding-3-small"
    assert openai.max_file_size == 512_000


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (RepoOptions(), "no repository URL"),
        (RepoOptions(url="/r", name="bad name"), "not a valid repository name"),
        (RepoOptions(url="/r", collection="lower"), "not a valid Weaviate collection"),
        (RepoOptions(url="/r", replicas=0), "out of range"),
        (RepoOptions(url="/r", model="m"), "vectorizer is 'none'"),
        (
            RepoOptions(url="/r", vectorizer="text2vec-transformers", model="m"),
            "inference container",
        ),
    ],
)
def test_build_repository_rejects_bad_options(
    conf: Settings, options: RepoOptions, fragment: str
) -> None:
    with pytest.raises(ElysiaError) as info:
        build_repository(options, conf, "r")
    assert fragment in str(info.value)


def test_update_changes_only_what_was_given(conf: Settings) -> None:
    current = build_repository(RepoOptions(url="/r"), conf, "r")
    assert update_changes(RepoOptions(), current, conf) == {}
    assert update_changes(RepoOptions(watch=True), current, conf) == {"schedule": "30m"}
    changes = update_changes(
        RepoOptions(schedule="1h", branch="dev", exclude_patterns=("*.png",)), current, conf
    )
    assert changes == {"schedule": "1h", "branch": "dev", "exclude_patterns": ("*.png",)}
    with pytest.raises(ElysiaError, match="cannot be changed"):
        update_changes(RepoOptions(vectorizer="text2vec-openai"), current, conf)
    assert update_changes(RepoOptions(vectorizer="none"), current, conf) == {}


def test_default_replicas_follow_cluster_size() -> None:
    assert [default_replicas(n) for n in (1, 2, 3, 7)] == [1, 1, 3, 3]


def test_vectorizer_suggestion_depends_on_language_and_server() -> None:
    assert suggest_vectorizer("Python", set())[0] == "none"
    both = {"text2vec-openai", "text2vec-transformers"}
    assert suggest_vectorizer("Python", both)[0] == "text2vec-transformers"
    assert suggest_vectorizer("Markdown", both)[0] == "text2vec-openai"
    assert "Markdown documentation" in suggest_vectorizer("Markdown", both)[1]
