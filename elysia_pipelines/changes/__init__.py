"""The extraction domain: git mirrors, change sets (format, writer, reader), discovery.

Nothing here imports Dagster; the assets in `defs/` call these functions. The
modules are imported directly (`from elysia_pipelines.changes.reader import ...`)
so that importing the reader does not pull in git.
"""
