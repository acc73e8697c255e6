"""Silence a third-party deprecation warning before weaviate-client is imported.

authlib (imported by weaviate-client) forces its own deprecation warnings to
"always" and prints one about httpx on every start of `elysiactl`: a 150-column
line about a library the user never chose, on every command, wrapped across a
narrow terminal. It says nothing a user can act on, so the CLI hides exactly that
category (tests and library users still see it). Importing this module must come
before anything that imports weaviate, which is why its name sorts first.
"""

from __future__ import annotations

import warnings

try:
    from authlib.deprecate import AuthlibDeprecationWarning
except ImportError:  # authlib not installed or reorganised: nothing to silence
    pass
else:
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
