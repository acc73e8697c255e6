"""Runs execute their steps in one process unless the deployment asks for more.

A sync is four assets and a dozen checks, each a few hundred milliseconds of work; the
multiprocess executor starts a Python interpreter (and imports Dagster, pyarrow and the
Weaviate client) per step, which turned a 2 s sync into minutes when launched from the
UI. `ELYSIA_EXECUTOR=multiprocess` brings Dagster's default back for a deployment that
wants step isolation; k8s/celery deployments set their executor the same way.
"""

import os

import dagster as dg

_EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def _chosen() -> dg.ExecutorDefinition:
    name = os.environ.get("ELYSIA_EXECUTOR", "in_process").strip().lower().replace("-", "_")
    if name not in _EXECUTORS:
        raise ValueError(
            f"ELYSIA_EXECUTOR={name!r} is not an executor; use one of {sorted(_EXECUTORS)}"
        )
    return _EXECUTORS[name]


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=_chosen())
