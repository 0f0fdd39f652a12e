"""What the importer reads of a dbt project, whichever file it came from.

``schema.yml`` files and ``manifest.json`` describe the same things in two shapes; both are reduced
to :class:`DbtRelation` and :class:`DbtColumn`, so the convention (:mod:`policyengine.dbt.conventions`)
and the contracts written from it cannot depend on which one was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policyengine.dbt.locate import Found, Origin, format_path
from policyengine.model.base import normalize_key

#: the dbt resources that are tables or views a query can read, and that document columns
TABLE_RESOURCES = ("model", "seed", "snapshot", "source")


@dataclass
class DbtColumn:
    name: str
    data_type: Any
    description: str | None
    #: ``meta`` and ``config.meta`` (dbt >= 1.10 puts column meta under ``config``), merged
    meta: dict[str, Any]
    #: where each key of ``meta`` was written
    meta_at: dict[str, Origin]
    tags: tuple[str, ...]
    #: dbt constraint types (``not_null``, ``primary_key``): they are guarantees, unlike data tests
    constraints: tuple[str, ...]
    origin: Origin


@dataclass
class DbtRelation:
    """A model, seed, snapshot or source table: a relation dbt builds or reads."""

    unique_id: str  # model.shop.customers, source.shop.raw.users
    resource_type: str
    name: str
    #: the relation's own name in the warehouse: a model's alias, a source table's identifier
    identifier: str
    schema: str | None
    database: str | None
    description: str | None
    columns: list[DbtColumn]
    #: unique ids of the relations it is built from (models only)
    depends_on: tuple[str, ...]
    origin: Origin
    #: the property file that documents it, relative to the project (``models/schema.yml``)
    properties_file: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def merged_meta(entry: dict[str, Any], origin: Origin, found: Found) -> tuple[dict[str, Any], dict[str, Origin]]:
    """``meta`` and ``config.meta`` of a dbt entry as one mapping, remembering where each key was.

    dbt accepts both places (``config.meta`` is where dbt >= 1.10 wants it) and merges them; a key
    given in both with different values is reported instead of letting one silently win, because
    the value is a security label.
    """
    meta: dict[str, Any] = {}
    meta_at: dict[str, Origin] = {}
    places: list[tuple[Any, Origin]] = [(entry.get("meta"), origin.at("meta"))]
    config = entry.get("config")
    if isinstance(config, dict):
        places.append((config.get("meta"), origin.at("config", "meta")))
    for value, at in places:
        if value is None:
            continue
        if not isinstance(value, dict):
            found.add(at, "expected a mapping of meta keys (meta: {sensitivity: ..., masking_policy: ...})")
            continue
        for key, item in value.items():
            key = str(key)
            if key in meta and meta[key] != item:
                found.add(at.at(key), f"'{key}' is also given at {format_where(meta_at[key])} with another value")
                continue
            meta.setdefault(key, item)
            meta_at.setdefault(key, at.at(key))
    return meta, meta_at


def format_where(origin: Origin) -> str:
    return f"{origin.where} {format_path(origin.path)}"


def text_list(value: Any) -> tuple[str, ...]:
    """dbt's tags: a string or a list of strings; anything else is nothing."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, (str, int)))
    return ()


def constraint_types(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(normalize_key(c.get("type")) for c in value if isinstance(c, dict) and isinstance(c.get("type"), str))


def read_column(entry: Any, origin: Origin, found: Found) -> DbtColumn | None:
    """One entry of a ``columns`` list (schema.yml) or mapping (manifest), or None if it is not one."""
    if not isinstance(entry, dict):
        found.add(origin, "expected a column (a mapping with 'name')")
        return None
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        found.add(origin.at("name"), "a column needs a name")
        return None
    meta, meta_at = merged_meta(entry, origin, found)
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    tags = tuple(dict.fromkeys(text_list(entry.get("tags")) + text_list(config.get("tags"))))  # dbt 1.10 repeats them
    description = entry.get("description")
    return DbtColumn(
        name=name.strip(),
        data_type=entry.get("data_type"),
        description=description.strip() if isinstance(description, str) and description.strip() else None,
        meta=meta,
        meta_at=meta_at,
        tags=tags,
        constraints=constraint_types(entry.get("constraints")),
        origin=origin,
    )
