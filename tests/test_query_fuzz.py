"""The query fuzzer: generated queries as every role, against the canary, masked and all-clear oracles.

The suite runs a short, fixed-seed run (``policyengine fuzz --long`` is the thorough one), checks that
the generator covers the constructs attacks use, and that the oracles catch an engine that enforces
less than the policy says.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys

import pytest

from policyengine.fuzz.queries import QueryGenerator
from policyengine.fuzz.run import World, run
from policyengine.loading import load_policy_set
from tests.conftest import EXAMPLE

#: what the generator must produce, each at least once in a few hundred queries
CONSTRUCTS = ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL", "SEMI JOIN", "ANTI JOIN", "USING", "CROSS JOIN",
              "LATERAL", "UNNEST", "WITH", "UNION", "INTERSECT", "EXCEPT", "GROUP BY", "HAVING", "ROLLUP",
              "CUBE", "GROUPING SETS", "OVER (", "ORDER BY ALL LIMIT", "EXCLUDE", "REPLACE", "COLUMNS(",
              "CASE WHEN", "CAST(", "EXISTS (", "IN (SELECT", "(SELECT count(*)", "LIKE", "regexp_matches",
              "strftime", "date_trunc", "string_agg", "DISTINCT"]


def test_the_generator_covers_the_constructs_attacks_use():
    policy_set = load_policy_set(EXAMPLE)
    text = "\n".join(QueryGenerator(policy_set, random.Random(f"cover:{i}")).query() for i in range(600))
    missing = [construct for construct in CONSTRUCTS if construct not in text]
    assert missing == []
    assert text.count("self") == 0  # aliases are t1, t2...; self-joins are the same table twice
    assert any(f"FROM {t} t1 JOIN {t} t2" in text or f"FROM {t} t1 LEFT JOIN {t} t2" in text
               for t in policy_set.tables)


def test_the_same_seed_gives_the_same_queries():
    policy_set = load_policy_set(EXAMPLE)
    first = [QueryGenerator(policy_set, random.Random(f"7:{i}")).query() for i in range(20)]
    again = [QueryGenerator(policy_set, random.Random(f"7:{i}")).query() for i in range(20)]
    assert first == again


def test_a_short_run_finds_nothing(tmp_path):
    report = run(150, 20261125, policies=EXAMPLE, workdir=tmp_path)
    assert [str(f) for f in report.failures] == []
    assert report.executions == 450
    assert report.outcomes["equal"] >= 250 and report.outcomes["refused"] >= 30, report.outcomes


def test_repeated_queries_that_run_kept_plans_still_equal_the_oracles(tmp_path, monkeypatch):
    """Each generated query run three times per subject: from the second run on, a bounded one runs
    DuckDB's prepared plan (backends/plans.py), and every run must still pass every oracle."""
    world = World(EXAMPLE, tmp_path)
    plans = world.engine.backend._plans
    planned: list[bool] = []
    original = plans.statement

    def noting(cursor, sql):
        chosen = original(cursor, sql)
        planned.append(chosen.startswith("EXECUTE"))
        return chosen

    monkeypatch.setattr(plans, "statement", noting)
    failures, outcomes = [], []
    try:
        for index in range(60):
            sql = QueryGenerator(world.policy_set, random.Random(f"777:{index}")).query()
            who = index % len(world.who)
            for _ in range(3):
                outcome, found = world.check(777, index, sql, who)
                outcomes.append(outcome)
                failures += [str(f) for f in found]
    finally:
        world.close()
    assert failures == []
    assert sum(planned) >= 20, (sum(planned), len(planned))  # the plans were exercised
    assert outcomes.count("equal") >= 90, outcomes


def test_the_oracles_catch_an_engine_that_enforces_less(tmp_path):
    """The engine enforces a copy of the set where Email is not protected; the oracles follow the real set."""
    weaker = tmp_path / "weaker"
    shutil.copytree(EXAMPLE, weaker)
    tables = weaker / "tables" / "user_demographics.yaml"
    tables.write_text(tables.read_text().replace(
        "{name: Email, type: STRING, mode: REQUIRED, sensitivity: restricted, protection: email}",
        "{name: Email, type: STRING, mode: REQUIRED, sensitivity: public, protection: none}"))
    (tmp_path / "world").mkdir()
    world = World(EXAMPLE, tmp_path / "world", enforced=weaker)
    try:
        alice = next(i for i, who in enumerate(world.who) if who.label == "alice" and who.env == "prod")
        outcome, failures = world.check(0, 0, 'SELECT "Email" FROM user_demographics', alice)
    finally:
        world.close()
    assert outcome == "differs"
    assert {f.oracle for f in failures} == {"canary", "masked"}
    assert any("canary_local_9f1e" in f.detail for f in failures)


def test_the_command(tmp_path):
    run_ = subprocess.run([sys.executable, "-m", "policyengine", "--policies", str(EXAMPLE), "fuzz", "--only",
                           "queries", "-n", "20", "--seed", "3", "--format", "json"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run_.returncode == 0, run_.stderr
    payload = json.loads(run_.stdout)
    assert payload["seed"] == 3 and payload["failures"] == []
    assert payload["runs"][0]["fuzzer"] == "queries" and payload["runs"][0]["cases"] == 20
    again = subprocess.run([sys.executable, "-m", "policyengine", "--policies", str(EXAMPLE), "fuzz",
                            "--reproduce", "3:4"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert again.stdout.strip() == QueryGenerator(load_policy_set(EXAMPLE), random.Random("3:4")).query()


# --- what the fuzzer found, kept as regressions ---------------------------------------------------------

REGRESSIONS = [
    # seed 20261125, query 83: the same protected subquery in SELECT and GROUP BY got different wrapper
    # aliases, so DuckDB saw two different expressions and refused to bind (fixed: a wrapper has the
    # same aliases wherever it appears; the cross-check counts reads per alias and table)
    'SELECT (NOT EXISTS (SELECT 1 FROM verified_reviews t3 WHERE t3."BirthYear" = t1."BirthYear" AND '
    '(t3."ReviewID" IS NOT NULL OR t3."UserID" IS NOT NULL))) AS c0, string_agg(t2."w", \',\' ORDER BY t2."w") '
    'AS c1 FROM verified_reviews t1 CROSS JOIN UNNEST(string_split(t1."ReviewID", \'@\')) AS t2(w) GROUP BY '
    '(NOT EXISTS (SELECT 1 FROM verified_reviews t3 WHERE t3."BirthYear" = t1."BirthYear" AND '
    '(t3."ReviewID" IS NOT NULL OR t3."UserID" IS NOT NULL))) HAVING sum(t1."Gender") > 0',
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzzworld")
    world = World(EXAMPLE, folder)
    yield world
    world.close()


@pytest.mark.parametrize("sql", REGRESSIONS)
def test_regressions_pass_every_oracle_as_every_subject(world, sql):
    outcomes = set()
    for index in range(len(world.who)):
        outcome, failures = world.check(0, 0, sql, index)
        assert [str(f) for f in failures] == []
        outcomes.add(outcome)
    assert "equal" in outcomes


def test_the_cross_check_still_counts_every_read(world):
    """Equal aliases for equal wrappers: a read the rewrite did not make is still refused, even under a
    wrapper's alias, and so is a missing one."""
    import dataclasses

    from policyengine.rewrite import Refused

    engine = world.engine
    subject = world.who[0].subject
    rewritten = engine.rewrite_for(subject, "SELECT count(*) FROM reviews", env=world.who[0].env)
    alias = rewritten.reads[0][0]
    if "count(*)" in rewritten.sql:
        extra = rewritten.sql.replace("count(*)", f'count(*), (SELECT max("UserID") FROM reviews AS "{alias}")')
    else:
        extra = rewritten.sql.replace("COUNT(*)", f'COUNT(*), (SELECT MAX("UserID") FROM reviews AS "{alias}")')
    for tampered in (extra, rewritten.sql.replace(f'"{alias}"', '"someone_else"')):
        assert tampered != rewritten.sql
        with pytest.raises(Refused, match="did not protect|does not see every"):
            engine.backend.check(dataclasses.replace(rewritten, sql=tampered))
    missing = dataclasses.replace(rewritten, reads=rewritten.reads * 2)
    with pytest.raises(Refused, match="does not see every"):
        engine.backend.check(missing)
