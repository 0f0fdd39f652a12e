"""``policyengine scan``: sample every column of a database, find personal data, compare with the contracts.

Three answers, because a policy is only as good as its labels:

- **unclassified**: a table no contract describes, or a column its contract does not list, that holds
  personal data (a new table nobody registered yet);
- **under-labelled**: a contract column labelled below what it holds (an e-mail column ``public``);
- **a proposed contract** for each table without one, in the project's contract format, every sensitive
  column labelled and protected; ``--write`` puts it in the policy set's ``tables/`` folder, only if the
  policy set still validates with it.

The scan reads the database file directly (it is the data owner's tool, not a reader's) and never
prints or stores a value: only kinds, shares and counts. Each table is sampled once, a bounded
reservoir of rows (``--sample``, default 1000) with a fixed seed, so a scan costs one pass over each
table and the same database gives the same report.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policyengine.dlp.classify import ColumnVerdict, classify_column
from policyengine.dlp.detectors import Tier

DEFAULT_SAMPLE = 1000
SEED = 42

#: DuckDB types a contract can name as they are; other types are sampled as text
_CONTRACT_TYPES = {
    "VARCHAR": "STRING", "BIGINT": "BIGINT", "INTEGER": "INTEGER", "SMALLINT": "SMALLINT", "TINYINT": "TINYINT",
    "DOUBLE": "DOUBLE", "FLOAT": "REAL", "REAL": "REAL", "BOOLEAN": "BOOLEAN", "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP", "TIMESTAMP WITH TIME ZONE": "TIMESTAMP_TZ", "TIME": "TIME", "BLOB": "BYTES",
    "UBIGINT": "DECIMAL(20,0)", "UINTEGER": "BIGINT", "USMALLINT": "INTEGER", "UTINYINT": "SMALLINT",
    "HUGEINT": "DECIMAL(38,0)", "UUID": "STRING",
}


@dataclass
class ScannedColumn:
    table: str  # as a contract would name it: ``name`` in the main schema, ``schema.name`` elsewhere
    column: str
    db_type: str
    nullable: bool
    verdict: ColumnVerdict
    #: the contract's label, or None when no contract lists the column
    label: str | None = None
    suggested: str | None = None
    #: ``unclassified``, ``unlisted``, ``under-labelled``, ``ok``, or ``""`` (nothing found)
    finding: str = ""

    def row(self) -> dict[str, Any]:
        return {
            "table": self.table, "column": self.column, "type": self.db_type,
            "label": self.label or "", "holds": ", ".join(e.kind for e in self.verdict.found),
            "suggested": self.suggested or "", "finding": self.finding,
            "evidence": "; ".join(f"{e.kind}: {e.detail} [{e.by}]" for e in self.verdict.found),
            "sampled": self.verdict.sampled,
        }

    def json_row(self) -> dict[str, Any]:
        """:meth:`row` plus the fields ``policyengine report --scan`` reads (policyengine/report/scan.py)."""
        return {**self.row(), "detector": ", ".join(e.kind for e in self.verdict.found),
                "sensitivity_declared": self.label, "sensitivity_suggested": self.suggested}


@dataclass
class Proposal:
    table: str
    file: str  # relative to the policy set: tables/<name>.yaml
    contract: dict[str, Any]
    text: str
    written: bool = False


@dataclass
class ScanReport:
    database: str
    sample: int
    columns: list[ScannedColumn] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)

    def findings(self) -> list[ScannedColumn]:
        return [c for c in self.columns if c.finding in ("unclassified", "unlisted", "under-labelled")]


class ScanError(Exception):
    """The scan cannot run: no database, an unknown table. The message says which."""


# --- levels and protections -----------------------------------------------------------------------------

def level_for(tier: Tier, levels: Sequence[str]) -> str:
    """A tier as a level of this policy set: ``TOP`` is the highest level, ``ELEVATED`` the one below it
    (with the default levels: restricted and confidential, as the example set labels these columns)."""
    if tier is Tier.TOP or len(levels) < 3:
        return levels[-1]
    return levels[-2]


def protection_for(verdict: ColumnVerdict, contract_type: str) -> Any:
    """A protection that fits the kind and the column's type, and needs no key (a proposal must be usable
    before anyone has configured one): the reviewer may choose hash, tokenize or encrypt instead."""
    kinds = verdict.kinds
    structured = all(e.by != "content" or "candidates validate" in e.detail or e.kind in (
        "date_of_birth", "person_name", "location") for e in verdict.found)
    family = contract_type.split("(")[0]
    if family in ("DATE", "TIMESTAMP", "TIMESTAMP_TZ"):
        return {"kind": "generalize", "to": "year"} if "date_of_birth" in kinds else "redact"
    if family in ("TIME", "BYTES"):
        return "nullify"
    if family != "STRING":
        return "redact"
    if kinds & {"us_ssn", "uk_nino", "national_id"}:
        return "deny"
    if not structured:
        return "redact"  # free text holding personal data: no part of it is safe to show
    if kinds == {"email"}:
        return "email"
    if kinds <= {"phone", "card", "iban"}:
        return {"kind": "partial", "show_last": 4}
    if kinds == {"person_name"}:
        return {"kind": "partial", "show_first": 1}
    return "redact"


# --- the scan ---------------------------------------------------------------------------------------------

def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def list_tables(con: Any) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema NOT IN ('information_schema', 'pg_catalog') "
        "AND table_type IN ('BASE TABLE', 'VIEW') ORDER BY table_schema, table_name").fetchall()
    return [(schema, name) for schema, name in rows]


def _columns(con: Any, schema: str, name: str) -> list[tuple[str, str, bool]]:
    return [(c, t, n == "YES") for c, t, n in con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name]).fetchall()]


def _select(column: str, db_type: str) -> str:
    base = db_type.split("(")[0].upper()
    if base in _CONTRACT_TYPES and base not in ("BLOB", "UUID") or base == "DECIMAL":
        return _quote(column)
    if base == "BLOB":
        return "NULL"
    return f"CAST({_quote(column)} AS VARCHAR)"


def contract_name(schema: str, name: str) -> str:
    return name if schema == "main" else f"{schema}.{name}"


def contract_type(db_type: str) -> str:
    upper = db_type.upper()
    if upper.startswith("DECIMAL"):
        return upper.replace(" ", "")
    return _CONTRACT_TYPES.get(upper, "STRING")


def scan(db: str | Path, policy_set: Any, tables: Sequence[str] = (), *, sample: int = DEFAULT_SAMPLE,
         as_of: dt.date | None = None,
         progress: Callable[[str, int, int], None] | None = None) -> ScanReport:
    """Sample and classify every column of the chosen tables (all when none is named).

    ``progress(table, done, total)`` is called after each column, for a progress bar.
    """
    import duckdb

    from policyengine.rewrite import TableResolver

    path = Path(db)
    if not path.is_file():
        raise ScanError(f"no database at {path}")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise ScanError(f"cannot open {path}: {str(error).splitlines()[0]}") from None
    try:
        available = list_tables(con)
        chosen = _choose(available, tables)
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        resolver = TableResolver(policy_set, frozenset({str(catalog).lower()}))
        shapes = {t: _columns(con, *t) for t in chosen}
        total = sum(len(c) for c in shapes.values())
        report = ScanReport(str(path), sample)
        done = 0
        levels = policy_set.settings.sensitivity_levels
        for schema, name in chosen:
            columns = shapes[(schema, name)]
            if not columns:
                continue
            select = ", ".join(_select(c, t) for c, t, _ in columns)
            rows = con.execute(f"SELECT {select} FROM {_quote(schema)}.{_quote(name)} "
                               f"USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE ({SEED})").fetchall()
            contract = resolver.resolve((schema, name))
            table = contract_name(schema, name)
            scanned: list[ScannedColumn] = []
            for index, (column, db_type, nullable) in enumerate(columns):
                verdict = classify_column(column, [row[index] for row in rows], as_of=as_of)
                item = ScannedColumn(table, column, db_type, nullable, verdict)
                _judge(item, contract, levels)
                scanned.append(item)
                done += 1
                if progress is not None:
                    progress(table, done, total)
            report.columns += scanned
            if contract is None:
                report.proposals.append(propose(table, scanned, policy_set, path.name, sample))
        return report
    finally:
        con.close()


def _choose(available: list[tuple[str, str]], wanted: Sequence[str]) -> list[tuple[str, str]]:
    if not wanted:
        return available
    chosen: list[tuple[str, str]] = []
    for name in wanted:
        key = name.strip().lower()
        matches = [t for t in available if key in (t[1].lower(), f"{t[0]}.{t[1]}".lower())]
        if not matches:
            raise ScanError(f"no table '{name}' in the database")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def _judge(item: ScannedColumn, contract: Any, levels: Sequence[str]) -> None:
    tier = item.verdict.tier
    item.suggested = level_for(tier, levels) if tier is not None else None
    column = contract.column(item.column) if contract is not None else None
    if column is not None:
        item.label = column.sensitivity
    if tier is None:
        item.finding = "ok" if column is not None else ""
    elif contract is None:
        item.finding = "unclassified"
    elif column is None:
        item.finding = "unlisted"
    elif levels.index(column.sensitivity) < levels.index(item.suggested):
        item.finding = "under-labelled"
    else:
        item.finding = "ok"


# --- proposals --------------------------------------------------------------------------------------------

def propose(table: str, columns: list[ScannedColumn], policy_set: Any, database: str, sample: int) -> Proposal:
    """A contract for a table that has none: sensitive columns labelled and protected, the others at the
    lowest level (where the egress check, if on, still watches them)."""
    import yaml

    levels = policy_set.settings.sensitivity_levels
    lowest = levels[0]
    entries: list[dict[str, Any]] = []
    for item in columns:
        written_type = contract_type(item.db_type)
        entry: dict[str, Any] = {"name": item.column, "type": written_type}
        if not item.nullable:
            entry["mode"] = "REQUIRED"
        if item.verdict.found:
            entry["sensitivity"] = item.suggested
            entry["protection"] = protection_for(item.verdict, written_type)
            entry["meta"] = {"scan": "; ".join(f"{e.kind}: {e.detail}" for e in item.verdict.found)}
        else:
            entry["sensitivity"] = lowest
            entry["protection"] = "none"
        entries.append(entry)
    contract = {"table": table, "columns": entries}
    lines = [f"# Proposed by `policyengine scan` from {database} (a sample of up to {sample} rows).",
             "# Review every label and protection before use: the scan saw a sample, not the table.",
             f"table: {yaml.safe_dump(table, default_style=None).splitlines()[0]}",
             "columns:"]
    for entry in entries:
        lines.append("  - " + yaml.safe_dump(entry, default_flow_style=True, sort_keys=False, width=100_000,
                                             allow_unicode=True).strip())
    safe = table.replace(".", "_")
    return Proposal(table, f"tables/{safe}.yaml", contract, "\n".join(lines) + "\n")


def check_proposals(root: str | Path, proposals: Sequence[Proposal]) -> list[str]:
    """Problems of the policy set with the proposals added (empty: it validates), checked in a copy."""
    from policyengine.loading import load_policy_set
    from policyengine.model import PolicySetInvalid

    source = Path(root)
    with tempfile.TemporaryDirectory(prefix="policyengine-scan-") as folder:
        copy = Path(folder) / "policies"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("tests", ".*"))
        for proposal in proposals:
            target = copy / proposal.file
            if target.exists():
                continue  # never written over (write_proposals keeps it too)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(proposal.text, encoding="utf-8")
        try:
            load_policy_set(copy)
        except PolicySetInvalid as invalid:
            return [str(p) for p in invalid.problems]
    return []


def write_proposals(root: str | Path, proposals: Sequence[Proposal]) -> list[Path]:
    """Write each proposal whose file does not exist yet; an existing file is never overwritten."""
    written: list[Path] = []
    for proposal in proposals:
        target = Path(root) / proposal.file
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(proposal.text, encoding="utf-8")
        proposal.written = True
        written.append(target)
    return written
