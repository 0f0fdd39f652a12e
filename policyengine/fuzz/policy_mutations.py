"""Mutations of a policy folder, each with the effect it must have (the policy fuzzer's generator).

A policy folder is read into a :class:`Workspace`: every file's bytes, and its data as the project's
strict reader parses it. *Structural* mutations change the data (drop a role from a principal, lower
a clearance, misspell a key, ...) and the file is written back as YAML or JSON; *text-level* mutations
change the bytes (truncation, a flipped bit, broken indentation, a duplicated key, YAML anchors, aliases
and tags). Every mutation says what must come of it (:class:`Expectation`):

- ``load``: the set loads, and its decisions differ from the original's only in the cells of its
  scopes (:class:`~policyengine.fuzz.policy_matrix.Scope`), only in the stated direction;
- ``fail``: the set is refused, with a problem at one of its ``primary`` locations (the mutated file
  and field), and no problem that none of its locations explains;
- ``either``: one of the two (lowering a clearance may leave a role reading an unprotected sensitive
  column, which validation refuses, at that column).

Expectations are computed from the documents as they are when the mutation is applied, never from
the loader's answer: the loader is what is being checked.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from policyengine.fuzz.policy_matrix import ROWS_CELL, Direction, Location, Scope
from policyengine.model import PolicySet, name_key
from policyengine.model import files as _files
from policyengine.model.base import normalize_key
from policyengine.model.files import (
    DEFAULT_ENVIRONMENTS,
    DEFAULT_LEVELS,
    ColumnSpec,
    ContractSpec,
    PrincipalSpec,
    RolesFile,
    RoleSpec,
    RowAccessRule,
    SettingsFile,
)
from policyengine.model.problems import format_path
from policyengine.model.protections import Custom, Generalize, Partial, Redact
from policyengine.model.reading import ReadError, _StrictLoader, parse_text
from policyengine.model.types import TypeFamily, UnknownType, parse_column_type

SUFFIXES = (".yaml", ".yml", ".json")
PathT = tuple[str | int, ...]

# --- keys as the loader spells them ------------------------------------------------------------------

#: a derived table's ``derivation: {sql, dialect}`` (when the model has it)
_DERIVATION = getattr(_files, "Derivation", None)
_MODELS = (SettingsFile, RolesFile, RoleSpec, PrincipalSpec, ColumnSpec, RowAccessRule, ContractSpec,
           Partial, Generalize, Redact, Custom) + ((_DERIVATION,) if _DERIVATION is not None else ())

#: normalized key -> the spelling the loader reports it under (``originating_source`` -> ``originatingSource``)
CANONICAL: dict[str, str] = {}
for _model in _MODELS:
    for _name, _info in _model.model_fields.items():
        CANONICAL[normalize_key(_info.alias or _name)] = _info.alias or _name
        CANONICAL[normalize_key(_name)] = _info.alias or _name

#: every key any policy file may hold, normalized: a misspelling must not land on one of them
KNOWN_KEYS = frozenset(CANONICAL) | {"tables"}

#: the keys of each kind of mapping (``owner``), normalized
OWNER_KEYS: dict[str, frozenset[str]] = {
    "settings": frozenset(normalize_key(k) for k in SettingsFile.model_fields),
    "rolesfile": frozenset(normalize_key(k) for k in RolesFile.model_fields),
    "role": frozenset(normalize_key(k) for k in RoleSpec.model_fields),
    "principal": frozenset(normalize_key(k) for k in PrincipalSpec.model_fields),
    "contract": frozenset(normalize_key(i.alias or n) for n, i in ContractSpec.model_fields.items()),
    "column": frozenset(normalize_key(i.alias or n) for n, i in ColumnSpec.model_fields.items()),
    "rule": frozenset(normalize_key(k) for k in RowAccessRule.model_fields),
    "protection": frozenset(normalize_key(k) for m in (Partial, Generalize, Redact, Custom) for k in m.model_fields),
}
if _DERIVATION is not None:
    OWNER_KEYS["derivation"] = frozenset(normalize_key(k) for k in _DERIVATION.model_fields)
SCHEMA_OWNERS = frozenset(OWNER_KEYS)

#: (owner, canonical key) that validation requires
REQUIRED = {("column", "name"), ("column", "type"), ("principal", "roles"), ("rule", "roles"),
            ("rule", "where"), ("contract", "columns"), ("protection", "kind"), ("protection", "expr"),
            ("derivation", "sql")}


def canon(key: Any) -> str:
    return CANONICAL.get(normalize_key(key), str(key))


def find_key(mapping: Any, name: str) -> Any:
    """The key of ``mapping`` that means ``name`` (case, '_' and '-' ignored), or None."""
    if not isinstance(mapping, dict):
        return None
    wanted = normalize_key(name)
    return next((k for k in mapping if isinstance(k, str) and normalize_key(k) == wanted), None)


def get(mapping: Any, name: str, default: Any = None) -> Any:
    key = find_key(mapping, name)
    return default if key is None else mapping[key]


def names_in(value: Any) -> list[str]:
    """A one-or-many list of names (``inherits: reader`` is ``[reader]``), its text items only."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def sql_words(sql: str) -> set[str]:
    """The identifiers of a SQL text, lower case, string literals left out (a cheap over-approximation
    of the names it refers to)."""
    text = re.sub(r"'(?:[^']|'')*'", "''", sql)
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", text)}
    words |= {w.lower() for w in re.findall(r'"([^"]+)"', text)}
    return words


def rename_key(mapping: dict[Any, Any], old: Any, new: Any, value: Any = None, *, keep_value: bool = True) -> None:
    """Rename a key in place, keeping the mapping's order."""
    items = list(mapping.items())
    mapping.clear()
    for key, item in items:
        if key == old:
            mapping[new] = item if keep_value else value
        else:
            mapping[key] = item


def insert_after(mapping: dict[Any, Any], after: Any, key: Any, value: Any) -> None:
    items = list(mapping.items())
    mapping.clear()
    for k, v in items:
        mapping[k] = v
        if k == after:
            mapping[key] = value


# --- the policy folder as data ---------------------------------------------------------------------

class RawLiteral:
    """A value written verbatim into the file, where no serializer would write it (``1e999``, a
    5,000-digit number, a list nested 3,000 deep)."""

    def __init__(self, text: str):
        self.text = text

    def __deepcopy__(self, memo: dict[int, Any]) -> RawLiteral:
        return self


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Writes each value out: no anchors for objects that happen to be shared (libyaml when present:
    writing is the fuzzer's own cost, not the loader's)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def serialize(data: Any, *, as_json: bool) -> bytes:
    literals: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, RawLiteral):
            marker = f"__fuzz_literal_{len(literals)}__"
            literals[marker] = value.text
            return marker
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    plain = swap(data)
    if as_json:
        text = json.dumps(plain, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.dump(plain, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    for marker, literal in literals.items():
        for quoted in (f'"{marker}"', f"'{marker}'", marker):
            text = text.replace(quoted, literal)
    return text.encode("utf-8")


@dataclass
class PolicyFile:
    """One file of the folder: its original bytes, its data, and what a mutation made of it."""

    rel: str
    original: bytes
    #: as the strict reader parses it; ``READ_FAILED`` when it cannot
    data: Any
    #: set by a text-level mutation: written as is (``data`` no longer describes the file)
    text: bytes | None = None
    #: ``data`` was changed: the file is written serialized
    dirty: bool = False

    @property
    def is_json(self) -> bool:
        return self.rel.lower().endswith(".json")

    @property
    def kind(self) -> str:
        if self.rel.startswith("tables/"):
            return "table"
        return "settings" if Path(self.rel).stem == "policyengine" else "roles"

    @property
    def stem(self) -> str:
        return Path(self.rel).stem

    @property
    def structured(self) -> bool:
        """Whether structural mutations can work on it (it was read, and no text mutation changed it)."""
        return self.data is not READ_FAILED and self.text is None

    def render(self) -> bytes:
        if self.text is not None:
            return self.text
        if not self.dirty:
            return self.original
        return serialize(self.data, as_json=self.is_json)

    def source_text(self) -> str:
        return self.render().decode("utf-8", errors="replace")


READ_FAILED = object()


@dataclass
class Workspace:
    """A policy folder being mutated: its files by path relative to the folder."""

    files: dict[str, PolicyFile]

    @classmethod
    def read(cls, root: Path) -> Workspace:
        files: dict[str, PolicyFile] = {}
        candidates = [p for p in root.iterdir() if p.is_file() and p.stem in ("policyengine", "roles")
                      and p.suffix.lower() in SUFFIXES]
        tables = root / "tables"
        if tables.is_dir():
            candidates += sorted(p for p in tables.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        for path in sorted(candidates, key=lambda p: p.relative_to(root).as_posix()):
            rel = path.relative_to(root).as_posix()
            raw = path.read_bytes()
            try:
                data = parse_text(raw.decode("utf-8-sig"), json_file=path.suffix.lower() == ".json")
            except (ReadError, UnicodeDecodeError):
                data = READ_FAILED
            files[rel] = PolicyFile(rel, raw, data)
        return cls(files)

    def copy(self) -> Workspace:
        return Workspace({rel: replace(f, data=copy.deepcopy(f.data) if f.data is not READ_FAILED else f.data)
                          for rel, f in self.files.items()})

    def write(self, folder: Path) -> None:
        for rel, file in self.files.items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.render())

    def first(self, kind: str) -> PolicyFile | None:
        return next((f for f in self.files.values() if f.kind == kind), None)

    def tables(self) -> list[PolicyFile]:
        return [f for f in self.files.values() if f.kind == "table"]

    def changed(self, file: PolicyFile) -> None:
        file.dirty = True

    def levels(self) -> list[str]:
        file = self.first("settings")
        value = get(file.data, "sensitivity_levels") if file is not None and file.structured else None
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return [v.strip().lower() for v in value]
        return list(DEFAULT_LEVELS)

    def environments(self) -> list[str]:
        file = self.first("settings")
        value = get(file.data, "environments") if file is not None and file.structured else None
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return [v.strip().lower() for v in value]
        return list(DEFAULT_ENVIRONMENTS)

    def default_sensitivity(self) -> str:
        file = self.first("settings")
        value = get(file.data, "default_sensitivity") if file is not None and file.structured else None
        return value.strip().lower() if isinstance(value, str) else self.levels()[0]


# --- views of the documents, laid out as the loader reads them --------------------------------------

@dataclass
class RolesView:
    file: PolicyFile
    roles: dict[Any, Any] | None
    principals: dict[Any, Any] | None

    def role_items(self) -> list[tuple[str, dict[Any, Any]]]:
        return [(k, v) for k, v in (self.roles or {}).items() if isinstance(k, str) and isinstance(v, dict)]

    def principal_items(self) -> list[tuple[str, dict[Any, Any]]]:
        return [(k, v) for k, v in (self.principals or {}).items() if isinstance(k, str) and isinstance(v, dict)]

    def role_keys(self) -> set[str]:
        return {name_key(k) for k in (self.roles or {}) if isinstance(k, str)}


def roles_view(ws: Workspace) -> RolesView | None:
    file = ws.first("roles")
    if file is None or not file.structured or not isinstance(file.data, dict):
        return None
    roles = get(file.data, "roles")
    principals = get(file.data, "principals")
    return RolesView(file, roles if isinstance(roles, dict) else None,
                     principals if isinstance(principals, dict) else None)


@dataclass
class ContractView:
    """One contract where it sits in its file, with the path prefix the loader reports it under."""

    file: PolicyFile
    prefix: PathT
    contract: dict[Any, Any] | None  # None: a BigQuery-style schema list (the file is the columns)
    holder: list[Any] | None  # the list holding the contract, when the file holds several
    index: int | None

    @property
    def columns(self) -> list[Any] | None:
        if self.contract is None:
            return self.file.data  # type: ignore[no-any-return]
        value = get(self.contract, "columns")
        return value if isinstance(value, list) else None

    @property
    def columns_path(self) -> PathT:
        return () if self.contract is None else self.prefix + ("columns",)

    @property
    def name(self) -> str:
        table = get(self.contract, "table") if self.contract is not None else None
        return table if isinstance(table, str) and table.strip() else self.file.stem

    @property
    def key(self) -> str:
        return name_key(self.name)

    def column_items(self) -> list[tuple[int, dict[Any, Any]]]:
        return [(i, c) for i, c in enumerate(self.columns or []) if isinstance(c, dict)]

    def named_columns(self) -> list[tuple[int, dict[Any, Any], str]]:
        return [(i, c, n) for i, c in self.column_items() for n in [get(c, "name")] if isinstance(n, str) and n.strip()]

    def column_path(self, index: int) -> PathT:
        return self.columns_path + (index,)

    @property
    def rules(self) -> list[Any] | None:
        value = get(self.contract, "row_access") if self.contract is not None else None
        return value if isinstance(value, list) else None

    def rule_items(self) -> list[tuple[int, dict[Any, Any]]]:
        return [(i, r) for i, r in enumerate(self.rules or []) if isinstance(r, dict)]

    def rule_path(self, index: int) -> PathT:
        return self.prefix + ("row_access", index)

    @property
    def derivation_sql(self) -> str | None:
        """The SQL the table is derived by (``derivation: {sql}``), when it is a derived table."""
        sql = get(get(self.contract, "derivation"), "sql") if self.contract is not None else None
        return sql if isinstance(sql, str) else None

    @property
    def derivation_path(self) -> PathT:
        return self.prefix + ("derivation", "sql")


def _is_schema_list(data: Any) -> bool:
    """As the loader tells a BigQuery-style schema list from a list of contracts (by its mappings)."""
    mappings = [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []
    return (bool(mappings) and not any(find_key(i, "columns") is not None for i in mappings)
            and any(find_key(i, "name") is not None or find_key(i, "type") is not None for i in mappings))


def contracts(ws: Workspace) -> list[ContractView]:
    out: list[ContractView] = []
    for file in ws.tables():
        if not file.structured:
            continue
        data = file.data
        if isinstance(data, dict):
            wrapper = find_key(data, "tables")
            if find_key(data, "columns") is None and wrapper is not None and isinstance(data[wrapper], list):
                out += [ContractView(file, (wrapper, i), item, data[wrapper], i)
                        for i, item in enumerate(data[wrapper]) if isinstance(item, dict)]
            else:
                out.append(ContractView(file, (), data, None, None))
        elif _is_schema_list(data):
            out.append(ContractView(file, (), None, None, None))
        elif isinstance(data, list):
            single = len(data) == 1
            out += [ContractView(file, () if single else (i,), item, data, i)
                    for i, item in enumerate(data) if isinstance(item, dict)]
    return out


def find_contract(ws: Workspace, key: str) -> ContractView | None:
    return next((c for c in contracts(ws) if c.key == key), None)


def column_family(column: dict[Any, Any]) -> TypeFamily | None:
    written = get(column, "type")
    if not isinstance(written, str):
        return None
    try:
        return parse_column_type(written).family
    except UnknownType:
        return None


def column_mode(column: dict[Any, Any]) -> str:
    mode = get(column, "mode")
    return mode.strip().lower() if isinstance(mode, str) else "nullable"


def protection_kind(value: Any) -> str | None:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value.strip().lower()
    kind = get(value, "kind")
    return kind.strip().lower() if isinstance(kind, str) else None


# --- every key and value, located ---------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Slot:
    """A key of a mapping (or an item of a list) in a document, with the path the loader reports it
    under. ``field`` is the canonical key for a key of the schema; None for names and list items."""

    file: PolicyFile
    container: Any
    key: Any
    raw: tuple[str, ...]  # keys as written (str), list indices as str: to find YAML nodes
    path: PathT
    owner: str
    field: str | None

    @property
    def value(self) -> Any:
        return self.container[self.key]

    @property
    def parent_path(self) -> PathT:
        return self.path[:-1]


def slots(ws: Workspace) -> list[Slot]:
    """Every located key and list item of every structured document."""
    out: list[Slot] = []

    def mapping(file: PolicyFile, data: dict[Any, Any], raw: tuple[str, ...], path: PathT, owner: str) -> None:
        for key, value in data.items():
            field_name = canon(key) if owner in SCHEMA_OWNERS else None
            step = field_name if field_name is not None else key
            slot = Slot(file, data, key, raw + (str(key),), path + (step,), owner, field_name)
            out.append(slot)
            inner(file, slot, value)

    def items(file: PolicyFile, data: list[Any], raw: tuple[str, ...], path: PathT, owner: str) -> list[Slot]:
        made = [Slot(file, data, i, raw + (str(i),), path + (i,), owner, None) for i in range(len(data))]
        out.extend(made)
        return made

    def inner(file: PolicyFile, slot: Slot, value: Any) -> None:
        owner, name = slot.owner, slot.field
        if owner == "rolesfile" and name == "roles" and isinstance(value, dict):
            for key, entry in value.items():
                entry_slot = Slot(file, value, key, slot.raw + (str(key),), slot.path + (key,), "roles", None)
                out.append(entry_slot)
                if isinstance(entry, dict):
                    mapping(file, entry, entry_slot.raw, entry_slot.path, "role")
        elif owner == "rolesfile" and name == "principals" and isinstance(value, dict):
            for key, entry in value.items():
                entry_slot = Slot(file, value, key, slot.raw + (str(key),), slot.path + (key,), "principals", None)
                out.append(entry_slot)
                if isinstance(entry, dict):
                    mapping(file, entry, entry_slot.raw, entry_slot.path, "principal")
        elif owner == "role" and name == "clearance" and isinstance(value, dict):
            mapping(file, value, slot.raw, slot.path, "clearance")
        elif owner == "principal" and name == "attributes" and isinstance(value, dict):
            mapping(file, value, slot.raw, slot.path, "attributes")
        elif name == "meta" and isinstance(value, dict):
            mapping(file, value, slot.raw, slot.path, "meta")
        elif owner == "column" and name == "protection" and isinstance(value, dict):
            mapping(file, value, slot.raw, slot.path, "protection")
        elif isinstance(value, list) and name in ("inherits", "unmask", "roles", "sensitivity_levels", "environments"):
            items(file, value, slot.raw, slot.path, "names")

    for file in ws.files.values():
        if not file.structured or file.kind == "table":
            continue
        if isinstance(file.data, dict):
            mapping(file, file.data, (), (), "settings" if file.kind == "settings" else "rolesfile")
    for view in contracts(ws):
        raw_prefix = tuple(str(p) for p in ((view.prefix[0], view.prefix[1]) if len(view.prefix) == 2
                                             else (view.index,) if view.index is not None else ()))
        if view.contract is not None:
            for key, value in view.contract.items():
                name = canon(key)
                slot = Slot(view.file, view.contract, key, raw_prefix + (str(key),), view.prefix + (name,),
                            "contract", name)
                out.append(slot)
                if name == "meta" and isinstance(value, dict):
                    inner(view.file, slot, value)
                elif name == "derivation" and isinstance(value, dict):
                    mapping(view.file, value, slot.raw, slot.path, "derivation")
                elif name == "row_access" and isinstance(value, list):
                    for rule_slot in items(view.file, value, slot.raw, slot.path, "rules"):
                        if isinstance(rule_slot.value, dict):
                            mapping(view.file, rule_slot.value, rule_slot.raw, rule_slot.path, "rule")
            columns_raw = raw_prefix + (str(find_key(view.contract, "columns")),)
        else:
            columns_raw = ()
        columns = view.columns
        if isinstance(columns, list):
            for column_slot in items(view.file, columns, columns_raw, view.columns_path, "columns"):
                if isinstance(column_slot.value, dict):
                    mapping(view.file, column_slot.value, column_slot.raw, column_slot.path, "column")
    return out


# --- who holds a role ----------------------------------------------------------------------------------

def _graph(ws: Workspace) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    view = roles_view(ws)
    if view is None:
        return {}, {}
    parents = {name_key(n): [name_key(p) for p in names_in(get(e, "inherits"))] for n, e in view.role_items()}
    for name in view.roles or {}:
        if isinstance(name, str):
            parents.setdefault(name_key(name), [])
    principals = {name_key(n): [name_key(r) for r in names_in(get(e, "roles"))] for n, e in view.principal_items()}
    return parents, principals


def _expand(parents: dict[str, list[str]], keys: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(keys)
    while stack:
        key = stack.pop()
        if key not in seen:
            seen.add(key)
            stack.extend(parents.get(key, []))
    return seen


def principal_id(name: str) -> str:
    return f"principal:{name_key(name)}"


def role_id(name: str) -> str:
    return f"role:{name_key(name)}"


# --- what a mutation expects -------------------------------------------------------------------------

@dataclass(frozen=True)
class Expectation:
    """What must come of a mutation (see the module's docstring)."""

    outcome: str  # load | fail | either
    scopes: tuple[Scope, ...] = ()
    primary: tuple[Location, ...] = ()
    secondary: tuple[Location, ...] = ()


def loads(*scopes: Scope) -> Expectation:
    return Expectation("load", tuple(scopes))


def fails(*primary: Location, secondary: Sequence[Location] = ()) -> Expectation:
    return Expectation("fail", (), tuple(primary), tuple(secondary))


def either(scopes: Sequence[Scope], primary: Sequence[Location], secondary: Sequence[Location] = ()) -> Expectation:
    return Expectation("either", tuple(scopes), tuple(primary), tuple(secondary))


#: a role left reading a sensitive column that has no protection: validation refuses it at the column
HOLE = Location(None, None, contains="sensitive column without protection")

#: marks a reference found by words only (it may not be one): the mutation may then also load
MAYBE = ""


def _by_certainty(references: list[Location]) -> tuple[list[Location], list[Location]]:
    """References that certainly break (``fail``), and those that may (``either``)."""
    return ([r for r in references if r.contains != MAYBE],
            [replace(r, contains=None) for r in references if r.contains == MAYBE])


def _removal(references: list[Location], scope: Scope) -> Expectation:
    certain, possible = _by_certainty(references)
    if certain:
        return fails(*certain, secondary=possible)
    return either([scope], possible) if possible else loads(scope)


#: a column declared less sensitive than a column its lineage names (originatingSource, derivation)
LINEAGE = Location(None, None, contains="at least as sensitive as its sources")

#: problems a change in one file may cause in another: references to what it defined, or stopped defining
CROSS_FILE = tuple(Location(None, None, contains=words) for words in (
    "undefined role", "unknown table", "unknown column", "sensitive column without protection",
    "unknown level", "unknown environment", "is defined twice", "names unknown column",
    "inheritance cycle", "which this set does not define", "at least as sensitive as its sources",
    "cannot be analysed", "is not produced by the derivation", "which the contract does not list"))


@dataclass(frozen=True)
class Mutation:
    operator: str
    description: str
    expect: Expectation
    #: (file, path) of what it changed: a later mutation of a combination must not touch the same place
    touched: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Context:
    """What every operator may read: the original folder and the set it loads to."""

    original: Workspace
    policy_set: PolicySet

    def holders(self, ws: Workspace, role: str) -> frozenset[str]:
        """Every subject (principal, or role on its own) that holds ``role``, directly or through
        inheritance, in the original set or in the mutated one: the subjects a change to that role
        can reach."""
        out: set[str] = set()
        wanted = name_key(role)
        for workspace in (self.original, ws):
            parents, principals = _graph(workspace)
            for key in parents:
                if wanted in _expand(parents, [key]):
                    out.add(f"role:{key}")
            for key, held in principals.items():
                if wanted in _expand(parents, held):
                    out.add(f"principal:{key}")
        return frozenset(out)


def loc(file: PolicyFile | str, path: PathT | None, *, under: bool = True, contains: str | None = None,
        line: int | None = None) -> Location:
    rel = file if isinstance(file, str) else file.rel
    return Location(rel, None if path is None else format_path(path), under, contains, line)


def at(file: PolicyFile, path: PathT) -> tuple[str, str]:
    return file.rel, format_path(path)


def where(file: PolicyFile, path: PathT) -> str:
    text = format_path(path)
    return f"{file.rel}: {text}" if text else file.rel


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- operators ----------------------------------------------------------------------------------------

OperatorFn = Callable[[Workspace, random.Random, Context], Mutation | None]


@dataclass(frozen=True)
class Operator:
    name: str
    level: str  # structural | text
    effect: str  # the declared effect, in words
    apply: OperatorFn = field(repr=False)


OPERATORS: list[Operator] = []


def operator(name: str, level: str, effect: str) -> Callable[[OperatorFn], OperatorFn]:
    def register(fn: OperatorFn) -> OperatorFn:
        OPERATORS.append(Operator(name, level, effect, fn))
        return fn
    return register


def _choice(rng: random.Random, items: Sequence[Any]) -> Any:
    return rng.choice(list(items)) if items else None


# ... principals ...

@operator("remove_principal_role", "structural",
          "restricts that principal; removing its only role must fail at principals.P.roles")
def remove_principal_role(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    candidates = [(n, e) for n, e in view.principal_items() if names_in(get(e, "roles"))] if view else []
    if not candidates:
        return None
    name, entry = _choice(rng, candidates)
    key = find_key(entry, "roles")
    held = names_in(entry[key])
    removed = held.pop(rng.randrange(len(held)))
    entry[key] = held
    ws.changed(view.file)
    path = ("principals", name, "roles")
    if held:
        expect = loads(Scope(Direction.RESTRICT, subjects=frozenset({principal_id(name)})))
    else:
        expect = fails(loc(view.file, path, under=False, contains="must not be empty"))
    return Mutation("remove_principal_role", f"{where(view.file, path)}: remove {removed!r}", expect,
                    (at(view.file, path),))


@operator("add_principal_role", "structural", "loosens that principal only")
def add_principal_role(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    if view is None or not view.role_items():
        return None
    candidates = []
    for name, entry in view.principal_items():
        held = {name_key(r) for r in names_in(get(entry, "roles"))}
        missing = [r for r, _ in view.role_items() if name_key(r) not in held]
        if missing and find_key(entry, "roles") is not None:
            candidates.append((name, entry, missing))
    if not candidates:
        return None
    name, entry, missing = _choice(rng, candidates)
    role = _choice(rng, missing)
    key = find_key(entry, "roles")
    entry[key] = names_in(entry[key]) + [role]
    ws.changed(view.file)
    path = ("principals", name, "roles")
    return Mutation("add_principal_role", f"{where(view.file, path)}: add {role!r}",
                    loads(Scope(Direction.LOOSEN, subjects=frozenset({principal_id(name)}))), (at(view.file, path),))


@operator("remove_principal", "structural", "that principal becomes unknown: refused everywhere (restricts)")
def remove_principal(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    if view is None or not view.principals:
        return None
    name = _choice(rng, [k for k in view.principals if isinstance(k, str)])
    if name is None:
        return None
    del view.principals[name]
    ws.changed(view.file)
    path = ("principals", name)
    return Mutation("remove_principal", f"{where(view.file, path)}: removed",
                    loads(Scope(Direction.RESTRICT, subjects=frozenset({principal_id(name)}))), (at(view.file, path),))


# ... unmask ...

def _unmask_target(ws: Workspace, ref: str) -> tuple[str, str] | None:
    if "." not in ref:
        return None
    table, column = ref.rsplit(".", 1)
    wanted = name_key(table)
    found = [c for c in contracts(ws) if c.key == wanted or c.key.endswith("." + wanted)]
    return (found[0].key if len(found) == 1 else wanted), name_key(column)


@operator("remove_unmask", "structural", "restricts that column for the holders of that role (fails at the "
          "column if it has no protection and the role now reads it uncleared)")
def remove_unmask(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    candidates = [(n, e) for n, e in view.role_items() if names_in(get(e, "unmask"))] if view else []
    if not candidates:
        return None
    name, entry = _choice(rng, candidates)
    key = find_key(entry, "unmask")
    refs = names_in(entry[key])
    removed = refs.pop(rng.randrange(len(refs)))
    entry[key] = refs
    ws.changed(view.file)
    target = _unmask_target(ws, removed)
    path = ("roles", name, "unmask")
    scope = Scope(Direction.RESTRICT, subjects=ctx.holders(ws, name),
                  tables=frozenset({target[0]}) if target else None, cells=frozenset({target[1]}) if target else None)
    # an unmasked column with protection 'none' is unprotected for the role once the exception goes
    return Mutation("remove_unmask", f"{where(view.file, path)}: remove {removed!r}",
                    either([scope], [HOLE]), (at(view.file, path),))


@operator("add_unmask", "structural", "loosens that column for the holders of that role")
def add_unmask(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    tables = [c for c in contracts(ws) if c.named_columns()]
    if view is None or not view.role_items() or not tables:
        return None
    name, entry = _choice(rng, view.role_items())
    table = _choice(rng, tables)
    _, _, column = _choice(rng, table.named_columns())
    ref = f"{table.name}.{column}"
    key = find_key(entry, "unmask")
    if key is None:
        entry["unmask"] = [ref]
    else:
        entry[key] = names_in(entry[key]) + [ref]
    ws.changed(view.file)
    path = ("roles", name, "unmask")
    scope = Scope(Direction.LOOSEN, subjects=ctx.holders(ws, name), tables=frozenset({table.key}),
                  cells=frozenset({name_key(column)}))
    return Mutation("add_unmask", f"{where(view.file, path)}: add {ref!r}", loads(scope), (at(view.file, path),))


# ... clearance ...

def _clearance_of(entry: dict[Any, Any], env: str) -> str | None:
    value = get(entry, "clearance")
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.strip().lower() == env and isinstance(v, str):
                return v.strip().lower()
    return None


def _set_clearance(ws: Workspace, entry: dict[Any, Any], env: str, level: str) -> PathT:
    """Set the role's own clearance in one environment, keeping the others; the path of the change."""
    key = find_key(entry, "clearance")
    value = entry.get(key) if key is not None else None
    if isinstance(value, str):
        value = {e: value for e in ws.environments()}
    if not isinstance(value, dict):
        value = {}
    env_key = next((k for k in value if isinstance(k, str) and k.strip().lower() == env), env)
    value[env_key] = level
    if key is None:
        entry["clearance"] = value
    else:
        entry[key] = value
    return ("clearance", env_key)


@operator("lower_clearance", "structural",
          "restricts the holders of that role in that environment (or fails where a role would then "
          "read an unprotected sensitive column)")
def lower_clearance(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    if view is None:
        return None
    levels, envs = ws.levels(), ws.environments()
    candidates = []
    for name, entry in view.role_items():
        clearance = get(entry, "clearance")
        if clearance is not None and not isinstance(clearance, (str, dict)):
            continue
        for env in envs:
            current = _clearance_of(entry, env)
            if current == "none":
                continue
            lower = levels[:levels.index(current)] if current in levels else []
            candidates.append((name, entry, env, current, lower + ["none"]))
    if not candidates:
        return None
    name, entry, env, current, lower = _choice(rng, candidates)
    level = _choice(rng, lower)
    path = ("roles", name) + _set_clearance(ws, entry, env, level)
    ws.changed(view.file)
    scope = Scope(Direction.RESTRICT, subjects=ctx.holders(ws, name), environments=frozenset({env}))
    return Mutation("lower_clearance", f"{where(view.file, path)}: {current} -> {level}",
                    either([scope], [HOLE]), (at(view.file, ("roles", name, "clearance")),))


@operator("raise_clearance", "structural",
          "loosens the holders of that role in that environment (or fails where an unblocked role "
          "would read an unprotected sensitive column)")
def raise_clearance(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    if view is None:
        return None
    levels, envs = ws.levels(), ws.environments()
    candidates = []
    for name, entry in view.role_items():
        clearance = get(entry, "clearance")
        if clearance is not None and not isinstance(clearance, (str, dict)):
            continue
        for env in envs:
            current = _clearance_of(entry, env)
            higher = levels[levels.index(current) + 1:] if current in levels else levels
            if higher:
                candidates.append((name, entry, env, current, higher))
    if not candidates:
        return None
    name, entry, env, current, higher = _choice(rng, candidates)
    level = _choice(rng, higher)
    path = ("roles", name) + _set_clearance(ws, entry, env, level)
    ws.changed(view.file)
    scope = Scope(Direction.LOOSEN, subjects=ctx.holders(ws, name), environments=frozenset({env}))
    return Mutation("raise_clearance", f"{where(view.file, path)}: {current} -> {level}",
                    either([scope], [HOLE]), (at(view.file, ("roles", name, "clearance")),))


@operator("remove_inherits", "structural", "restricts the holders of that role (or fails where one would read "
          "an unprotected sensitive column)")
def remove_inherits(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    candidates = [(n, e) for n, e in view.role_items() if names_in(get(e, "inherits"))] if view else []
    if not candidates:
        return None
    name, entry = _choice(rng, candidates)
    key = find_key(entry, "inherits")
    parents = names_in(entry[key])
    removed = parents.pop(rng.randrange(len(parents)))
    entry[key] = parents
    ws.changed(view.file)
    path = ("roles", name, "inherits")
    scope = Scope(Direction.RESTRICT, subjects=ctx.holders(ws, name))
    return Mutation("remove_inherits", f"{where(view.file, path)}: remove {removed!r}", either([scope], [HOLE]),
                    (at(view.file, path),))


@operator("add_inherits", "structural",
          "a role inherits one more role (not a descendant of it): loosens the holders of that role")
def add_inherits(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    if view is None:
        return None
    parents, _ = _graph(ws)
    candidates = []
    for name, entry in view.role_items():
        inherits = get(entry, "inherits")
        if inherits is not None and not isinstance(inherits, (str, list)):
            continue
        key = name_key(name)
        # not itself, not one it holds already, not one that holds it (that would be a cycle)
        options = [n for n, _ in view.role_items() if name_key(n) not in _expand(parents, [key])
                   and key not in _expand(parents, [name_key(n)])]
        if options:
            candidates.append((name, entry, options))
    if not candidates:
        return None
    name, entry, options = _choice(rng, candidates)
    parent = _choice(rng, options)
    key = find_key(entry, "inherits")
    entry[key if key is not None else "inherits"] = (names_in(entry[key]) if key is not None else []) + [parent]
    ws.changed(view.file)
    path = ("roles", name, "inherits")
    return Mutation("add_inherits", f"{where(view.file, path)}: add {parent!r}",
                    loads(Scope(Direction.LOOSEN, subjects=ctx.holders(ws, name))), (at(view.file, path),))


# ... roles and tables, removed ...

def role_references(ws: Workspace, role: str) -> list[Location]:
    """Where the set names ``role``: each is an undefined role once the role is gone."""
    wanted = name_key(role)
    out: list[Location] = []
    view = roles_view(ws)
    if view is not None:
        for name, entry in view.role_items():
            for i, parent in enumerate(names_in(get(entry, "inherits"))):
                if name_key(parent) == wanted:
                    out.append(loc(view.file, ("roles", name, "inherits", i), under=False, contains="undefined role"))
        for name, entry in view.principal_items():
            for i, held in enumerate(names_in(get(entry, "roles"))):
                if name_key(held) == wanted:
                    out.append(loc(view.file, ("principals", name, "roles", i), under=False, contains="undefined role"))
    session = re.compile(r"IS_ROLE_IN_SESSION\s*\(\s*'" + re.escape(role) + r"'\s*\)", re.IGNORECASE)
    for view_ in contracts(ws):
        for i, rule in view_.rule_items():
            for j, held in enumerate(names_in(get(rule, "roles"))):
                if name_key(held) == wanted:
                    out.append(loc(view_.file, view_.rule_path(i) + ("roles", j), under=False,
                                   contains="undefined role"))
            text = get(rule, "where")
            if isinstance(text, str) and session.search(text):
                out.append(loc(view_.file, view_.rule_path(i) + ("where",), under=False, contains="undefined role"))
        for i, column in view_.column_items():
            expr = get(get(column, "protection"), "expr")
            if isinstance(expr, str) and session.search(expr):
                out.append(loc(view_.file, view_.column_path(i) + ("protection", "expr"), under=False,
                               contains="undefined role"))
    return out


@operator("remove_role", "structural",
          "must fail at every reference to the role; an unreferenced role's holders are restricted")
def remove_role(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    if view is None or not view.role_items():
        return None
    name, _ = _choice(rng, view.role_items())
    holders = ctx.holders(ws, name)
    del view.roles[name]  # type: ignore[union-attr]
    ws.changed(view.file)
    references = role_references(ws, name)
    path = ("roles", name)
    expect = fails(*references) if references else loads(Scope(Direction.RESTRICT, subjects=holders))
    return Mutation("remove_role", f"{where(view.file, path)}: removed ({len(references)} references)", expect,
                    (at(view.file, path),))


def table_references(ws: Workspace, table: ContractView) -> list[Location]:
    """Where the set names ``table`` in a way validation checks: unmask exceptions, and row access
    subqueries of other tables (lineage to a table the set does not have is kept as written)."""
    out: list[Location] = []
    last = table.key.split(".")[-1]
    view = roles_view(ws)
    if view is not None:
        for name, entry in view.role_items():
            for i, ref in enumerate(names_in(get(entry, "unmask"))):
                target = _unmask_target(ws, ref)
                if "." in ref and (name_key(ref.rsplit(".", 1)[0]) in (table.key, last)
                                   or (target is not None and target[0] == table.key)):
                    out.append(loc(view.file, ("roles", name, "unmask", i), under=False, contains="unknown table"))
    for other in contracts(ws):  # the table itself is gone already
        for i, rule in other.rule_items():
            text = get(rule, "where")
            if isinstance(text, str) and last in sql_words(text):
                out.append(loc(other.file, other.rule_path(i) + ("where",), under=False, contains="unknown table"))
        for i, column in other.column_items():
            source = get(column, "originatingSource")
            if isinstance(source, str) and ":" in source:
                parts = [name_key(p) for p in source.split(":", 1)[1].split(".")]
                if len(parts) >= 2 and ".".join(parts[:-1]) in (table.key, last):
                    out.append(loc(other.file, other.column_path(i) + ("originatingSource",), under=False,
                                   contains="which this set does not define"))
        sql = other.derivation_sql
        if sql is not None and last in sql_words(sql):  # may read the table (or only name a column so)
            out.append(replace(loc(other.file, other.derivation_path, under=False), contains=MAYBE))
    return out


def _remove_contract(ws: Workspace, table: ContractView) -> str:
    """Remove the contract (its file, when it holds only this one); what was removed, for the description."""
    if table.holder is not None and len([c for c in table.holder if isinstance(c, dict)]) > 1:
        del table.holder[table.index]  # type: ignore[arg-type]
        ws.changed(table.file)
        return f"{table.file.rel}: contract {table.name} removed"
    del ws.files[table.file.rel]
    return f"{table.file.rel}: file removed"


@operator("remove_table", "structural",
          "must fail at every unmask exception and row access subquery naming the table; otherwise "
          "the table is refused to everyone (restricts)")
def remove_table(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    views = contracts(ws)
    if len(views) < 2:
        return None
    table = _choice(rng, views)
    text = _remove_contract(ws, table)
    references = table_references(ws, table)
    expect = _removal(references, Scope(Direction.RESTRICT, tables=frozenset({table.key})))
    return Mutation("remove_table", f"{text} ({len(references)} references)", expect, ((table.file.rel, ""),))


# ... row access ...

@operator("add_row_rule", "structural",
          "a table without rules: restricts everyone's rows; with rules: loosens the rows of the "
          "holders of the rule's role")
def add_row_rule(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    tables = [c for c in contracts(ws) if c.contract is not None and c.named_columns()
              and (c.rules is not None or find_key(c.contract, "row_access") is None)]
    if view is None or not view.role_items() or not tables:
        return None
    table = _choice(rng, tables)
    role, _ = _choice(rng, view.role_items())
    _, _, column = _choice(rng, table.named_columns())
    condition = _choice(rng, ["TRUE", "FALSE", f"{column} IS NOT NULL", f"IS_ROLE_IN_SESSION('{role}')",
                              f"{column} IS NULL OR {column} IS NOT NULL"])
    had_rules = bool(table.rules)
    rule = {"roles": [role], "where": condition}
    if table.rules is None:
        table.contract["row_access"] = [rule]  # type: ignore[index]
    else:
        table.rules.append(rule)
    ws.changed(table.file)
    if had_rules:
        scope = Scope(Direction.LOOSEN, subjects=ctx.holders(ws, role), tables=frozenset({table.key}),
                      cells=frozenset({ROWS_CELL}))
    else:
        scope = Scope(Direction.RESTRICT, tables=frozenset({table.key}), cells=frozenset({ROWS_CELL}))
    path = table.prefix + ("row_access",)
    return Mutation("add_row_rule", f"{where(table.file, path)}: add {rule}", loads(scope), (at(table.file, path),))


@operator("remove_row_rule", "structural",
          "restricts the rows of the holders of the rule's roles; removing the last rule makes every "
          "row visible to everyone (loosens, as the file then says)")
def remove_row_rule(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    tables = [c for c in contracts(ws) if c.rule_items()]
    if not tables:
        return None
    table = _choice(rng, tables)
    index, rule = _choice(rng, table.rule_items())
    del table.rules[index]  # type: ignore[index]
    ws.changed(table.file)
    if table.rules:
        holders = frozenset().union(*(ctx.holders(ws, r) for r in names_in(get(rule, "roles"))))
        scope = Scope(Direction.RESTRICT, subjects=holders, tables=frozenset({table.key}), cells=frozenset({ROWS_CELL}))
    else:
        scope = Scope(Direction.LOOSEN, tables=frozenset({table.key}), cells=frozenset({ROWS_CELL}))
    path = table.prefix + ("row_access",)
    return Mutation("remove_row_rule", f"{where(table.file, path + (index,))}: removed", loads(scope),
                    (at(table.file, path),))


@operator("remove_role_from_rule", "structural",
          "restricts the rows of the holders of that role; a rule left with no role must fail")
def remove_role_from_rule(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = [(c, i, r) for c in contracts(ws) for i, r in c.rule_items() if names_in(get(r, "roles"))]
    if not candidates:
        return None
    table, index, rule = _choice(rng, candidates)
    key = find_key(rule, "roles")
    held = names_in(rule[key])
    removed = held.pop(rng.randrange(len(held)))
    rule[key] = held
    ws.changed(table.file)
    path = table.rule_path(index) + ("roles",)
    if held:
        expect = loads(Scope(Direction.RESTRICT, subjects=ctx.holders(ws, removed), tables=frozenset({table.key}),
                             cells=frozenset({ROWS_CELL})))
    else:
        expect = fails(loc(table.file, path, under=False, contains="must not be empty"))
    return Mutation("remove_role_from_rule", f"{where(table.file, path)}: remove {removed!r}", expect,
                    (at(table.file, path),))


# ... columns ...

def _sensitivity(ws: Workspace, column: dict[Any, Any]) -> str | None:
    value = get(column, "sensitivity")
    if value is None:
        return ws.default_sensitivity()
    return value.strip().lower() if isinstance(value, str) else None


def _set(ws: Workspace, file: PolicyFile, mapping: dict[Any, Any], name: str, value: Any) -> None:
    key = find_key(mapping, name)
    mapping[key if key is not None else name] = value
    ws.changed(file)


def _columns(ws: Workspace) -> list[tuple[ContractView, int, dict[Any, Any], str]]:
    return [(c, i, col, n) for c in contracts(ws) for i, col, n in c.named_columns()]


@operator("raise_sensitivity", "structural",
          "restricts that column for everyone (fails at the column if it has no protection and a "
          "role would read it uncleared, or at a column derived from it that is now below it)")
def raise_sensitivity(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    levels = ws.levels()
    candidates = [(c, i, col, n) for c, i, col, n in _columns(ws)
                  if _sensitivity(ws, col) in levels[:-1]]
    if not candidates:
        return None
    table, index, column, name = _choice(rng, candidates)
    current = _sensitivity(ws, column)
    level = _choice(rng, levels[levels.index(current) + 1:])  # type: ignore[arg-type]
    _set(ws, table.file, column, "sensitivity", level)
    path = table.column_path(index)
    scope = Scope(Direction.RESTRICT, tables=frozenset({table.key}), cells=frozenset({name_key(name)}))
    hole = loc(table.file, path + ("protection",), under=False, contains="sensitive column without protection")
    # a column derived from this one (its originatingSource, or a derivation reading it) is now less
    # sensitive than its source: refused there
    return Mutation("raise_sensitivity", f"{where(table.file, path + ('sensitivity',))}: {current} -> {level}",
                    either([scope], [hole, LINEAGE]), (at(table.file, path + ("sensitivity",)),))


@operator("lower_sensitivity", "structural",
          "loosens that column for everyone (fails at the column if that puts it below a column it is derived from)")
def lower_sensitivity(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    levels = ws.levels()
    candidates = [(c, i, col, n) for c, i, col, n in _columns(ws) if _sensitivity(ws, col) in levels[1:]]
    if not candidates:
        return None
    table, index, column, name = _choice(rng, candidates)
    current = _sensitivity(ws, column)
    level = _choice(rng, levels[:levels.index(current)])  # type: ignore[arg-type]
    _set(ws, table.file, column, "sensitivity", level)
    path = table.column_path(index)
    scope = Scope(Direction.LOOSEN, tables=frozenset({table.key}), cells=frozenset({name_key(name)}))
    # below the level of a column it is derived from: refused at this column
    lineage = loc(table.file, path, under=True, contains="at least as sensitive as its sources")
    return Mutation("lower_sensitivity", f"{where(table.file, path + ('sensitivity',))}: {current} -> {level}",
                    either([scope], [lineage]), (at(table.file, path + ("sensitivity",)),))


def column_references(ws: Workspace, table: ContractView, column: str) -> list[Location]:
    """Where the set names ``table.column`` in a way validation checks (over-approximated by words)."""
    wanted = name_key(column)
    last = table.key.split(".")[-1]
    out: list[Location] = []
    view = roles_view(ws)
    if view is not None:
        for name, entry in view.role_items():
            for i, ref in enumerate(names_in(get(entry, "unmask"))):
                target = _unmask_target(ws, ref)
                if target == (table.key, wanted):
                    out.append(loc(view.file, ("roles", name, "unmask", i), under=False, contains="unknown column"))
    for other in contracts(ws):
        same = other.file is table.file and other.index == table.index
        for i, rule in other.rule_items():
            text = get(rule, "where")
            if isinstance(text, str):
                words = sql_words(text)
                if wanted in words and (same or last in words):
                    out.append(loc(other.file, other.rule_path(i) + ("where",), under=False, contains="unknown column"))
        for i, col in other.column_items():
            expr = get(get(col, "protection"), "expr")
            if same and isinstance(expr, str) and wanted in sql_words(expr):
                out.append(loc(other.file, other.column_path(i) + ("protection", "expr"), under=False,
                               contains="unknown column"))
            source = get(col, "originatingSource")
            if isinstance(source, str):
                parts = [name_key(p) for p in (source.split(":", 1)[-1]).split(".")]
                if len(parts) >= 2 and parts[-1] == wanted and ".".join(parts[:-1]) in (table.key, last):
                    out.append(loc(other.file, other.column_path(i) + ("originatingSource",), under=False,
                                   contains="unknown column"))
        sql = other.derivation_sql
        if sql is not None and same:  # the derived table's own columns: its derivation still produces it
            out.append(loc(other.file, other.derivation_path, under=False, contains="does not list"))
        elif sql is not None and wanted in sql_words(sql) and last in sql_words(sql):
            # a derivation that may read the column (the words say so; the SQL may mean another table's)
            out.append(replace(loc(other.file, other.derivation_path, under=False), contains=MAYBE))
    return out


@operator("remove_column", "structural",
          "restricts that column for everyone (it is no longer readable); must fail at every reference "
          "to it (unmask, row filters, custom masks, lineage), and when it was the last column")
def remove_column(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = _columns(ws)
    if not candidates:
        return None
    table, index, _, name = _choice(rng, candidates)
    columns = table.columns
    del columns[index]  # type: ignore[union-attr]
    ws.changed(table.file)
    references = column_references(ws, table, name)
    if not columns:
        references.append(loc(table.file, table.columns_path, under=False))
    scope = Scope(Direction.RESTRICT, tables=frozenset({table.key}), cells=frozenset({name_key(name)}))
    expect = _removal(references, scope)
    return Mutation("remove_column", f"{where(table.file, table.column_path(index))}: {name!r} removed "
                    f"({len(references)} references)", expect, (at(table.file, table.columns_path),))


def protection_choices(family: TypeFamily | None, mode: str) -> list[Any]:
    """Valid protections for a column of this type family and mode, with parameters."""
    if mode == "repeated":
        return ["nullify", "deny", {"kind": "nullify"}]
    common: list[Any] = ["redact", "nullify", "deny", {"kind": "deny"}]
    by_family: dict[TypeFamily | None, list[Any]] = {
        TypeFamily.STRING: ["email", "hash", "tokenize", "encrypt", {"kind": "partial", "show_last": 2},
                            {"kind": "partial", "show_first": 1, "char": "#"}, {"kind": "generalize", "keep": 3},
                            {"kind": "custom", "expr": "LEFT(val, 1)"}, {"kind": "redact", "value": "hidden"}],
        TypeFamily.INTEGER: ["hash", "tokenize", {"kind": "generalize", "bucket": 100}, {"kind": "redact", "value": -1},
                             {"kind": "custom", "expr": "val - val"}],
        TypeFamily.FLOAT: [{"kind": "generalize", "bucket": 10}, {"kind": "redact", "value": 0.5}],
        TypeFamily.DECIMAL: [{"kind": "generalize", "bucket": 10}, {"kind": "redact", "value": 1}],
        TypeFamily.DATE: [{"kind": "generalize", "to": "year"}, {"kind": "generalize", "to": "month"},
                          {"kind": "redact", "value": "2000-01-01"}],
        TypeFamily.TIMESTAMP: [{"kind": "generalize", "to": "year"},
                               {"kind": "redact", "value": "2000-01-01 00:00:00"}],
        TypeFamily.BOOLEAN: [{"kind": "redact", "value": False}],
        TypeFamily.TIME: [{"kind": "redact", "value": "12:00:00"}],
    }
    return common + by_family.get(family, [])


@operator("change_protection_kind", "structural",
          "recasts that column: readers not cleared for it see the new protection (denied for deny); "
          "raw readers and everything else unchanged")
def change_protection_kind(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = [(c, i, col, n) for c, i, col, n in _columns(ws) if column_family(col) is not None]
    if not candidates:
        return None
    table, index, column, name = _choice(rng, candidates)
    current = get(column, "protection")
    choices = [p for p in protection_choices(column_family(column), column_mode(column)) if p != current]
    new = _choice(rng, choices)
    _set(ws, table.file, column, "protection", copy.deepcopy(new))
    kind = protection_kind(new)
    path = table.column_path(index) + ("protection",)
    scope = Scope(Direction.RECAST, tables=frozenset({table.key}), cells=frozenset({name_key(name)}),
                  kinds=frozenset({kind}))  # type: ignore[arg-type]
    return Mutation("change_protection_kind", f"{where(table.file, path)}: {_show(current)} -> {_show(new)}",
                    loads(scope), (at(table.file, path),))


@operator("remove_protection", "structural",
          "protection 'none': must fail at the column where a role reads it uncleared; otherwise "
          "nothing changes (every reader is cleared)")
def remove_protection(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = [(c, i, col, n) for c, i, col, n in _columns(ws) if protection_kind(get(col, "protection")) != "none"]
    if not candidates:
        return None
    table, index, column, _ = _choice(rng, candidates)
    old = get(column, "protection")
    if rng.random() < 0.5:
        _set(ws, table.file, column, "protection", _choice(rng, ["none", "None", {"kind": "none"}]))
    else:
        del column[find_key(column, "protection")]
        ws.changed(table.file)
    path = table.column_path(index) + ("protection",)
    hole = loc(table.file, path, under=False, contains="sensitive column without protection")
    return Mutation("remove_protection", f"{where(table.file, path)}: {_show(old)} -> none", either([], [hole]),
                    (at(table.file, path),))


@operator("add_column", "structural", "a new column: loosens only that column's cells")
def add_column(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    tables = [c for c in contracts(ws) if c.columns is not None]
    if not tables:
        return None
    table = _choice(rng, tables)
    name = f"FuzzColumn{rng.randrange(10**6)}"
    protection = _choice(rng, [p for p in protection_choices(TypeFamily.STRING, "nullable")])
    column = {"name": name, "type": "STRING", "sensitivity": _choice(rng, ws.levels()), "protection": protection}
    table.columns.append(column)  # type: ignore[union-attr]
    ws.changed(table.file)
    scope = Scope(Direction.LOOSEN, tables=frozenset({table.key}), cells=frozenset({name_key(name)}))
    path = table.column_path(len(table.columns) - 1)  # type: ignore[arg-type]
    # a derived table lists exactly the columns its derivation produces
    expect = (fails(loc(table.file, path + ("name",), under=False, contains="not produced by the derivation"))
              if table.derivation_sql is not None else loads(scope))
    return Mutation("add_column", f"{where(table.file, table.columns_path)}: add {column}", expect,
                    (at(table.file, path),))


# ... mistakes that must be refused ...

def _undefined_name(ws: Workspace, base: str, rng: random.Random) -> str:
    view = roles_view(ws)
    defined = view.role_keys() if view else set()
    while True:
        name = base + _choice(rng, ["x", "_old", "2", "_fuzz", "s"])
        if name_key(name) not in defined:
            return name
        base = name


@operator("rename_role_reference", "structural", "a reference to an undefined role: must fail there")
def rename_role_reference(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    refs: list[tuple[PolicyFile, dict[Any, Any], Any, int, PathT]] = []
    view = roles_view(ws)
    if view is not None:
        for name, entry in view.role_items():
            key = find_key(entry, "inherits")
            for i, _ in enumerate(names_in(entry.get(key))):
                refs.append((view.file, entry, key, i, ("roles", name, "inherits", i)))
        for name, entry in view.principal_items():
            key = find_key(entry, "roles")
            for i, _ in enumerate(names_in(entry.get(key))):
                refs.append((view.file, entry, key, i, ("principals", name, "roles", i)))
    for table in contracts(ws):
        for index, rule in table.rule_items():
            key = find_key(rule, "roles")
            for i, _ in enumerate(names_in(rule.get(key))):
                refs.append((table.file, rule, key, i, table.rule_path(index) + ("roles", i)))
    if not refs:
        return None
    file, mapping, key, i, path = _choice(rng, refs)
    held = names_in(mapping[key])
    old = held[i]
    held[i] = _undefined_name(ws, old, rng)
    mapping[key] = held
    ws.changed(file)
    return Mutation("rename_role_reference", f"{where(file, path)}: {old!r} -> {held[i]!r}",
                    fails(loc(file, path, under=False, contains="undefined role")), (at(file, path),))


def _typo(key: str, rng: random.Random) -> str | None:
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(30):
        chars = list(key)
        spots = [i for i, c in enumerate(chars) if c.isalpha()]
        if not spots:
            return None
        i = _choice(rng, spots)
        move = rng.randrange(4)
        if move == 0 and len(spots) > 1:
            del chars[i]
        elif move == 1 and i + 1 < len(chars) and chars[i + 1].isalpha() and chars[i] != chars[i + 1]:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif move == 2:
            chars.insert(i, chars[i])
        else:
            chars[i] = _choice(rng, [c for c in letters if c != chars[i].lower()])
        typo = "".join(chars)
        if normalize_key(typo) and normalize_key(typo) != normalize_key(key) and normalize_key(typo) not in KNOWN_KEYS:
            return typo
    return None


def _schema_slots(ws: Workspace) -> list[Slot]:
    return [s for s in slots(ws) if s.owner in SCHEMA_OWNERS and isinstance(s.key, str)]


@operator("misspell_key", "structural", "an unknown key: must fail at the mapping that holds it")
def misspell_key(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = _schema_slots(ws)
    rng.shuffle(candidates)
    for slot in candidates:
        typo = _typo(slot.key, rng)
        if typo is None or typo in slot.container:
            continue
        rename_key(slot.container, slot.key, typo)
        ws.changed(slot.file)
        return Mutation("misspell_key", f"{where(slot.file, slot.path)}: key {slot.key!r} -> {typo!r}",
                        fails(loc(slot.file, slot.parent_path, under=False)), (at(slot.file, slot.parent_path),))
    return None


def _wrong_values(slot: Slot) -> list[Any]:
    """Values of the wrong type for this place (never one the model would accept)."""
    value = slot.value
    name = slot.field
    if slot.owner in ("roles", "principals", "columns", "rules"):  # a whole entry
        return [42, "text", [1, 2]]
    if slot.owner == "names":
        return [42, ["x"], {"a": "b"}, True]
    if slot.owner == "clearance":
        return [42, ["x"], {"a": "b"}]
    if slot.owner == "attributes":
        return [["x"], {"a": "b"}]
    if name in ("show_first", "show_last", "keep"):
        return ["four", [1], 2.5, True]
    if name == "bucket":
        return ["ten", [1], True]
    if name == "primary_key":
        return ["yes", 1, [True]]
    if name in ("version", "registrationTime"):
        return [[1], {"a": 1}, True, 2.5]
    if name == "value":
        return [[1], {"a": 1}]
    if slot.owner == "rolesfile":  # not a mapping: a mapping of other entries would define other roles
        return [42, [1], "text"]
    if isinstance(value, list) or name in ("inherits", "unmask", "roles", "sensitivity_levels", "environments",
                                            "columns", "row_access"):
        return [42, {"a": "b"}]
    if isinstance(value, dict) or name in ("attributes", "meta", "principals"):
        return [42, [1]]
    return [42, ["x"], {"a": 1}, True]


@operator("wrong_value_type", "structural", "a value of the wrong type: must fail at it (or at its mapping)")
def wrong_value_type(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    # every located value but free-form metadata, which accepts anything
    candidates = [s for s in slots(ws) if (s.owner in SCHEMA_OWNERS and s.field != "meta")
                  or s.owner in ("roles", "principals", "columns", "rules", "names", "clearance", "attributes")]
    slot = _choice(rng, candidates)
    if slot is None:
        return None
    old = slot.value
    new = _choice(rng, _wrong_values(slot))
    slot.container[slot.key] = new
    ws.changed(slot.file)
    expect = fails(loc(slot.file, slot.path, under=True), loc(slot.file, slot.parent_path, under=False))
    return Mutation("wrong_value_type", f"{where(slot.file, slot.path)}: {_show(old)} -> {_show(new)}", expect,
                    (at(slot.file, slot.path),))


@operator("delete_required_key", "structural", "a required key missing: must fail at its mapping")
def delete_required_key(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = [s for s in _schema_slots(ws) if (s.owner, s.field) in REQUIRED]
    slot = _choice(rng, candidates)
    if slot is None:
        return None
    del slot.container[slot.key]
    ws.changed(slot.file)
    expect = fails(loc(slot.file, slot.parent_path, under=False, contains=f"missing required key '{slot.field}'"))
    return Mutation("delete_required_key", f"{where(slot.file, slot.path)}: deleted", expect,
                    (at(slot.file, slot.parent_path),))


def _recase(name: str, rng: random.Random) -> str | None:
    """Another spelling of ``name`` that is the same name (names match case-insensitively)."""
    options = {name.swapcase(), name.upper(), name.lower(), name.title(), name[:1].upper() + name[1:]}
    options.discard(name)
    return _choice(rng, sorted(options))


@operator("duplicate_name_case", "structural",
          "a column, role, principal or table defined twice in different case: must fail at the second")
def duplicate_name_case(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    what = _choice(rng, ["column", "role", "principal", "table"])
    view = roles_view(ws)
    if what == "column":
        candidates = [(c, i, col, n) for c, i, col, n in _columns(ws) if _recase(n, rng)]
        if not candidates:
            return None
        table, index, column, name = _choice(rng, candidates)
        twin = copy.deepcopy(column)
        twin[find_key(twin, "name")] = _recase(name, rng)
        table.columns.insert(index + 1, twin)  # type: ignore[union-attr]
        ws.changed(table.file)
        path = table.column_path(index + 1) + ("name",)
        return Mutation("duplicate_name_case", f"{where(table.file, path)}: {name!r} again as {twin['name']!r}",
                        fails(loc(table.file, path, under=False, contains="duplicate column")),
                        (at(table.file, table.columns_path),))
    if what in ("role", "principal"):
        mapping = (view.roles if what == "role" else view.principals) if view else None
        names = [n for n in (mapping or {}) if isinstance(n, str) and _recase(n, rng)
                 and isinstance(mapping[n], dict)]  # type: ignore[index]
        if not names:
            return None
        name = _choice(rng, names)
        twin = _recase(name, rng)
        if twin in mapping:  # type: ignore[operator]
            return None
        insert_after(mapping, name, twin, copy.deepcopy(mapping[name]))  # type: ignore[arg-type, index]
        ws.changed(view.file)  # type: ignore[union-attr]
        path = (f"{what}s", twin)
        return Mutation("duplicate_name_case", f"{where(view.file, path)}: {what} {name!r} again",  # type: ignore[union-attr]
                        fails(loc(view.file, path, under=False, contains="defined twice")),  # type: ignore[union-attr]
                        (at(view.file, (f"{what}s",)),))  # type: ignore[union-attr]
    tables = [c for c in contracts(ws) if _recase(c.name, rng)]
    if not tables:
        return None
    table = _choice(rng, tables)
    twin = copy.deepcopy(table.contract) if table.contract is not None else {"columns": copy.deepcopy(table.columns)}
    twin_name = _recase(table.name, rng)
    twin.pop(find_key(twin, "table"), None)
    twin = {"table": twin_name, **twin}
    rel = "tables/zz_fuzz_copy.yaml"
    if rel in ws.files:
        return None
    ws.files[rel] = PolicyFile(rel, b"", twin, dirty=True)
    return Mutation("duplicate_name_case", f"{rel}: table {table.name!r} again as {twin_name!r}",
                    fails(loc(rel, ("table",), under=False, contains="defined twice")), ((rel, ""),))


def _respell(key: str, rng: random.Random) -> str | None:
    """The same key spelled another way (keys match with case, '_' and '-' ignored)."""
    words = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", key.replace("-", "_").replace(" ", "_")) or [key]
    words = [w.lower() for w in words]
    options = {"_".join(words), "-".join(words), "".join(words), words[0] + "".join(w.title() for w in words[1:]),
               "".join(w.title() for w in words), "_".join(words).upper()}
    options = {o for o in options if o != key and normalize_key(o) == normalize_key(key)}
    return _choice(rng, sorted(options))


@operator("duplicate_key_respelled", "structural",
          "one key given twice in two spellings (show_last and ShowLast): must fail at its mapping")
def duplicate_key_respelled(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = [s for s in _schema_slots(ws) if _respell(s.key, rng)]
    candidates += [s for s in slots(ws) if s.owner == "clearance" and isinstance(s.key, str) and _recase(s.key, rng)]
    slot = _choice(rng, candidates)
    if slot is None:
        return None
    twin = _recase(slot.key, rng) if slot.owner == "clearance" else _respell(slot.key, rng)
    if twin in slot.container:
        return None
    insert_after(slot.container, slot.key, twin, copy.deepcopy(slot.value))
    ws.changed(slot.file)
    return Mutation("duplicate_key_respelled", f"{where(slot.file, slot.parent_path)}: {slot.key!r} and {twin!r}",
                    fails(loc(slot.file, slot.parent_path, under=False, contains="given twice")),
                    (at(slot.file, slot.parent_path),))


@operator("unknown_environment", "structural", "an environment the settings do not list: must fail there")
def unknown_environment(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    settings = ws.first("settings")
    env = _choice(rng, ["qa", "test_fuzz", "production2"])
    if env in ws.environments():
        return None
    if settings is not None and settings.structured and isinstance(settings.data, dict) and rng.random() < 0.25:
        _set(ws, settings, settings.data, "default_environment", env)
        return Mutation("unknown_environment", f"{settings.rel}: default_environment: {env!r}",
                        fails(loc(settings, ("default_environment",), under=False, contains="unknown environment")),
                        ((settings.rel, "default_environment"),))
    roles = ([(n, e) for n, e in view.role_items() if isinstance(get(e, "clearance"), (str, dict, type(None)))]
             if view else [])
    if not roles:
        return None
    name, entry = _choice(rng, roles)
    path = ("roles", name) + _set_clearance(ws, entry, env, _choice(rng, ws.levels()))
    ws.changed(view.file)  # type: ignore[union-attr]
    return Mutation("unknown_environment", f"{where(view.file, path)}: added",  # type: ignore[union-attr]
                    fails(loc(view.file, path, under=False, contains="unknown environment")),  # type: ignore[union-attr]
                    (at(view.file, ("roles", name, "clearance")),))  # type: ignore[union-attr]


@operator("unknown_level", "structural", "a sensitivity level the settings do not list: must fail there")
def unknown_level(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    level = _choice(rng, ["topsecret", "secret", "high"])
    if level in ws.levels():
        return None
    where_to = _choice(rng, ["role", "column", "column", "settings"])
    if where_to == "settings":
        settings = ws.first("settings")
        if settings is None or not settings.structured or not isinstance(settings.data, dict):
            return None
        _set(ws, settings, settings.data, "default_sensitivity", level)
        return Mutation("unknown_level", f"{settings.rel}: default_sensitivity: {level!r}",
                        fails(loc(settings, ("default_sensitivity",), under=False, contains="unknown level")),
                        ((settings.rel, "default_sensitivity"),))
    if where_to == "column":
        candidates = _columns(ws)
        if not candidates:
            return None
        table, index, column, _ = _choice(rng, candidates)
        _set(ws, table.file, column, "sensitivity", level)
        path = table.column_path(index) + ("sensitivity",)
        return Mutation("unknown_level", f"{where(table.file, path)}: {level!r}",
                        fails(loc(table.file, path, under=False, contains="unknown level")), (at(table.file, path),))
    view = roles_view(ws)
    roles = ([(n, e) for n, e in view.role_items() if isinstance(get(e, "clearance"), (str, dict, type(None)))]
             if view else [])
    if not roles:
        return None
    name, entry = _choice(rng, roles)
    if isinstance(get(entry, "clearance"), dict) and rng.random() < 0.7:
        path = ("roles", name) + _set_clearance(ws, entry, _choice(rng, ws.environments()), level)
    else:
        _set(ws, view.file, entry, "clearance", level)  # type: ignore[union-attr]
        path = ("roles", name, "clearance")
    ws.changed(view.file)  # type: ignore[union-attr]
    return Mutation("unknown_level", f"{where(view.file, path)}: {level!r}",  # type: ignore[union-attr]
                    fails(loc(view.file, path, under=False, contains="unknown level")),  # type: ignore[union-attr]
                    (at(view.file, ("roles", name, "clearance")),))  # type: ignore[union-attr]


def bad_protections(family: TypeFamily | None, mode: str) -> list[Any]:
    """Protections that do not fit a column of this type (or are malformed for any column)."""
    anywhere: list[Any] = [{"kind": "custom"}, {"kind": "custom", "expr": "val +"},
                           {"kind": "custom", "expr": "NoSuchColumnFuzz"}, {"kind": "custom", "expr": "(SELECT 1)"},
                           {"kind": "email", "show_last": 2}, {"kind": "generalize"}, {"kind": "nullify", "value": 1},
                           {"kind": "masked"}, "hidden", {"kind": "custom", "expr": "COUNT(val)"},
                           {"kind": "custom", "expr": "val; DROP TABLE x"}]
    if mode == "repeated":
        return anywhere + ["redact", "hash", {"kind": "partial", "show_last": 2}]
    by_family: dict[TypeFamily | None, list[Any]] = {
        TypeFamily.STRING: [{"kind": "partial"}, {"kind": "partial", "show_last": -1},
                            {"kind": "partial", "char": "##"}, {"kind": "generalize", "to": "year"},
                            {"kind": "generalize", "bucket": 10}, {"kind": "redact", "value": 5},
                            {"kind": "partial", "show_first": 1001}],
        TypeFamily.INTEGER: ["partial", "email", "encrypt", {"kind": "generalize", "to": "year"},
                             {"kind": "generalize", "bucket": 2.5}, {"kind": "redact", "value": "x"},
                             {"kind": "generalize", "bucket": 0}],
        TypeFamily.FLOAT: ["hash", {"kind": "generalize", "keep": 3}, {"kind": "generalize", "bucket": -1}],
        TypeFamily.DECIMAL: ["tokenize", {"kind": "generalize", "keep": 3}, {"kind": "redact", "value": "x"}],
        TypeFamily.DATE: ["hash", "partial", {"kind": "generalize", "bucket": 10},
                          {"kind": "redact", "value": "2021-02-30"}],
        TypeFamily.TIMESTAMP: ["email", {"kind": "generalize", "to": "week"},
                               {"kind": "redact", "value": "not a time"}],
        TypeFamily.BOOLEAN: ["hash", {"kind": "generalize", "to": "year"}, {"kind": "redact", "value": "yes"}],
    }
    return anywhere + by_family.get(family, [])


@operator("bad_protection_params", "structural",
          "a protection whose kind or parameters do not fit the column: must fail at its protection")
def bad_protection_params(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = _columns(ws)
    if not candidates:
        return None
    table, index, column, _ = _choice(rng, candidates)
    new = _choice(rng, bad_protections(column_family(column), column_mode(column)))
    _set(ws, table.file, column, "protection", copy.deepcopy(new))
    path = table.column_path(index) + ("protection",)
    return Mutation("bad_protection_params", f"{where(table.file, path)}: {_show(new)}",
                    fails(loc(table.file, path, under=True)), (at(table.file, path),))


@operator("bad_row_condition", "structural",
          "a row access condition that is not a valid, row-wise condition over the table: must fail at it")
def bad_row_condition(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    tables = [c for c in contracts(ws) if c.contract is not None and c.named_columns()
              and (c.rules is not None or find_key(c.contract, "row_access") is None)]
    if view is None or not view.role_items() or not tables:
        return None
    table = _choice(rng, tables)
    _, _, column = _choice(rng, table.named_columns())
    condition = _choice(rng, [
        f"{column} = ", "NoSuchColumnFuzz = 1", "DROP TABLE users", "COUNT(*) > 1", "1", f"{column} = ?",
        "zz.x = 1", f"{column} = 'unterminated", f"{column} IN (SELECT a FROM no_such_table_fuzz)",
        f"{column} = 1; DELETE FROM users", "SELECT 1", f"ROW_NUMBER() OVER (ORDER BY {column}) = 1",
        "IS_ROLE_IN_SESSION(42)", f"{column} IN (SELECT NoSuchColumnFuzz FROM {table.name})",
    ])
    rules = table.rules
    if rules and rng.random() < 0.6:
        index, rule = _choice(rng, table.rule_items())
        _set(ws, table.file, rule, "where", condition)
    else:
        role, _ = _choice(rng, view.role_items())
        if rules is None:
            table.contract["row_access"] = rules = []  # type: ignore[index]
        rules.append({"roles": [role], "where": condition})
        index = len(rules) - 1
        ws.changed(table.file)
    path = table.rule_path(index) + ("where",)
    return Mutation("bad_row_condition", f"{where(table.file, path)}: {condition!r}",
                    fails(loc(table.file, path, under=False)), (at(table.file, table.prefix + ("row_access",)),))


@operator("inheritance_cycle", "structural", "roles that inherit each other: must fail at an inherits of the cycle")
def inheritance_cycle(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    if view is None:
        return None
    defined = {name_key(n): n for n, _ in view.role_items()}
    candidates = [(n, p) for n, e in view.role_items() for p in names_in(get(e, "inherits"))
                  if name_key(p) in defined and name_key(p) != name_key(n)]
    if not candidates:
        return None
    child, parent = _choice(rng, candidates)
    parent_name = defined[name_key(parent)]
    entry = view.roles[parent_name]  # type: ignore[index]
    key = find_key(entry, "inherits")
    if key is None:
        entry["inherits"] = [child]
    else:
        entry[key] = names_in(entry[key]) + [child]
    ws.changed(view.file)
    parents, _ = _graph(ws)
    on_cycle = [n for k, n in defined.items() if name_key(child) in _expand(parents, [k])
                and k in _expand(parents, [name_key(child)])]
    primary = [loc(view.file, ("roles", n, "inherits"), under=False, contains="inheritance cycle") for n in on_cycle]
    return Mutation("inheritance_cycle", f"{where(view.file, ('roles', parent_name, 'inherits'))}: add {child!r}",
                    fails(*primary), (at(view.file, ("roles", parent_name, "inherits")),))


@operator("unknown_unmask", "structural", "an unmask exception naming no column of the set: must fail at it")
def unknown_unmask(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    view = roles_view(ws)
    tables = contracts(ws)
    if view is None or not view.role_items() or not tables:
        return None
    name, entry = _choice(rng, view.role_items())
    table = _choice(rng, tables)
    ref, words = _choice(rng, [("no_such_table_fuzz.Email", "unknown table"),
                               (f"{table.name}.NoSuchColumnFuzz", "unknown column"),
                               ("Email", "must name a column")])
    key = find_key(entry, "unmask")
    refs = names_in(entry.get(key)) if key is not None else []
    refs.append(ref)
    entry[key if key is not None else "unmask"] = refs
    ws.changed(view.file)
    path = ("roles", name, "unmask", len(refs) - 1)
    return Mutation("unknown_unmask", f"{where(view.file, path)}: {ref!r}",
                    fails(loc(view.file, path, under=False, contains=words)), (at(view.file, path[:-1]),))


#: keys whose null means "not given": the same as leaving them out
_NULL_IS_ABSENT = {("column", "description"), ("column", "originatingSource"), ("contract", "description"),
                   ("contract", "registeredBy"), ("contract", "registrationTime"), ("contract", "version"),
                   ("role", "description"), ("contract", "derivation")}


@operator("null_value", "structural",
          "a key left empty (null): where null means 'not given' (sensitivity, protection, clearance, "
          "descriptions, lineage) the effect of leaving the key out, declared as such; anywhere else "
          "(a name, a list, a kind, a parameter) it must fail there")
def null_value(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = [s for s in slots(ws) if s.owner in ("role", "principal", "column", "rule", "contract", "protection",
                                                      "clearance", "derivation") and isinstance(s.container, dict)
                  and s.value is not None and s.field != "table"]
    slot = _choice(rng, candidates)
    if slot is None:
        return None
    old = slot.value
    slot.container[slot.key] = None
    ws.changed(slot.file)
    text = f"{where(slot.file, slot.path)}: {_show(old)} -> null"
    touched = (at(slot.file, slot.path),)
    failing = fails(loc(slot.file, slot.path, under=True), loc(slot.file, slot.parent_path, under=False))
    if (slot.owner, slot.field) in _NULL_IS_ABSENT:
        return Mutation("null_value", text, loads(), touched)
    if slot.owner == "column" and slot.field in ("sensitivity", "protection"):
        table = next((c for c in contracts(ws) if c.file is slot.file
                      and any(col is slot.container for _, col in c.column_items())), None)
        name = get(slot.container, "name")
        if table is None or not isinstance(name, str):
            return None
        column_path = slot.parent_path
        if slot.field == "protection":  # no protection: refused where someone reads it uncleared
            hole = loc(slot.file, slot.path, under=False, contains="sensitive column without protection")
            return Mutation("null_value", text, either([], [hole]), touched)
        levels, default = ws.levels(), ws.default_sensitivity()
        current = old.strip().lower() if isinstance(old, str) else None
        if current not in levels or default not in levels:
            return None
        direction = Direction.RESTRICT if levels.index(default) >= levels.index(current) else Direction.LOOSEN
        scope = Scope(direction, tables=frozenset({table.key}), cells=frozenset({name_key(name)}))
        # the default level: below a source it is derived from (refused at the column), or above what a
        # reader is cleared for with no protection (refused at its protection)
        primary = [loc(slot.file, column_path, under=True, contains="at least as sensitive as its sources"),
                   loc(slot.file, column_path + ("protection",), under=False,
                       contains="sensitive column without protection"), LINEAGE]
        return Mutation("null_value", text, either([scope], primary), touched)
    if slot.owner == "role" and slot.field == "clearance":  # the role holds nothing of its own
        name = slot.path[1]
        scope = Scope(Direction.RESTRICT, subjects=ctx.holders(ws, str(name)))
        return Mutation("null_value", text, either([scope], [HOLE]), touched)
    if slot.owner == "protection" and slot.field == "value":  # redact to the type's own constant
        table = next((c for c in contracts(ws) if c.file is slot.file
                      and any(get(col, "protection") is slot.container for _, col in c.column_items())), None)
        column = (next((col for _, col in table.column_items() if get(col, "protection") is slot.container), None)
                  if table else None)
        name = get(column, "name")
        if table is None or not isinstance(name, str):
            return None
        scope = Scope(Direction.RECAST, tables=frozenset({table.key}), cells=frozenset({name_key(name)}),
                      kinds=frozenset({"redact"}))
        return Mutation("null_value", text, loads(scope), touched)
    return Mutation("null_value", text, failing, touched)


# ... neutral rewrites: the same policy written differently ...

@operator("respell_key", "structural", "a key in another spelling (rowAccess, ROW_ACCESS): nothing changes")
def respell_key(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates = [s for s in _schema_slots(ws) if _respell(s.key, rng)]
    slot = _choice(rng, candidates)
    if slot is None:
        return None
    new = _respell(slot.key, rng)
    if new in slot.container:
        return None
    rename_key(slot.container, slot.key, new)
    ws.changed(slot.file)
    return Mutation("respell_key", f"{where(slot.file, slot.path)}: key {slot.key!r} -> {new!r}", loads(),
                    (at(slot.file, slot.path),))


@operator("recase_reference", "structural",
          "a name, level, kind, type or mode in another case (matched case-insensitively): nothing changes")
def recase_reference(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    candidates: list[Slot] = []
    for s in slots(ws):
        value = s.value if not isinstance(s.container, dict) or s.key in s.container else None
        if s.owner == "names" and isinstance(value, str):
            candidates.append(s)  # role names, unmask references, levels, environments
        elif (s.owner == "clearance" and isinstance(value, str)
              or s.owner in ("role", "column", "settings", "protection", "contract") and s.field in (
                "clearance", "sensitivity", "type", "mode", "protection", "kind", "to", "name", "table",
                "default_environment", "default_sensitivity", "unknown_table") and isinstance(value, str)):
            candidates.append(s)
    # keys that are names: roles, principals, the environments of a clearance
    entries = [s for s in slots(ws) if s.owner in ("roles", "principals", "clearance") and isinstance(s.key, str)]
    pick = _choice(rng, candidates + entries)
    if pick is None:
        return None
    # names are matched with surrounding spaces ignored too; column and table names are not padded
    # (a table name may not hold spaces, and a column's name is written into SQL as it is)
    pad = rng.random() < 0.25 and pick.field not in ("name", "table")
    if pick.owner in ("roles", "principals", "clearance"):
        new = f" {pick.key} " if pad else _recase(pick.key, rng)
        if new is None or new in pick.container:
            return None
        rename_key(pick.container, pick.key, new)
        text = f"{pick.key!r} -> {new!r}"
    else:
        new = f" {pick.value}  " if pad else _recase(pick.value, rng)
        if new is None:
            return None
        text = f"{pick.value!r} -> {new!r}"
        pick.container[pick.key] = new
    ws.changed(pick.file)
    return Mutation("recase_reference", f"{where(pick.file, pick.path)}: {text}", loads(), (at(pick.file, pick.path),))


@operator("reorder_mapping", "structural", "the keys of one mapping in another order: nothing changes")
def reorder_mapping(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    mappings: list[tuple[PolicyFile, dict[Any, Any], PathT]] = []
    for file in ws.files.values():
        if file.structured and isinstance(file.data, dict) and len(file.data) > 1:
            mappings.append((file, file.data, ()))
    for s in slots(ws):
        value = s.value
        if isinstance(value, dict) and len(value) > 1:
            mappings.append((s.file, value, s.path))
    if not mappings:
        return None
    file, mapping, path = _choice(rng, mappings)
    items = list(mapping.items())
    for _ in range(5):
        rng.shuffle(items)
        if [k for k, _ in items] != list(mapping):
            break
    mapping.clear()
    mapping.update(items)
    ws.changed(file)
    return Mutation("reorder_mapping", f"{where(file, path)}: keys {[k for k, _ in items]}", loads(), (at(file, path),))


@operator("equivalent_form", "structural",
          "one value in an equivalent form (reader / [reader], hash / {kind: hash}, one clearance / one per "
          "environment, defaults written out): nothing changes")
def equivalent_form(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    edits: list[tuple[PolicyFile, dict[Any, Any], Any, Any, PathT]] = []  # (file, mapping, key, new value, path)
    for s in slots(ws):
        if not isinstance(s.container, dict):
            continue
        value = s.value
        if s.field in ("inherits", "unmask", "roles") and s.owner in ("role", "principal", "rule"):
            if isinstance(value, str):
                edits.append((s.file, s.container, s.key, [value], s.path))
            elif isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
                edits.append((s.file, s.container, s.key, value[0], s.path))
        elif s.owner == "column" and s.field == "protection":
            if isinstance(value, str):
                edits.append((s.file, s.container, s.key, {"kind": value}, s.path))
            elif isinstance(value, dict) and len(value) == 1 and isinstance(get(value, "kind"), str):
                edits.append((s.file, s.container, s.key, get(value, "kind"), s.path))
        elif s.owner == "role" and s.field == "clearance" and isinstance(value, str):
            edits.append((s.file, s.container, s.key, {e: value for e in ws.environments()}, s.path))
        if s.field in ("inherits", "unmask", "roles") and s.owner in ("role", "principal", "rule") and names_in(value):
            # a reference given twice means what it means once
            twice = names_in(value)
            edits.append((s.file, s.container, s.key, twice + [_choice(rng, twice).upper()], s.path))
    for table in contracts(ws):
        for i, column in table.column_items():
            path = table.column_path(i)
            for name, default in (("mode", _choice(rng, ["nullable", "NULLABLE"])), ("protection", "none"),
                                  ("primary_key", False), ("sensitivity", ws.default_sensitivity())):
                if find_key(column, name) is None:
                    edits.append((table.file, column, name, default, path + (name,)))
    if not edits:
        return None
    file, mapping, key, new, path = _choice(rng, edits)
    old = mapping.get(key, "(absent)")
    mapping[key] = new
    ws.changed(file)
    return Mutation("equivalent_form", f"{where(file, path)}: {_show(old)} -> {_show(new)}", loads(),
                    (at(file, path),))


@operator("convert_format", "structural", "a YAML file written as JSON or the other way round: nothing changes")
def convert_format(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    def json_safe(value: Any) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and json_safe(v) for k, v in value.items())
        if isinstance(value, list):
            return all(json_safe(v) for v in value)
        return not isinstance(value, RawLiteral) and not (isinstance(value, float) and math.isnan(value))

    candidates = [f for f in ws.files.values() if f.structured and json_safe(f.data)]
    file = _choice(rng, candidates)
    if file is None:
        return None
    stem = file.rel.rsplit(".", 1)[0]
    new = stem + (_choice(rng, [".yaml", ".yml"]) if file.is_json else ".json")
    if any(rel.rsplit(".", 1)[0] == stem for rel in ws.files if rel != file.rel):
        return None
    del ws.files[file.rel]
    ws.files[new] = PolicyFile(new, b"", file.data, dirty=True)
    return Mutation("convert_format", f"{file.rel} -> {new}", loads(), ((file.rel, ""), (new, "")))


@operator("add_meta", "structural", "free-form metadata on a contract or column: nothing changes")
def add_meta(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    places: list[tuple[PolicyFile, dict[Any, Any], PathT]] = []
    for table in contracts(ws):
        if table.contract is not None:
            places.append((table.file, table.contract, table.prefix))
        places += [(table.file, c, table.column_path(i)) for i, c in table.column_items()]
    places = [p for p in places if find_key(p[1], "meta") is None]
    pick = _choice(rng, places)
    if pick is None:
        return None
    file, mapping, path = pick
    mapping["meta"] = {"owner": "fuzz", "tags": ["pii", 1, None, True], "nested": {"clearance": "restricted",
                                                                                    "protection": "none"}}
    ws.changed(file)
    return Mutation("add_meta", f"{where(file, path + ('meta',))}: added", loads(), (at(file, path + ("meta",)),))


# ... settings ...

def _level_references(ws: Workspace, level: str) -> list[Location]:
    """Every place a sensitivity level is named: each is an unknown level once it is gone."""
    out: list[Location] = []
    view = roles_view(ws)
    if view is not None:
        for name, entry in view.role_items():
            clearance = get(entry, "clearance")
            if isinstance(clearance, str) and clearance.strip().lower() == level:
                out.append(loc(view.file, ("roles", name, "clearance"), under=False, contains="unknown level"))
            elif isinstance(clearance, dict):
                for env, value in clearance.items():
                    if isinstance(value, str) and value.strip().lower() == level:
                        out.append(loc(view.file, ("roles", name, "clearance", env), under=False,
                                       contains="unknown level"))
    for table in contracts(ws):
        for i, column in table.column_items():
            value = get(column, "sensitivity")
            if isinstance(value, str) and value.strip().lower() == level:
                out.append(loc(table.file, table.column_path(i) + ("sensitivity",), under=False,
                               contains="unknown level"))
    settings = ws.first("settings")
    value = get(settings.data, "default_sensitivity") if settings is not None and settings.structured else None
    if isinstance(value, str) and value.strip().lower() == level:
        out.append(loc(settings, ("default_sensitivity",), under=False, contains="unknown level"))  # type: ignore[arg-type]
    return out


def _environment_references(ws: Workspace, env: str) -> list[Location]:
    out: list[Location] = []
    view = roles_view(ws)
    for name, entry in view.role_items() if view else []:
        clearance = get(entry, "clearance")
        for key in clearance if isinstance(clearance, dict) else ():
            if isinstance(key, str) and key.strip().lower() == env:
                out.append(loc(view.file, ("roles", name, "clearance", key), under=False,  # type: ignore[union-attr]
                               contains="unknown environment"))
    settings = ws.first("settings")
    value = get(settings.data, "default_environment") if settings is not None and settings.structured else None
    if isinstance(value, str) and value.strip().lower() == env:
        out.append(loc(settings, ("default_environment",), under=False, contains="unknown environment"))  # type: ignore[arg-type]
    return out


@operator("change_settings", "structural",
          "a level inserted anywhere (nothing changes: only the order of levels counts); an environment "
          "added (loosens only that environment); an environment or level removed (must fail at every use; "
          "unused: that environment is refused / nothing changes); default_sensitivity moved (restricts or "
          "loosens the columns that take it, or fails where one would be read unprotected)")
def change_settings(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    settings = ws.first("settings")
    if settings is None or not settings.structured or not isinstance(settings.data, dict):
        return None
    data = settings.data
    levels, envs = ws.levels(), ws.environments()
    variant = _choice(rng, ["insert_level", "add_environment", "remove_environment", "remove_level",
                            "default_sensitivity", "duplicate", "default_environment", "unknown_table"])
    if variant == "duplicate":  # a level or environment listed twice (in another case): refused there
        name = _choice(rng, ["sensitivity_levels", "environments"])
        values = levels if name == "sensitivity_levels" else envs
        position = rng.randrange(len(values))
        _set(ws, settings, data, name, values + [values[position].upper()])
        what = "level" if name == "sensitivity_levels" else "environment"
        return Mutation("change_settings", f"{settings.rel}: {name}: {values[position]!r} listed again",
                        fails(loc(settings, (name, len(values)), under=False, contains=f"duplicate {what}")),
                        ((settings.rel, name),))
    if variant == "default_environment":  # which environment a question names by default: no decision changes
        env = _choice(rng, envs)
        _set(ws, settings, data, "default_environment", env)
        return Mutation("change_settings", f"{settings.rel}: default_environment: {env!r}", loads(),
                        ((settings.rel, "default_environment"),))
    if variant == "unknown_table":  # about tables with no contract: no decision of a table with one changes
        value = _choice(rng, ["allow", "deny", "ALLOW"])
        _set(ws, settings, data, "unknown_table", value)
        return Mutation("change_settings", f"{settings.rel}: unknown_table: {value!r}", loads(),
                        ((settings.rel, "unknown_table"),))
    if variant == "insert_level":
        position = rng.randrange(len(levels) + 1)
        _set(ws, settings, data, "sensitivity_levels", levels[:position] + ["fuzzlevel"] + levels[position:])
        return Mutation("change_settings", f"{settings.rel}: sensitivity_levels: 'fuzzlevel' inserted at {position}",
                        loads(), ((settings.rel, "sensitivity_levels"),))
    if variant == "add_environment":
        _set(ws, settings, data, "environments", envs + ["qa"])
        return Mutation("change_settings", f"{settings.rel}: environments: 'qa' added",
                        loads(Scope(Direction.LOOSEN, environments=frozenset({"qa"}))),
                        ((settings.rel, "environments"),))
    if variant == "remove_environment":
        env = _choice(rng, envs)
        _set(ws, settings, data, "environments", [e for e in envs if e != env])
        references = _environment_references(ws, env)
        if len(envs) == 1:
            references.append(loc(settings, ("environments",), under=False))
        expect = fails(*references) if references else loads(Scope(Direction.RESTRICT, environments=frozenset({env})))
        return Mutation("change_settings", f"{settings.rel}: environments: {env!r} removed "
                        f"({len(references)} references)", expect, ((settings.rel, ""),))
    if variant == "remove_level":
        level = _choice(rng, levels)
        _set(ws, settings, data, "sensitivity_levels", [lv for lv in levels if lv != level])
        references = _level_references(ws, level)
        if len(levels) == 1:
            references.append(loc(settings, ("sensitivity_levels",), under=False))
        return Mutation("change_settings", f"{settings.rel}: sensitivity_levels: {level!r} removed "
                        f"({len(references)} references)", fails(*references) if references else loads(),
                        ((settings.rel, ""),))
    # default_sensitivity: the level of every column that names none
    old = ws.default_sensitivity()
    new = _choice(rng, [lv for lv in levels if lv != old])
    if new is None or old not in levels:
        return None
    affected = [(c, i, n) for c, i, col, n in _columns(ws) if find_key(col, "sensitivity") is None]
    _set(ws, settings, data, "default_sensitivity", new)
    direction = Direction.RESTRICT if levels.index(new) > levels.index(old) else Direction.LOOSEN
    scopes = [Scope(direction, tables=frozenset({c.key}), cells=frozenset({name_key(n)})) for c, _, n in affected]
    holes = [loc(c.file, c.column_path(i) + ("protection",), under=False,
                 contains="sensitive column without protection")
             for c, i, _ in affected]
    return Mutation("change_settings", f"{settings.rel}: default_sensitivity: {old!r} -> {new!r} "
                    f"({len(affected)} columns take it)",
                    either(scopes, holes + [LINEAGE]) if holes else loads(*scopes),
                    ((settings.rel, "default_sensitivity"),))


# ... huge values ...

@operator("huge_value", "structural",
          "huge or deeply nested values: a 1 MiB description or attribute (loads), numbers out of range or "
          "too long to read (fail there), 800 extra columns (loosen only those), a row filter thousands "
          "of terms long or deep (loads with only that rule's rows changed, or fails at it)")
def huge_value(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    variant = _choice(rng, ["description", "attribute", "show_last", "bucket", "bucket_literal", "nesting",
                            "long_where", "deep_where", "columns", "inherits", "digits", "redact_range"])
    view = roles_view(ws)
    columns = _columns(ws)
    if variant == "description":
        places = [(view.file, e, ("roles", n)) for n, e in view.role_items()] if view else []
        places += [(c.file, col, c.column_path(i)) for c, i, col, _ in columns]
        if not places:
            return None
        file, mapping, path = _choice(rng, places)
        _set(ws, file, mapping, "description", "policy " * (1 << 17))
        return Mutation("huge_value", f"{where(file, path + ('description',))}: 1 MiB of text", loads(),
                        (at(file, path + ("description",)),))
    if variant == "attribute":
        principals = view.principal_items() if view else []
        if not principals:
            return None
        name, entry = _choice(rng, principals)
        attributes = get(entry, "attributes")
        if attributes is None:
            attributes = {}
            entry["attributes"] = attributes
        if not isinstance(attributes, dict):
            return None
        attributes["notes"] = "x" * (1 << 20)
        ws.changed(view.file)  # type: ignore[union-attr]
        scope = Scope(Direction.ANY, subjects=frozenset({principal_id(name)}), cells=frozenset({ROWS_CELL}))
        path = ("principals", name, "attributes", "notes")
        return Mutation("huge_value", f"{where(view.file, path)}: 1 MiB attribute", loads(scope),  # type: ignore[union-attr]
                        (at(view.file, path),))  # type: ignore[union-attr]
    if variant in ("show_last", "bucket", "bucket_literal", "redact_range"):
        if variant == "show_last":
            wanted = {TypeFamily.STRING}
        else:
            wanted = {TypeFamily.INTEGER, TypeFamily.DECIMAL, TypeFamily.FLOAT}
        candidates = [(c, i, col, n) for c, i, col, n in columns
                      if column_family(col) in wanted and column_mode(col) != "repeated"]
        if not candidates:
            return None
        table, index, column, name = _choice(rng, candidates)
        path = table.column_path(index) + ("protection",)
        if variant == "show_last":
            value: Any = 10 ** rng.choice([4, 30, 300])
            _set(ws, table.file, column, "protection", {"kind": "partial", "show_last": value})
            return Mutation("huge_value", f"{where(table.file, path)}: partial show_last 10^{len(str(value)) - 1}",
                            fails(loc(table.file, path, under=True)), (at(table.file, path),))
        if variant == "redact_range":  # a number of the right kind, out of the column type's range
            family = column_family(column)
            value = rng.choice([2 ** 63, -(2 ** 63) - 1, 10 ** 400] if family is TypeFamily.INTEGER
                               else [10 ** 38, -(10 ** 38), 10 ** 400] if family is TypeFamily.DECIMAL else [10 ** 400])
            _set(ws, table.file, column, "protection", {"kind": "redact", "value": value})
            return Mutation("huge_value", f"{where(table.file, path)}: redact value of {len(str(value))} digits",
                            fails(loc(table.file, path + ("value",), under=False, contains="out of range")),
                            (at(table.file, path),))
        if variant == "bucket":
            value = rng.choice([10 ** 40, 1e308, 2 ** 63, 10 ** 400])
            _set(ws, table.file, column, "protection", {"kind": "generalize", "bucket": value})
            if value == 10 ** 400:  # past any SQL number
                return Mutation("huge_value", f"{where(table.file, path)}: generalize bucket of 401 digits",
                                fails(loc(table.file, path + ("bucket",), under=False, contains="too large")),
                                (at(table.file, path),))
            scope = Scope(Direction.RECAST, tables=frozenset({table.key}), cells=frozenset({name_key(name)}),
                          kinds=frozenset({"generalize"}))
            return Mutation("huge_value", f"{where(table.file, path)}: generalize bucket {value:g}",
                            either([scope], [loc(table.file, path, under=True)]), (at(table.file, path),))
        literal = rng.choice(["1e999", "-1e999", "1e400"])
        _set(ws, table.file, column, "protection", {"kind": "generalize", "bucket": RawLiteral(literal)})
        # an infinite bucket is no bucket: generalizing to a multiple of infinity is not a protection;
        # refused where it is read (the number itself), or at the protection
        return Mutation("huge_value", f"{where(table.file, path)}: generalize bucket {literal}",
                        fails(loc(table.file, path, under=True),
                              loc(table.file, (), under=False, contains="not a finite number")),
                        (at(table.file, path),))
    if variant == "nesting":
        places = [(view.file, e, ("roles", n)) for n, e in view.role_items()] if view else []
        places += [(c.file, col, c.column_path(i)) for c, i, col, _ in columns]
        if not places:
            return None
        file, mapping, path = _choice(rng, places)
        depth = rng.choice([50, 400, 3000, 20000])
        _set(ws, file, mapping, "description", RawLiteral("[" * depth + "]" * depth))
        return Mutation("huge_value", f"{where(file, path + ('description',))}: a list nested {depth} deep",
                        fails(loc(file, path + ("description",), under=True),
                              loc(file, (), under=False, contains="nested too deeply")),
                        (at(file, path + ("description",)),))
    if variant in ("long_where", "deep_where"):
        rules = [(c, i, r) for c in contracts(ws) for i, r in c.rule_items() if isinstance(get(r, "where"), str)]
        if not rules:
            return None
        table, index, rule = _choice(rng, rules)
        condition = get(rule, "where")
        if variant == "long_where":
            count = rng.choice([200, 900, 3000, 20000])
            new = " OR ".join([f"({condition})"] + ["FALSE"] * count)
        else:
            count = rng.choice([50, 300, 800, 5000])
            new = "(" * count + condition + ")" * count
        _set(ws, table.file, rule, "where", new)
        holders = frozenset().union(*(ctx.holders(ws, r) for r in names_in(get(rule, "roles"))))
        scope = Scope(Direction.ANY, subjects=holders, tables=frozenset({table.key}), cells=frozenset({ROWS_CELL}))
        path = table.rule_path(index) + ("where",)
        return Mutation("huge_value", f"{where(table.file, path)}: {variant} x{count}",
                        either([scope], [loc(table.file, path, under=False)]), (at(table.file, path),))
    if variant == "columns":
        tables = [c for c in contracts(ws) if c.columns is not None and c.derivation_sql is None]
        if not tables:
            return None
        table = _choice(rng, tables)
        names = [f"FuzzBulk{i}" for i in range(800)]
        table.columns.extend({"name": n, "type": "STRING", "sensitivity": ws.levels()[-1], "protection": "nullify"}  # type: ignore[union-attr]
                             for n in names)
        ws.changed(table.file)
        scope = Scope(Direction.LOOSEN, tables=frozenset({table.key}), cells=frozenset(name_key(n) for n in names))
        return Mutation("huge_value", f"{where(table.file, table.columns_path)}: 800 columns added", loads(scope),
                        (at(table.file, table.columns_path),))
    if variant == "inherits":
        candidates = [(n, e) for n, e in view.role_items() if len(names_in(get(e, "inherits"))) == 1] if view else []
        if not candidates:
            return None
        name, entry = _choice(rng, candidates)
        key = find_key(entry, "inherits")
        entry[key] = names_in(entry[key]) * 5000
        ws.changed(view.file)  # type: ignore[union-attr]
        path = ("roles", name, "inherits")
        return Mutation("huge_value", f"{where(view.file, path)}: the parent 5,000 times", loads(),  # type: ignore[union-attr]
                        (at(view.file, path),))  # type: ignore[union-attr]
    # digits: a number too long to be read as one (Python refuses integers of more than 4,300 digits)
    tables = [c for c in contracts(ws) if c.contract is not None]
    if not tables:
        return None
    table = _choice(rng, tables)
    _set(ws, table.file, table.contract, "version", RawLiteral("9" * 5000))  # type: ignore[arg-type]
    return Mutation("huge_value", f"{where(table.file, table.prefix + ('version',))}: a 5,000-digit number",
                    fails(loc(table.file, (), under=False)), ((table.file.rel, ""),))


# --- text-level operators ---------------------------------------------------------------------------

def text_expectation(file: PolicyFile) -> Expectation:
    """A corrupted file: refused with problems in it (or, for what it no longer defines, where it is
    referenced), or loaded with changes only to what that file decides."""
    scopes = (Scope(Direction.ANY, files=frozenset({file.rel})),) if file.kind == "table" else (Scope(Direction.ANY),)
    return either(scopes, (loc(file, None),) + CROSS_FILE)


def _text_files(ws: Workspace, *, yaml_only: bool = False) -> list[PolicyFile]:
    return [f for f in ws.files.values() if f.text is None and not f.dirty and f.original
            and (not yaml_only or not f.is_json)]


@operator("truncate", "text", "the file cut short: refused with problems located in it, or loads with "
          "changes only to what it decides")
def truncate(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    file = _choice(rng, _text_files(ws))
    if file is None:
        return None
    cut = rng.randrange(len(file.original))
    file.text = file.original[:cut]
    return Mutation("truncate", f"{file.rel}: cut at byte {cut} of {len(file.original)}", text_expectation(file),
                    ((file.rel, ""),))


@operator("byte_flip", "text", "one bit of the file flipped: refused with problems located in it, or loads "
          "with changes only to what it decides")
def byte_flip(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    file = _choice(rng, _text_files(ws))
    if file is None:
        return None
    data = bytearray(file.original)
    offset, bit = rng.randrange(len(data)), rng.randrange(8)
    data[offset] ^= 1 << bit
    file.text = bytes(data)
    return Mutation("byte_flip", f"{file.rel}: byte {offset} bit {bit} ({file.original[offset:offset + 1]!r} -> "
                    f"{bytes(data[offset:offset + 1])!r})", text_expectation(file), ((file.rel, ""),))


@operator("indentation", "text", "a line indented differently: in YAML refused (located) or loads with changes "
          "only to what the file decides; in JSON nothing changes")
def indentation(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    file = _choice(rng, _text_files(ws))
    if file is None:
        return None
    lines = file.original.decode("utf-8").split("\n")
    candidates = [i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    if not candidates:
        return None
    index = _choice(rng, candidates)
    line = lines[index]
    body = line.lstrip(" ")
    indent = len(line) - len(body)
    how = _choice(rng, ["+1", "+2", "-1", "-2", "tab", "+4"])
    if how == "tab":
        new_indent = "\t" + " " * max(indent - 2, 0)
    else:
        new_indent = " " * max(indent + int(how), 0)
    if new_indent == " " * indent:
        return None
    lines[index] = new_indent + body
    file.text = "\n".join(lines).encode("utf-8")
    expect = loads() if file.is_json else text_expectation(file)
    return Mutation("indentation", f"{file.rel}: line {index + 1} indented {how}", expect, ((file.rel, ""),))


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_StrictLoader)
    except yaml.YAMLError:
        return None


@dataclass
class _Pair:
    mapping: yaml.MappingNode
    key: yaml.Node
    value: yaml.Node
    raw: tuple[str, ...]


def _walk_nodes(root: yaml.Node) -> tuple[list[_Pair], list[tuple[yaml.Node, tuple[str, ...]]]]:
    """Every key/value pair, and every value node with its path (keys as written, indices as text)."""
    pairs: list[_Pair] = []
    values: list[tuple[yaml.Node, tuple[str, ...]]] = []
    stack: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, raw = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                step = raw + (str(key.value) if isinstance(key, yaml.ScalarNode) else "?",)
                pairs.append(_Pair(node, key, value, step))
                values.append((value, step))
                stack.append((value, step))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                values.append((item, raw + (str(i),)))
                stack.append((item, raw + (str(i),)))
    pairs.sort(key=lambda p: p.key.start_mark.index)
    values.sort(key=lambda v: v[0].start_mark.index)
    return pairs, values


def _slot_paths(ws: Workspace, file: PolicyFile) -> dict[tuple[str, ...], Slot]:
    return {s.raw: s for s in slots(ws) if s.file is file}


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


@operator("duplicate_key", "text", "a key given twice in one mapping: must fail, naming the line of the second")
def duplicate_key(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    file = _choice(rng, _text_files(ws))
    if file is None:
        return None
    text = file.original.decode("utf-8-sig")
    root = _compose(text)
    if root is None:
        return None
    pairs, _ = _walk_nodes(root)
    usable = []
    for pair in pairs:
        if not isinstance(pair.key, yaml.ScalarNode) or getattr(pair.value, "style", None) in ("|", ">"):
            continue
        if (pair.mapping.flow_style or file.is_json
                or isinstance(pair.value, yaml.ScalarNode) and pair.key.start_mark.line == pair.value.end_mark.line):
            usable.append(pair)
    pair = _choice(rng, usable)
    if pair is None:
        return None
    key_text = text[pair.key.start_mark.index:pair.key.end_mark.index]
    value_text = text[pair.value.start_mark.index:pair.value.end_mark.index]
    if pair.mapping.flow_style or file.is_json:
        insert_at = pair.value.end_mark.index
        addition = f", {key_text}: {value_text}"
        line = _line_of(text, insert_at)
    else:
        end = text.find("\n", pair.value.end_mark.index)
        insert_at = len(text) if end < 0 else end
        addition = "\n" + " " * pair.key.start_mark.column + key_text + ": " + value_text
        line = pair.key.start_mark.line + 2
    new = text[:insert_at] + addition + text[insert_at:]
    file.text = new.encode("utf-8")
    return Mutation("duplicate_key", f"{file.rel}: key {pair.key.value!r} given again on line {line}",
                    fails(loc(file, (), under=False, contains="given twice", line=line)), ((file.rel, ""),))


def _value_nodes(text: str) -> list[tuple[yaml.Node, tuple[str, ...]]]:
    root = _compose(text)
    if root is None:
        return []
    _, values = _walk_nodes(root)
    return [(node, raw) for node, raw in values
            if (isinstance(node, yaml.ScalarNode) and node.style in (None, "'", '"'))
            or (isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) and node.flow_style)]


@operator("yaml_anchor_alias", "text", "a repeated value written once with an anchor and reused by an alias: "
          "nothing changes")
def yaml_anchor_alias(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    file = _choice(rng, _text_files(ws, yaml_only=True))
    if file is None:
        return None
    text = file.original.decode("utf-8-sig")
    groups: dict[tuple[str, str], list[yaml.Node]] = {}
    for node, _ in _value_nodes(text):
        source = text[node.start_mark.index:node.end_mark.index]
        groups.setdefault((node.tag, source), []).append(node)
    repeated = [nodes for nodes in groups.values() if len(nodes) > 1]
    nodes = _choice(rng, repeated)
    if nodes is None:
        return None
    first = nodes[0]
    aliased = _choice(rng, nodes[1:])
    new = (text[:first.start_mark.index] + "&fz " + text[first.start_mark.index:aliased.start_mark.index] + "*fz"
           + text[aliased.end_mark.index:])
    file.text = new.encode("utf-8")
    return Mutation("yaml_anchor_alias", f"{file.rel}: line {first.start_mark.line + 1} anchored, line "
                    f"{aliased.start_mark.line + 1} an alias of it", loads(), ((file.rel, ""),))


def _replace_node(ws: Workspace, rng: random.Random, replacement: str, name: str, what: str) -> Mutation | None:
    file = _choice(rng, _text_files(ws, yaml_only=True))
    if file is None:
        return None
    text = file.original.decode("utf-8-sig")
    nodes = _value_nodes(text)
    if not nodes:
        return None
    node, raw = _choice(rng, nodes)
    slot = _slot_paths(ws, file).get(raw)
    file.text = (text[:node.start_mark.index] + replacement + text[node.end_mark.index:]).encode("utf-8")
    if slot is not None and slot.owner not in ("meta",) and slot.field != "meta":
        primary = [loc(file, slot.path, under=True), loc(file, slot.parent_path, under=False)]
    else:
        primary = [loc(file, None)]
    primary.append(loc(file, (), under=False, contains="too deeply"))
    path = format_path(slot.path) if slot is not None else "/".join(raw)
    return Mutation(name, f"{file.rel}: {path} (line {node.start_mark.line + 1}) replaced by {what}",
                    fails(*primary), ((file.rel, ""),))


@operator("yaml_recursive_alias", "text", "a value replaced by an alias that contains itself: must fail there")
def yaml_recursive_alias(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    return _replace_node(ws, rng, _choice(rng, ["&fz [*fz]", "&fz {a: *fz}", "&fz [1, [2, *fz]]"]),
                         "yaml_recursive_alias", "a self-referring alias")


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A flow sequence whose aliases expand to ``width ** levels`` items (a "billion laughs")."""
    layers = ["&b0 [" + ", ".join(["lol"] * width) + "]"]
    layers += [f"&b{i} [" + ", ".join([f"*b{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "[" + ", ".join(layers) + "]"


@operator("yaml_alias_bomb", "text", "a value replaced by nested aliases that expand to 9^9 items: must fail "
          "there, quickly")
def yaml_alias_bomb(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    return _replace_node(ws, rng, alias_bomb(), "yaml_alias_bomb", "an alias bomb")


_UNSUPPORTED_TAGS = ("!!binary", "!!timestamp", "!!set", "!!omap", "!!python/object/apply:os.system", "!fuzz",
                     "!!python/name:builtins.eval", "!<tag:example.com,2000:x>")
_TAG_OF = {"tag:yaml.org,2002:str": "!!str", "tag:yaml.org,2002:int": "!!int", "tag:yaml.org,2002:float": "!!float",
           "tag:yaml.org,2002:bool": "!!bool", "tag:yaml.org,2002:null": "!!null"}


@operator("yaml_tag", "text", "an explicit tag on a value: the value's own tag changes nothing; an unsupported "
          "tag, or one the value cannot be read as, must fail naming its line")
def yaml_tag(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    file = _choice(rng, _text_files(ws, yaml_only=True))
    if file is None:
        return None
    text = file.original.decode("utf-8-sig")
    nodes = [(n, r) for n, r in _value_nodes(text) if isinstance(n, yaml.ScalarNode) and n.style is None]
    if not nodes:
        return None
    node, _ = _choice(rng, nodes)
    line = node.start_mark.line + 1
    variant = _choice(rng, ["own", "unsupported", "mismatch"])
    if variant == "own" and node.tag in _TAG_OF and node.value != "":
        tag = _TAG_OF[node.tag]
        expect = loads()
    elif variant == "mismatch" and node.tag == "tag:yaml.org,2002:str" and not re.fullmatch(r"[-+]?[0-9]+", node.value):
        tag = "!!int"
        expect = fails(loc(file, (), under=False, contains="cannot read", line=line))
    else:
        tag = _choice(rng, _UNSUPPORTED_TAGS)
        expect = fails(loc(file, (), under=False, contains="not supported", line=line))
    index = node.start_mark.index
    file.text = (text[:index] + tag + " " + text[index:]).encode("utf-8")
    return Mutation("yaml_tag", f"{file.rel}: line {line}: {tag} {node.value!r}", expect, ((file.rel, ""),))


@operator("yaml_merge_key", "text", "a YAML merge key (<<: *anchor) in a mapping: must fail at that mapping "
          "(merge keys let one value silently override another); in free-form metadata it is just a key")
def yaml_merge_key(ws: Workspace, rng: random.Random, ctx: Context) -> Mutation | None:
    file = _choice(rng, _text_files(ws, yaml_only=True))
    if file is None:
        return None
    text = file.original.decode("utf-8-sig")
    flow = [(n, r) for n, r in _value_nodes(text) if isinstance(n, yaml.MappingNode) and n.value]
    if len(flow) < 2:
        return None
    first = rng.randrange(len(flow) - 1)
    source, _ = flow[first]
    later = [f for f in flow[first + 1:] if f[0].start_mark.index > source.end_mark.index]
    if not later:
        return None
    target, raw = _choice(rng, later)
    slot = _slot_paths(ws, file).get(raw)
    brace = target.start_mark.index
    file.text = (text[:source.start_mark.index] + "&fz " + text[source.start_mark.index:brace + 1] + "<<: *fz, "
                 + text[brace + 1:]).encode("utf-8")
    if slot is not None and (slot.field == "meta" or slot.owner == "meta"):
        expect = loads()
    elif slot is not None and slot.field == "attributes":
        expect = fails(loc(file, slot.path, under=False, contains="'<<'"))
    elif slot is not None:
        expect = fails(loc(file, slot.path, under=False, contains="unknown key '<<'"))
    else:
        expect = fails(loc(file, None, contains="'<<'"))
    where_ = format_path(slot.path) if slot is not None else "/".join(raw)
    return Mutation("yaml_merge_key", f"{file.rel}: {where_} (line {target.start_mark.line + 1}) merges the mapping "
                    f"on line {source.start_mark.line + 1}", expect, ((file.rel, ""),))


def operators_by_name() -> dict[str, Operator]:
    return {op.name: op for op in OPERATORS}


def structural_operators() -> list[Operator]:
    return [op for op in OPERATORS if op.level == "structural"]


def iter_effects() -> Iterator[tuple[str, str, str]]:
    """(name, level, declared effect) of every operator, for documentation and ``--list``."""
    for op in OPERATORS:
        yield op.name, op.level, op.effect
