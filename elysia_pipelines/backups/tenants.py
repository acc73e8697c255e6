"""The refusal backup and restore share: tenants that are not active cannot be touched.

Weaviate neither reads nor writes an inactive (or offloaded) tenant unless the collection
activates tenants on use; both directions check before anything is written, so a backup
never leaves a tenant out and a restore never half-writes one.
"""

from __future__ import annotations

from collections.abc import Mapping

from elysia_pipelines.errors import ElysiaError


def refuse_inactive_tenants(
    collection: str, asleep: Mapping[str, str], *, which: str, again: str
) -> None:
    """Raise when `asleep` ({tenant: activity status}) is not empty; `which` says which
    tenants these are ("are not active ..."), `again` what to run after activating them."""
    if not asleep:
        return
    listed = ", ".join(f"{t} ({s})" for t, s in list(asleep.items())[:5])
    raise ElysiaError(
        f"{len(asleep)} tenant(s) of {collection} {which}: "
        f"{listed}{' ...' if len(asleep) > 5 else ''}; nothing was written",
        f"activate them (PUT /v1/schema/{collection}/tenants with activityStatus "
        f"ACTIVE, or tenants.update in weaviate-client) and {again}",
    )
