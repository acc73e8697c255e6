"""Issue 11.8: the Dagster UI in a real (headless) browser, the way a Dagster user drives it.

The UI stack (webserver + daemon, as `./dev.sh ui` runs them) against the test Weaviate
server; a repository added with `elysiactl repo add --no-sync`; one partition
materialized from the job's "Materialize all…" dialog; then what the Runs page and the
asset's Checks tab show for that partition. Debian's chromium is driven by Playwright
(`executable_path`: browser downloads are not possible here). Screenshots of every step
land in the test's tmp dir.

Then the checks alone for that repository, the way the UI can run them: the
check_repository job's Launchpad with the partition picked. The Checks tab cannot: Dagster
1.13 disables "Execute" there ("Executing checks on their own for partitioned assets is not
yet supported") and its "Execute all" launches them with no partition; each check then
fails saying to use check_repository instead (test_pipeline.py).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from elysia_pipelines_tests.daemon import running_daemon
from elysia_pipelines_tests.gitrepo import GitRepo
from elysia_pipelines_tests.support import run_cli
from elysia_pipelines_tests.webserver import (
    Webserver,
    create_instance_storage,
    install_instance_config,
    running_webserver,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UI_TIMEOUT_MS = 60_000


@contextmanager
def _ui_stack(home: Path, env: Mapping[str, str]) -> Iterator[Webserver]:
    """Daemon and webserver started side by side (each takes ~20-40 s to come up)."""
    install_instance_config(home)
    create_instance_storage(home)  # before two processes race to create it
    managers = [running_daemon(home, env), running_webserver(home, env)]
    with ExitStack() as stack:
        with ThreadPoolExecutor(len(managers)) as pool:
            futures = [pool.submit(m.__enter__) for m in managers]
            results, errors = [], []
            for manager, future in zip(managers, futures, strict=True):
                try:
                    results.append(future.result())
                    stack.push(manager.__exit__)
                except BaseException as exc:
                    errors.append(exc)
        if errors:
            raise errors[0]  # the stack stops whichever did start
        yield results[1]


def _wait_for_partition(web: Webserver, name: str, timeout_s: float = 90) -> None:
    """`repo add` registers; the partition exists once the instance has it."""
    query = (
        '{ partitionSetsOrError(repositorySelector: {repositoryName: "__repository__", '
        'repositoryLocationName: "elysia_pipelines"}, pipelineName: "sync_repository") '
        "{ ... on PartitionSets { results { partitionsOrError { ... on Partitions "
        "{ results { name } } } } } } }"
    )
    deadline = time.monotonic() + timeout_s
    while True:
        sets = web.graphql(query)["partitionSetsOrError"]["results"]
        names = {p["name"] for s in sets for p in s["partitionsOrError"]["results"]}
        if name in names:
            return
        assert time.monotonic() < deadline, f"partition {name} never appeared: {names}"
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (`./dev.sh test` installs it)")
def test_materialize_a_partition_and_see_its_checks_in_the_browser(
    tmp_path: Path, elysia_home: Path, weaviate_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect, sync_playwright

    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    source = GitRepo.init(tmp_path / "src")
    source.write("app/main.py", "print('hello')\n")
    source.write("README.md", "# demo\n")
    source.commit("initial")
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with _ui_stack(home, {"ELYSIA_HOME": str(elysia_home)}) as web:
        added = run_cli("repo", "add", source.url, "--name", "demo", "--no-sync")
        assert added.exit_code == 0, added.output
        _wait_for_partition(web, "demo")
        # A first visit on localhost opens "Join the Dagster community" over whatever the
        # page shows next (it raced the Materialize dialog once); tell the instance it
        # was seen, as its Skip button does, so it never opens.
        web.graphql("mutation { setNuxSeen }")
        assert web.graphql("{ shouldShowNux }") == {"shouldShowNux": False}

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(UI_TIMEOUT_MS)
            step = 0

            def shot(name: str) -> None:
                nonlocal step
                step += 1
                page.screenshot(path=str(shots / f"{step:02d}-{name}.png"))

            try:
                # Materialize the partition: the job's dialog, partition picker, launch.
                dialog = page.get_by_role("dialog")
                option = page.get_by_role("menuitem", name=re.compile(r"^demo"))
                for attempt in range(5):
                    # The dialog lists the partitions the page loaded; one added moments
                    # ago may need a fresh page.
                    page.goto(f"{web.url}/locations/elysia_pipelines/jobs/sync_repository")
                    page.get_by_role("button", name=re.compile("Materialize all")).click()
                    expect(dialog).to_contain_text("Launch runs to materialize 3 assets")
                    dialog.get_by_text("Select a partition or create one").click()
                    page.keyboard.type("demo")
                    try:
                        expect(option).to_be_visible(timeout=5_000)
                        break
                    except AssertionError:
                        shot(f"no-partition-yet-{attempt}")
                option.click()
                page.keyboard.press("Escape")
                shot("partition-chosen")
                dialog.get_by_role("button", name="Launch 1 run").click()
                expect(page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))).to_be_visible()
                shot("launched")

                # The Runs page: the run for partition demo succeeds.
                page.goto(f"{web.url}/runs")
                expect(page.get_by_text("partition: demo")).to_be_visible()
                expect(page.get_by_text("sync_repository", exact=True)).to_be_visible()
                # The only run: its status tag goes Starting -> Started -> Success.
                status = page.get_by_text(re.compile(r"^(Success|Failure)$"))
                expect(status).to_be_visible(timeout=240_000)
                assert status.inner_text() == "Success", "the run failed"
                shot("run-succeeded")

                # The Checks tab: every check of change_set passed, for partition demo.
                page.goto(f"{web.url}/assets/change_set?view=checks")
                expect(page.get_by_text("Checks (3)")).to_be_visible()
                for check in ("accounts_for_diff", "is_valid", "reaches_head"):
                    page.get_by_text(check, exact=True).first.click()
                    expect(page.get_by_text("Passed", exact=True)).to_be_visible()
                    # Latest execution: the partition it ran for, not "—".
                    expect(page.locator("main, body").first).to_contain_text(
                        re.compile(r"Partition[\s\S]*demo")
                    )
                    shot(f"check-{check}")
                # And the collection's checks, freshness included, for the same partition.
                page.goto(f"{web.url}/assets/weaviate_collection?view=checks")
                expect(page.get_by_text("Checks (5)")).to_be_visible()
                page.get_by_text("fresh", exact=True).first.click()
                expect(page.get_by_text("Passed", exact=True)).to_be_visible()
                expect(page.get_by_role("cell", name="intervals_behind", exact=True)).to_be_visible()
                shot("check-fresh")

                # The checks alone, for one repository: check_repository's Launchpad.
                page.goto(f"{web.url}/locations/elysia_pipelines/jobs/check_repository/playground")
                page.get_by_placeholder("Partition").click()
                page.keyboard.type("demo")
                page.get_by_role("menuitem", name=re.compile(r"^demo")).click()
                shot("checks-launchpad")
                page.get_by_role("button", name="Launch Run").click()
                page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
                expect(page.get_by_text("partition: demo")).to_be_visible()
                expect(page.get_by_text("8 checks")).to_be_visible()
                status = page.get_by_text(re.compile(r"^(Success|Failure)$")).first
                expect(status).to_be_visible(timeout=120_000)
                assert status.inner_text() == "Success", "the checks-only run failed"
                shot("checks-run-succeeded")
            except BaseException:
                shot("failure")
                raise
            finally:
                browser.close()
