"""What is still known of a file that failed validation, so that one mistake hides nothing else.

A file is first validated as a whole, and that validation alone reports its problems (so each is
said once, in pydantic's order, by :mod:`policyengine.model.pydantic_errors`). When it fails, the
checks that need the whole policy set still need to know what the file defines: a role with a typo
in one key still exists, so references to it must resolve; a table with one bad column still has
its other columns, its row access rules and its name (so a second definition of it is still a
duplicate). Without this, one typo would make every reference elsewhere a false "undefined role"
or "unknown table", and would hide the real problems of everything the file defines.

So the file is taken apart here, silently: each role, principal, column and row access rule is
validated on its own, and an entry that fails is retried without the keys that failed
(:func:`salvage`). Whatever is recovered is marked incomplete. Nothing recovered can reach a
:class:`~policyengine.model.policyset.PolicySet`: the loader refuses the set, because the whole-file
validation already reported a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from policyengine.model.base import PolicyModel, normalize_key
from policyengine.model.files import (
    ColumnSpec,
    ContractHeader,
    ContractSpec,
    PrincipalSpec,
    RolesFile,
    RoleSpec,
    RowAccessRule,
    SettingsFile,
)
from policyengine.model.policyset import name_key
from policyengine.model.problems import Problems
from policyengine.model.pydantic_errors import _did_you_mean

M = TypeVar("M", bound=PolicyModel)


def _canonical(model: type[PolicyModel], key: object) -> str:
    return model.canonical_keys().get(normalize_key(key), str(key))


def salvage(model: type[M], data: Any) -> tuple[M | None, frozenset[str]]:
    """Validate ``data`` silently, leaving out the keys that fail, until it validates.

    Returns the instance (``None`` when no subset of the keys validates, e.g. a required key is
    missing or wrong) and the canonical names of the keys left out. A key given twice in two
    spellings is left out in both: neither value can be trusted.
    """
    if not isinstance(data, dict):
        return None, frozenset()
    groups: dict[str, list[object]] = {}
    for key in data:
        groups.setdefault(_canonical(model, key), []).append(key)
    dropped = {name for name, keys in groups.items() if len(keys) > 1}
    current = {k: v for k, v in data.items() if _canonical(model, k) not in dropped}
    for _ in range(len(data) + 1):
        try:
            return model.model_validate(current), frozenset(dropped)
        except ValidationError as error:
            failing = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
            keys = [k for k in current if _canonical(model, k) in failing or str(k) in failing]
            if not keys:
                return None, frozenset(dropped | failing)
            dropped.update(_canonical(model, k) for k in keys)
            current = {k: v for k, v in current.items() if k not in keys}
    return None, frozenset(dropped)


def _value_of(data: dict[Any, Any], model: type[PolicyModel], name: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``data`` holds the key ``name`` exactly once (in any spelling)."""
    keys = [k for k in data if _canonical(model, k) == name]
    return (True, data[keys[0]]) if len(keys) == 1 else (False, None)


def meant(model: type[PolicyModel], data: Any) -> set[str]:
    """Fields ``data`` leaves out but seems to mean by an unknown key (``rolse`` for ``roles``).

    What such a field holds is not known (it is under the misspelled key), which is not the same as
    known to be absent: checks against it must say nothing, or one typo in ``roles:`` would make
    every reference to every role "undefined" on top of the one real mistake.
    """
    if not isinstance(data, dict):
        return set()
    fields = sorted({info.alias or name for name, info in model.model_fields.items()})
    given = {_canonical(model, k) for k in data}
    out = set()
    for key in data:
        if _canonical(model, key) in fields:
            continue
        close = _did_you_mean(str(key), fields)
        if close is not None and close not in given:
            out.add(close)
    return out


def name_of(value: Any) -> str | None:
    """A name as written, when it can serve as one for references: text, or a number written bare."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


# --- settings --------------------------------------------------------------------------------------

@dataclass
class RawSettings:
    spec: SettingsFile
    #: settings keys whose value is not known (invalid, or the file unreadable): checks that
    #: depend on them say nothing rather than something false
    unknown: frozenset[str] = frozenset()


def recover_settings(data: Any, *, readable: bool) -> RawSettings:
    every = frozenset(SettingsFile.model_fields)
    if not readable:
        return RawSettings(SettingsFile(), every)
    data = {} if data is None else data
    try:
        return RawSettings(SettingsFile.model_validate(data))
    except ValidationError:
        pass
    spec, dropped = salvage(SettingsFile, data)
    if spec is None:
        return RawSettings(SettingsFile(), every)
    return RawSettings(spec, (dropped | meant(SettingsFile, data)) & every)


# --- roles -----------------------------------------------------------------------------------------

@dataclass
class RawRole:
    name: str
    spec: RoleSpec
    #: False when the role's entry had a problem and ``spec`` holds only its valid keys
    complete: bool = True


@dataclass
class RawPrincipal:
    name: str
    spec: PrincipalSpec


@dataclass
class RawRoles:
    roles: list[RawRole]
    principals: list[RawPrincipal]
    problems: Problems
    #: False when the roles cannot be known (the file unreadable, ``roles`` not a mapping):
    #: references to roles are then not checked, rather than all reported as undefined
    known: bool = True


def recover_roles(data: Any, problems: Problems, *, readable: bool = True) -> RawRoles:
    """Every role and principal that has a name, each validated on its own."""
    if not readable or not isinstance(data, (dict, type(None))):
        return RawRoles([], [], problems, known=False)
    data = data or {}
    known = True
    roles: list[RawRole] = []
    given, entries = _value_of(data, RolesFile, "roles")
    if given and entries is not None and not isinstance(entries, dict):
        known = False
    elif not given and any(_canonical(RolesFile, k) == "roles" for k in data):
        known = False  # 'roles' given twice in two spellings
    elif not given and "roles" in meant(RolesFile, data):
        known = False  # 'roles' misspelled: the roles are there, under the wrong key
    for key, value in (entries or {}).items() if isinstance(entries, dict) else ():
        name = name_of(key)
        if name is None:
            known = False
            continue
        roles.append(_recover_role(name, value))

    principals: list[RawPrincipal] = []
    _, entries = _value_of(data, RolesFile, "principals")
    for key, value in entries.items() if isinstance(entries, dict) else ():
        name = name_of(key)
        spec = _entry(PrincipalSpec, value)[0] if name is not None else None
        if spec is not None:
            principals.append(RawPrincipal(name, spec))  # type: ignore[arg-type]
    return RawRoles(roles, principals, problems, known)


def _entry(model: type[M], value: Any) -> tuple[M | None, bool]:
    """An entry validated on its own: (instance, complete), salvaged when it fails."""
    try:
        return model.model_validate(value), True
    except ValidationError:
        return salvage(model, value)[0], False


def _recover_role(name: str, value: Any) -> RawRole:
    spec, complete = _entry(RoleSpec, {} if value is None else value)
    return RawRole(name, spec if spec is not None else RoleSpec(), complete)


# --- table contracts -------------------------------------------------------------------------------

@dataclass
class RawColumn:
    index: int
    #: the column's name as written, when it has one that references can use
    name: str | None
    #: the column's valid keys (``None`` when not even those validate, e.g. its type is missing)
    spec: ColumnSpec | None
    #: the canonical names of the keys left out of ``spec`` because they are invalid
    dropped: frozenset[str] = frozenset()
    complete: bool = True


@dataclass
class RawRule:
    """A row access rule as far as it is valid: its roles and its condition, each None when invalid."""

    index: int
    roles: list[str] | None
    where: str | None


def recover_rule(index: int, item: Any) -> RawRule:
    rule, _ = _entry(RowAccessRule, item)
    if rule is not None:
        return RawRule(index, rule.roles, rule.where)
    roles = where = None
    if isinstance(item, dict):  # each part on its own: a rule without 'where' still names its roles
        has, value = _value_of(item, RowAccessRule, "roles")
        value = [value] if isinstance(value, str) else value
        if has and isinstance(value, list) and value and all(isinstance(r, str) and r for r in value):
            roles = value
        has, value = _value_of(item, RowAccessRule, "where")
        if has and isinstance(value, str) and value:
            where = value
    return RawRule(index, roles, where)


@dataclass
class RawContract:
    """One contract as far as it could be read: known by name even when some of it is invalid."""

    #: the table name as written, or the file's stem
    name: str
    header: ContractHeader
    #: None when the contract's columns cannot be read at all (not a list)
    columns: list[RawColumn] | None
    rules: list[RawRule]
    problems: Problems
    #: BigQuery-style schema lists have columns at the top level of the file
    columns_at: tuple[str | int, ...] = ("columns",)
    #: False when validating the contract as a whole reported a problem
    complete: bool = True
    #: whether ``table`` is written in the contract (problems about the name point there)
    names_table: bool = False
    #: False when ``table`` is given but invalid: ``name`` is then only a stand-in for messages,
    #: and the table is not known by any name to references from elsewhere
    name_known: bool = True

    @property
    def columns_known(self) -> bool:
        """Every column has a usable name, so a reference to any other column is a mistake."""
        return self.columns is not None and all(c.name is not None for c in self.columns)

    def spec_index(self, column_key: str) -> int:
        """The index in the file of the (first) column with this key."""
        assert self.columns is not None
        return next(c.index for c in self.columns if c.name is not None and name_key(c.name) == column_key)


def recover_contract(data: dict[Any, Any], stem: str, problems: Problems, *, complete: bool) -> RawContract:
    """A contract taken apart: its header, each column and each row access rule on its own."""
    rest = {k: v for k, v in data.items() if _canonical(ContractSpec, k) not in ("columns", "row_access")}
    header, _ = _entry(ContractHeader, rest)
    given_table = any(_canonical(ContractSpec, k) == "table" for k in rest)
    if header is None:
        header = ContractHeader()
    name_known = header.table is not None or not given_table
    name = header.table or stem
    if not name_known:
        has, value = _value_of(rest, ContractSpec, "table")
        name = (name_of(value) if has else None) or stem
    given, value = _value_of(data, ContractSpec, "columns")
    columns = recover_columns(value) if given and isinstance(value, list) and value else None
    rules: list[RawRule] = []
    given, value = _value_of(data, ContractSpec, "row_access")
    for index, item in enumerate(value if given and isinstance(value, list) else []):
        rules.append(recover_rule(index, item))
    return RawContract(name, header, columns, rules, problems, complete=complete, names_table=given_table,
                       name_known=name_known)


def recover_columns(items: list[Any]) -> list[RawColumn]:
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            out.append(RawColumn(index, None, None, complete=False))
            continue
        # only a valid name: a column named 42 or [a] is not known by any name, so the table's
        # column list is not known in full and references to its columns are not judged
        has, value = _value_of(item, ColumnSpec, "name")
        name = value if has and isinstance(value, str) and value.strip() else None
        try:
            out.append(RawColumn(index, name, ColumnSpec.model_validate(item)))
        except ValidationError:
            spec, dropped = salvage(ColumnSpec, item)
            out.append(RawColumn(index, name, spec, dropped, complete=False))
    return out


@dataclass
class RawTables:
    contracts: list[RawContract] = field(default_factory=list)
    #: table names (file stems) that may be defined in a file that could not be read: a reference
    #: to one of them is not reported as an unknown table
    unreadable: set[str] = field(default_factory=set)
