"""Keep credentials out of everything shown or stored: logs, errors, manifests, the catalog.

Two needs, two functions: text that may contain URLs anywhere (git's stderr, a repository
URL shown to its owner) keeps its shape with the user info masked, while a URL recorded
as data (a backup's source, a Weaviate address) is reduced to scheme, host and path.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def redact_credentials(text: str) -> str:
    """Mask any `user:password@` of URLs inside `text` as `***@`."""
    return _USERINFO_RE.sub(r"\1***@", text)


def redact_url(url: str) -> str:
    """`scheme://host[:port]/path`: no user info, password, query string (SAS tokens, keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if "@" in parts.netloc and parts.scheme.lower() in ("abfs", "abfss"):
        # abfs://container@account.dfs...: the part before @ is the container, not a secret.
        user = parts.netloc.split("@", 1)[0].split(":", 1)[0]
        host = f"{user}@{host}"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
