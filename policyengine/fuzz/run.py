"""The query fuzzer: generated queries, run through the engine as every role, checked by three oracles.

1. **Canaries**: no value planted in a protected column reaches a subject that may not see it raw,
   in a result or in an error.
2. **Masked subjects**: the result equals the same query, untouched, on a copy of the data with the
   subject's protections and row filters materialized (fuzz/oracle.py), or the query is refused.
3. **All-clear subjects** (every column raw, every row): the result equals the query on the raw data.

Query ``i`` of a run with seed ``s`` is generated from ``Random(f"{s}:{i}")`` and runs as a few
subjects chosen from ``i``: the pair (seed, index) reproduces any failure exactly.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from policyengine import crypto
from policyengine.backends.errors import QueryFailed
from policyengine.decision import Outcome, Subject, decide, subject_for
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.fuzz.canaries import forbidden, leaks, plant
from policyengine.fuzz.oracle import materialize, normalize_rows
from policyengine.fuzz.queries import QueryGenerator
from policyengine.loading import load_policy_set
from policyengine.model import PolicySet
from policyengine.rewrite import Refused

KEY = crypto.parse_key("66757a7a206b6579206e6f7420757365")  # a key for the fuzz world's own data only
SUBJECTS_PER_QUERY = 3


@dataclass(frozen=True)
class Failure:
    seed: int
    index: int
    who: str
    env: str
    oracle: str  # canary | masked | all-clear
    sql: str
    detail: str

    def __str__(self) -> str:
        return (f"[seed {self.seed}, query {self.index}] {self.oracle} oracle failed for {self.who} in {self.env}: "
                f"{self.detail}\n  {self.sql}")


@dataclass
class QueryFuzzReport:
    seed: int
    queries: int = 0
    executions: int = 0
    outcomes: Counter = field(default_factory=Counter)  # equal / refused / failed-alike
    failures: list[Failure] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"seed": self.seed, "queries": self.queries, "executions": self.executions,
                **{f"outcome_{k}": v for k, v in sorted(self.outcomes.items())}, "failures": len(self.failures)}


@dataclass(frozen=True)
class Who:
    label: str
    subject: Subject
    env: str


def subjects(policy_set: PolicySet) -> list[Who]:
    """Every principal, and every role no principal holds, in every environment."""
    out: list[Who] = []
    held = {role for principal in policy_set.principals.values() for role in principal.roles}
    for env in policy_set.settings.environments:
        for name in sorted(policy_set.principals):
            out.append(Who(name, subject_for(policy_set, principal=name), env))
        for role in sorted(set(policy_set.roles) - held):
            out.append(Who(f"role {role}", subject_for(policy_set, roles=[role]), env))
    return out


def all_clear(policy_set: PolicySet, who: Who) -> bool:
    for table in policy_set.tables.values():
        decision = decide(policy_set, who.subject, who.env, table)
        if not decision.allowed or any(c.outcome is not Outcome.RAW for c in decision.columns):
            return False
        if decision.rows.describe() not in ("all rows", "(TRUE)"):
            return False
    return True


class World:
    """The demo data with canaries, the engine over it, and an oracle copy per subject (made on demand)."""

    def __init__(self, policies: Path, folder: Path, *, users: int = 150, reviews: int = 400,
                 enforced: Path | None = None):
        """``enforced``: the policy folder the engine enforces, when it is not the one the oracles
        follow (to check that the oracles catch an engine that enforces less than intended)."""
        self.folder = folder
        self.policy_set = load_policy_set(policies)
        self.raw = folder / "raw.duckdb"
        build_demo_database(self.raw, users=users, reviews=reviews)
        plant(self.raw)
        served = folder / "served.duckdb"
        shutil.copyfile(self.raw, served)
        self.engine = Engine.load(enforced or policies, served, keys=KEY)
        self.who = subjects(self.policy_set)
        self._oracles: dict[int, duckdb.DuckDBPyConnection] = {}
        self._raw = duckdb.connect(str(self.raw), read_only=True)
        self._clear = {i for i, who in enumerate(self.who) if all_clear(self.policy_set, who)}
        self._forbidden: dict[int, list[Any]] = {}

    def oracle(self, index: int) -> duckdb.DuckDBPyConnection:
        if index in self._clear:
            return self._raw
        if index not in self._oracles:
            who = self.who[index]
            target = self.folder / f"oracle-{index}.duckdb"
            materialize(self.policy_set, who.subject, who.env, self.raw, target, KEY)
            self._oracles[index] = duckdb.connect(str(target), read_only=True)
        return self._oracles[index]

    def forbidden(self, index: int) -> list[Any]:
        """The canaries forbidden to a subject; whether the canary row passes its row filter is read
        from its materialized copy, an evaluation independent of the rewriter's."""
        if index not in self._forbidden:
            who = self.who[index]
            visible = bool(self.oracle(index).execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'verified_reviews'").fetchone()[0]) and bool(
                self.oracle(index).execute(
                    "SELECT count(*) FROM verified_reviews WHERE \"ReviewID\" = 'R-CANARY-NA'").fetchone()[0])
            self._forbidden[index] = forbidden(self.policy_set, who.subject, who.env, row_visible=visible)
        return self._forbidden[index]

    def close(self) -> None:
        for con in [*self._oracles.values(), self._raw]:
            con.close()
        self.engine.close()

    # --- one query, one subject ------------------------------------------------------------------

    def check(self, seed: int, index: int, sql: str, who_index: int) -> tuple[str, list[Failure]]:
        who = self.who[who_index]
        oracle_name = "all-clear" if who_index in self._clear else "masked"
        canaries = self.forbidden(who_index)

        def failure(oracle: str, detail: str) -> Failure:
            return Failure(seed, index, who.label, who.env, oracle, sql, detail)

        try:
            rows = self.engine.query_for(who.subject, sql, env=who.env).fetchall()
        except Refused as refusal:
            return "refused", [failure("canary", f"refusal names {hit[0]!r}")
                               for hit in leaks(refusal.reason, canaries)]
        except QueryFailed as error:
            problems = [failure("canary", f"error names {hit[0]!r}") for hit in leaks(error.message, canaries)]
            try:
                self.oracle(who_index).execute(sql).fetchall()
            except duckdb.Error:
                return "failed-alike", problems
            return "failed", problems + [failure(oracle_name, f"the engine failed ({error.sqlstate}: "
                                                              f"{error.message[:160]}) where the oracle ran")]
        problems = [failure("canary", f"result holds {hit[0]!r}") for hit in leaks(rows, canaries)]
        try:
            expected = self.oracle(who_index).execute(sql).fetchall()
        except duckdb.Error as error:
            return "ran", problems + [failure(oracle_name, f"ran, but the oracle fails: {str(error)[:160]}")]
        if normalize_rows(rows, False) != normalize_rows(expected, False):
            problems.append(failure(oracle_name, f"{len(rows)} rows differ from the oracle's {len(expected)}"))
            return "differs", problems
        return "equal", problems


def run(queries: int, seed: int, *, policies: Path = Path("policies"),
        progress: Callable[[int, int], None] | None = None, workdir: Path | None = None,
        stop_after: int | None = 50, enforced: Path | None = None) -> QueryFuzzReport:
    """Generate ``queries`` queries and check each as ``SUBJECTS_PER_QUERY`` subjects."""
    folder = Path(tempfile.mkdtemp(prefix="pe-fuzz-", dir=workdir))
    report = QueryFuzzReport(seed)
    world = World(policies, folder, enforced=enforced)
    try:
        count = len(world.who)
        for index in range(queries):
            rng = random.Random(f"{seed}:{index}")
            sql = QueryGenerator(world.policy_set, rng).query()
            for step in range(SUBJECTS_PER_QUERY):
                who_index = (index * SUBJECTS_PER_QUERY + step) % count
                outcome, failures = world.check(seed, index, sql, who_index)
                report.outcomes[outcome] += 1
                report.executions += 1
                report.failures += failures
            report.queries += 1
            if progress is not None:
                progress(index + 1, queries)
            if stop_after is not None and len(report.failures) >= stop_after:
                break
    finally:
        world.close()
        shutil.rmtree(folder, ignore_errors=True)
    return report


def reproduce(seed: int, index: int, policies: Path = Path("policies")) -> str:
    """The SQL of query ``index`` of a run with ``seed``."""
    return QueryGenerator(load_policy_set(policies), random.Random(f"{seed}:{index}")).query()
