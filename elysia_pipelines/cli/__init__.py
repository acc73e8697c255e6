"""`elysiactl`: the command line on top of the domain modules and the Dagster instance.

authlib (pulled in by weaviate-client) forces its own deprecation warnings to "always"
and prints a 150-column line about httpx on every start: nothing a user can act on.
The package init runs before any command module imports weaviate, so the CLI hides
exactly that category here (tests and library users still see it).
"""

import warnings

try:
    from authlib.deprecate import AuthlibDeprecationWarning
except ImportError:  # authlib absent or reorganised: nothing to silence
    pass
else:
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
