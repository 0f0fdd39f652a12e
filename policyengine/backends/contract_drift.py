"""The database against the contracts: what differs, found before a query fails on it.

A contract says a table has these columns of these types; the DuckDB file says what is really
there. When they drift apart (a column renamed or retyped by a pipeline, a table not loaded yet, a
new table nobody described), queries fail at run time or, worse, a column nobody labelled is
readable through ``*`` of a view. This module compares the two and names each difference:

- ``type``: the column's type in the database is not the contract's. Types are compared by their
  canonical SQL (:func:`policyengine.model.types.parse_column_type`), so spellings of one type
  (``STRING`` / ``VARCHAR``, ``INT64`` / ``BIGINT``, ``DECIMAL`` / ``DECIMAL(38,9)``) are not drift;
  a different width is (``INTEGER`` / ``BIGINT``, ``REAL`` / ``DOUBLE``).
- ``missing-table``, ``missing-column``: in a contract, not in the database.
- ``unlisted-table``, ``unlisted-column``: in the database, in no contract.

Tables are matched the way queries resolve them (:class:`policyengine.rewrite.TableResolver`:
case-insensitive, the current catalog and ``main`` schema filled in). It reads the database, so it
lives beside the backends and not in the model or decision code, which do no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from policyengine.model import PolicySet, name_key
from policyengine.model.types import UnknownType, parse_column_type

#: DuckDB's information_schema names for types whose contract spelling means something else:
#: DuckDB's FLOAT is 4 bytes (a contract's FLOAT is BigQuery's FLOAT64, a DOUBLE)
_DUCKDB_SPELLINGS = {"FLOAT": "REAL", "FLOAT4": "REAL", "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}

KINDS = ("type", "missing-table", "missing-column", "unlisted-table", "unlisted-column")


class DriftError(Exception):
    """The database cannot be read at all (no file, not a DuckDB database). The message says which."""


@dataclass(frozen=True)
class Drift:
    """One difference between a contract and the database."""

    kind: str  # one of KINDS
    table: str  # the contract's name when there is a contract, else the database's (schema.table, main omitted)
    column: str | None = None
    contract_type: str | None = None  # as the contract wrote it
    database_type: str | None = None  # as DuckDB reports it
    file: str | None = None  # the contract file, relative to the policy folder

    @property
    def where(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table

    def __str__(self) -> str:
        prefix = f"{self.file}: " if self.file else ""
        if self.kind == "type":
            return (f"{prefix}{self.where}: the contract says {self.contract_type}, the database has "
                    f"{self.database_type}")
        if self.kind == "missing-table":
            return f"{prefix}{self.where}: in the contract, not in the database"
        if self.kind == "missing-column":
            return f"{prefix}{self.where}: in the contract ({self.contract_type}), not in the database"
        if self.kind == "unlisted-table":
            return f"{self.where}: in the database, in no contract"
        return f"{prefix}{self.where}: in the database ({self.database_type}), not in the contract"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"message": str(self)}


def canonical_database_type(data_type: str) -> str | None:
    """DuckDB's type as the canonical SQL a contract type reduces to; None when no contract type is it
    (``UUID``, ``HUGEINT``, ``VARCHAR[]``, ``STRUCT(...)``): any contract type then differs."""
    text = " ".join(data_type.strip().upper().split())
    try:
        return parse_column_type(_DUCKDB_SPELLINGS.get(text, text)).sql
    except UnknownType:
        return None


def _same_type(contract_sql: str, database_type: str) -> bool:
    return canonical_database_type(database_type) == contract_sql


def read_database(db: str | Path) -> tuple[str, dict[tuple[str, str], list[tuple[str, str]]]]:
    """The database's name (its catalog) and, per (schema, table), its columns and their DuckDB types."""
    import duckdb

    path = Path(db)
    if not path.is_file():
        raise DriftError(f"no database at {path}")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise DriftError(f"cannot open {path}: {str(error).splitlines()[0]}") from None
    try:
        catalog = str(con.execute("SELECT current_database()").fetchone()[0])
        rows = con.execute(
            "SELECT c.table_schema, c.table_name, c.column_name, c.data_type "
            "FROM information_schema.columns c JOIN information_schema.tables t "
            "ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_catalog = current_database() "
            "AND c.table_schema NOT IN ('information_schema', 'pg_catalog') "
            "AND t.table_type IN ('BASE TABLE', 'VIEW', 'LOCAL TEMPORARY') "
            "ORDER BY c.table_schema, c.table_name, c.ordinal_position").fetchall()
    except duckdb.Error as error:
        raise DriftError(f"cannot read the tables of {path}: {str(error).splitlines()[0]}") from None
    finally:
        con.close()
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        tables.setdefault((schema, table), []).append((column, data_type))
    return catalog, tables


def compare(policy_set: PolicySet, catalog: str, tables: dict[tuple[str, str], list[tuple[str, str]]],
            only: Sequence[str] = ()) -> list[Drift]:
    """Every difference between the contracts and ``tables`` (as :func:`read_database` returns them).

    ``only``: table names (``table`` / ``schema.table``, as contracts or the database name them) to limit
    the comparison to; all tables when empty.
    """
    from policyengine.rewrite import TableResolver

    wanted = {name_key(name) for name in only} or None

    resolver = TableResolver(policy_set, frozenset({catalog.lower()}))
    drift: list[Drift] = []
    matched: set[str] = set()
    for (schema, name), columns in tables.items():
        shown = name if schema == "main" else f"{schema}.{name}"
        contract = resolver.resolve((schema, name))
        if wanted is not None and not ({name_key(shown), name_key(name)} & wanted
                                       or (contract is not None and contract.key in wanted)):
            continue
        if contract is None:
            drift.append(Drift("unlisted-table", shown))
            continue
        matched.add(contract.key)
        present = {name_key(column): (column, data_type) for column, data_type in columns}
        for column in contract.columns:
            found = present.pop(column.key, None)
            if found is None:
                drift.append(Drift("missing-column", contract.name, column.name, column.type.written,
                                   file=contract.source))
            elif not _same_type(column.type.sql, found[1]):
                drift.append(Drift("type", contract.name, column.name, column.type.written, found[1],
                                   file=contract.source))
        for column, data_type in present.values():
            drift.append(Drift("unlisted-column", contract.name, column, database_type=data_type,
                               file=contract.source))
    for table in policy_set.tables.values():
        if table.key in matched or (wanted is not None and not {table.key, table.parts[-1]} & wanted):
            continue
        drift.append(Drift("missing-table", table.name, file=table.source))
    return drift


def contract_drift(policy_set: PolicySet, db: str | Path, only: Sequence[str] = ()) -> list[Drift]:
    """Read ``db`` and compare it with the contracts: :func:`read_database` then :func:`compare`."""
    catalog, tables = read_database(db)
    return compare(policy_set, catalog, tables, only)
