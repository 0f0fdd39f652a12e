"""Reading ``target/manifest.json``: what dbt resolved from the project, with real relation names.

The manifest (schema ``https://schemas.getdbt.com/dbt/manifest/vN.json``, written by ``dbt parse``,
``compile``, ``run``, ``build``, ...) holds every node with its ``database``, ``schema`` and ``alias``
as dbt will build it, its documented ``columns`` (``meta``, ``data_type``, ``constraints``) and its
parents (``depends_on.nodes``). Only the root project's models, seeds, snapshots and source tables
are read: installed packages document their own tables for their own purposes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from policyengine.dbt.locate import Found, Origin
from policyengine.dbt.relations import DbtRelation, merged_meta, read_column
from policyengine.model.reading import ReadError, read_file

_SCHEMA_VERSION = re.compile(r"/manifest/v(\d+)\.json$")


def read_manifest(path: Path, shown: str, project_name: str, found: Found) -> list[DbtRelation] | None:
    """The relations of ``project_name`` in the manifest at ``path``, or None if it cannot be read."""
    origin = Origin(shown)
    try:
        data = read_file(path)
    except ReadError as error:
        found.add(origin, str(error))
        return None
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        found.add(origin, "is not a dbt manifest: it has no 'metadata'")
        return None
    version = data["metadata"].get("dbt_schema_version")
    if not isinstance(version, str) or not _SCHEMA_VERSION.search(version):
        found.add(origin.at("metadata", "dbt_schema_version"),
                  "is not a dbt manifest (expected https://schemas.getdbt.com/dbt/manifest/vN.json)")
        return None
    named = data["metadata"].get("project_name")
    if isinstance(named, str) and named and named != project_name:
        found.add(origin.at("metadata", "project_name"),
                  f"the manifest is of dbt project '{named}', not of '{project_name}' (dbt_project.yml)")
        return None

    relations: list[DbtRelation] = []
    for section in ("nodes", "sources"):
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            found.add(origin.at(section), "expected a mapping of unique id to node")
            continue
        for unique_id, node in entries.items():
            at = origin.at(section, unique_id)
            if not isinstance(node, dict):
                found.add(at, "expected a node (a mapping)")
                continue
            kind = node.get("resource_type")
            if kind not in ("model", "seed", "snapshot", "source") or node.get("package_name") != project_name:
                continue
            config = node.get("config") if isinstance(node.get("config"), dict) else {}
            if config.get("enabled") is False:
                continue
            relation = _relation(unique_id, node, kind, at, found)
            if relation is not None:
                relations.append(relation)
    return relations


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _relation(unique_id: str, node: dict[str, Any], kind: str, at: Origin, found: Found) -> DbtRelation | None:
    name = _text(node.get("name"))
    if name is None:
        found.add(at.at("name"), "a node needs a name")
        return None
    columns_value = node.get("columns") or {}
    columns = []
    if not isinstance(columns_value, dict):
        found.add(at.at("columns"), "expected a mapping of column name to column")
    else:
        for key, entry in columns_value.items():
            column = read_column(entry, at.at("columns", str(key)), found)
            if column is not None:
                columns.append(column)
    depends = node.get("depends_on") if isinstance(node.get("depends_on"), dict) else {}
    parents = depends.get("nodes") if isinstance(depends.get("nodes"), list) else []
    identifier = _text(node.get("identifier")) if kind == "source" else _text(node.get("alias"))
    meta, _ = merged_meta(node, at, found)
    return DbtRelation(
        unique_id=unique_id,
        resource_type=kind,
        name=name,
        identifier=identifier or name,
        schema=_text(node.get("schema")),
        database=_text(node.get("database")),
        description=_text(node.get("description")),
        columns=columns,
        depends_on=tuple(p for p in parents if isinstance(p, str)),
        origin=at,
        properties_file=_properties_file(node, kind),
        meta=meta,
    )


def _properties_file(node: dict[str, Any], kind: str) -> str | None:
    """The property file that documents a node: ``patch_path`` (``shop://models/schema.yml``) for
    models, seeds and snapshots, ``original_file_path`` for sources (their node is the property file)."""
    if kind == "source":
        return _text(node.get("original_file_path"))
    patch = _text(node.get("patch_path"))
    return patch.split("://", 1)[-1] if patch else None
