"""Source URLs, token handling and mirrors, against real local repositories."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from elysia_pipelines.changes.extract import ChangeSetTarget, ExtractOptions, extract_change_set
from elysia_pipelines.changes.git_source import (
    Source,
    _GitAuth,
    auth_header,
    check_access,
    default_mirror_path,
    mirror_repository,
    parse_source,
)
from elysia_pipelines.errors import (
    AuthError,
    ConfigError,
    ElysiaError,
    NotFoundError,
    TransientError,
)
from elysia_pipelines.redaction import redact_credentials
from elysia_pipelines_tests.changes.http_git_server import GitHttpServer
from elysia_pipelines_tests.changes.replay import replay
from elysia_pipelines_tests.gitrepo import GitRepo, forget_unreachable, init_bare
from elysia_pipelines_tests.support import free_port

TOKEN = "tok-3f9a1c77-never-on-disk"


@pytest.mark.parametrize(
    ("url", "provider", "canonical", "name"),
    [
        (
            "https://github.com/acme/my-repo",
            "github",
            "https://github.com/acme/my-repo.git",
            "my-repo",
        ),
        (
            " https://github.com/acme/my-repo.git/ ",
            "github",
            "https://github.com/acme/my-repo.git",
            "my-repo",
        ),
        (
            "https://dev.azure.com/acme/Platform/_git/billing-api",
            "azure_devops",
            "https://dev.azure.com/acme/Platform/_git/billing-api",
            "billing-api",
        ),
        (
            "https://acme@dev.azure.com/acme/My%20Project/_git/web",
            "azure_devops",
            "https://dev.azure.com/acme/My%20Project/_git/web",
            "web",
        ),
        (
            "https://acme.visualstudio.com/Platform/_git/core",
            "azure_devops",
            "https://acme.visualstudio.com/Platform/_git/core",
            "core",
        ),
        (
            "https://acme.visualstudio.com/DefaultCollection/Platform/_git/core",
            "azure_devops",
            "https://acme.visualstudio.com/DefaultCollection/Platform/_git/core",
            "core",
        ),
        (
            "https://bitbucket.org/team/service.git",
            "bitbucket",
            "https://bitbucket.org/team/service.git",
            "service",
        ),
        ("file:///srv/git/tools.git", "file", "file:///srv/git/tools.git", "tools"),
        ("/srv/git/My Repo", "file", "file:///srv/git/My Repo", "My-Repo"),
    ],
)
def test_parse_source(url: str, provider: str, canonical: str, name: str) -> None:
    source = parse_source(url)
    assert (source.provider, source.url, source.name) == (provider, canonical, name)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("git@github.com:acme/repo.git", "ssh"),
        ("ssh://git@github.com/acme/repo", "ssh"),
        ("http://github.com/acme/repo", "unencrypted"),
        ("https://gitlab.example.com/acme/repo", "not a supported provider"),
        ("https://github.com/acme/repo/tree/main", "github.com/<owner>/<repo>"),
        ("https://github.com/acme", "github.com/<owner>/<repo>"),
        ("https://dev.azure.com/acme/repo", "_git"),
        ("https://github.com/acme/repo?tab=readme", "query"),
        ("file://server/share/repo", "must not name a host"),
        ("ftp://example.com/repo", "unsupported scheme"),
    ],
)
def test_invalid_urls_are_rejected_clearly(url: str, fragment: str) -> None:
    with pytest.raises(ElysiaError, match=fragment) as info:
        parse_source(url)
    assert info.value.hint


def test_token_in_url_is_rejected_and_never_echoed() -> None:
    with pytest.raises(ElysiaError) as info:
        parse_source(f"https://user:{TOKEN}@github.com/acme/repo")
    assert TOKEN not in str(info.value)
    assert "--token-env" in (info.value.hint or "")


def test_redact_credentials() -> None:
    assert redact_credentials(f"https://x:{TOKEN}@github.com/a/b") == "https://***@github.com/a/b"
    assert redact_credentials("see https://org@dev.azure.com/o/p/_git/r now") == (
        "see https://***@dev.azure.com/o/p/_git/r now"
    )
    assert redact_credentials("https://github.com/a/b") == "https://github.com/a/b"


def test_provider_auth_headers() -> None:
    def user_and_token(header: str) -> str:
        assert header.startswith("Authorization: Basic ")
        return base64.b64decode(header.split()[-1]).decode()

    assert user_and_token(auth_header("github", "T")) == "x-access-token:T"
    assert user_and_token(auth_header("azure_devops", "T")) == ":T"
    assert user_and_token(auth_header("bitbucket", "T")) == "x-token-auth:T"


def test_default_mirror_path(tmp_path: Path) -> None:
    assert default_mirror_path(tmp_path, "my-repo") == tmp_path / "my-repo.git"
    with pytest.raises(ConfigError):
        default_mirror_path(tmp_path, "../escape")


@pytest.fixture
def upstream(tmp_path: Path) -> GitRepo:
    repo = GitRepo.init(tmp_path / "upstream")
    repo.write("app.py", "print(1)\n")
    repo.write("lib/util.py", "def f():\n    pass\n")
    repo.commit("initial")
    return repo


def test_mirror_clone_fetch_force_push_and_pruned_branches(
    upstream: GitRepo, tmp_path: Path
) -> None:
    mirror = tmp_path / "home" / "mirrors" / "upstream.git"
    first = mirror_repository(upstream.url, mirror, timeout_s=60)
    assert not first.fetched and first.changed
    assert first.head_commit == upstream.head() and first.branch == "main"
    assert first.file_count == 2 and first.tree_bytes == len("print(1)\n") + len(
        "def f():\n    pass\n"
    )
    assert first.size_bytes > 0
    assert (mirror / "HEAD").is_file() and not (mirror / ".git").exists()  # bare
    assert not [p for p in mirror.parent.iterdir() if ".clone-" in p.name]

    again = mirror_repository(upstream.url, mirror)
    assert again.fetched and not again.changed

    upstream.branch("topic")
    upstream.write("topic.py", "t = 1\n")
    topic = upstream.commit("topic")
    upstream.checkout("main")
    on_topic = mirror_repository(upstream.url, mirror, branch="topic")
    assert on_topic.head_commit == topic and on_topic.branch == "topic"

    # force-push main and delete the topic branch upstream
    upstream.write("app.py", "print('rewritten')\n")
    upstream.git("commit", "-q", "--amend", "-m", "rewritten")
    upstream.git("branch", "-D", "topic")
    forced = mirror_repository(upstream.url, mirror)
    assert forced.head_commit == upstream.head()
    assert forced.previous_head == first.head_commit and forced.changed
    with pytest.raises(NotFoundError, match="branch 'topic' not found"):
        mirror_repository(upstream.url, mirror, branch="topic")


def test_token_is_given_to_git_but_never_stored(
    upstream: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELYSIA_TEST_TOKEN", TOKEN)
    source = parse_source(upstream.url)
    auth = _GitAuth(source, "ELYSIA_TEST_TOKEN")
    # git itself sees the header for this one call...
    seen = subprocess.run(
        ["git", "config", "--get-all", "http.extraHeader"],
        env={**auth.env, "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert seen == auth_header("file", TOKEN)
    assert TOKEN not in " ".join(f"{k}={v}" for k, v in auth.env.items() if "VALUE" not in k)

    mirror = tmp_path / "mirror.git"
    mirror_repository(upstream.url, mirror, token_env="ELYSIA_TEST_TOKEN")
    upstream.write("new.py", "n = 1\n")
    upstream.commit()
    mirror_repository(upstream.url, mirror, token_env="ELYSIA_TEST_TOKEN")
    encoded = auth_header("file", TOKEN).split()[-1].encode()
    for path in mirror.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data, path
            assert encoded not in data, path
    assert "extraheader" not in (mirror / "config").read_text().lower()


def test_mirror_errors(upstream: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELYSIA_UNSET_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="ELYSIA_UNSET_TOKEN is not set"):
        mirror_repository(upstream.url, tmp_path / "m1.git", token_env="ELYSIA_UNSET_TOKEN")
    with pytest.raises(ConfigError, match="not an environment variable name"):
        mirror_repository(upstream.url, tmp_path / "m1.git", token_env="$(rm -rf)")
    with pytest.raises(NotFoundError, match="missing does not exist"):
        mirror_repository((tmp_path / "missing").as_uri(), tmp_path / "m2.git")
    assert not (tmp_path / "m2.git").exists()
    assert not [p for p in tmp_path.iterdir() if ".clone-" in p.name]
    with pytest.raises(NotFoundError, match="branch 'nope' not found"):
        mirror_repository(upstream.url, tmp_path / "m3.git", branch="nope")
    assert not (tmp_path / "m3.git").exists()  # a useless first clone is not kept

    occupied = tmp_path / "occupied.git"
    occupied.mkdir()
    (occupied / "precious.txt").write_text("keep me")
    with pytest.raises(ElysiaError, match="not a git mirror"):
        mirror_repository(upstream.url, occupied)
    assert (occupied / "precious.txt").read_text() == "keep me"


def test_check_access(upstream: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upstream.branch("dev", checkout=False)
    report = check_access(upstream.url)
    assert report.ok and report.provider == "file"
    assert report.default_branch == "main" and set(report.branches) == {"main", "dev"}
    report.raise_for_error()

    missing = check_access((tmp_path / "nothing-here").as_uri())
    assert not missing.ok and "nothing-here does not exist" in (missing.error or "")
    with pytest.raises(ElysiaError, match="does not exist"):
        missing.raise_for_error()

    monkeypatch.delenv("ELYSIA_UNSET_TOKEN", raising=False)
    unset = check_access(upstream.url, "ELYSIA_UNSET_TOKEN")
    assert not unset.ok and "ELYSIA_UNSET_TOKEN" in (unset.error or "")
    assert "export ELYSIA_UNSET_TOKEN" in (unset.hint or "")

    invalid = check_access("https://example.com/x")
    assert not invalid.ok and "not a supported provider" in (invalid.error or "")


def test_mirror_then_extract_across_a_collected_force_push(
    upstream: GitRepo, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror.git"
    out = tmp_path / "pending"
    info = mirror_repository(upstream.url, mirror)
    written = []
    first = extract_change_set(
        mirror,
        ChangeSetTarget(repo="up", collection="Up", out_dir=out, seq=1),
        ExtractOptions(from_commit=None),
    )
    written.append(first.path)
    upstream.write("app.py", "print('amended')\n")
    upstream.delete("lib/util.py")
    upstream.git("commit", "-q", "--amend", "-m", "amended")
    mirror_repository(upstream.url, mirror)
    forget_unreachable(mirror)  # the synced commit is gone from the mirror too
    second = extract_change_set(
        mirror,
        ChangeSetTarget(repo="up", collection="Up", out_dir=out, seq=2),
        ExtractOptions(from_commit=info.head_commit),
    )
    assert second.full_snapshot and second.history_rewritten
    written.append(second.path)
    state = replay([p for p in written if p is not None])
    assert state == {"app.py": b"print('amended')\n"}


@pytest.mark.parametrize(
    ("stderr", "kind", "fragment"),
    [
        (
            "stderr: 'remote: Invalid username or token. Password authentication is not "
            "supported for Git operations.\nfatal: Authentication failed for "
            "'https://github.com/acme/repo.git/''",
            AuthError,
            "the token in GH_TOKEN was refused",
        ),
        (
            "stderr: 'fatal: could not read Username for 'https://dev.azure.com': "
            "terminal prompts disabled'",
            AuthError,
            "the token in GH_TOKEN was refused",
        ),
        (
            "stderr: 'remote: Repository not found.\nfatal: repository "
            "'https://github.com/acme/repo.git/' not found'",
            NotFoundError,
            "check the URL",
        ),
        (
            "stderr: 'fatal: unable to access 'https://github.com/acme/repo.git/': "
            "Failed to connect to github.com port 443: Connection refused'",
            TransientError,
            "network",
        ),
        ('Timeout: the command "git fetch" did not complete in 5 secs.', TransientError, "raise"),
    ],
)
def test_git_failures_become_actionable_errors(
    stderr: str, kind: type[ElysiaError], fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elysia_pipelines.changes.git_source import _classify

    monkeypatch.setenv("GH_TOKEN", TOKEN)
    source = parse_source("https://github.com/acme/repo")
    error = _classify(
        source, _GitAuth(source, "GH_TOKEN"), stderr + TOKEN, action="fetching", timeout_s=5
    )
    assert type(error) is kind
    assert (
        error.reason
        == {
            AuthError: "auth",
            NotFoundError: "not_found",
            TransientError: "timeout" if "Timeout" in stderr else "network",
        }[kind]
    )
    assert fragment in str(error)
    assert TOKEN not in str(error)


def test_force_push_to_a_hosted_remote_reaches_the_mirror(
    upstream: GitRepo, tmp_path: Path
) -> None:
    remote = init_bare(tmp_path / "hosted.git")
    upstream.push(remote)
    mirror = tmp_path / "mirror.git"
    first = mirror_repository(remote.as_uri(), mirror)
    upstream.write("app.py", "print('force')\n")
    upstream.git("commit", "-q", "--amend", "-m", "amended")
    with pytest.raises(RuntimeError, match="rejected"):
        upstream.push(remote)
    upstream.push(remote, force=True)
    second = mirror_repository(remote.as_uri(), mirror)
    assert second.head_commit == upstream.head() != first.head_commit
    assert second.as_metadata()["changed"] is True


def test_concurrent_syncs_of_one_mirror_take_turns(upstream: GitRepo, tmp_path: Path) -> None:
    mirror = tmp_path / "mirrors" / "upstream.git"
    with ThreadPoolExecutor(max_workers=3) as pool:
        infos = list(pool.map(lambda _: mirror_repository(upstream.url, mirror), range(3)))
    assert sorted(info.fetched for info in infos) == [False, True, True]
    assert {info.head_commit for info in infos} == {upstream.head()}


@pytest.fixture
def http_remote(upstream: GitRepo, tmp_path: Path) -> Iterator[tuple[GitHttpServer, Source]]:
    """The upstream repository behind a Basic-auth smart-HTTP server, as a GitHub-style source."""
    root = tmp_path / "served"
    root.mkdir()
    upstream.git("clone", "-q", "--bare", str(upstream.path), str(root / "upstream.git"))
    with GitHttpServer(root, user="x-access-token", password=TOKEN) as server:
        yield server, Source("github", server.url("upstream.git"), "upstream", "127.0.0.1")


def test_token_header_authenticates_over_http_and_is_never_stored(
    http_remote: tuple[GitHttpServer, Source],
    upstream: GitRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, source = http_remote
    monkeypatch.setenv("ELYSIA_TEST_TOKEN", TOKEN)
    report = check_access(source, "ELYSIA_TEST_TOKEN", timeout_s=30)
    assert report.ok, report
    assert report.default_branch == "main" and report.branches == ("main",)

    mirror = tmp_path / "mirror.git"
    info = mirror_repository(source, mirror, token_env="ELYSIA_TEST_TOKEN", timeout_s=30)
    assert info.head_commit == upstream.head() and not info.fetched
    again = mirror_repository(source, mirror, token_env="ELYSIA_TEST_TOKEN", timeout_s=30)
    assert again.fetched
    assert server.expected in server.seen_authorization  # git really sent our header
    encoded = server.expected.split()[-1].encode()
    for path in mirror.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data and encoded not in data, path
    assert (mirror / "config").read_text().count(source.url) == 1  # plain URL, no userinfo


def test_refused_or_missing_token_names_the_variable(
    http_remote: tuple[GitHttpServer, Source], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, source = http_remote
    monkeypatch.setenv("ELYSIA_WRONG_TOKEN", "not-the-token")
    refused = check_access(source, "ELYSIA_WRONG_TOKEN", timeout_s=30)
    assert not refused.ok
    assert "authentication failed" in (refused.error or "")
    assert "ELYSIA_WRONG_TOKEN" in (refused.hint or "")
    assert "not-the-token" not in f"{refused.error} {refused.hint}"

    anonymous = check_access(source, timeout_s=30)
    assert not anonymous.ok and "--token-env" in (anonymous.hint or "")

    mirror = tmp_path / "mirror.git"
    with pytest.raises(ElysiaError, match="ELYSIA_WRONG_TOKEN"):
        mirror_repository(source, mirror, token_env="ELYSIA_WRONG_TOKEN", timeout_s=30)
    assert not mirror.exists()


def test_unreachable_and_hanging_remotes(upstream: GitRepo, tmp_path: Path) -> None:
    port = free_port()
    closed = check_access(Source("github", f"http://127.0.0.1:{port}/x.git", "x"), timeout_s=30)
    assert not closed.ok and "remote unreachable" in (closed.error or "")
    assert "network" in (closed.hint or "")

    root = tmp_path / "served"
    root.mkdir()
    with GitHttpServer(root, user="u", password="p", delay_s=3) as server:
        hanging = check_access(Source("github", server.url("slow.git"), "slow"), timeout_s=1)
    assert not hanging.ok and "timed out after 1 s" in (hanging.error or "")
    assert "ELYSIA_GIT_TIMEOUT_S" in (hanging.hint or "")
