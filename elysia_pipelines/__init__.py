"""elysia_pipelines: keep git repositories searchable in Weaviate and every collection backed up.

weaviate-client imports authlib's httpx integration, which warns on every import that
httpx is deprecated in favour of httpx2 (authlib >= 1.8). Installing httpx2 would not
help: authlib would then build httpx2 clients for a weaviate-client that speaks httpx.
Nothing here or for a user to act on until weaviate-client moves, so exactly that one
message is ignored. It is done in the package init because it runs before any module
of ours imports weaviate (CLI, Dagster code server, run workers alike), and after
`authlib.deprecate`, whose import-time `simplefilter("always")` would otherwise go in
front of this filter.
"""

import warnings

__version__ = "0.1.0"

try:
    from authlib.deprecate import AuthlibDeprecationWarning
except ImportError:  # authlib absent or reorganised: nothing to silence
    pass
else:
    warnings.filterwarnings(
        "ignore",
        message=r"The httpx module is deprecated; please use httpx2",
        category=AuthlibDeprecationWarning,
    )
