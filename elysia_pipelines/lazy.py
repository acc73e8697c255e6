"""Package re-exports loaded on first use (PEP 562), so a light submodule stays light.

`from elysia_pipelines.weaviate import open_client` keeps working, but importing
`elysia_pipelines.weaviate.target` (or the package itself) no longer imports
weaviate-client through the package's `__init__`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` resolving each name in `exports` from its submodule."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        vars(importlib.import_module(package))[name] = value
        return value

    return __getattr__
