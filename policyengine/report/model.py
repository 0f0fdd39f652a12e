"""What the access report says, computed from the decision alone: policy, never data.

The report answers the questions a reviewer asks of a policy set before approving it (who sees what,
where, and in which form; where each column comes from; what a scanner thinks of the labels), the
way the seed's developer permission table answers them for environments. Every cell is the pure
decision (:func:`policyengine.decision.decide`) for one role in one environment, so the page cannot
disagree with what the engine enforces. No database is opened: nothing on the page is a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from policyengine.decision import (
    DecisionError,
    Outcome,
    RowScope,
    decide,
    environment_for,
    subject_for,
    subject_grant,
)
from policyengine.model import Column, PolicySet, Table, name_key
from policyengine.model.base import normalize_key
from policyengine.report.scan import Finding


@dataclass(frozen=True)
class Cell:
    """What one role reads of one column in one environment."""

    role: str
    environment: str
    table: str
    column: str
    outcome: str  # raw, masked, denied, no-access
    kind: str | None = None  # the protection kind, when masked
    detail: str = ""  # the protection with its parameters: partial(show_last=4)
    reason: str = ""

    @property
    def label(self) -> str:
        if self.outcome == "masked":
            return f"masked ({self.kind})"
        return "no access" if self.outcome == "no-access" else self.outcome


@dataclass(frozen=True)
class MatrixRow:
    """One role in one environment, across a table's columns, with its row filter."""

    role: str
    environment: str
    cells: tuple[Cell, ...]
    rows: str  # all, rules, none, no-access
    row_rules: tuple[str, ...] = ()  # the row access conditions that apply (SQL, policy text)

    @property
    def unfiltered(self) -> bool:
        """A rule that is literally TRUE shows every row, whatever the others say."""
        return any(rule.strip().upper() == "TRUE" for rule in self.row_rules)


@dataclass(frozen=True)
class TableMatrix:
    table: Table
    anchor: str
    rows: tuple[MatrixRow, ...]

    def cell(self, role: str, environment: str, column: str) -> Cell | None:
        for row in self.rows:
            if row.role == role and row.environment == environment:
                return next((c for c in row.cells if name_key(c.column) == name_key(column)), None)
        return None


@dataclass(frozen=True)
class LineageEdge:
    """A column and the source its contract names (``originatingSource``)."""

    table: str
    column: str
    source: str  # as written: system:table.column
    sensitivity: str
    source_table: str | None = None  # a table of the set, when the source is one
    source_anchor: str | None = None
    source_column: str | None = None
    source_sensitivity: str | None = None
    #: the column is labelled below its source: a copy would be less protected than the original
    below_source: bool = False
    #: (role, environment) that read the column raw while its source is masked or denied to them
    exposed_to: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DerivedTable:
    """A table whose contract records what it is derived from: ``derivation:`` (the SQL that makes it,
    as ``policyengine derive`` writes it) or ``meta.derived_from`` (as ``policyengine import dbt`` does)."""

    table: str
    anchor: str
    parents: tuple[tuple[str, str | None], ...]  # (name as recorded, anchor when a table of the set)
    recorded_by: str | None = None  # the dbt model it was imported from, or "derivation SQL (dialect)"
    sql: str | None = None  # the derivation SQL: policy text, shown as written


@dataclass(frozen=True)
class FindingRow:
    finding: Finding
    in_set: bool
    current: str | None  # the column's sensitivity in this policy set now
    anchor: str | None
    verdict: str  # under-classified, consistent, unknown column, unknown level


@dataclass
class AccessReport:
    policies: str
    version: str
    levels: tuple[str, ...]
    environments: tuple[str, ...]
    #: role -> environment -> its effective level there, or None for no access
    clearance: dict[str, dict[str, str | None]]
    roles: list[dict[str, Any]]
    principals: list[dict[str, Any]]
    tables: list[TableMatrix]
    lineage: list[LineageEdge] = field(default_factory=list)
    derived: list[DerivedTable] = field(default_factory=list)
    findings: list[FindingRow] | None = None  # None: no scan given

    def matrix(self, table: str) -> TableMatrix | None:
        return next((m for m in self.tables if name_key(m.table.name) == name_key(table)), None)

    def rows(self) -> list[dict[str, Any]]:
        """The matrix in long form, one row per table, column, role and environment (CSV, JSON)."""
        out = []
        for matrix in self.tables:
            for row in matrix.rows:
                for cell in row.cells:
                    out.append({"table": cell.table, "column": cell.column, "role": cell.role,
                                "environment": cell.environment, "sees": cell.label, "outcome": cell.outcome,
                                "protection": cell.detail, "rows": row.rows,
                                "row_filter": " OR ".join(f"({r})" for r in row.row_rules)})
        return out


def anchor(table: str) -> str:
    """An HTML id for a table: stable, and safe whatever the table is called."""
    return "t-" + "".join(ch if ch.isalnum() else "-" for ch in name_key(table))


def build_report(policy_set: PolicySet, *, findings: Sequence[Finding] | None = None,
                 roles: Sequence[str] | None = None, environments: Sequence[str] | None = None) -> AccessReport:
    """The report for ``roles`` (default: all, in ``roles.yaml`` order) in ``environments`` (default: all)."""
    settings = policy_set.settings
    role_names = [policy_set.roles[k].name for k in policy_set.roles] if not roles else [
        _role(policy_set, r) for r in roles]
    envs = list(settings.environments) if not environments else [_environment(policy_set, e) for e in environments]

    clearance: dict[str, dict[str, str | None]] = {}
    tables = []
    decisions: dict[tuple[str, str], dict[str, Any]] = {}
    for role in role_names:
        subject = subject_for(policy_set, roles=[role])
        clearance[role] = {}
        for env in envs:
            per_table = {t.key: decide(policy_set, subject, env, t) for t in policy_set.tables.values()}
            decisions[(role, env)] = per_table
            first = next(iter(per_table.values()), None)
            clearance[role][env] = first.grant.level if first is not None else _level(policy_set, role, env)
    for table in policy_set.tables.values():
        rows = []
        for role in role_names:
            for env in envs:
                rows.append(_matrix_row(decisions[(role, env)][table.key], table, role, env))
        tables.append(TableMatrix(table, anchor(table.name), tuple(rows)))

    report = AccessReport(
        policies=policy_set.root or "", version=policy_set.version, levels=settings.sensitivity_levels,
        environments=tuple(envs), clearance=clearance, roles=_roles(policy_set, role_names),
        principals=[{"name": p.name, "roles": [policy_set.roles[r].name for r in p.roles if r in policy_set.roles],
                     "attributes": dict(p.attributes)} for p in policy_set.principals.values()],
        tables=tables,
    )
    report.lineage = _lineage(policy_set, report)
    report.derived = _derived(policy_set)
    if findings is not None:
        report.findings = [_finding(policy_set, f) for f in findings]
    return report


def _role(policy_set: PolicySet, name: str) -> str:
    role = policy_set.role(name)
    if role is None:
        raise DecisionError(f"unknown role '{name}' (roles: {', '.join(r.name for r in policy_set.roles.values())})")
    return role.name


def _environment(policy_set: PolicySet, env: str) -> str:
    return environment_for(policy_set, env)


def _level(policy_set: PolicySet, role: str, env: str) -> str | None:
    return subject_grant(policy_set, subject_for(policy_set, roles=[role]), env).level


def _roles(policy_set: PolicySet, names: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        role = policy_set.roles[name_key(name)]
        unmask = []
        for table_key, column_key in role.unmask:
            table = policy_set.tables.get(table_key)
            column = table.column(column_key) if table is not None else None
            unmask.append(f"{table.name if table else table_key}.{column.name if column else column_key}")
        out.append({"name": role.name, "description": role.description or "",
                    "inherits": [policy_set.roles[k].name for k in role.inherits if k in policy_set.roles],
                    "unmask": unmask})
    return out


def _matrix_row(decision: Any, table: Table, role: str, env: str) -> MatrixRow:
    if not decision.allowed:
        cells = tuple(Cell(role, env, table.name, c.name, "no-access", reason=decision.refused or "")
                      for c in table.columns)
        return MatrixRow(role, env, cells, "no-access")
    cells = []
    for c in decision.columns:
        if c.outcome is Outcome.RAW:
            cells.append(Cell(role, env, table.name, c.column.name, "raw", reason=c.reason))
        elif c.outcome is Outcome.DENIED:
            cells.append(Cell(role, env, table.name, c.column.name, "denied", "deny", "deny", c.reason))
        else:
            cells.append(Cell(role, env, table.name, c.column.name, "masked", c.protection.kind, c.shows, c.reason))
    scope = decision.rows.scope
    rules = tuple(rule.where_sql for rule in decision.rows.rules) if scope is RowScope.RULES else ()
    return MatrixRow(role, env, tuple(cells), scope.value, rules)


def _resolve(policy_set: PolicySet, source: str) -> tuple[Table | None, Column | None]:
    """``system:table.column`` to a table (and column) of the set, as the loader resolves lineage."""
    reference = source.split(":", 1)[1] if ":" in source else source
    parts = reference.split(".")
    for split in range(len(parts), 0, -1):
        table = policy_set.find_table(".".join(parts[:split]))
        if table is None:
            continue
        rest = parts[split:]
        return table, table.column(rest[0]) if len(rest) == 1 else None
    return None, None


def _lineage(policy_set: PolicySet, report: AccessReport) -> list[LineageEdge]:
    settings = policy_set.settings
    edges = []
    for table in policy_set.tables.values():
        matrix = report.matrix(table.name)
        for column in table.columns:
            if not column.originating_source:
                continue
            source_table, source_column = _resolve(policy_set, column.originating_source)
            below = False
            exposed: list[tuple[str, str]] = []
            if source_table is not None and source_column is not None and matrix is not None:
                below = settings.rank(column.sensitivity) < settings.rank(source_column.sensitivity)
                source_matrix = report.matrix(source_table.name)
                for row in matrix.rows:
                    mine = matrix.cell(row.role, row.environment, column.name)
                    theirs = (source_matrix.cell(row.role, row.environment, source_column.name)
                              if source_matrix else None)
                    if (mine is not None and theirs is not None and mine.outcome == "raw"
                            and theirs.outcome in ("masked", "denied")):
                        exposed.append((row.role, row.environment))
            edges.append(LineageEdge(
                table=table.name, column=column.name, source=column.originating_source, sensitivity=column.sensitivity,
                source_table=source_table.name if source_table else None,
                source_anchor=anchor(source_table.name) if source_table else None,
                source_column=source_column.name if source_column else None,
                source_sensitivity=source_column.sensitivity if source_column else None,
                below_source=below, exposed_to=tuple(exposed),
            ))
    return edges


def _derived(policy_set: PolicySet) -> list[DerivedTable]:
    """Tables whose contract records what they are built from.

    ``derivation: {sql, dialect}`` names its parents in its SQL (the tables it reads, CTEs and the
    table it creates excepted); ``meta.derived_from`` names them directly (a name or a list of
    names), as ``policyengine import dbt`` writes them from a model's ``ref()`` and ``source()``.
    """
    out = []
    for table in policy_set.tables.values():
        names: list[str] = []
        recorded = _meta(table.meta, "derived_from")
        if isinstance(recorded, str):
            recorded = [recorded]
        if isinstance(recorded, list):
            names.extend(str(parent) for parent in recorded)
        sql = getattr(table, "derivation_sql", None)
        dialect = getattr(table, "derivation_dialect", None) or "duckdb"
        if sql:
            names.extend(n for n in derivation_parents(sql, dialect) if n.lower() not in {x.lower() for x in names})
        if not names and not sql:
            continue
        parents = []
        for name in names:
            found = policy_set.find_table(name)
            parents.append((name, anchor(found.name) if found is not None else None))
        dbt = _meta(table.meta, "dbt")
        by = dbt.get("unique_id") if isinstance(dbt, dict) and isinstance(dbt.get("unique_id"), str) else None
        if by is None and sql:
            by = f"derivation SQL ({dialect})"
        out.append(DerivedTable(table.name, anchor(table.name), tuple(parents), by, sql))
    return out


def derivation_parents(sql: str, dialect: str = "duckdb") -> list[str]:
    """The tables a derivation's SQL reads, each once; nothing if it cannot be parsed
    (validation has parsed it already; the report only lists)."""
    try:
        statements = sqlglot.parse(sql, read=dialect)
    except (sqlglot.errors.SqlglotError, ValueError):
        return []
    names: list[str] = []
    for statement in statements:
        if statement is None:
            continue
        created = statement.this if isinstance(statement, exp.Create) else None
        target = created.find(exp.Table) if isinstance(created, exp.Expression) else None
        ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
        for found in statement.find_all(exp.Table, bfs=False):  # depth first: roughly in reading order
            if found is target or (not found.db and found.name.lower() in ctes) or not found.name:
                continue
            name = ".".join(part for part in (found.catalog, found.db, found.name) if part)
            if name.lower() not in {n.lower() for n in names}:
                names.append(name)
    return names


def _meta(meta: Any, key: str) -> Any:
    """A contract meta key, with case, ``_`` and ``-`` ignored as everywhere in policy files."""
    if not hasattr(meta, "items"):
        return None
    return next((value for k, value in meta.items() if normalize_key(k) == normalize_key(key)), None)


def _finding(policy_set: PolicySet, finding: Finding) -> FindingRow:
    settings = policy_set.settings
    table = policy_set.find_table(finding.table)
    column = table.column(finding.column) if table is not None else None
    if column is None:
        return FindingRow(finding, False, None, anchor(table.name) if table else None, "unknown column")
    current = column.sensitivity
    suggested = finding.sensitivity_suggested
    if suggested is None:
        verdict = "consistent"
    elif suggested not in settings.sensitivity_levels:
        verdict = "unknown level"
    else:
        verdict = "under-classified" if settings.rank(suggested) > settings.rank(current) else "consistent"
    return FindingRow(finding, True, current, anchor(table.name), verdict)
