"""The validated policy set: what the decision reads.

Everything here is resolved: names matched case-insensitively to one key, levels turned into
ranks, types parsed, expressions parsed. A :class:`PolicySet` only exists when validation found no
problem, so the decision never has to wonder whether a role or level is defined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlglot import exp

from policyengine.model.protections import Protection
from policyengine.model.types import ColumnType


def name_key(name: str) -> str:
    """Roles, tables and columns are matched case-insensitively, as DuckDB and Snowflake match them."""
    return name.strip().lower()


@dataclass(frozen=True)
class Settings:
    sensitivity_levels: tuple[str, ...]
    environments: tuple[str, ...]
    default_environment: str
    unknown_table: str
    default_sensitivity: str
    #: ``off``, ``log`` or ``mask``: the egress check over lowest-level columns (policyengine.dlp.egress)
    egress_check: str = "off"

    def rank(self, level: str) -> int:
        return self.sensitivity_levels.index(level)

    @property
    def lowest_level(self) -> str:
        return self.sensitivity_levels[0]


@dataclass(frozen=True)
class Role:
    name: str
    description: str | None
    inherits: tuple[str, ...]  # role keys
    #: environment -> the role's own level, for the environments where it names one
    clearance: Mapping[str, str]
    unmask: tuple[tuple[str, str], ...]  # (table key, column key)
    #: environments where the role says ``none``: it reads nothing there, inherited roles included
    blocked: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return name_key(self.name)


@dataclass(frozen=True)
class Principal:
    name: str
    roles: tuple[str, ...]  # role keys
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    sensitivity: str
    protection: Protection
    mode: str = "nullable"
    description: str | None = None
    originating_source: str | None = None
    primary_key: bool = False
    #: parsed ``expr`` of a custom protection
    custom_expr: exp.Expression | None = None

    @property
    def key(self) -> str:
        return name_key(self.name)


@dataclass(frozen=True)
class RowRule:
    roles: tuple[str, ...]  # role keys
    where_sql: str
    where: exp.Expression


class TableNames:
    """Name lookups shared by a validated table and a contract still being checked."""

    name: str  # as written: table, schema.table or db.schema.table
    columns: Sequence[Column]

    @property
    def key(self) -> str:
        return name_key(self.name)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(name_key(part) for part in self.name.split("."))

    def column(self, name: str) -> Column | None:
        wanted = name_key(name)
        return next((c for c in self.columns if c.key == wanted), None)


@dataclass(frozen=True)
class Table(TableNames):
    name: str  # as written: table, schema.table or db.schema.table
    columns: tuple[Column, ...]
    row_access: tuple[RowRule, ...]
    source: str  # the file it came from, relative to the policy folder
    description: str | None = None
    registered_by: str | None = None
    registration_time: str | None = None
    version: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: the SQL a derived table is made by, and its dialect (``derivation:`` in the contract)
    derivation_sql: str | None = None
    derivation_dialect: str | None = None
    derivation_catalogs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicySet:
    settings: Settings
    roles: Mapping[str, Role]
    principals: Mapping[str, Principal]
    tables: Mapping[str, Table]
    #: a digest of every file's content: caches keyed by it are invalidated by any change
    version: str
    root: str | None = None

    def __post_init__(self) -> None:
        for name in ("roles", "principals", "tables"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def find_table(self, name: str) -> Table | None:
        """A table by name; ``reviews`` finds ``sales.reviews`` when that is the only one so named.

        Ambiguity returns None: a reference that could mean two tables must not pick one.
        """
        wanted = tuple(name_key(part) for part in name.split("."))
        exact = self.tables.get(".".join(wanted))
        if exact is not None:
            return exact
        matches = [t for t in self.tables.values() if t.parts[-len(wanted):] == wanted]
        return matches[0] if len(matches) == 1 else None

    def role(self, name: str) -> Role | None:
        return self.roles.get(name_key(name))

    def principal(self, name: str) -> Principal | None:
        return self.principals.get(name_key(name))
