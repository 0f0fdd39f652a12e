"""The egress check: a last line of defence against a wrong label.

A column labelled at the lowest sensitivity level is read raw by everyone. If it holds e-mail
addresses, card numbers or IBANs after all (a contract written in a hurry, a free-text field that
customers fill with their phone numbers), the policy cannot help: it does what the label says. With
``egress_check: log`` or ``mask`` in ``policyengine.yaml``, every result column that comes *only* from
such columns is scanned, value by value, with the validated detectors of
:mod:`policyengine.dlp.detectors`; findings are written to the audit log (one ``egress`` line per
statement, with counts per column and kind, never a value) and, with ``mask``, each found span is
replaced by ``*****`` before the row leaves the engine.

Which result columns are checked comes from column lineage (sqlglot's, over the reader's statement
with the contracts as schema): a result column is checked when at least one of its source columns is
at the lowest level and none is a column above it that this reader reads raw (a cleared reader must
get the e-mails their clearance grants). Protected sources do not stop the check: a masked value
holds nothing to find. When lineage cannot be worked out (an unusual statement, a table without a
contract), every result column is checked: the safe side.

Cost. ``off`` (the default) adds nothing: nothing imports this module (the engine's result hook,
:mod:`policyengine.dlp.hook`, imports it when a set turns the check on). When on, a
statement that reads no lowest-level column gets no wrapper either; otherwise the plan is computed
once per rewritten statement (cached), and each value of a checked column costs the detectors'
linear-time patterns, nothing for other columns. Findings are counts, so memory does not grow with
the result; the audit line is written once, when the result is finished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from policyengine.bounded_cache import BoundedCache
from policyengine.dlp.detectors import hits, mask
from policyengine.dlp.names import NameEvidence, name_evidence

MODES = ("off", "log", "mask")
PLAN_CACHE = 2048
#: distinct values remembered per statement: a low-cardinality column (a status, a country) is checked
#: once per distinct value; past this many, values are checked each time (memory stays bounded)
VALUE_CACHE = 4096
VALUE_CACHE_CHARS = 256


@dataclass(frozen=True)
class CheckedColumn:
    position: int
    name: str
    #: what the source column's name says (``version`` rules out IP addresses), or the result name's
    evidence: NameEvidence
    #: where the values come from, for the audit line: ``table.column`` names, or ``unknown``
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    columns: tuple[CheckedColumn, ...]
    #: False when lineage could not be worked out and every column is checked
    lineage: bool = True


@dataclass
class Findings:
    """Counts only: which result column held which kind how often. Values are never kept."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    values_checked: int = 0

    def add(self, column: str, kind: str) -> None:
        per = self.counts.setdefault(column, {})
        per[kind] = per.get(kind, 0) + 1

    @property
    def total(self) -> int:
        return sum(sum(per.values()) for per in self.counts.values())


# --- which columns ----------------------------------------------------------------------------------------

#: the plan (or None: nothing to check) per policy set version, rewritten text, result columns, dialect, level
_plans: BoundedCache[tuple[Any, ...], Plan | None] = BoundedCache(PLAN_CACHE)


def plan_for(rewritten: Any, columns: Sequence[str], sql: str, read: str, lowest: str,
             resolve: Callable[[tuple[str, ...]], Any], version: str) -> Plan | None:
    """The checked columns of one statement's result, or None when nothing needs checking (cached)."""
    key = (version, rewritten.sql, tuple(columns), read, lowest)
    return _plans.get_or_make(key, lambda: _plan(rewritten, list(columns), sql, read, lowest, resolve))


def _everything(columns: list[str]) -> Plan:
    return Plan(tuple(CheckedColumn(i, name, name_evidence(name), ("unknown",)) for i, name in enumerate(columns)),
                lineage=False)


def _plan(rewritten: Any, columns: list[str], sql: str, read: str, lowest: str,
          resolve: Callable[[tuple[str, ...]], Any]) -> Plan | None:
    from policyengine.decision import Outcome

    decisions = {d.table.key: d for d in rewritten.decisions if d.table is not None}
    unknown_tables = any(d.table is None for d in rewritten.decisions)
    if not unknown_tables and not any(c.column.sensitivity == lowest for d in decisions.values() for c in d.columns):
        return None  # nothing the statement reads is at the lowest level: nothing to check
    try:
        sources = _lineage(sql, read, decisions, resolve)
    except Exception:  # noqa: BLE001 - any statement sqlglot cannot trace is checked whole
        sources = None
    if sources is None or len(sources) != len(columns):
        return _everything(columns)
    checked: list[CheckedColumn] = []
    for position, (name, found) in enumerate(zip(columns, sources)):
        if found is None:
            checked.append(CheckedColumn(position, name, name_evidence(name), ("unknown",)))
            continue
        labels = [(table_key, decisions[table_key].column(column)) for table_key, column in found]
        labels = [(t, c) for t, c in labels if c is not None]
        lowest_sources = [f"{decisions[t].table_name}.{c.column.name}"
                          for t, c in labels if c.column.sensitivity == lowest]
        raw_above = any(c.outcome is Outcome.RAW and c.column.sensitivity != lowest for _, c in labels)
        if not lowest_sources or raw_above:
            continue
        evidence = (name_evidence(lowest_sources[0].rsplit(".", 1)[1]) if len(lowest_sources) == 1
                    else name_evidence(name))
        checked.append(CheckedColumn(position, name, evidence, tuple(lowest_sources)))
    return Plan(tuple(checked)) if checked else None


def _lineage(sql: str, read: str, decisions: dict[str, Any],
             resolve: Callable[[tuple[str, ...]], Any]) -> list[list[tuple[str, str]] | None] | None:
    """Per result column, its source (table key, column name) pairs; None for a column whose sources
    cannot be told (a whole-row reference, ``COLUMNS(...)``, a table without a contract)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.lineage import to_node
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope
    from sqlglot.schema import MappingSchema

    from policyengine.decision import Outcome
    from policyengine.rewrite.classify import classify_tables

    tree = sqlglot.parse_one(sql, read=read)
    classified = classify_tables(tree)
    schema: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}
    for index, table in enumerate(classified.base):
        contract = resolve(tuple(part.name for part in table.parts))
        if contract is None or contract.key not in decisions:
            continue
        placeholder = f"__pe_src{index}"
        names[placeholder] = contract.key
        if table.args.get("alias") is None:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
        table.set("this", exp.to_identifier(placeholder))
        table.set("db", None)
        table.set("catalog", None)
        schema[placeholder] = {c.column.name.lower(): c.column.type.sql for c in decisions[contract.key].columns
                               if c.outcome is not Outcome.DENIED}
    for identifier in tree.find_all(exp.Identifier):  # DuckDB compares names case-insensitively
        identifier.set("this", identifier.name.lower())
    mapping = MappingSchema(schema, dialect="duckdb")
    qualified = qualify(tree, schema=mapping, dialect="duckdb", validate_qualify_columns=False, identify=False)
    scope = build_scope(qualified)
    if scope is None or not isinstance(qualified, exp.Query):
        return None
    out: list[list[tuple[str, str]] | None] = []
    for position in range(len(qualified.selects)):
        node = to_node(position, scope, "duckdb", mapping)
        found: list[tuple[str, str]] = []
        unknown = False
        for leaf in node.walk():
            if leaf.downstream:
                continue
            source = leaf.source
            if isinstance(source, exp.Table) and source.name in names:
                found.append((names[source.name], leaf.name.rsplit(".", 1)[-1]))
            elif any(True for _ in leaf.expression.find_all(exp.Column, exp.Star)):
                unknown = True
        out.append(None if unknown else found)
    return out


# --- the wrapper over the result ---------------------------------------------------------------------------

class EgressStream:
    """A result stream (columns, types, batches, arrow, df) whose checked columns are scanned on the way out.

    A :class:`policyengine.backends.base.ResultRows`; never an Arrow stream (``streams_arrow`` False):
    the engine asks the backend for rows when a result hook applies.
    """

    streams_arrow = False

    def __init__(self, stream: Any, plan: Plan, mode: str, report: Callable[[Findings, Plan, str], None]):
        self._stream = stream
        self._plan = plan
        self._mode = mode
        self._report: Callable[[Findings, Plan, str], None] | None = report
        self.findings = Findings()
        self.columns = stream.columns
        self.types = stream.types
        self._seen: dict[tuple[int, str], tuple[str, tuple[str, ...]]] = {}

    def _check_value(self, value: Any, column: CheckedColumn) -> Any:
        if not isinstance(value, str):
            return value
        self.findings.values_checked += 1
        key = (column.position, value)
        known = self._seen.get(key) if len(value) <= VALUE_CACHE_CHARS else None
        if known is None:
            found = hits(value, column.evidence)
            known = (mask(value, found) if found and self._mode == "mask" else value, tuple(h.kind for h in found))
            if len(value) <= VALUE_CACHE_CHARS and len(self._seen) < VALUE_CACHE:
                self._seen[key] = known
        checked, kinds = known
        for kind in kinds:
            self.findings.add(column.name, kind)
        return checked

    def _check(self, batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        columns = self._plan.columns
        out = batch
        for index, row in enumerate(batch):
            changed: list[Any] | None = None
            for column in columns:
                value = row[column.position]
                checked = self._check_value(value, column)
                if checked is not value:
                    if changed is None:
                        changed = list(row)
                    changed[column.position] = checked
            if changed is not None:
                if out is batch:
                    out = list(batch)
                out[index] = tuple(changed)
        return out

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        try:
            for batch in self._stream.batches():
                yield self._check(batch)
        finally:
            self._done()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [row for batch in self.batches() for row in batch]

    def _check_arrow(self, table: Any) -> Any:
        """A pyarrow Table or RecordBatch with its checked columns scanned (and masked, in ``mask``)."""
        import pyarrow as pa

        for column in self._plan.columns:
            values = [self._check_value(v, column) for v in table.column(column.position).to_pylist()]
            if self._mode == "mask":
                field_ = table.schema.field(column.position)
                table = table.set_column(column.position, field_, pa.array(values, type=field_.type))
        return table

    def arrow_batches(self) -> Iterator[Any]:
        try:
            for batch in self._stream.arrow_batches():
                yield self._check_arrow(batch)
        finally:
            self._done()

    def arrow(self) -> Any:
        table = self._stream.arrow()
        try:
            return self._check_arrow(table)
        finally:
            self._done()

    def df(self) -> Any:
        frame = self._stream.df()
        try:
            for column in self._plan.columns:
                series = frame.iloc[:, column.position]
                checked = series.map(lambda v, c=column: self._check_value(v, c))
                if self._mode == "mask":
                    frame.isetitem(column.position, checked)
            return frame
        finally:
            self._done()

    def interrupt(self) -> None:
        self._stream.interrupt()

    def close(self) -> None:
        self._stream.close()
        self._done()

    def _done(self) -> None:
        if self._report is not None:
            report, self._report = self._report, None
            if self.findings.counts:
                report(self.findings, self._plan, self._mode)


def guard(stream: Any, *, mode: str, rewritten: Any, sql: str, read: str, lowest: str,
          resolve: Callable[[tuple[str, ...]], Any], version: str,
          record: Callable[..., None]) -> Any:
    """The stream itself when nothing needs checking; otherwise an :class:`EgressStream` over it.

    ``record(**fields)`` writes the statement's ``egress`` audit line (the engine's audit entry).
    """
    if mode not in ("log", "mask"):
        return stream
    plan = plan_for(rewritten, stream.columns, sql, read, lowest, resolve, version)
    if plan is None:
        return stream

    def report(findings: Findings, plan: Plan, mode: str) -> None:
        kinds = sorted({k for per in findings.counts.values() for k in per})
        action = "masked" if mode == "mask" else "logged"
        record(decision="egress", reason=f"{findings.total} value(s) in lowest-level column(s) "
                                         f"{', '.join(findings.counts)} held {', '.join(kinds)} ({action})",
               egress={"mode": mode, "action": action, "columns": findings.counts,
                       "sources": {c.name: list(c.sources) for c in plan.columns if c.name in findings.counts},
                       "values_checked": findings.values_checked, "lineage": plan.lineage})

    return EgressStream(stream, plan, mode, report)


__all__ = ["MODES", "CheckedColumn", "EgressStream", "Findings", "Plan", "guard", "plan_for"]
