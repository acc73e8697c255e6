"""Discovery on real repositories and directories: counts agree with extraction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elysia_pipelines.changes.discovery import (
    EXTRACT_BYTES_PER_S,
    EXTRACT_FILES_PER_S,
    detect_frameworks,
    discover,
    estimate_sync_seconds,
)
from elysia_pipelines.changes.extract import ChangeSetTarget, ExtractOptions, extract_change_set
from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines_tests.gitrepo import GitRepo


@pytest.fixture
def webapp(tmp_path: Path) -> GitRepo:
    repo = GitRepo.init(tmp_path / "webapp")
    repo.write("backend/app.py", "from fastapi import FastAPI\napp = FastAPI()\n")
    repo.write("backend/models.py", "class User:\n    pass\n")
    repo.write("backend/requirements.txt", "fastapi>=0.110  # web\nuvicorn\nsqlalchemy==2.0\n")
    repo.write(
        "frontend/package.json",
        json.dumps(
            {"dependencies": {"react": "^18", "next": "14"}, "devDependencies": {"jest": "1"}}
        ),
    )
    repo.write("frontend/src/index.tsx", "export const App = () => null;\n")
    repo.write("frontend/node_modules/vue/package.json", json.dumps({"dependencies": {"vue": "3"}}))
    repo.write("README.md", "# Web app\n")
    repo.write("assets/logo.png", b"\x89PNG\0\0")
    repo.write("data/huge.sql", "select 1;\n" * 500)
    repo.symlink("current", "backend")
    repo.commit("initial")
    return repo


def test_discovery_counts_match_the_first_change_set(webapp: GitRepo, tmp_path: Path) -> None:
    kwargs = {"include": [], "exclude": ["**/node_modules/**"], "max_file_size": 1000}
    report = discover(webapp.path, **kwargs)  # type: ignore[arg-type]
    assert report.commit == webapp.head() and report.branch == "main"
    assert report.file_count == 6
    assert report.skipped == {"excluded": 1, "binary": 1, "too_large": 1, "symlink": 1}
    assert report.entries_total == 10
    assert report.directory_count == 7  # incl. frontend/node_modules and frontend/node_modules/vue
    assert report.total_bytes == sum(
        len(webapp.read_blob(sha))
        for path, (_, sha) in webapp.files().items()
        if path.startswith(("backend/", "frontend/package.json", "frontend/src", "README"))
    )
    assert report.languages[0] == ("Python", 2, 33.3)
    assert dict((n, f) for n, f, _ in report.languages) == {
        "Python": 2,
        "Pip Requirements": 1,
        "JSON": 1,
        "TypeScript": 1,
        "Markdown": 1,
    }
    assert report.frameworks == ["FastAPI", "Next.js", "React", "SQLAlchemy"]  # not Vue: vendored
    assert report.estimated_initial_sync_s == estimate_sync_seconds(6, report.total_bytes)
    assert report.to_dict()["languages"][0] == {"language": "Python", "files": 2, "percent": 33.3}

    result = extract_change_set(
        webapp.path,
        ChangeSetTarget(repo="w", collection="W", out_dir=tmp_path / "o", seq=1),
        ExtractOptions(rules=FileFilter.of(**kwargs)),  # type: ignore[arg-type]
    )
    assert result.tracked_files == report.file_count
    assert result.skipped == report.skipped


def test_discovery_of_mirror_plain_directory_and_errors(webapp: GitRepo, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror.git"
    webapp.git("clone", "-q", "--mirror", str(webapp.path), str(mirror))
    assert (
        discover(mirror, max_file_size=1000).file_count
        == discover(webapp.path, max_file_size=1000).file_count
    )

    plain = tmp_path / "plain"
    (plain / "src").mkdir(parents=True)
    (plain / "src" / "main.go").write_text("package main\n")
    (plain / "go.mod").write_text("module x\n\nrequire github.com/gin-gonic/gin v1.9.1\n")
    (plain / "blob.bin").write_bytes(b"\0" * 10)
    (plain / "link").symlink_to(plain / "src")
    report = discover(plain)
    assert report.commit is None
    assert report.file_count == 2 and report.skipped == {"binary": 1, "symlink": 1}
    assert report.frameworks == ["Gin"]

    with pytest.raises(NotFoundError):
        discover(tmp_path / "absent")
    with pytest.raises(NotFoundError, match="branch 'nope'"):
        discover(webapp.path, branch="nope")
    with pytest.raises(ElysiaError, match="not a git repository"):
        discover(plain, branch="main")


def test_framework_detection_from_manifests() -> None:
    found = detect_frameworks(
        {
            "pyproject.toml": b'[project]\nname = "flask-notes"\ndependencies = ["Django>=5", "celery[redis]"]\n',
            "svc/requirements-dev.txt": b"# flask is not used\npytest\n",
            "api/pom.xml": b"<artifactId>spring-boot-starter-web</artifactId>",
            "android/app/build.gradle": b"plugins { id 'com.android.application' }",
            "Gemfile": b"source 'https://rubygems.org'\ngem 'rails', '~> 7.1'\n",
            "rs/Cargo.toml": b'[dependencies]\naxum = "0.7"\ntokio = { version = "1" }\n',
            "web/composer.json": b'{"require": {"laravel/framework": "^11"}}',
            "Web/Web.csproj": b'<Project Sdk="Microsoft.NET.Sdk.Web"></Project>',
            "ui/package.json": b'{"dependencies": {"vue": "3", "express": "4"}}',
            "broken/package.json": b"{not json",
        }
    )
    assert found == [
        "ASP.NET Core",
        "Android",
        "Axum",
        "Celery",
        "Django",
        "Express",
        "Laravel",
        "Rails",
        "Spring Boot",
        "Tokio",
        "Vue",
    ]


def test_estimate_uses_the_measured_constants() -> None:
    assert estimate_sync_seconds(0, 0) == 0
    assert estimate_sync_seconds(int(EXTRACT_FILES_PER_S), 0) == 1.0
    assert estimate_sync_seconds(1, int(EXTRACT_BYTES_PER_S) * 2) == 2.0
    assert estimate_sync_seconds(100, 0, ingest_objects_per_s=50) == round(
        100 / EXTRACT_FILES_PER_S + 2.0, 2
    )


def test_discovery_skips_a_hostile_tree_entry_as_extraction_does(tmp_path: Path) -> None:
    """A `..` tree entry (which git's fsck refuses but a push may bring) is not a file
    to preview: discovery and the first change set agree on it."""
    repo = GitRepo.init(tmp_path / "hostile")
    repo.commit_hostile_tree()

    report = discover(repo.path)
    result = extract_change_set(
        repo.path,
        ChangeSetTarget(repo="h", collection="H", out_dir=tmp_path / "o", seq=1),
        ExtractOptions(from_commit=None),
    )
    assert report.file_count == 1 and report.skipped == {"unsafe_path": 1}
    assert result.skipped == report.skipped and result.tracked_files == report.file_count
