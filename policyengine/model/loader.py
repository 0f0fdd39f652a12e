"""Loading a policy folder (spec section 1): read every file, check it, resolve it, or refuse it.

``load_policy_set`` either returns a complete :class:`PolicySet` or raises
:class:`PolicySetInvalid` with every problem found, each located by file and field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from policyengine.model.base import PolicyModel, normalize_key
from policyengine.model.checks import (
    Known,
    TableDraft,
    TableIndex,
    finish_table,
    resolve_roles,
    resolve_settings,
    resolve_table,
)
from policyengine.model.files import ContractHeader, ContractSpec, RolesFile, SettingsFile
from policyengine.model.policyset import PolicySet, Role, Settings, Table, name_key
from policyengine.model.problems import PolicySetInvalid, Problem, Problems
from policyengine.model.pydantic_errors import report_validation_error
from policyengine.model.reading import ReadError, read_file
from policyengine.model.recovery import (
    RawContract,
    RawRoles,
    RawTables,
    recover_columns,
    recover_contract,
    recover_roles,
    recover_settings,
)

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Resolved:
    """The set as resolved so far, for the checks that look across files after every file is read.

    Problems go into the drafts' own :class:`Problems` (``tables.drafts[...].raw.problems``), so
    they are located by file and field like every other problem.
    """

    tables: TableIndex
    roles: dict[str, Role]
    #: roles known only in part (a problem already reported): checks that judge a role skip these
    incomplete_roles: set[str]
    settings: Settings
    known: Known


#: a check the loader runs over the resolved set; it reports into the drafts' problems
SetCheck = Callable[[Resolved], None]


def _one_of(root: Path, stem: str, problems: list[Problem]) -> Path | None:
    found = [root / f"{stem}{suffix}" for suffix in SUFFIXES if (root / f"{stem}{suffix}").is_file()]
    if len(found) > 1:
        problems.append(Problem(found[1].name, "",
                                f"{stem} is given twice ({', '.join(p.name for p in found)}); keep one"))
    return found[0] if found else None


def _read(path: Path, rel: str, problems: list[Problem]) -> Any:
    try:
        return read_file(path)
    except ReadError as error:
        problems.append(Problem(rel, "", str(error)))
        return _UNREADABLE


_UNREADABLE = object()


def _validate(model: type[PolicyModel], data: Any, at: Problems) -> Any:
    """The file (or part of one) validated as a whole; every problem reported, None if any."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        report_validation_error(error, at, model)
        return None
    except RecursionError:  # a YAML alias that contains itself
        at.add((), "is nested too deeply (a YAML alias that refers to itself?)")
        return None


def _has_key(item: Any, name: str) -> bool:
    return isinstance(item, dict) and any(normalize_key(k) == name for k in item)


def _contracts_in(data: Any, stem: str, file_problems: Problems, tables: RawTables) -> None:
    """The contracts a table file holds, in the file's own layout, added to ``tables``.

    A list of registrations, one registration, ``{tables: [...]}``, or a BigQuery-style schema
    list (``[{name, type, mode, description}]``) that is itself one table's columns. Where the
    file's contracts cannot be told apart, its stem is noted as a table that may exist, so that
    references to it are not reported as unknown on top of the problem reported here.
    """
    if data is None:
        file_problems.add((), "is empty: a table file holds one or more contracts")
        tables.unreadable.add(name_key(stem))
        return
    if isinstance(data, dict) and not _has_key(data, "columns") and _has_key(data, "tables"):
        key = next(k for k in data if normalize_key(k) == "tables")
        if len(data) > 1:
            extra = next(k for k in data if k != key)
            file_problems.add((), f"unknown key '{extra}' beside '{key}'")
        items = data[key]
        if not isinstance(items, list) or not items:
            file_problems.add((key,), "expected a non-empty list of contracts")
            tables.unreadable.add(name_key(stem))
            return
        _contract_list(items, stem, file_problems.at(key), tables, single=False)
    elif isinstance(data, dict):
        _contract_list([data], stem, file_problems, tables, single=True)
    elif _is_schema_list(data):
        at = _ColumnsAtTop(file_problems)
        spec = _validate(ContractSpec, {"columns": data}, at)
        tables.contracts.append(RawContract(stem, ContractHeader(), recover_columns(data), [], at,
                                            columns_at=(), complete=spec is not None))
    elif isinstance(data, list) and data:
        _contract_list(data, stem, file_problems, tables, single=len(data) == 1)
    else:
        file_problems.add((), "expected a contract, a list of contracts, or a BigQuery-style list of columns")
        tables.unreadable.add(name_key(stem))


def _is_schema_list(data: Any) -> bool:
    """A BigQuery-style schema list: its items are columns (they have a ``name``, or at least a
    ``type``) and none is a contract (none has ``columns``). Told by ``name`` as well as ``type``:
    a list of columns that all lack their type is still a list of columns. Told by the items that
    are mappings: one item that is not a mapping (``42``) is a bad column of the list, reported at
    that item, not a reason to read every good column as a contract without ``columns``."""
    mappings = [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []
    return (bool(mappings) and not any(_has_key(i, "columns") for i in mappings)
            and any(_has_key(i, "name") or _has_key(i, "type") for i in mappings))


class _ColumnsAtTop(Problems):
    """Reports ``columns[3].type`` of a wrapped schema list as ``[3].type``: the file has no 'columns' key."""

    def __init__(self, inner: Problems):
        super().__init__(inner.file, inner.prefix, inner.found)

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        if path and path[0] == "columns":
            path = path[1:]
        super().add(path, message)


def _contract_list(items: list[Any], stem: str, problems: Problems, tables: RawTables, *, single: bool) -> None:
    for index, item in enumerate(items):
        at = problems if single else problems.at(index)
        if not isinstance(item, dict):
            at.add((), "expected a contract (a mapping with 'columns')")
            tables.unreadable.add(name_key(stem))
            continue
        spec = _validate(ContractSpec, item, at)
        raw = recover_contract(item, stem, at, complete=spec is not None)
        if not raw.name_known:
            tables.unreadable.add(name_key(stem))
        tables.contracts.append(raw)


def load_policy_set(root: str | Path, *, checks: Sequence[SetCheck]) -> PolicySet:
    """Load and validate a policy folder; raises :class:`PolicySetInvalid` listing every problem.

    Each file is validated as a whole first, which reports its problems; what is valid in a file
    that has problems is still recovered (:mod:`policyengine.model.recovery`), so that one mistake
    neither hides the others nor makes references to what the file defines look wrong. A
    :class:`PolicySet` is returned only when no problem at all was found.

    ``checks`` run after the model's own, over the resolved set: the checks that need a layer above
    the model (the decision's "who would read this raw?", lineage), which the model may not import
    (docs/architecture.md). It has no default, so that no caller can leave them out by accident:
    :func:`policyengine.loading.load_policy_set` passes every one, and is what callers use.
    """
    root = Path(root)
    problems: list[Problem] = []
    if not root.exists():
        raise PolicySetInvalid([Problem(str(root), "", "policy folder not found")])
    if not root.is_dir():
        raise PolicySetInvalid([Problem(str(root), "", "is not a folder: a policy set is a folder "
                                                         "(roles.yaml, tables/, policyengine.yaml)")])
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
    settings_at = Problems(settings_path.name if settings_path else "policyengine.yaml", found=problems)
    raw_settings = recover_settings(None, readable=True)
    if settings_path:
        _, data = read(settings_path)
        if data is not _UNREADABLE:
            _validate(SettingsFile, data if data is not None else {}, settings_at)
        raw_settings = recover_settings(data, readable=data is not _UNREADABLE)
    settings, known = resolve_settings(raw_settings, settings_at)

    raw_roles: RawRoles | None = None
    roles_path = _one_of(root, "roles", problems)
    if roles_path:
        rel, data = read(roles_path)
        at = Problems(rel, found=problems)
        if data is not _UNREADABLE:
            _validate(RolesFile, data if data is not None else {}, at)
        raw_roles = recover_roles(data, at, readable=data is not _UNREADABLE)
        known.roles = raw_roles.known

    raw_tables = RawTables()
    tables_dir = root / "tables"
    if tables_dir.is_dir():
        for path in sorted(p for p in tables_dir.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
            rel, data = read(path)
            if data is _UNREADABLE:
                raw_tables.unreadable.add(name_key(path.stem))
            else:
                _contracts_in(data, path.stem, Problems(rel, found=problems), raw_tables)

    drafts: dict[str, TableDraft] = {}
    unnamed: list[TableDraft] = []  # checked, but known to no reference: their 'table' is invalid
    for raw in raw_tables.contracts:
        draft = resolve_table(raw, settings, known)
        if not raw.name_known:
            unnamed.append(draft)
            continue
        if draft.key in drafts:
            raw.problems.add(("table",) if raw.names_table else (),
                             f"table {draft.name} is defined twice (also in {drafts[draft.key].raw.problems.file})")
            continue
        drafts[draft.key] = draft
    index = TableIndex(drafts, raw_tables.unreadable)

    roles, principals, incomplete_roles = resolve_roles(raw_roles, settings, known, index)
    tables: dict[str, Table] = {}
    for key, draft in drafts.items():
        table = finish_table(draft, roles, index, known)
        if table is not None:
            tables[key] = table
    for draft in unnamed:
        finish_table(draft, roles, index, known)
    resolved = Resolved(index, roles, incomplete_roles, settings, known)
    for check in checks:
        check(resolved)

    if not problems and (len(tables) != len(drafts) or incomplete_roles):
        # Fail closed: something was left out without a problem saying why (a bug, never a mistake
        # in the files); a set missing a table must not load, it might be read with no protection.
        missing = sorted(set(drafts) - set(tables)) + sorted(incomplete_roles)
        problems.append(Problem(str(root), "", f"internal error: could not resolve {', '.join(missing)}"))
    if problems:
        raise PolicySetInvalid(sorted(set(problems), key=problems.index))
    return PolicySet(settings, roles, principals, tables, version=digest.hexdigest()[:16], root=str(root))
