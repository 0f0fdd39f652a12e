"""The front door against a real PostgreSQL 15 (issue #17): generated statements over the demo tables,
on both servers, must get exactly the same answers (policyengine/fuzz/postgres.py).

CI runs the long run itself: 5,000 statements at each of two seeds, as the example policy set's
all-clear principal, against the session's throwaway PostgreSQL 15 (tests/harness/postgres15.py), and
every difference fails (about 45 s a seed). A failure lists each difference with its statement and
both answers, grouped by kind; ``policyengine fuzz --only postgres --seed 17 --statements 5000`` runs
the same from the command line, and other seeds find more.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from policyengine.fuzz.postgres import Answer, Difference, compare, ordered, run
from policyengine.fuzz.postgres_queries import statement
from tests.conftest import EXAMPLE

SEED = 17
#: two seeds of the long run, every statement: a difference at either fails
SEEDS = (17, 23)
STATEMENTS = 5000


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
    # ordered: -0 and 0 of a float tie, so which one a LIMIT keeps is not a difference; unordered it is
    zeros = Answer([("a", 701)], [("-0",), ("0",)])
    assert compare("SELECT a FROM t ORDER BY a LIMIT 2", zeros, Answer([("a", 701)], [("0",), ("-0",)]))[0] == "equal"
    assert compare("SELECT a FROM t", zeros, Answer([("a", 701)], [("0",), ("0",)]))[0] == "differs"


def listing(differences: list[Difference], seed: int = SEED) -> str:
    by_kind: dict[str, list[Difference]] = defaultdict(list)
    for difference in differences:
        by_kind["+".join(difference.kinds)].append(difference)
    parts = [f"{len(differences)} statements of {STATEMENTS} (seed {seed}) differ from PostgreSQL 15:"]
    for kind, found in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        parts.append(f"\n== {kind}: {len(found)}")
        parts += [str(difference) for difference in found]
    return "\n".join(parts)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_front_door_answers_as_postgresql_15(postgres15, seed):
    report = run(STATEMENTS, seed, policies=EXAMPLE, postgres=postgres15.create_database(f"differential{seed}"))
    assert report.statements == STATEMENTS
    # the generator speaks PostgreSQL: nearly every statement runs there (a miss is no test of the front door)
    assert sum(report.postgres_errors.values()) < STATEMENTS // 20, report.postgres_errors
    # a refusal (0A000, 42501) is no difference; an answer, a type, a name or an error that is not
    # PostgreSQL's is, whatever its kind
    assert report.failures == [], listing(report.failures, seed)
