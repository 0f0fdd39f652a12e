"""Reading a dbt project as its authors write it: ``dbt_project.yml``, property files, model SQL.

No dbt installation is needed and nothing is compiled: the labels live in property files
(``models/schema.yml``), which are plain YAML, and a model's parents are the ``ref()`` and
``source()`` calls of its SQL. What dbt resolves only when it builds (a model's final schema, from
``generate_schema_name``) is not guessed here; ``manifest.json`` (:mod:`policyengine.dbt.manifest`)
has it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policyengine.dbt.locate import Found, Locator, Origin, describe
from policyengine.dbt.relations import DbtColumn, DbtRelation, merged_meta, read_column
from policyengine.model.reading import ReadError, parse_text

#: property files a project keeps beside its resources that are not property files
NOT_PROPERTIES = {"dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml", "profiles.yml"}
#: the property file sections that describe relations, and the resource type of each
SECTIONS = {"models": "model", "seeds": "seed", "snapshots": "snapshot"}


@dataclass
class DbtProject:
    root: Path
    name: str
    model_paths: list[str]
    seed_paths: list[str]
    snapshot_paths: list[str]
    #: ``vars: {policyengine: ...}`` and where it is
    settings: Any = None
    settings_origin: Origin = field(default_factory=lambda: Origin("dbt_project.yml", ("vars", "policyengine")))

    def resource_dirs(self) -> list[Path]:
        out = []
        for rel in self.model_paths + self.seed_paths + self.snapshot_paths:
            folder = self.root / rel
            if folder.is_dir() and folder not in out:
                out.append(folder)
        return out


def read_yaml(path: Path, shown: str, found: Found) -> tuple[Any, Locator | None]:
    """A YAML file read strictly (duplicate keys and YAML 1.1 surprises are errors), with its lines."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        found.add(Origin(shown), f"cannot be read: {getattr(error, 'strerror', None) or error}")
        return None, None
    try:
        return parse_text(text, json_file=False), Locator(text)
    except ReadError as error:
        found.add(Origin(shown), str(error))
        return None, None


def read_project(root: Path, found: Found) -> DbtProject | None:
    """``dbt_project.yml``: the project's name, where its resources are, and ``vars.policyengine``."""
    path = root / "dbt_project.yml"
    if not path.is_file():
        found.add(Origin(str(root)), "is not a dbt project: it has no dbt_project.yml")
        return None
    data, locator = read_yaml(path, "dbt_project.yml", found)
    origin = Origin("dbt_project.yml", (), locator)
    if data is None:
        return None
    if not isinstance(data, dict):
        found.add(origin, "expected a mapping (name: ..., model-paths: ...)")
        return None
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        found.add(origin.at("name"), "a dbt project needs a name")
        return None

    def paths(key: str, default: str, *older: str) -> list[str]:
        for spelled in (key, *older):
            value = data.get(spelled)
            if value is None:
                continue
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
            found.add(origin.at(spelled), f"expected a list of folders, got {describe(value)}")
        return [default]

    variables = data.get("vars")
    settings = variables.get("policyengine") if isinstance(variables, dict) else None
    return DbtProject(root, name.strip(), paths("model-paths", "models", "source-paths"),
                      paths("seed-paths", "seeds", "data-paths"), paths("snapshot-paths", "snapshots"),
                      settings, Origin("dbt_project.yml", ("vars", "policyengine"), locator))


def property_files(project: DbtProject) -> list[Path]:
    """Every ``*.yml``/``*.yaml`` under the resource folders, in a stable order."""
    out: set[Path] = set()
    for folder in project.resource_dirs():
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix.lower() in (".yml", ".yaml") and path.name not in NOT_PROPERTIES:
                out.add(path)
    return sorted(out)


def relations_from_properties(project: DbtProject, found: Found) -> list[DbtRelation]:
    """The models, seeds, snapshots and source tables the property files document, in file order."""
    relations: list[DbtRelation] = []
    sql = _model_sql(project)
    for path in property_files(project):
        shown = path.relative_to(project.root).as_posix()
        data, locator = read_yaml(path, shown, found)
        if data is None:
            continue
        origin = Origin(shown, (), locator)
        if not isinstance(data, dict):
            found.add(origin, "expected a mapping (version: 2, models: [...])")
            continue
        for section, resource_type in SECTIONS.items():
            for index, entry in _entries(data, section, origin, found):
                relation = _relation(project, entry, origin.at(section, index), resource_type, shown, sql, found)
                if relation is not None:
                    relations.append(relation)
        for index, source in _entries(data, "sources", origin, found):
            relations.extend(_source_tables(project, source, origin.at("sources", index), shown, found))
    return relations


def _entries(data: dict[str, Any], section: str, origin: Origin, found: Found) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(section)
    if value is None:
        return []
    if not isinstance(value, list):
        found.add(origin.at(section), f"expected a list of {section}")
        return []
    out = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            found.add(origin.at(section, index), "expected an entry with a name")
            continue
        if _disabled(entry):
            continue
        out.append((index, entry))
    return out


def _disabled(entry: dict[str, Any]) -> bool:
    config = entry.get("config")
    return isinstance(config, dict) and config.get("enabled") is False


def _columns(entry: dict[str, Any], origin: Origin, found: Found) -> list[DbtColumn]:
    value = entry.get("columns")
    if value is None:
        return []
    if not isinstance(value, list):
        found.add(origin.at("columns"), "expected a list of columns")
        return []
    columns = [read_column(item, origin.at("columns", index), found) for index, item in enumerate(value)]
    return [c for c in columns if c is not None]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _relation(project: DbtProject, entry: dict[str, Any], origin: Origin, resource_type: str, shown: str,
              sql: dict[str, Path], found: Found) -> DbtRelation:
    name = entry["name"].strip()
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    meta, _ = merged_meta(entry, origin, found)
    depends_on: tuple[str, ...] = ()
    if resource_type == "model" and name in sql:
        depends_on = model_parents(sql[name].read_text(encoding="utf-8", errors="replace"), project.name)
    return DbtRelation(
        unique_id=f"{resource_type}.{project.name}.{name}",
        resource_type=resource_type,
        name=name,
        identifier=_text(config.get("alias")) or _text(entry.get("alias")) or name,
        schema=None,  # dbt decides it at build time (generate_schema_name): only the manifest knows
        database=None,
        description=_text(entry.get("description")),
        columns=_columns(entry, origin, found),
        depends_on=depends_on,
        origin=origin,
        properties_file=shown,
        meta=meta,
    )


def _source_tables(project: DbtProject, source: dict[str, Any], origin: Origin, shown: str,
                   found: Found) -> list[DbtRelation]:
    source_name = source["name"].strip()
    tables = source.get("tables")
    if tables is None:
        return []
    if not isinstance(tables, list):
        found.add(origin.at("tables"), "expected a list of tables")
        return []
    out = []
    for index, table in enumerate(tables):
        at = origin.at("tables", index)
        if not isinstance(table, dict) or not isinstance(table.get("name"), str) or not table["name"].strip():
            found.add(at, "expected a table with a name")
            continue
        if _disabled(table) or _disabled(source):
            continue
        name = table["name"].strip()
        meta, _ = merged_meta(table, at, found)
        out.append(DbtRelation(
            unique_id=f"source.{project.name}.{source_name}.{name}",
            resource_type="source",
            name=name,
            identifier=_text(table.get("identifier")) or name,
            schema=_text(source.get("schema")) or source_name,
            database=_text(source.get("database")),
            description=_text(table.get("description")),
            columns=_columns(table, at, found),
            depends_on=(),
            origin=at,
            properties_file=shown,
            meta=meta,
        ))
    return out


def _model_sql(project: DbtProject) -> dict[str, Path]:
    """Model name -> its SQL file (a model is named after its file)."""
    out: dict[str, Path] = {}
    for rel in project.model_paths:
        folder = project.root / rel
        if folder.is_dir():
            for path in sorted(folder.rglob("*.sql")):
                out.setdefault(path.stem, path)
    return out


_CALL = re.compile(r"\b(ref|source)\s*\(([^)]*)\)")
_STRING = re.compile(r"""(?:'([^']*)'|"([^"]*)")""")


def model_parents(sql: str, project: str) -> tuple[str, ...]:
    """Unique ids of what a model's SQL reads: ``{{ ref('m') }}``, ``{{ ref('pkg', 'm') }}``,
    ``{{ source('s', 't') }}``, in order, each once.

    Keyword arguments (``v=2``, ``version=2``) are skipped: only positional strings name the parent.
    A ref names a model unless the project documents a seed or snapshot of that name; the caller
    resolves that, as dbt does, from what it knows.
    """
    out: list[str] = []
    for kind, args in _CALL.findall(sql):
        positional = [a or b for a, b in _STRING.findall(re.sub(r"\b\w+\s*=\s*('[^']*'|\"[^\"]*\"|[^,]*)", "", args))]
        if kind == "ref" and positional:
            unique_id = f"model.{project}.{positional[-1]}"
        elif kind == "source" and len(positional) == 2:
            unique_id = f"source.{project}.{positional[0]}.{positional[1]}"
        else:
            continue
        if unique_id not in out:
            out.append(unique_id)
    return tuple(out)
