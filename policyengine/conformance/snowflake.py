"""Does Snowflake, with the policies ``apply`` deployed, give each role what the engine gives it?

The DDL is generated from the same decision as the DuckDB rewrite, but a deployed account can
drift: a policy edited by hand, a grant that does not mirror ``inherits``, a template that behaves
differently on the warehouse than sqlglot's transpile suggests. So this module asks Snowflake itself.
For each probe (a policy test case of the set, or a generated query) it sends the *analyst's* query,
written in Snowflake's dialect with the tables qualified, never the engine's rewrite, under
``EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => ..., CURRENT_USER => ...)``, which makes Snowflake
evaluate its masking, row access and projection policies as that role and user would see them
(https://docs.snowflake.com/en/sql-reference/functions/policy_context). The same query goes
through the engine on DuckDB holding the same data, for the same subject, and the two answers are
compared cell by cell.

Where the engine refuses (no access in the environment, a denied column) Snowflake cannot refuse:
its row access policy returns no rows and its projection policy fails the query. docs/snowflake.md
lists these ("Where Snowflake cannot match DuckDB exactly"); they are reported apart, as
documented differences, never as failures, unless Snowflake returned data to a subject the engine
gives no access at all.

Nothing here reads a value the subject could not read: both sides are the subject's masked
outputs, and no extra query is sent. Snowflake's error messages can quote values, so only the
error's class and number are kept.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import random
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from policyengine.backends.errors import QueryFailed
from policyengine.ddl.snowflake_plan import SnowflakePlan
from policyengine.decision import Outcome, Subject, decide, subject_for
from policyengine.engine import Engine
from policyengine.model import PolicySet, Table
from policyengine.rewrite import Refused

#: differences listed per probe: enough to see the pattern, never a dump of the result
SHOWN = 10
#: the generator's fixed seed: the same policy set always gives the same sample
SEED = 0

_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


class Verdict(str, Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    DOCUMENTED = "documented"


@dataclass(frozen=True)
class Probe:
    """One question asked of both engines: who, in which environment, which (DuckDB) SQL."""

    source: str  # "case" (the set's tests/*.yaml) or "generated"
    name: str
    subject: Subject
    who: str
    sql: str


@dataclass(frozen=True)
class Difference:
    """One cell (or a row, or the shape) where the answers differ; values as each side returned
    them to the subject: masked outputs both."""

    row: int | None
    column: str | None
    snowflake: Any
    engine: Any
    what: str


@dataclass
class ProbeResult:
    probe: Probe
    snowflake_sql: str
    verdict: Verdict
    note: str = ""
    differences: list[Difference] = field(default_factory=list)


@dataclass
class Report:
    environment: str
    results: list[ProbeResult] = field(default_factory=list)
    #: cases not run, with why (another environment than the account serves)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def mismatches(self) -> list[ProbeResult]:
        return [r for r in self.results if r.verdict is Verdict.MISMATCH]

    @property
    def documented(self) -> list[ProbeResult]:
        return [r for r in self.results if r.verdict is Verdict.DOCUMENTED]

    @property
    def matched(self) -> list[ProbeResult]:
        return [r for r in self.results if r.verdict is Verdict.MATCH]

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def mismatch_rows(self) -> list[dict[str, Any]]:
        """One row per differing cell (or per probe when the whole answer differs), for the report."""
        rows = []
        for result in self.mismatches:
            base = _base_row(result)
            for difference in result.differences or [Difference(None, None, None, None, result.note)]:
                rows.append({**base, "row": difference.row, "column": difference.column,
                             "snowflake": difference.snowflake, "engine": difference.engine,
                             "what": difference.what})
        return rows

    def documented_rows(self) -> list[dict[str, Any]]:
        return [{**_base_row(result), "what": result.note} for result in self.documented]

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "environment": self.environment, "probes": len(self.results),
                "matched": len(self.matched), "mismatched": len(self.mismatches),
                "documented": len(self.documented),
                "mismatches": self.mismatch_rows(), "documented_differences": self.documented_rows(),
                "skipped": [{"case": name, "why": why} for name, why in self.skipped]}


def _base_row(result: ProbeResult) -> dict[str, Any]:
    probe = result.probe
    return {"source": probe.source, "case": probe.name, "who": probe.who, "query": probe.sql,
            "snowflake_query": result.snowflake_sql}


# --- the query Snowflake gets --------------------------------------------------------------------

def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def policy_context(policy_set: PolicySet, subject: Subject) -> str:
    """``EXECUTE USING POLICY_CONTEXT(...)`` for the subject.

    ``CURRENT_ROLE`` is the subject's first role and ``CURRENT_USER`` the principal (upper case, as
    Snowflake stores unquoted names); a subject holding several roles directly also gets them as
    ``SNOWFLAKE$SESSION_ACTIVATED_ROLES``, a list key of the same page. A bare role has no user:
    Snowflake then keeps the connected user, which should not be a principal of the set.
    """
    roles = [policy_set.roles[key].name.upper() for key in subject.roles]
    arguments = [f"CURRENT_ROLE => {_literal(roles[0])}"] if roles else []
    if subject.name:
        arguments.append(f"CURRENT_USER => {_literal(subject.name.upper())}")
    if len(roles) > 1:
        arguments.append("SNOWFLAKE$SESSION_ACTIVATED_ROLES => (" + ", ".join(_literal(r) for r in roles) + ")")
    return "EXECUTE USING POLICY_CONTEXT(" + ", ".join(arguments) + ")"


def snowflake_query(policy_set: PolicySet, sql: str, *, database: str | None, schema: str | None) -> str:
    """The analyst's query in Snowflake's dialect: the set's tables qualified as ``ddl``/``apply``
    name them, and simple quoted names unquoted, so that Snowflake folds them to the upper-case
    names it stored for the unquoted DDL (a quoted ``"Email"`` would name no column there)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    naming = SnowflakePlan("", database, schema)

    def qualify(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            if not node.args.get("db") and node.name.lower() in ctes:
                return node
            found = policy_set.find_table(".".join(part.name for part in node.parts))
            if found is not None:
                new = exp.to_table(naming.table_name(found), dialect="snowflake")
                if node.args.get("alias") is not None:
                    new.set("alias", node.args["alias"].copy())
                return new
        return node

    tree = tree.transform(qualify)
    for name in tree.find_all(exp.Identifier):
        if name.quoted and _SIMPLE.fullmatch(name.name):
            name.set("quoted", False)
    return tree.sql(dialect="snowflake")


def _ordering(sql: str) -> tuple[bool, bool]:
    """(rows compared in order, only the row count compared): a LIMIT without ORDER BY picks
    arbitrary rows, which two engines need not pick alike."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return False, False
    ordered = tree.args.get("order") is not None
    return ordered, tree.args.get("limit") is not None and not ordered


# --- probes --------------------------------------------------------------------------------------

def _who(policy_set: PolicySet, subject: Subject) -> str:
    roles = ", ".join(policy_set.roles[key].name for key in subject.roles)
    return f"{subject.name} ({roles})" if subject.name else f"role {roles}"


def case_probes(policy_set: PolicySet, root: Path, environment: str) -> tuple[list[Probe], list[tuple[str, str]]]:
    """The policy set's own test cases in ``environment`` (those of another environment are
    skipped: this account serves one), and the skipped ones with why."""
    from policyengine.testing.case_model import load_cases

    probes, skipped = [], []
    for case in load_cases(root, policy_set):
        if case.environment != environment:
            skipped.append((case.name, f"written for {case.environment}; this account serves {environment}"))
            continue
        subject = subject_for(policy_set, principal=case.spec.principal, roles=case.roles)
        probes.append(Probe("case", f"{case.file}: {case.name}", subject, _who(policy_set, subject), case.spec.sql))
    return probes, skipped


def _name(table: Table) -> str:
    return exp.to_table(table.name).sql(dialect="duckdb")


def _column(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def generated_queries(policy_set: PolicySet, subject: Subject, environment: str) -> list[str]:
    """Every query of the small generator for one subject: per table the visible columns together,
    each column alone, each column as a filter and as a group, and a count. Denied columns are left
    out (naming one is a refusal; one probe per table covers refusals); a table without access gets
    one count, which the engine refuses and Snowflake answers with no rows."""
    out: list[str] = []
    for table in policy_set.tables.values():
        decision = decide(policy_set, subject, environment, table)
        name = _name(table)
        if not decision.allowed:
            out.append(f"SELECT count(*) AS n FROM {name}")
            continue
        visible = [c.name for c in table.columns
                   if (d := decision.column(c.name)) is not None and d.outcome is not Outcome.DENIED]
        if not visible:
            continue
        listed = ", ".join(_column(c) for c in visible)
        out.append(f"SELECT {listed} FROM {name}")
        out.append(f"SELECT count(*) AS n FROM {name}")
        for column in visible:
            quoted = _column(column)
            out.append(f"SELECT {quoted} FROM {name}")
            out.append(f"SELECT {listed} FROM {name} WHERE {quoted} IS NOT NULL")
            out.append(f"SELECT {quoted}, count(*) AS n FROM {name} GROUP BY {quoted}")
    return out


def subjects(policy_set: PolicySet) -> list[Subject]:
    """Every role alone, then every principal (whose attributes row rules read through CURRENT_USER)."""
    found = [subject_for(policy_set, roles=[role.name]) for role in policy_set.roles.values()]
    found += [subject_for(policy_set, principal=p.name) for p in policy_set.principals.values()]
    return found


def generated_probes(policy_set: PolicySet, environment: str, sample: int, seed: int = SEED) -> list[Probe]:
    """``sample`` generated queries per subject, drawn with a fixed seed (the same each run)."""
    probes = []
    for subject in subjects(policy_set):
        who = _who(policy_set, subject)
        pool = generated_queries(policy_set, subject, environment)
        rng = random.Random(f"{seed}:{who}")
        picked = sorted(rng.sample(range(len(pool)), min(sample, len(pool))))
        probes.extend(Probe("generated", f"generated {i}", subject, who, pool[i]) for i in picked)
    return probes


# --- comparing -----------------------------------------------------------------------------------

def normalize(value: Any) -> Any:
    """A value as both engines can agree on it: numbers by value (a Snowflake NUMBER comes back as
    Decimal where DuckDB gives a float or an int; 9 significant digits), instants in UTC without a
    zone, dates and times as ISO text, bytes as hex."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ("BOOLEAN", value)  # never equal to 1 or 0: Python's True == 1 would hide a type change
    if isinstance(value, int):
        return value
    if isinstance(value, (float, decimal.Decimal)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, decimal.Decimal) and not value.is_finite():
            return str(value)
        if value == int(value) and abs(value) < 2**53:
            return int(value)
        return float(f"{float(value):.9g}")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return tuple(sorted((str(k), normalize(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(normalize(v) for v in value)
    if isinstance(value, (uuid.UUID, dt.timedelta)):
        return str(value)
    return str(value)


def _normalized(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(normalize(v) for v in row) for row in rows]


def compare(snowflake: Sequence[Sequence[Any]], engine: Sequence[Sequence[Any]], columns: Sequence[str], *,
            ordered: bool, count_only: bool) -> list[Difference]:
    """Cell by cell: in order when the query orders, else as multisets (differing rows paired in
    sorted order, so a mask that differs shows as the cells that differ, not as two whole rows)."""
    ours, theirs = _normalized(engine), _normalized(snowflake)
    if count_only or not columns:
        if len(ours) != len(theirs):
            return [Difference(None, None, len(theirs), len(ours), "row count")]
        return []
    differences: list[Difference] = []
    if ordered:
        pairs = [(i, a, b) for i, (a, b) in enumerate(zip(theirs, ours))]
        unpaired_sf, unpaired_engine = theirs[len(ours):], ours[len(theirs):]
    else:
        extra_sf = sorted((Counter(theirs) - Counter(ours)).elements(), key=repr)
        extra_engine = sorted((Counter(ours) - Counter(theirs)).elements(), key=repr)
        pairs, unpaired_sf, unpaired_engine = _pair(extra_sf, extra_engine)
    for index, sf_row, engine_row in pairs:
        for position, name in enumerate(columns):
            if sf_row[position] != engine_row[position]:
                differences.append(Difference(index, name, sf_row[position], engine_row[position], "value"))
    for row in unpaired_sf:
        differences.append(Difference(None, None, list(row), None, "row only in Snowflake's answer"))
    for row in unpaired_engine:
        differences.append(Difference(None, None, None, list(row), "row only in the engine's answer"))
    if len(ours) != len(theirs):
        differences.append(Difference(None, None, len(theirs), len(ours), "row count"))
    return differences[:SHOWN]


#: rows paired by likeness at most; beyond, in sorted order (the first differences shown are what matter)
PAIRED = 300


def _pair(snowflake: list[tuple[Any, ...]], engine: list[tuple[Any, ...]]) -> tuple[
        list[tuple[int | None, tuple[Any, ...], tuple[Any, ...]]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows only one side has, each Snowflake row paired with the engine row it shares most cells
    with: a mask that differs then shows as that column's cells, not as unrelated rows side by side."""
    left = list(engine[:PAIRED])
    pairs: list[tuple[int | None, tuple[Any, ...], tuple[Any, ...]]] = []
    unpaired_sf: list[tuple[Any, ...]] = []
    for row in snowflake[:PAIRED]:
        if not left:
            unpaired_sf.append(row)
            continue
        best = max(range(len(left)), key=lambda i: sum(a == b for a, b in zip(row, left[i])))
        pairs.append((None, row, left.pop(best)))
    rest_sf, rest_engine = snowflake[PAIRED:], engine[PAIRED:]
    pairs += [(None, a, b) for a, b in zip(rest_sf, rest_engine)]
    unpaired_sf += rest_sf[len(rest_engine):]
    return pairs, unpaired_sf, left + rest_engine[len(rest_sf):]


def _error_name(error: BaseException) -> str:
    """The error's class and number only: Snowflake's messages can quote values."""
    number = getattr(error, "errno", None)
    return type(error).__name__ + (f" {number}" if number not in (None, -1) else "")


def _empty(rows: Sequence[Sequence[Any]]) -> bool:
    """No data: no rows, or only NULLs and zeros (a count over the no rows a row policy leaves)."""
    return all(value is None or (isinstance(value, (int, float, decimal.Decimal)) and value == 0)
               for row in rows for value in row)


def _reads_denied_with_star(policy_set: PolicySet, probe: Probe, environment: str) -> bool:
    """The query has a ``*`` over a table with a column denied to the subject: the engine leaves the
    column out of ``*``; Snowflake's projection policy fails the query (FAIL is its default)."""
    try:
        tree = sqlglot.parse_one(probe.sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return False
    if not any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
               for e in tree.find_all(exp.Star, exp.Column)):
        return False
    for node in tree.find_all(exp.Table):
        table = policy_set.find_table(".".join(part.name for part in node.parts))
        if table is None:
            continue
        decision = decide(policy_set, probe.subject, environment, table)
        if any(c.outcome is Outcome.DENIED for c in decision.columns):
            return True
    return False


def run_probe(engine: Engine, connection: Any, probe: Probe, *, environment: str, database: str | None,
              schema: str | None) -> ProbeResult:
    """Ask both; judge. Never raises for what either side does with the query: that is the result."""
    policy_set = engine.policy_set
    try:
        query = snowflake_query(policy_set, probe.sql, database=database, schema=schema)
    except sqlglot.errors.SqlglotError as error:
        query = ""
        translation_error: str | None = type(error).__name__
    else:
        translation_error = None
    sent = f"{policy_context(policy_set, probe.subject)} AS {query}" if query else ""

    refused = failed = None
    engine_rows: list[tuple[Any, ...]] = []
    columns: list[str] = []
    try:
        result = engine.query_for(probe.subject, probe.sql, env=environment)
        try:
            columns = list(result.columns)
            engine_rows = result.fetchall()
        finally:
            result.close()
    except Refused as refusal:
        refused = refusal.reason
    except QueryFailed as failure:
        failed = f"{type(failure).__name__} {failure.sqlstate}"

    snowflake_rows: list[tuple[Any, ...]] = []
    snowflake_columns: list[str] = []
    snowflake_error = translation_error and f"not written in Snowflake's dialect ({translation_error})"
    if sent:
        cursor = connection.cursor()
        try:
            cursor.execute(sent)
            snowflake_rows = [tuple(row) for row in cursor.fetchall()]
            snowflake_columns = [d[0] for d in cursor.description or []]
        except Exception as error:  # noqa: BLE001 - the connector's error classes vary; kept by name only
            snowflake_error = _error_name(error)
        finally:
            cursor.close()

    def judged(verdict: Verdict, note: str, differences: list[Difference] | None = None) -> ProbeResult:
        return ProbeResult(probe, sent, verdict, note, differences or [])

    if failed is not None:
        return judged(Verdict.MISMATCH, f"the engine failed the query ({failed})")
    if refused is not None:
        if snowflake_error:
            return judged(Verdict.DOCUMENTED, f"the engine refuses ({refused}); Snowflake failed the query "
                                              f"({snowflake_error})")
        if _empty(snowflake_rows):
            return judged(Verdict.DOCUMENTED, f"the engine refuses ({refused}); Snowflake returned no data")
        if "no access" in refused:
            return judged(Verdict.MISMATCH, f"the engine refuses ({refused}); Snowflake returned "
                                            f"{len(snowflake_rows)} rows with data")
        why = " (a denied column can still be filtered on, on its NULL mask)" if "denied" in refused else ""
        return judged(Verdict.DOCUMENTED, f"the engine refuses ({refused}); Snowflake answers it{why}")
    if snowflake_error:
        if _reads_denied_with_star(policy_set, probe, environment):
            return judged(Verdict.DOCUMENTED, "* over a denied column: the engine leaves it out, Snowflake's "
                                              f"projection policy fails the query ({snowflake_error})")
        return judged(Verdict.MISMATCH, f"Snowflake failed the query ({snowflake_error})")
    if len(snowflake_columns) != len(columns):
        return judged(Verdict.MISMATCH, f"Snowflake returned {len(snowflake_columns)} columns, the engine "
                                        f"{len(columns)}")
    ordered, count_only = _ordering(probe.sql)
    differences = compare(snowflake_rows, engine_rows, columns, ordered=ordered, count_only=count_only)
    if differences:
        return judged(Verdict.MISMATCH, f"{len(differences)} difference{'s' if len(differences) != 1 else ''}",
                      differences)
    return judged(Verdict.MATCH, "row count only (LIMIT without ORDER BY)" if count_only else "")


def verify(engine: Engine, connection: Any, *, environment: str, database: str | None = None,
           schema: str | None = None, policies: Path | None = None, sample: int = 5,
           seed: int = SEED) -> Report:
    """Every case of the set in ``environment`` and ``sample`` generated queries per subject, each
    asked of Snowflake (``connection``, PEP 249) and of ``engine`` (DuckDB over the same data)."""
    report = Report(environment)
    probes: list[Probe] = []
    if policies is not None:
        cases, report.skipped = case_probes(engine.policy_set, policies, environment)
        probes.extend(cases)
    probes.extend(generated_probes(engine.policy_set, environment, sample, seed))
    for probe in probes:
        report.results.append(run_probe(engine, connection, probe, environment=environment, database=database,
                                        schema=schema))
    return report
