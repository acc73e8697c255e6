"""The instance's run launcher: runs start in a fork of the warm worker, not a new interpreter.

Dagster's DefaultRunLauncher asks the code server to start each run, and the code server
spawns a fresh interpreter that imports Dagster and loads the code location again before
the first step: ~1.5 s and ~1.4 s of a daemon-launched 1,000-file sync that then worked
for 0.8 s. This launcher hands the run to `warm_worker` instead (the process that has
already imported all of that forks a child which executes the run as `dagster api
execute_run` does, with the same engine events), and falls back to the default launcher
whenever no warm worker is ready (the first launch starts one), when it is turned off
(ELYSIA_WARM=off) or for a run without a code origin. Termination: see `execute_run`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any, Self

from dagster import DagsterInstance
from dagster._core.launcher import DefaultRunLauncher, LaunchRunContext
from dagster._serdes import ConfigurableClassData

from elysia_pipelines import warm_worker
from elysia_pipelines.settings import Settings

WORKER_PID_TAG = "elysia/warm-worker-pid"
# A daemon launches runs minutes or hours apart (schedules, sensors): its warm worker waits
# longer between calls than one a person's commands started.
DEFAULT_IDLE_S = 6 * 3600.0


class WarmRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher, with runs started in a warm worker's fork when one is ready."""

    def __init__(
        self, inst_data: ConfigurableClassData | None = None, idle_seconds: float = DEFAULT_IDLE_S
    ) -> None:
        super().__init__(inst_data=inst_data)
        self._idle_s = idle_seconds

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        from dagster import Field

        return {"idle_seconds": Field(float, is_required=False, default_value=DEFAULT_IDLE_S)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        pid = None
        if run.job_code_origin is not None:
            pid = warm_worker.launch(
                Settings.from_env().home,
                "elysia_pipelines.run_launcher:execute_run",
                {"instance_ref": self._instance.get_ref(), "run_id": run.run_id},
                idle_s=self._idle_s,
            )
        if pid is None:
            super().launch_run(context)
            return
        self._instance.add_run_tags(run.run_id, {WORKER_PID_TAG: str(pid)})
        self._run_ids.add(run.run_id)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if run is None or WORKER_PID_TAG not in run.tags:
            return super().terminate(run_id)
        if run.is_finished:
            return False
        try:
            os.kill(int(run.tags[WORKER_PID_TAG]), 0)
        except ProcessLookupError:
            self._instance.report_run_canceled(run, message="its warm worker process was gone")
            return False
        # The run's process watches for this status (execute_run) and ends itself.
        self._instance.report_run_canceling(run)
        return True


# How often a run started here looks whether it was terminated.
CANCEL_POLL_S = 0.5


def execute_run(instance_ref: Any, run_id: str) -> int:
    """What `dagster api execute_run` does with a launched run, in a warm worker's child.

    Termination is not an interrupt: Dagster retries an interrupted step that has a
    RetryPolicy (ours do), so a terminated sync went on to succeed. A watcher thread
    sees the CANCELING status instead, records the run CANCELED and ends the process,
    which is what a killed run worker leaves (and what Ctrl-C in `elysiactl` does):
    the next sync resumes every step from its checkpoint.
    """
    from dagster._cli.api import _execute_run_command_body

    done = threading.Event()
    watcher = threading.Thread(
        target=_end_when_canceling, args=(instance_ref, run_id, done), daemon=True
    )
    watcher.start()
    try:
        with DagsterInstance.from_ref(instance_ref) as instance:
            return _execute_run_command_body(
                run_id, instance, write_stream_fn=lambda event: None, set_exit_code_on_failure=False
            )
    finally:
        done.set()


def _end_when_canceling(instance_ref: Any, run_id: str, done: threading.Event) -> None:
    from dagster import DagsterRunStatus

    with DagsterInstance.from_ref(instance_ref) as instance:
        while not done.wait(CANCEL_POLL_S):
            run = instance.get_run_by_id(run_id)
            if run is not None and run.status is DagsterRunStatus.CANCELING:
                instance.report_run_canceled(
                    run, message="terminated; the next sync resumes from the checkpoints"
                )
                os._exit(0)
