"""Hiding credentials in repository URLs, without importing git.

`git_source` uses it for every message it builds; status views (`repo list`,
`repo status`) use it to show URLs and must stay light, hence its own module.
"""

from __future__ import annotations

import re

_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def redact_url(text: str) -> str:
    """Hide any `user:password@` in URLs inside `text` (for logs and messages)."""
    return _USERINFO_RE.sub(r"\1***@", text)
