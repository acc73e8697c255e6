"""Runs execute their steps in one process unless the deployment asks for more.

A sync is four assets and a dozen checks, each a few hundred milliseconds of work; the
multiprocess executor starts a Python interpreter (and imports Dagster, pyarrow and the
Weaviate client) per step, which turned a 2 s sync into minutes when launched from the
UI. `ELYSIA_EXECUTOR=multiprocess` brings Dagster's default back for a deployment that
wants step isolation; `k8s` (a Kubernetes Job per step, dagster-k8s) and `celery` (steps
as Celery tasks, dagster-celery) are chosen the same way, so a deployment changes its
environment, not the code. Their executor config (which broker, which namespace, step
resources) comes from the YAML file ELYSIA_EXECUTOR_CONFIG names, in the run-config shape
`execution: config: ...` that `dagster-celery worker start -y FILE` reads too
(deploy/executor.*.yaml). The sensors' and the CLI's run requests carry no execution
config, so the executor has to come configured.
"""

import importlib
import os
from pathlib import Path
from typing import Any

import dagster as dg

from elysia_pipelines.errors import ConfigError

_BUILTIN = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}
# name -> (module, attribute, the extra that installs it)
_PLUGINS = {
    "k8s": ("dagster_k8s", "k8s_job_executor", "k8s"),
    "celery": ("dagster_celery", "celery_executor", "celery"),
}
NAMES = sorted([*_BUILTIN, *_PLUGINS])


def _base(name: str) -> dg.ExecutorDefinition:
    if name in _BUILTIN:
        return _BUILTIN[name]
    if name not in _PLUGINS:
        raise ConfigError(
            f"ELYSIA_EXECUTOR={name!r} is not an executor", f"use one of {', '.join(NAMES)}"
        )
    module, attribute, extra = _PLUGINS[name]
    try:
        return getattr(importlib.import_module(module), attribute)
    except ImportError:
        raise ConfigError(
            f"ELYSIA_EXECUTOR={name} needs the {module.replace('_', '-')} package",
            f"pip install 'elysia-pipelines[{extra}]'",
        ) from None


def _config_from_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        parsed = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"ELYSIA_EXECUTOR_CONFIG={path}: cannot read it: {exc}",
            "point it at a readable YAML file such as deploy/executor.k8s.yaml",
        ) from None
    config = parsed.get("execution", {}).get("config") if isinstance(parsed, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(
            f"ELYSIA_EXECUTOR_CONFIG={path}: no `execution: config:` mapping in it",
            "write the executor's run config as in deploy/executor.k8s.yaml",
        )
    return config


def build_executor(name: str, config_path: str | None = None) -> dg.ExecutorDefinition:
    """The executor `name`, configured from the file when one is given (validated now).

    Validating at load time turns a typo in the deployment's file into a code-location
    load error naming the field, instead of a failure of the first run that uses it.
    """
    from dagster._config import validate_config

    name = name.strip().lower().replace("-", "_")
    base = _base(name)
    if not config_path:
        return base
    config = _config_from_file(Path(config_path))
    schema = base.config_schema.config_type if base.config_schema else None
    if schema is not None:
        result = validate_config(schema, config)
        if not result.success:
            problems = "; ".join(error.message for error in result.errors)
            raise ConfigError(
                f"ELYSIA_EXECUTOR_CONFIG={config_path} is not valid {name} executor config: "
                f"{problems}",
                f"compare it with deploy/executor.{name}.yaml",
            )
    return base.configured(config, name=base.name)


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(
        executor=build_executor(
            os.environ.get("ELYSIA_EXECUTOR", "in_process"),
            os.environ.get("ELYSIA_EXECUTOR_CONFIG") or None,
        )
    )
