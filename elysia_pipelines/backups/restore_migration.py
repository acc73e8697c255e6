"""Plan how a backup's properties land in the target collection, before anything is written.

The plan is computed once from the backup's stored schema, the target collection's
current schema (if it exists), `--map old=new` and `--properties`. Everything that can
be refused is refused here, so a bad restore fails before its first write:

- `--map` / `--properties` naming a property the backup does not have;
- two properties mapped onto one name;
- a type change no value could survive (e.g. `date` -> `int`).

Properties the backup has and the existing target lacks are *added to the target*
with the backup's data type before the first write, and reported (`added`). Leaving
them to Weaviate's auto-schema would let the server guess a type from the first value
it sees (e.g. `int` for a `number` whose first value is whole), and dropping them
would lose data; an explicit add keeps the backup's type.

Type changes that only some values survive (`text` -> `int`, `number` -> `int`,
`int[]` -> `int`) are planned as conversions; a value that does not convert makes
its object a dead letter, reported with the property and the value.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from elysia_pipelines.backups.formats import property_types
from elysia_pipelines.backups.restore_values import ConversionError, can_convert, convert_value
from elysia_pipelines.errors import ElysiaError

_PROPERTY_NAME_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,230}$")


@dataclass(frozen=True)
class PropertyPlan:
    """One backup property and where/how it is written."""

    source: str
    target: str
    source_type: str
    target_type: str
    added: bool = False  # missing in the existing target: added before writing

    @property
    def converts(self) -> bool:
        return self.source_type != self.target_type

    @property
    def renamed(self) -> bool:
        return self.source != self.target

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "source_type": self.source_type,
            "target_type": self.target_type,
            "action": "add" if self.added else ("convert" if self.converts else "copy"),
        }


@dataclass
class MigrationPlan:
    target_collection: str
    create_collection: bool
    properties: list[PropertyPlan]
    # Description to create the target from (the backup's, with renames applied).
    create_description: dict[str, Any] | None = None
    target_types: dict[str, str] = field(default_factory=dict)

    @property
    def by_source(self) -> dict[str, PropertyPlan]:
        return {p.source: p for p in self.properties}

    @property
    def conversions(self) -> list[PropertyPlan]:
        return [p for p in self.properties if p.converts]

    @property
    def added(self) -> list[PropertyPlan]:
        return [p for p in self.properties if p.added]

    @property
    def renames(self) -> list[PropertyPlan]:
        return [p for p in self.properties if p.renamed]

    @property
    def written_names(self) -> list[str]:
        """Target property names this restore writes."""
        return [p.target for p in self.properties]

    def apply(self, properties: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Backup properties -> target properties, and the values that did not convert."""
        result: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        plans = self.by_source
        for name, value in properties.items():
            plan = plans.get(name)
            if plan is None or value is None:
                continue
            try:
                result[plan.target] = convert_value(value, plan.source_type, plan.target_type)
            except ConversionError as exc:
                problems.append(
                    {
                        "property": plan.source,
                        "target": plan.target,
                        "from": plan.source_type,
                        "to": plan.target_type,
                        "value": _preview(value),
                        "error": str(exc),
                    }
                )
        return result, problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_collection": self.target_collection,
            "create_collection": self.create_collection,
            "properties": [p.to_dict() for p in self.properties],
        }


def _preview(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def parse_property_map(pairs: Sequence[str]) -> dict[str, str]:
    """`["old=new", ...]` -> `{old: new}`; malformed pairs are an error."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        for item in (p.strip() for p in pair.split(",")):
            if not item:
                continue
            old, sep, new = item.partition("=")
            old, new = old.strip(), new.strip()
            if not sep or not old or not new:
                raise ElysiaError(
                    f"--map {item!r} is not of the form old=new",
                    "rename a backup property with --map old_name=new_name",
                )
            if not _PROPERTY_NAME_RE.match(new):
                raise ElysiaError(
                    f"--map {item!r}: {new!r} is not a valid Weaviate property name",
                    "use letters, digits and underscores, not starting with a digit",
                )
            if old in mapping and mapping[old] != new:
                raise ElysiaError(f"--map renames {old!r} twice", "give each property once")
            mapping[old] = new
    return mapping


def _renamed_description(
    description: Mapping[str, Any], mapping: Mapping[str, str], name: str
) -> dict[str, Any]:
    desc = copy.deepcopy(dict(description))
    for prop in desc.get("properties") or []:
        if prop.get("name") in mapping:
            prop["name"] = mapping[prop["name"]]
    if "name" in desc:
        desc["name"] = name
    return desc


def _not_in_backup(option: str, names: list[str], source_types: Mapping[str, str]) -> ElysiaError:
    """The refusal of an option (`--map`, `--properties`) naming properties the backup lacks."""
    return ElysiaError(
        f"{option} names propert{'y' if len(names) == 1 else 'ies'} the backup does not "
        f"have: {', '.join(map(repr, names))}",
        f"the backup's properties are: {', '.join(source_types) or '(none)'}",
    )


def plan_migration(
    backup_description: Mapping[str, Any],
    target_description: Mapping[str, Any] | None,
    *,
    target_collection: str,
    property_map: Mapping[str, str] | None = None,
    properties: Sequence[str] | None = None,
) -> MigrationPlan:
    """Decide, per backup property, its target name and type; refuse what cannot work."""
    source_types = property_types(dict(backup_description))
    mapping = dict(property_map or {})
    unknown = [old for old in mapping if old not in source_types]
    if unknown:
        raise _not_in_backup("--map", unknown, source_types)
    target_of = {name: mapping.get(name, name) for name in source_types}
    seen: dict[str, str] = {}
    for source, target in target_of.items():
        if target in seen:
            raise ElysiaError(
                f"--map makes {seen[target]!r} and {source!r} both write property {target!r}",
                "map each backup property to a distinct name",
            )
        seen[target] = source

    if properties is None:
        selected = list(source_types)
    else:
        selected = []
        missing = []
        for name in properties:
            if name in source_types:
                selected.append(name)
            elif name in seen:  # the user named the property by its new (mapped) name
                selected.append(seen[name])
            else:
                missing.append(name)
        if missing:
            raise _not_in_backup("--properties", missing, source_types)
        selected = list(dict.fromkeys(selected))

    if target_description is None:
        plans = [PropertyPlan(s, target_of[s], source_types[s], source_types[s]) for s in selected]
        return MigrationPlan(
            target_collection=target_collection,
            create_collection=True,
            properties=plans,
            create_description=_renamed_description(backup_description, mapping, target_collection),
            target_types={target_of[s]: t for s, t in source_types.items()},
        )

    existing = property_types(dict(target_description))
    lowered = {name.lower(): name for name in existing}
    plans = []
    refused = []
    for source in selected:
        target = target_of[source]
        # Weaviate property names are case-insensitive on the server side.
        actual = target if target in existing else lowered.get(target.lower())
        if actual is None:
            plans.append(
                PropertyPlan(source, target, source_types[source], source_types[source], True)
            )
            continue
        plan = PropertyPlan(source, actual, source_types[source], existing[actual])
        if not can_convert(plan.source_type, plan.target_type):
            refused.append(plan)
        plans.append(plan)
    if refused:
        details = "; ".join(
            f"{p.source} ({p.source_type}) -> {p.target} ({p.target_type})" for p in refused
        )
        raise ElysiaError(
            f"cannot restore into {target_collection}: no value of these properties can be "
            f"converted: {details}",
            "restore them under a new name with --map old=new (the property is then added "
            "with the backup's type), leave them out with --properties, or restore into "
            "another collection with --target-collection",
        )
    types = dict(existing)
    types.update({p.target: p.target_type for p in plans})
    return MigrationPlan(
        target_collection=target_collection,
        create_collection=False,
        properties=plans,
        target_types=types,
    )
