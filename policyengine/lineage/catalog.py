"""The tables lineage can see: each table's name and columns with their types, from the contracts.

Lineage needs the columns of every table a statement reads: to expand ``*``, to tell which table an
unqualified column belongs to, to refuse a column the contract does not list, and to infer the
types of the output columns. The policy set's contracts are that schema. A :class:`Catalog` is a
plain value built from them (or from any mapping, for tests and for contracts still being
validated), so the lineage computation itself reads no file and no database.

Table references resolve the way the engine resolves them (:mod:`policyengine.rewrite.resolve`):
case-insensitively, with the current catalog and the default schema filled in, so ``reviews``,
``main.reviews`` and ``demo.main.reviews`` (with ``demo`` among ``catalogs``) are one table. A
reference that could mean two tables resolves to none: lineage must not pick one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from policyengine.model.policyset import PolicySet, name_key

CURRENT = ""  # the current database, whatever its name


@dataclass(frozen=True)
class CatalogTable:
    """One table: its name as the contract writes it, and its columns (name, canonical SQL type)."""

    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        return name_key(self.name)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(name_key(part) for part in self.name.split("."))

    def column(self, name: str) -> str | None:
        """The column's name as the contract spells it, or None when the contract does not list it."""
        wanted = name_key(name)
        return next((column for column, _ in self.columns if name_key(column) == wanted), None)


@dataclass(frozen=True)
class Catalog:
    """Tables by key, resolved from references the way the database resolves them."""

    tables: Mapping[str, CatalogTable]
    #: names the current database answers to (``demo`` for demo.duckdb; dbt's database name)
    catalogs: frozenset[str] = frozenset()
    default_schema: str = "main"
    _index: dict[tuple[str, str, str], list[CatalogTable]] = field(default_factory=dict, init=False, repr=False,
                                                                  compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "catalogs", frozenset(name_key(c) for c in self.catalogs))
        for table in self.tables.values():
            self._index.setdefault(self._canonical(table.parts), []).append(table)

    @classmethod
    def of(cls, tables: Iterable[CatalogTable], *, catalogs: Iterable[str] = (),
           default_schema: str = "main") -> Catalog:
        return cls({t.key: t for t in tables}, frozenset(catalogs), default_schema)

    @classmethod
    def from_mapping(cls, schema: Mapping[str, Mapping[str, str]], **options: object) -> Catalog:
        """``{table: {column: type}}``: for tests and tools that have no policy set."""
        return cls.of((CatalogTable(name, tuple(columns.items())) for name, columns in schema.items()),
                      **options)  # type: ignore[arg-type]

    @classmethod
    def from_policy_set(cls, policy_set: PolicySet, *, catalogs: Iterable[str] = (),
                        default_schema: str = "main") -> Catalog:
        """Every contract of the set, with each column's canonical SQL type."""
        return cls.of((CatalogTable(t.name, tuple((c.name, c.type.sql) for c in t.columns))
                       for t in policy_set.tables.values()), catalogs=catalogs, default_schema=default_schema)

    def with_tables(self, tables: Iterable[CatalogTable]) -> Catalog:
        """This catalog plus (or with replaced) ``tables``: a script's own tables, derived contracts."""
        merged = dict(self.tables)
        merged.update({t.key: t for t in tables})
        return Catalog(merged, self.catalogs, self.default_schema)

    def _canonical(self, parts: tuple[str, ...]) -> tuple[str, str, str]:
        if len(parts) >= 3:
            return (CURRENT if parts[-3] in self.catalogs else parts[-3], parts[-2], parts[-1])
        if len(parts) == 2:
            return (CURRENT, parts[0], parts[1])
        return (CURRENT, name_key(self.default_schema), parts[0])

    def resolve(self, parts: tuple[str, ...]) -> CatalogTable | None:
        """The table a reference (its name parts, as written) names; None for none or for two."""
        parts = tuple(name_key(p) for p in parts)
        meanings = {self._canonical(parts)} if 1 <= len(parts) <= 3 else set()
        if len(parts) == 2 and parts[0] in self.catalogs:
            meanings.add((CURRENT, name_key(self.default_schema), parts[1]))
        found = [table for meaning in meanings for table in self._index.get(meaning, [])]
        return found[0] if len(found) == 1 else None

    def find(self, name: str) -> CatalogTable | None:
        return self.resolve(tuple(name.split(".")))
