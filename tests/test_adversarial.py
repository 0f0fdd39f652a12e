"""The red-team suite: attack queries against a database with canaries planted in every protected column.

For each principal, a canary is forbidden when the principal's decision for its column is not
``raw`` (or its row is filtered out for them). No forbidden canary may appear in any result or
error, and every query is either refused or equal to the materialized oracle.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot

from policyengine import crypto
from policyengine.backends.duckdb import DuckDBBackend
from policyengine.backends.errors import QueryFailed
from policyengine.decision import subject_for
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.rewrite import Refused
from tests.adversarial_queries import all_attacks
from tests.conftest import EXAMPLE
from policyengine.fuzz.canaries import forbidden as canary_forbidden
from policyengine.fuzz.canaries import leaks, plant
from policyengine.fuzz.oracle import materialize, normalize_rows

KEY = crypto.parse_key("726564207465616d206b6579206f6b21")

WHO = [("alice", "prod"), ("bob", "prod"), ("dave", "prod"), ("grace", "prod"), ("erin", "staging"), ("ivan", "dev")]
NONDETERMINISTIC = ("SAMPLE", "TABLESAMPLE", "POSITIONAL JOIN", "ASOF JOIN")  # ties pick any row


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


def forbidden(engine: Engine, principal: str, env: str) -> list[Any]:
    return canary_forbidden(engine.policy_set, subject_for(engine.policy_set, principal=principal), env)


ATTACKS = all_attacks()


def test_suite_is_large_enough():
    assert len(ATTACKS) >= 150


class Denied(Exception):
    """A runner's refusal or error, with the text the reader would see."""


def check_attacks(run, oracle: Path, canaries: list[Any],
                  attacks: list[tuple[str, str, Any]]) -> tuple[list[Any], dict[str, int]]:
    """Run each (group, sql, parameters) through ``run``; collect leaks and differences from the oracle.

    ``run(sql, parameters)`` returns rows, or raises :class:`Denied` with the refusal or error text.
    """
    outcomes = {"refused": 0, "equal": 0}
    problems: list[Any] = []
    for group, sql, parameters in attacks:
        try:
            rows = run(sql, parameters)
        except Denied as denied:
            outcomes["refused"] += 1
            problems += [(group, sql, "leak in refusal or error", hit) for hit in leaks(str(denied), canaries)]
            continue
        problems += [(group, sql, "leak in result", hit) for hit in leaks(rows, canaries)]
        if any(word in sql.upper() for word in NONDETERMINISTIC):
            continue
        with duckdb.connect(str(oracle), read_only=True) as con:
            try:
                expected = con.execute(sql, parameters).fetchall()
            except duckdb.Error:
                # sqlglot accepts some syntax DuckDB 2.0 rejects (arrow lambdas, FOR UPDATE) and the
                # engine runs sqlglot's rendering: the oracle runs that same rendering, unrewritten
                try:
                    rendered = sqlglot.transpile(sql, read="duckdb", write="duckdb")[0]
                    expected = con.execute(rendered, parameters).fetchall()
                except duckdb.Error as error:
                    problems.append((group, sql, "ran, but fails on the oracle", str(error)[:120]))
                    continue
        if normalize_rows(rows, False) != normalize_rows(expected, False):
            problems.append((group, sql, "differs from the oracle", None))
        else:
            outcomes["equal"] += 1
    return problems, outcomes


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
