"""Validation of lineage: a column is at least as sensitive as what it is derived from.

Run by the loader once every contract is resolved (:func:`policyengine.model.loader.load_policy_set`),
so ``policyengine validate`` reports, each at the file and field that hold it:

- a column declared less sensitive than a column its lineage names, where the lineage is known from
  its ``originatingSource`` (a column of a table of this set) or from its contract's ``derivation``
  (the SQL, analysed again here: ``docs/lineage.md``);
- a derivation that cannot be analysed, that reads a table (or a table function) the set has no
  contract for, that creates another table than its contract's, or whose output columns and the
  contract's columns disagree (one of the two is stale: run ``policyengine derive`` again).

As everywhere in validation, nothing that only follows from a problem reported elsewhere is said: a
derivation reading a table whose file could not be read, or a column whose own definition is
invalid, is not judged.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from policyengine.lineage.analyse import (
    LineageError,
    StatementLineage,
    analyse,
    parse_statement,
    split_statements,
)
from policyengine.lineage.catalog import Catalog, CatalogTable
from policyengine.model.checks import Known, TableDraft, TableIndex
from policyengine.model.policyset import Column, Settings, name_key


@dataclass
class _Implied:
    """The highest sensitivity a column's lineage implies, and where it comes from."""

    level: str
    origin: str
    how: str


def check_lineage(tables: TableIndex, settings: Settings, known: Known) -> None:
    """Report lineage problems into the files of the contracts that hold them."""
    catalog, opaque = _catalog(tables)
    implied: dict[tuple[str, str], _Implied] = {}
    for draft in tables.drafts.values():
        derivation = draft.raw.header.derivation
        if derivation is not None:
            scoped = Catalog(catalog.tables, frozenset(derivation.catalogs)) if derivation.catalogs else catalog
            _from_derivation(draft, derivation.sql, derivation.dialect, tables, scoped, opaque, settings, implied)
    for draft in tables.drafts.values():  # after: where both say the same, the derivation is named
        _from_originating_sources(draft, tables, settings, implied)
    if not known.levels:
        return
    for draft in tables.drafts.values():
        raw = draft.raw
        for column in draft.columns:
            found = implied.get((draft.key, column.key))
            if found is None or settings.rank(column.sensitivity) >= settings.rank(found.level):
                continue
            index = raw.spec_index(column.key)
            spec = next(c.spec for c in raw.columns or [] if c.index == index)
            written = spec is not None and spec.sensitivity is not None
            at = raw.problems.at(*raw.columns_at, index)
            default = "" if written else " (the default level)"
            at.add(("sensitivity",) if written else (),
                   f"'{column.name}' is {column.sensitivity}{default}, below {found.level} of {found.origin}, which "
                   f"it is derived from ({found.how}): a derived column is at least as sensitive as its sources")


def _catalog(tables: TableIndex) -> tuple[Catalog, set[str]]:
    """The contracts as lineage sees them. A column known only by name (its definition is invalid)
    is still a column, so a derivation reading it is not told it does not exist; a table whose
    columns are not all known by name is left out (``opaque``): nothing is said of what reads it."""
    known: list[CatalogTable] = []
    opaque: set[str] = set()
    for draft in tables.drafts.values():
        if not draft.raw.columns_known:
            opaque.add(draft.key)
            continue
        valid = {c.key: c for c in draft.columns}
        columns = tuple((c.name, valid[name_key(c.name)].type.sql if name_key(c.name) in valid else "UNKNOWN")
                        for c in draft.raw.columns or [] if c.name is not None)
        known.append(CatalogTable(draft.name, columns))
    return Catalog.of(known), opaque


def _record(implied: dict[tuple[str, str], _Implied], key: tuple[str, str], candidate: _Implied,
            settings: Settings) -> None:
    current = implied.get(key)
    if current is None or settings.rank(candidate.level) > settings.rank(current.level):
        implied[key] = candidate


def _source_column(tables: TableIndex, table: str, column: str) -> tuple[TableDraft, Column] | None:
    draft = tables.find(table)
    if draft is None:
        return None
    found = draft.column(column)
    return (draft, found) if found is not None else None


def _from_originating_sources(draft: TableDraft, tables: TableIndex, settings: Settings,
                              implied: dict[tuple[str, str], _Implied]) -> None:
    """``originatingSource: system:table.column`` naming a column of this set: its level is implied."""
    for column in draft.columns:
        source = column.originating_source
        if not source:
            continue
        reference = source.split(":", 1)[1] if ":" in source else source
        parts = reference.split(".")
        if len(parts) < 2:
            continue
        found = _source_column(tables, ".".join(parts[:-1]), parts[-1])
        if found is None:
            continue  # not a column of this set (reported by the contract checks when it claims to be)
        table, source_column = found
        if table.key == draft.key and source_column.key == column.key:
            continue
        if source_column.sensitivity not in settings.sensitivity_levels:
            continue
        _record(implied, (draft.key, column.key),
                _Implied(source_column.sensitivity, f"{table.name}.{source_column.name}", "originatingSource"),
                settings)


def _from_derivation(draft: TableDraft, sql: str, dialect: str, tables: TableIndex, catalog: Catalog,
                     opaque: set[str], settings: Settings, implied: dict[tuple[str, str], _Implied]) -> None:
    raw = draft.raw
    at = raw.problems.at("derivation")
    try:
        Dialect.get_or_raise(dialect)
    except ValueError:
        at.add(("dialect",), f"unknown SQL dialect '{dialect}' (sqlglot's names: duckdb, snowflake, bigquery, ...)")
        return
    if _reads_unjudged(sql, dialect, tables, opaque):
        return
    try:
        statements = analyse(sql, catalog, dialect=dialect)
    except LineageError as error:
        at.add(("sql",), f"cannot be analysed: {error}")
        return
    last = statements[-1]
    if last.target is not None and not _names(last.target, draft):
        at.add(("sql",), f"creates {last.target}, but this contract is for {draft.name}")
        return
    problems = _read_problems(last, draft, tables)
    for problem in problems:
        at.add(("sql",), problem)
    if problems:
        return
    _compare_columns(last, draft, at)
    every = [(t, c) for name in last.reads if (t := tables.find(name)) is not None for c in t.columns]
    for output in last.columns:
        column = draft.column(output.name)
        if column is None:
            continue
        if output.determined:
            basis = [_source_column(tables, s.table, s.column) for s in output.sources]
            how = "its derivation"
        else:
            basis = list(every)
            how = f"its derivation: sources unknown ({output.unknown}), so every column the SQL reads"
        if not basis or any(b is None for b in basis):
            continue  # no source column (a constant), or a source whose definition is invalid
        table, top = max(basis, key=lambda pair: settings.rank(pair[1].sensitivity))  # type: ignore[index]
        _record(implied, (draft.key, column.key), _Implied(top.sensitivity, f"{table.name}.{top.name}", how),
                settings)


def _names(target: str, draft: TableDraft) -> bool:
    """Whether the statement's target is the contract's table (``main.x`` and ``x`` are one name)."""
    written = tuple(name_key(p) for p in target.split("."))
    parts = draft.parts
    return written[-len(parts):] == parts[-len(written):] if written else False


def _reads_unjudged(sql: str, dialect: str, tables: TableIndex, opaque: set[str]) -> bool:
    """Whether the SQL names a table whose contract could not be read in full: nothing is said then."""
    try:
        texts = split_statements(sql, dialect)
        trees = [parse_statement(text, 0, dialect).query for text in texts]
    except LineageError:
        return False
    for tree in trees:
        for table in tree.find_all(exp.Table):
            name = ".".join(part.name for part in table.parts)
            if not name:
                continue
            found = tables.find(name)
            if (found is not None and found.key in opaque) or (found is None and tables.may_be_unreadable(name)):
                return True
    return False


def _read_problems(statement: StatementLineage, draft: TableDraft, tables: TableIndex) -> list[str]:
    out = []
    for name in statement.unknown_reads:
        if "(" in name:
            out.append(f"reads the table function {name}, which has no contract")
        elif not tables.may_be_unreadable(name):
            out.append(f"reads table '{name}', which this set does not define")
    for name in statement.reads:
        if name_key(name) == draft.key:
            out.append(f"reads {draft.name}, the table it defines")
    return out


def _compare_columns(statement: StatementLineage, draft: TableDraft, at: object) -> None:
    raw = draft.raw
    produced = {name_key(c.name) for c in statement.columns}
    listed = {name_key(c.name) for c in raw.columns or [] if c.name is not None}
    for column in statement.columns:
        # a column entry with no usable name (reported already) may be the one the SQL produces
        if name_key(column.name) not in listed and raw.columns_known:
            at.add(("sql",), f"produces column '{column.name}', which the contract does not list "  # type: ignore[attr-defined]
                             "(run policyengine derive again)")
    for raw_column in raw.columns or []:
        if raw_column.name is not None and name_key(raw_column.name) not in produced:
            raw.problems.at(*raw.columns_at, raw_column.index).add(
                ("name",), f"column '{raw_column.name}' is not produced by the derivation (run policyengine derive "
                           "again, or remove it)")
