"""Semantic preservation on TPC-H (22 queries) and TPC-DS (99): the rewrite changes only what policy says.

- ``all_clear`` (cleared for everything): every query returns exactly the raw result.
- ``masked``: every query either returns exactly what the untouched query returns on a copy with
  the protections and row filters materialized (the oracle), or is refused with a reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from benchmarks import tpc
from policyengine import crypto
from policyengine.backends.errors import QueryFailed
from policyengine.decision import subject_for
from policyengine.engine import Engine
from policyengine.fuzz.oracle import materialize, normalize_rows
from policyengine.rewrite import Refused
from tests.conftest import requires_shared

pytestmark = requires_shared

KEY = crypto.parse_key("74706320746573742073756974652021")
#: queries that do not run even on raw data (q30 names a column this data set does not have)
BROKEN_ON_RAW = {("tpcds", "q30")}
SETS = {
    "tpch": (tpc.TPCH_PROTECTIONS, tpc.TPCH_ROWS),
    "tpcds": (tpc.TPCDS_PROTECTIONS, tpc.TPCDS_ROWS),
}


class Bench:
    def __init__(self, name: str, root: Path):
        self.name = name
        self.raw = root / f"{name}.duckdb"
        tpc.build_database(name, self.raw)
        self.served = root / f"{name}-served.duckdb"
        shutil.copyfile(self.raw, self.served)
        self.policies = root / f"{name}-policies"
        tpc.write_policy_set(self.raw, self.policies, *SETS[name])
        self.engine = Engine.load(self.policies, self.served, keys=KEY)
        self.oracle = root / f"{name}-oracle.duckdb"
        subject = subject_for(self.engine.policy_set, roles=["masked"])
        materialize(self.engine.policy_set, subject, None, self.raw, self.oracle, KEY)
        self.outcomes: dict[str, tuple[str, object]] = {}

    def masked(self, query_id: str) -> tuple[str, object]:
        """The masked subject's outcome, run once per query: ("ran", rows), ("refused", reason) or
        ("failed", message)."""
        if query_id not in self.outcomes:
            try:
                outcome = ("ran", self.engine.query(TEXT[(self.name, query_id)], role="masked").fetchall())
            except Refused as refusal:
                outcome = ("refused", refusal.reason)
            except QueryFailed as failure:
                outcome = ("failed", failure.message)
            self.outcomes[query_id] = outcome
        return self.outcomes[query_id]

    @staticmethod
    def run(path: Path, sql: str):
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    root = tmp_path_factory.mktemp("tpc")
    made = {name: Bench(name, root) for name in SETS}
    yield made
    for bench in made.values():
        bench.engine.close()


CASES = [(name, query_id) for name in SETS for query_id, _ in tpc.queries(name)]
TEXT = {(name, query_id): sql for name in SETS for query_id, sql in tpc.queries(name)}


def ordered(sql: str) -> bool:
    return False  # compared as multisets: ties under ORDER BY may legitimately come out in another order


@pytest.mark.parametrize(("bench", "query_id"), CASES, ids=[f"{b}-{q}" for b, q in CASES])
def test_all_clear_equals_raw(benches, bench, query_id):
    if (bench, query_id) in BROKEN_ON_RAW:
        pytest.xfail("fails on the raw data too (a column this data set does not have)")
    data = benches[bench]
    sql = TEXT[(bench, query_id)]
    got = data.engine.query(sql, role="all_clear").fetchall()
    assert normalize_rows(got, False) == normalize_rows(data.run(data.raw, sql), False)


@pytest.mark.parametrize(("bench", "query_id"), CASES, ids=[f"{b}-{q}" for b, q in CASES])
def test_masked_equals_oracle_or_refused(benches, bench, query_id):
    data = benches[bench]
    sql = TEXT[(bench, query_id)]
    kind, got = data.masked(query_id)
    if kind == "refused":
        assert got  # refused with a reason: allowed outcome
        return
    if kind == "failed":
        # the oracle must fail the same way (a query that is broken on this data)
        with pytest.raises(duckdb.Error):
            data.run(data.oracle, sql)
        assert (bench, query_id) in BROKEN_ON_RAW, got
        return
    expected = data.run(data.oracle, sql)
    assert normalize_rows(got, False) == normalize_rows(expected, False)


#: how many queries the masked subject must get answers to (not refused, not failed), per benchmark:
#: just below the figures measured on 2026-12-07 (TPC-H: 22 of 22; TPC-DS: 96 of 99, q04, q11 and q30
#: refused), so a change that starts refusing many queries fails here though each refusal alone is allowed
MIN_RAN = {"tpch": 21, "tpcds": 93}


@pytest.mark.parametrize("bench", sorted(SETS))
def test_masked_run_answers_most_queries(benches, bench):
    data = benches[bench]
    outcomes = {query_id: data.masked(query_id)[0] for query_id, _ in tpc.queries(bench)}
    ran = sorted(q for q, kind in outcomes.items() if kind == "ran")
    refused = sorted(q for q, kind in outcomes.items() if kind == "refused")
    assert len(ran) >= MIN_RAN[bench], (f"{bench}: only {len(ran)} of {len(outcomes)} queries ran for the masked "
                                        f"subject (at least {MIN_RAN[bench]} did before); refused: {refused}")
