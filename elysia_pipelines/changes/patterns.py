"""Which files of a repository are ingested: include/exclude patterns and a size limit.

Patterns use gitignore semantics (via `pathspec`), because that is what users
already write: `*.py` matches at any depth, `docs/**` everything under `docs/`,
`/build` only at the root, `!keep.txt` re-includes. A file is ingested when it
matches an include pattern (no include patterns = every file) and no exclude
pattern, and is not larger than `max_file_size`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pathspec

from elysia_pipelines.errors import ConfigError


def _unclosed_bracket(pattern: str) -> bool:
    """True when a `[` opens a character class that never closes.

    pathspec takes such a pattern silently, git's wildmatch matches nothing with it:
    either way the user's rule does not do what it says.
    """
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] in "!^":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1  # a leading ] is a member, not the end
            close = pattern.find("]", j)
            if close < 0:
                return True
            i = close + 1
            continue
        i += 1
    return False


def _compile(patterns: Sequence[str], what: str) -> pathspec.GitIgnoreSpec:
    cleaned = [p.strip() for p in patterns if p and p.strip()]
    for pattern in cleaned:
        if _unclosed_bracket(pattern):
            raise ConfigError(
                f"invalid {what} pattern {pattern!r}: '[' opens a character class that never "
                "closes",
                "close it (e.g. *.[ch]) or escape a literal bracket as \\[",
            )
    try:
        return pathspec.GitIgnoreSpec.from_lines(cleaned)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"invalid {what} pattern: {exc}",
            "use gitignore-style globs such as *.py, src/**, docs/*.md or !keep.txt",
        ) from None


@dataclass(frozen=True)
class FileFilter:
    """The selection rules of one sync; compare two to know whether they changed."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_file_size: int = 1000**2
    _include_spec: pathspec.GitIgnoreSpec | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _exclude_spec: pathspec.GitIgnoreSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "include", tuple(p.strip() for p in self.include if p.strip()))
        object.__setattr__(self, "exclude", tuple(p.strip() for p in self.exclude if p.strip()))
        if self.max_file_size <= 0:
            raise ConfigError(
                f"max file size must be positive, not {self.max_file_size}", "e.g. 1MB"
            )
        if self.include:
            object.__setattr__(self, "_include_spec", _compile(self.include, "include"))
        object.__setattr__(self, "_exclude_spec", _compile(self.exclude, "exclude"))

    @classmethod
    def of(
        cls, include: Sequence[str] | None, exclude: Sequence[str] | None, max_file_size: int
    ) -> FileFilter:
        return cls(tuple(include or ()), tuple(exclude or ()), max_file_size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, to store with a sync and pass back as `previous_filter`."""
        return {
            "include": list(self.include),
            "exclude": list(self.exclude),
            "max_file_size": self.max_file_size,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileFilter:
        return cls.of(data.get("include"), data.get("exclude"), int(data["max_file_size"]))

    def includes(self, path: str) -> bool:
        """True when the patterns select `path` (size is checked separately)."""
        if self._include_spec is not None and not self._include_spec.match_file(path):
            return False
        return not self._exclude_spec.match_file(path)

    def fingerprint(self) -> str:
        """Stable id of these rules, to store with a sync and detect a change later."""
        payload = json.dumps([self.include, self.exclude, self.max_file_size])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
