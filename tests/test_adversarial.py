"""The red-team suite: attack queries against a database with canaries planted in every protected column.

For each principal, a canary is forbidden when the principal's decision for its column is not
``raw`` (or its row is filtered out for them). No forbidden canary may appear in any result or
error, and every query is either refused or equal to the materialized oracle.
"""

from __future__ import annotations

import shutil
from typing import Any

import duckdb
import pytest

from policyengine.backends.duckdb import DuckDBBackend
from policyengine.backends.errors import QueryFailed
from policyengine.decision import subject_for
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.fuzz.canaries import plant
from policyengine.fuzz.oracle import materialize
from policyengine.rewrite import Refused
from tests.adversarial_queries import all_attacks
from tests.conftest import EXAMPLE
from tests.harness.redteam import KEY, Denied, check_attacks, forbidden

WHO = [("alice", "prod"), ("bob", "prod"), ("dave", "prod"), ("grace", "prod"), ("erin", "staging"), ("ivan", "dev")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("redteam")
    raw = root / "demo.duckdb"
    build_demo_database(raw, users=200, reviews=600)
    plant(raw)
    served = root / "served.duckdb"
    shutil.copyfile(raw, served)
    engine = Engine.load(EXAMPLE, served, keys=KEY)
    oracles = {}
    for principal, env in WHO:
        target = root / f"oracle-{principal}-{env}.duckdb"
        materialize(engine.policy_set, subject_for(engine.policy_set, principal=principal), env, raw, target, KEY)
        oracles[(principal, env)] = target
    yield engine, oracles
    engine.close()


ATTACKS = all_attacks()


def test_suite_is_large_enough():
    assert len(ATTACKS) >= 150


@pytest.mark.parametrize(("principal", "env"), WHO, ids=[f"{p}-{e}" for p, e in WHO])
def test_no_canary_escapes_and_results_equal_oracle(world, principal, env):
    engine, oracles = world
    subject = subject_for(engine.policy_set, principal=principal)
    canaries = forbidden(engine, principal, env)
    assert len(canaries) >= 5

    def run(sql: str, parameters: Any) -> list[Any]:
        try:
            return engine.query_for(subject, sql, env=env, parameters=parameters).fetchall()
        except (Refused, QueryFailed) as problem:
            raise Denied(getattr(problem, "reason", None) or problem.message) from None

    problems, outcomes = check_attacks(run, oracles[(principal, env)], canaries,
                                       [(group, sql, None) for group, sql in ATTACKS])
    assert problems == [], "\n".join(map(str, problems))
    assert outcomes["equal"] >= 60, outcomes


@pytest.mark.parametrize("definition", [
    "CREATE MACRO lower(x) AS x",
    "CREATE MACRO shadow(x) AS x",
    "CREATE VIEW v AS SELECT * FROM reviews",
])
def test_database_with_macros_or_views_is_refused(tmp_path, definition):
    path = tmp_path / "evil.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE reviews (ReviewID VARCHAR)")
        con.execute(definition)
    with pytest.raises(QueryFailed, match="macro|view"):
        DuckDBBackend(path, keys=KEY)
