"""What a repository holds before we sync it: files, languages, frameworks, time.

`elysiactl repo add` and the Dagster UI show this so a user can check their
include/exclude patterns and size limit *before* the first sync: how many files
will become documents, what is skipped and why, which languages and frameworks
the code uses, and roughly how long the initial sync will take. It applies the
same `FileFilter` and binary rule as extraction, so the numbers match what the
first change set will contain.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import git

from elysia_pipelines.changes.extract import skip_reason
from elysia_pipelines.changes.format import (
    BINARY_SNIFF_BYTES,
    SKIP_BINARY,
    SKIP_SYMLINK,
    is_binary,
)
from elysia_pipelines.changes.git_objects import (
    MODE_SYMLINK,
    TreeEntry,
    iter_blobs,
    list_tree,
    read_blobs,
    resolve_branch,
)
from elysia_pipelines.changes.languages import detect_language
from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.errors import ElysiaError, NotFoundError

# Extraction throughput measured by `benchmarks/extraction.py`: full extraction of its
# generated 10,000-file, ~52 MB source repository into one change set on the 2-core
# build machine gave 2,971-3,692 files/s and 15.6-19.4 MB/s across runs; we use the
# slower run, rounded down. A sync estimate is the larger of the two quotients: many
# tiny files are bound by per-file cost, a few large ones by bytes. Re-measure and
# update these together with the benchmark table when extraction changes.
EXTRACT_FILES_PER_S = 3_000.0
EXTRACT_BYTES_PER_S = 15_000_000.0
UNKNOWN_LANGUAGE = "Other"

# Manifests are read only when small; a 1 MB package.json is generated, not written.
_MANIFEST_MAX_BYTES = 512 * 1024
# Dependencies vendored into the repository do not describe *its* frameworks.
_VENDOR_DIRS = frozenset(
    {"node_modules", "vendor", "third_party", ".venv", "venv", "site-packages"}
)

_PYTHON_FRAMEWORKS = {
    "fastapi": "FastAPI",
    "django": "Django",
    "flask": "Flask",
    "starlette": "Starlette",
    "tornado": "Tornado",
    "aiohttp": "aiohttp",
    "pyramid": "Pyramid",
    "celery": "Celery",
    "streamlit": "Streamlit",
    "dagster": "Dagster",
    "airflow": "Airflow",
    "apache-airflow": "Airflow",
    "sqlalchemy": "SQLAlchemy",
    "pydantic": "Pydantic",
    "torch": "PyTorch",
    "tensorflow": "TensorFlow",
    "scrapy": "Scrapy",
}
_NODE_FRAMEWORKS = {
    "react": "React",
    "next": "Next.js",
    "vue": "Vue",
    "nuxt": "Nuxt",
    "@angular/core": "Angular",
    "svelte": "Svelte",
    "@sveltejs/kit": "SvelteKit",
    "express": "Express",
    "koa": "Koa",
    "fastify": "Fastify",
    "@nestjs/core": "NestJS",
    "electron": "Electron",
    "gatsby": "Gatsby",
    "@remix-run/react": "Remix",
    "react-native": "React Native",
}
_JVM_MARKERS = {
    "spring-boot": "Spring Boot",
    "org.springframework": "Spring",
    "io.quarkus": "Quarkus",
    "io.micronaut": "Micronaut",
    "com.android.application": "Android",
    "io.ktor": "Ktor",
}
_RUBY_GEMS = {"rails": "Rails", "sinatra": "Sinatra", "hanami": "Hanami"}
_GO_MODULES = {
    "github.com/gin-gonic/gin": "Gin",
    "github.com/labstack/echo": "Echo",
    "github.com/gofiber/fiber": "Fiber",
    "github.com/gorilla/mux": "Gorilla Mux",
    "github.com/go-chi/chi": "Chi",
    "github.com/spf13/cobra": "Cobra",
    "google.golang.org/grpc": "gRPC",
}
_RUST_CRATES = {
    "actix-web": "Actix Web",
    "axum": "Axum",
    "rocket": "Rocket",
    "tokio": "Tokio",
    "bevy": "Bevy",
}
_PHP_PACKAGES = {"laravel/framework": "Laravel", "symfony/framework-bundle": "Symfony"}


@dataclass(frozen=True)
class DiscoveryReport:
    commit: str | None
    branch: str | None
    file_count: int  # files that will become documents
    directory_count: int
    total_bytes: int  # bytes of those files
    languages: list[tuple[str, int, float]]  # (language, files, percent of file_count)
    frameworks: list[str]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> files
    estimated_initial_sync_s: float = 0.0
    entries_total: int = 0  # everything in the tree, skipped or not

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = [
            {"language": name, "files": files, "percent": percent}
            for name, files, percent in self.languages
        ]
        return data


def estimate_sync_seconds(
    files: int, total_bytes: int, *, ingest_objects_per_s: float | None = None
) -> float:
    """Initial-sync estimate from the measured extraction throughput constants.

    Ingestion speed depends on the Weaviate deployment and vectorizer, so it is only
    added when the caller knows it (e.g. from the ingestion benchmark).
    """
    seconds = max(files / EXTRACT_FILES_PER_S, total_bytes / EXTRACT_BYTES_PER_S)
    if ingest_objects_per_s:
        seconds += files / ingest_objects_per_s
    return round(seconds, 2)


@dataclass(frozen=True)
class _Item:
    path: str
    state: str | None  # None: candidate (content decides), else a skip reason
    size: int
    key: str  # blob sha (git) or absolute file path (plain directory)


def discover(
    path: Path | str,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_file_size: int = 1000**2,
    branch: str | None = None,
    ingest_objects_per_s: float | None = None,
) -> DiscoveryReport:
    """Survey a bare mirror, a work tree (its committed HEAD) or a plain directory."""
    root = Path(path)
    if not root.exists():
        raise NotFoundError(f"{root} does not exist", "give the path of a mirror or checkout")
    rules = FileFilter.of(include, exclude, max_file_size)
    try:
        repository: git.Repo | None = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        repository = None
    if repository is None:
        if branch is not None:
            raise ElysiaError(f"{root} is not a git repository", "omit the branch")
        return _discover_directory(root, rules, ingest_objects_per_s)
    try:
        return _discover_git(repository, rules, branch, ingest_objects_per_s)
    except git.GitCommandError as exc:
        raise ElysiaError(
            f"git failed while surveying {root}: {(exc.stderr or str(exc)).strip()[:300]}",
            "check that the repository is intact (git fsck)",
        ) from None
    finally:
        repository.close()


def _discover_git(
    repository: git.Repo,
    rules: FileFilter,
    branch: str | None,
    ingest_objects_per_s: float | None,
) -> DiscoveryReport:
    branch_name, commit = resolve_branch(repository, branch)
    tree = list_tree(repository, commit)
    items = [_Item(p, skip_reason(e, rules), e.size or 0, e.sha) for p, e in tree.items()]
    candidates = [item for item in items if item.state is None]
    kinds = {
        sha: is_binary(data)
        for sha, data in iter_blobs(repository, list(dict.fromkeys(i.key for i in candidates)))
    }
    manifests = {
        path: sha
        for path, sha in ((e.path, e.sha) for e in tree.values())
        if _is_manifest(path) and (tree[path].size or 0) <= _MANIFEST_MAX_BYTES
    }
    contents = read_blobs(repository, manifests.values())
    manifest_texts = {p: contents[sha] for p, sha in manifests.items()}
    return _report(
        commit, branch_name, items, lambda i: kinds[i.key], manifest_texts, ingest_objects_per_s
    )


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in filenames:
            full = Path(directory) / name
            yield full.relative_to(root).as_posix(), full
        for name in dirnames:
            full = Path(directory) / name
            if full.is_symlink():
                yield full.relative_to(root).as_posix(), full


def _discover_directory(
    root: Path, rules: FileFilter, ingest_objects_per_s: float | None
) -> DiscoveryReport:
    items: list[_Item] = []
    for relpath, full in _walk(root):
        stat = full.lstat()
        mode = MODE_SYMLINK if full.is_symlink() else "100644"
        items.append(
            _Item(
                relpath,
                skip_reason(TreeEntry(relpath, mode, "", stat.st_size), rules),
                stat.st_size,
                str(full),
            )
        )

    def binary(item: _Item) -> bool:
        with open(item.key, "rb") as fh:
            return is_binary(fh.read(BINARY_SNIFF_BYTES))

    manifest_texts = {
        item.path: Path(item.key).read_bytes()
        for item in items
        if _is_manifest(item.path)
        and item.state != SKIP_SYMLINK
        and item.size <= _MANIFEST_MAX_BYTES
    }
    return _report(None, None, items, binary, manifest_texts, ingest_objects_per_s)


def _add_parents(path: str, directories: set[str]) -> None:
    """Add every directory above `path` (git's and the walk's paths are normalized).

    String slicing, not `PurePosixPath.parents`: a 7,000-file survey built ~30,000
    path objects for this. A directory already known has its parents added already.
    """
    if "//" in path or "/./" in path or path.startswith(("/", "./")) or path.endswith(("/", "/.")):
        for parent in PurePosixPath(path).parents:
            if str(parent) != ".":
                directories.add(str(parent))
        return
    end = path.rfind("/")
    while end > 0:
        parent = path[:end]
        if parent in directories:
            return
        directories.add(parent)
        end = path.rfind("/", 0, end)


def _report(
    commit: str | None,
    branch: str | None,
    items: list[_Item],
    binary: Any,
    manifests: dict[str, bytes],
    ingest_objects_per_s: float | None,
) -> DiscoveryReport:
    skipped: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    directories: set[str] = set()
    files = 0
    total_bytes = 0
    for item in items:
        _add_parents(item.path, directories)
        state = item.state
        if state is None and binary(item):
            state = SKIP_BINARY
        if state is not None:
            skipped[state] += 1
            continue
        files += 1
        total_bytes += item.size
        languages[detect_language(item.path) or UNKNOWN_LANGUAGE] += 1
    shares = [
        (name, count, round(100.0 * count / files, 1))
        for name, count in sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return DiscoveryReport(
        commit=commit,
        branch=branch,
        file_count=files,
        directory_count=len(directories),
        total_bytes=total_bytes,
        languages=shares,
        frameworks=detect_frameworks(manifests),
        skipped=dict(skipped),
        estimated_initial_sync_s=estimate_sync_seconds(
            files, total_bytes, ingest_objects_per_s=ingest_objects_per_s
        ),
        entries_total=len(items),
    )


# --- frameworks -----------------------------------------------------------------------
_MANIFEST_NAMES = frozenset(
    {
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "pipfile",
        "package.json",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "gemfile",
        "go.mod",
        "cargo.toml",
        "composer.json",
    }
)


def _is_manifest(path: str) -> bool:
    pure = PurePosixPath(path)
    if any(part in _VENDOR_DIRS for part in pure.parts[:-1]):
        return False
    name = pure.name.lower()
    return (
        name in _MANIFEST_NAMES
        or (name.startswith("requirements") and name.endswith((".txt", ".in")))
        or name.endswith(".csproj")
    )


def _mentions(text: str, names: dict[str, str]) -> set[str]:
    found = set()
    for package, framework in names.items():
        if re.search(rf"(?<![\w.@/-]){re.escape(package)}(?![\w-])", text):
            found.add(framework)
    return found


def _python_requirements(name: str, text: str) -> str:
    """Dependency text of a Python manifest, without comments and project metadata."""
    if name == "pyproject.toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return text
        project = data.get("project", {})
        deps: list[str] = list(project.get("dependencies", []))
        for group in project.get("optional-dependencies", {}).values():
            deps.extend(group)
        for group in data.get("dependency-groups", {}).values():
            deps.extend(d for d in group if isinstance(d, str))
        poetry = data.get("tool", {}).get("poetry", {})
        deps.extend(poetry.get("dependencies", {}).keys())
        return "\n".join(deps)
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def detect_frameworks(manifests: dict[str, bytes]) -> list[str]:
    """Frameworks named by dependency manifests ({repo path: content})."""
    found: set[str] = set()
    for path, raw in manifests.items():
        name = PurePosixPath(path).name.lower()
        text = raw.decode("utf-8", errors="replace")
        lower = text.lower()
        if name == "package.json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                continue
            deps: set[str] = set()
            for key in ("dependencies", "devDependencies", "peerDependencies"):
                section = data.get(key) if isinstance(data, dict) else None
                if isinstance(section, dict):
                    deps.update(section)
            found.update(fw for pkg, fw in _NODE_FRAMEWORKS.items() if pkg in deps)
        elif name in ("pyproject.toml", "setup.py", "setup.cfg", "pipfile") or name.startswith(
            "requirements"
        ):
            found |= _mentions(_python_requirements(name, lower), _PYTHON_FRAMEWORKS)
        elif name in ("pom.xml", "build.gradle", "build.gradle.kts"):
            found |= {fw for marker, fw in _JVM_MARKERS.items() if marker in lower}
        elif name == "gemfile":
            for gem, fw in _RUBY_GEMS.items():
                if re.search(rf"""^\s*gem\s+['"]{gem}['"]""", lower, re.MULTILINE):
                    found.add(fw)
        elif name == "go.mod":
            found |= {fw for module, fw in _GO_MODULES.items() if module in lower}
        elif name == "cargo.toml":
            found |= _mentions(lower, _RUST_CRATES)
        elif name == "composer.json":
            found |= {fw for pkg, fw in _PHP_PACKAGES.items() if f'"{pkg}"' in lower}
        elif name.endswith(".csproj") and (
            "microsoft.net.sdk.web" in lower or "microsoft.aspnetcore" in lower
        ):
            found.add("ASP.NET Core")
    if "Spring Boot" in found:
        found.discard("Spring")
    return sorted(found)
