"""elysia_pipelines: keep git repositories searchable in Weaviate and every collection backed up."""

__version__ = "0.1.0"
