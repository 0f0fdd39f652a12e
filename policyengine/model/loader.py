"""Loading a policy folder (spec section 1): read every file, check it, resolve it, or refuse it.

``load_policy_set`` either returns a complete :class:`PolicySet` or raises
:class:`PolicySetInvalid` with every problem found, each located by file and field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from policyengine.model.base import normalize_key
from policyengine.model.checks import (
    RawContract,
    RawRoles,
    check_unprotected_sensitive,
    finish_table,
    resolve_roles,
    resolve_settings,
    resolve_table,
)
from policyengine.model.files import ContractSpec, RolesFile, SettingsFile
from policyengine.model.policyset import PolicySet, Table
from policyengine.model.problems import PolicySetInvalid, Problem, Problems
from policyengine.model.pydantic_errors import report_validation_error
from policyengine.model.reading import ReadError, read_file

SUFFIXES = (".yaml", ".yml", ".json")


def _one_of(root: Path, stem: str, problems: list[Problem]) -> Path | None:
    found = [root / f"{stem}{suffix}" for suffix in SUFFIXES if (root / f"{stem}{suffix}").is_file()]
    if len(found) > 1:
        problems.append(Problem(found[1].name, "", f"{stem} is given twice ({', '.join(p.name for p in found)}); keep one"))
    return found[0] if found else None


def _read(path: Path, rel: str, problems: list[Problem]) -> Any:
    try:
        return read_file(path)
    except ReadError as error:
        problems.append(Problem(rel, "", str(error)))
        return _UNREADABLE


_UNREADABLE = object()


def _validate(model: type, data: Any, at: Problems) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        report_validation_error(error, at)
        return None


def _contracts_in(data: Any, stem: str, file_problems: Problems) -> list[RawContract]:
    """The contracts a table file holds, in the file's own layout.

    A list of registrations, one registration, ``{tables: [...]}``, or a BigQuery-style schema
    list (``[{name, type, mode, description}]``) that is itself one table's columns.
    """
    def has_columns(item: Any) -> bool:
        return isinstance(item, dict) and any(normalize_key(k) == "columns" for k in item)

    if data is None:
        file_problems.add((), "is empty: a table file holds one or more contracts")
        return []
    if isinstance(data, dict) and not has_columns(data) and any(normalize_key(k) == "tables" for k in data):
        key = next(k for k in data if normalize_key(k) == "tables")
        if len(data) > 1:
            extra = next(k for k in data if k != key)
            file_problems.add((), f"unknown key '{extra}' beside '{key}'")
        items = data[key]
        if not isinstance(items, list) or not items:
            file_problems.add((key,), "expected a non-empty list of contracts")
            return []
        return _contract_list(items, stem, file_problems.at(key), single=False)
    if isinstance(data, dict):
        return _contract_list([data], stem, file_problems, single=True)
    if isinstance(data, list) and data and all(isinstance(i, dict) and not has_columns(i) for i in data) \
            and any(any(normalize_key(k) == "type" for k in i) for i in data):
        spec = _validate(ContractSpec, {"columns": data}, _ColumnsAtTop(file_problems))
        return [RawContract(spec, stem, file_problems, columns_at=())] if spec else []
    if isinstance(data, list) and data:
        return _contract_list(data, stem, file_problems, single=len(data) == 1)
    file_problems.add((), "expected a contract, a list of contracts, or a BigQuery-style list of columns")
    return []


class _ColumnsAtTop(Problems):
    """Reports ``columns[3].type`` of a wrapped schema list as ``[3].type``: the file has no 'columns' key."""

    def __init__(self, inner: Problems):
        super().__init__(inner.file, inner.prefix, inner.found)

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        if path and path[0] == "columns":
            path = path[1:]
        super().add(path, message)


def _contract_list(items: list[Any], stem: str, problems: Problems, *, single: bool) -> list[RawContract]:
    out = []
    for index, item in enumerate(items):
        at = problems if single else problems.at(index)
        if not isinstance(item, dict):
            at.add((), "expected a contract (a mapping with 'columns')")
            continue
        spec = _validate(ContractSpec, item, at)
        if spec is not None:
            out.append(RawContract(spec, stem, at))
    return out


def load_policy_set(root: str | Path) -> PolicySet:
    """Load and validate a policy folder; raises :class:`PolicySetInvalid` listing every problem."""
    root = Path(root)
    problems: list[Problem] = []
    if not root.is_dir():
        raise PolicySetInvalid([Problem(str(root), "", "policy folder not found")])
    digest = hashlib.sha256()

    def read(path: Path) -> tuple[str, Any]:
        rel = path.relative_to(root).as_posix()
        digest.update(rel.encode() + b"\0")
        try:
            digest.update(path.read_bytes() + b"\0")
        except OSError:
            pass
        return rel, _read(path, rel, problems)

    settings_path = _one_of(root, "policyengine", problems)
    settings_spec = SettingsFile()
    settings_at = Problems(settings_path.name if settings_path else "policyengine.yaml", found=problems)
    if settings_path:
        _, data = read(settings_path)
        if data is not _UNREADABLE:
            settings_spec = _validate(SettingsFile, data if data is not None else {}, settings_at) or SettingsFile()
    settings = resolve_settings(settings_spec, settings_at)

    raw_roles: RawRoles | None = None
    roles_path = _one_of(root, "roles", problems)
    if roles_path:
        rel, data = read(roles_path)
        if data is not _UNREADABLE:
            at = Problems(rel, found=problems)
            spec = _validate(RolesFile, data if data is not None else {}, at)
            raw_roles = RawRoles(spec, at) if spec else None

    contracts: list[RawContract] = []
    tables_dir = root / "tables"
    if tables_dir.is_dir():
        for path in sorted(p for p in tables_dir.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
            rel, data = read(path)
            if data is not _UNREADABLE:
                contracts.extend(_contracts_in(data, path.stem, Problems(rel, found=problems)))

    tables: dict[str, Table] = {}
    raw_by_table: dict[str, RawContract] = {}
    for raw in contracts:
        table = resolve_table(raw, settings)
        if table is None:
            continue
        if table.key in tables:
            raw.problems.add(("table",) if raw.spec.table else (),
                             f"table {table.name} is defined twice (also in {tables[table.key].source})")
            continue
        tables[table.key] = table
        raw_by_table[table.key] = raw

    roles, principals = resolve_roles(raw_roles, settings, tables)
    for key, table in list(tables.items()):
        tables[key] = finish_table(table, raw_by_table[key], roles, tables)
    check_unprotected_sensitive(tables, roles, settings, raw_by_table)

    if problems:
        raise PolicySetInvalid(sorted(set(problems), key=problems.index))
    return PolicySet(settings, roles, principals, tables, version=digest.hexdigest()[:16], root=str(root))
