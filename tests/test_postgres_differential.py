"""The front door against a real PostgreSQL 15 (issue #17): generated statements over the demo tables,
on both servers, must get exactly the same answers (policyengine/fuzz/postgres.py).

The short run is CI's: 300 statements of a fixed seed, as the example policy set's all-clear principal,
against the session's throwaway PostgreSQL 15 (tests/harness/postgres15.py). A failure lists every
difference with its statement and both answers, grouped by kind; ``policyengine fuzz --only postgres
--seed 17 --statements 300`` runs the same from the command line, ``--statements 5000`` the long one.
"""

from __future__ import annotations

from collections import defaultdict

from policyengine.fuzz.postgres import Answer, Difference, compare, ordered, run
from policyengine.fuzz.postgres_queries import statement
from tests.conftest import EXAMPLE

SEED = 17
STATEMENTS = 300


def test_statements_are_deterministic_by_seed_and_index():
    assert [statement(SEED, i) for i in range(50)] == [statement(SEED, i) for i in range(50)]
    assert len({statement(SEED, i) for i in range(50)}) > 45
    assert statement(SEED, 3) != statement(SEED + 1, 3)


def test_only_the_outermost_order_by_orders_the_answer():
    assert ordered("SELECT 1 AS a ORDER BY 1 DESC NULLS LAST LIMIT 3")
    assert not ordered("SELECT x FROM (SELECT 1 AS x ORDER BY 1) AS d")
    assert not ordered("SELECT string_agg(a, ',' ORDER BY a) FROM t")


def test_the_classification():
    rows = [("1",), (None,)]
    same = Answer([("a", 23)], rows)
    assert compare("SELECT 1", same, Answer([("a", 23)], rows[::-1]))[0] == "equal"  # a multiset unless ordered
    assert compare("SELECT 1 ORDER BY 1", same, Answer([("a", 23)], rows[::-1]))[1] == ["value"]
    assert compare("SELECT 1", same, Answer([("b", 20)], rows))[1] == ["name", "type"]
    assert compare("SELECT 1", same, Answer(sqlstate="0A000", message="not supported"))[0] == "refused"
    assert compare("SELECT 1", same, Answer(sqlstate="42501", message="denied"))[0] == "refused"
    assert compare("SELECT 1", same, Answer(sqlstate="22000", message="conversion"))[1] == ["error"]
    failed = Answer(sqlstate="22012", message="division by zero")
    assert compare("SELECT 1/0", failed, Answer(sqlstate="22012"))[0] == "failed-alike"
    assert compare("SELECT 1/0", failed, same)[1] == ["error"]


def listing(differences: list[Difference]) -> str:
    by_kind: dict[str, list[Difference]] = defaultdict(list)
    for difference in differences:
        by_kind["+".join(difference.kinds)].append(difference)
    parts = [f"{len(differences)} statements of {STATEMENTS} (seed {SEED}) differ from PostgreSQL 15:"]
    for kind, found in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        parts.append(f"\n== {kind}: {len(found)}")
        parts += [str(difference) for difference in found]
    return "\n".join(parts)


#: the differences issue #17 still has open at this seed, each with its cause: a statement fixed must come
#: off this list (the test fails while it stays), and any other difference fails at once
INTERVAL_TEXT = ("interval text: DuckDB's Python API hands intervals over as timedelta with months folded into "
                 "30-day blocks and hours into days, so '1 year 2 mons' is sent as '420 days' and '36:00:00' as "
                 "'1 day 12:00:00' (the backend must read the exact months/days/microseconds)")
OPEN = {
    52: INTERVAL_TEXT, 58: INTERVAL_TEXT, 126: INTERVAL_TEXT, 185: INTERVAL_TEXT, 198: INTERVAL_TEXT,
    209: INTERVAL_TEXT, 267: INTERVAL_TEXT,
    167: "upper() of non-ASCII text: DuckDB maps 'ß' to 'ẞ' and 'ü' to 'Ü'; PostgreSQL's answer depends on the "
         "cluster's locale (this one is C) and maps 'ß' to itself in glibc's UTF-8 locales too",
}


def test_the_front_door_answers_as_postgresql_15(postgres15):
    report = run(STATEMENTS, SEED, policies=EXAMPLE, postgres=postgres15.create_database("differential"))
    assert report.statements == STATEMENTS
    # the generator speaks PostgreSQL: nearly every statement runs there (a miss is no test of the front door)
    assert sum(report.postgres_errors.values()) < STATEMENTS // 20, report.postgres_errors
    unexpected = [failure for failure in report.failures if failure.index not in OPEN]
    assert unexpected == [], listing(unexpected)
    fixed = sorted(set(OPEN) - {failure.index for failure in report.failures})
    assert fixed == [], f"statements {fixed} agree with PostgreSQL now: take them off OPEN"
