"""The red-team suite: attack queries against a database with canaries planted in every protected column.

For each principal, a canary is forbidden when the principal's decision for its column is not
``raw`` (or its row is filtered out for them). No forbidden canary may appear in any result or
error, and every query is either refused or equal to the materialized oracle.
"""

from __future__ import annotations

import datetime as dt
import decimal
import shutil
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest
import sqlglot

from policyengine import crypto
from policyengine.backends.duckdb import DuckDBBackend
from policyengine.backends.errors import QueryFailed
from policyengine.decision import Outcome, decide, subject_for
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.rewrite import Refused
from tests.adversarial_queries import all_attacks
from tests.conftest import EXAMPLE
from tests.oracle import materialize, normalize_rows

KEY = crypto.parse_key("726564207465616d206b6579206f6b21")

CANARY_USER = {
    "UserID": "CANARYUSER1", "FullName": "Xcanaryfullname_51ab", "Email": "canary_local_9f1e@canary.example",
    "Phone": "+00 canaryphone 4321", "BirthDate": dt.date(1901, 7, 13), "Gender": "canarygender",
    "City": "CANARYCITY", "Country": "US", "PostalCode": "CANARYPOSTAL", "NationalID": "CANARYNID-000",
    "Iban": "CANARYIBAN77", "MarketingConsent": False,
}
CANARY_REVIEW = {
    "ReviewID": "R-CANARY-1", "UserID": "CANARYUSER1", "ProductID": "P0001", "Rating": 3,
    "ReviewText": "Fine product overall and CANARYTEXTSECRET", "CreatedAt": dt.datetime(2023, 3, 17, 13, 37, 42),
}
CANARY_VERIFIED = {
    "ReviewID": "R-CANARY-NA", "UserID": "CANARYUSER1", "ReviewSentiment": decimal.Decimal("0.5"),
    "BirthYear": 1907, "Gender": 77, "Location": "US",
}

# (table, column) -> what would betray the raw value: a secret substring, or the exact typed value
CANARIES: dict[tuple[str, str], Any] = {
    ("user_demographics", "UserID"): "canaryuser",
    ("user_demographics", "FullName"): "canaryfullname",
    ("user_demographics", "Email"): "canary_local_9f1e",
    ("user_demographics", "Phone"): "canaryphone",
    ("user_demographics", "BirthDate"): dt.date(1901, 7, 13),
    ("user_demographics", "Gender"): "canarygender",
    ("user_demographics", "City"): "canarycity",
    ("user_demographics", "PostalCode"): "canarypostal",
    ("user_demographics", "NationalID"): "canarynid",
    ("user_demographics", "Iban"): "canaryiban",
    ("reviews", "UserID"): "canaryuser",
    ("reviews", "ReviewText"): "canarytext",
    ("reviews", "CreatedAt"): dt.datetime(2023, 3, 17, 13, 37, 42),
    ("verified_reviews", "UserID"): "canaryuser",
    ("verified_reviews", "BirthYear"): 1907,
    ("verified_reviews", "Gender"): 77,
}
ROW_CANARY = "r-canary-na"  # a verified review from the US: hidden from EU analysts by the row filter

WHO = [("alice", "prod"), ("bob", "prod"), ("dave", "prod"), ("grace", "prod"), ("erin", "staging"), ("ivan", "dev")]
NONDETERMINISTIC = ("SAMPLE", "TABLESAMPLE", "POSITIONAL JOIN", "ASOF JOIN")  # ties pick any row


def plant(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        for table, row in (("user_demographics", CANARY_USER), ("reviews", CANARY_REVIEW),
                           ("verified_reviews", CANARY_VERIFIED)):
            columns = ", ".join(f'"{c}"' for c in row)
            con.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
        con.execute("INSERT INTO reviews VALUES ('R-CANARY-2', 'CANARYUSER1', 'P0002', 1, NULL, TIMESTAMP '2022-01-01')")


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
    subject = subject_for(engine.policy_set, principal=principal)
    out: list[Any] = []
    for (table, column), canary in CANARIES.items():
        decision = decide(engine.policy_set, subject, env, table)
        choice = decision.column(column) if decision.allowed else None
        if choice is None or choice.outcome is not Outcome.RAW:
            out.append(canary)
    verified = decide(engine.policy_set, subject, env, "verified_reviews")
    if verified.allowed and "US" not in verified.rows.describe() and verified.rows.describe() != "(TRUE)":
        out.append(ROW_CANARY)
    return out


def cells(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from cells(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from cells(item)
    else:
        yield value


def leaks(values: Any, canaries: list[Any]) -> list[Any]:
    found = []
    for value in cells(values):
        for canary in canaries:
            if isinstance(canary, str):
                if canary in str(value).lower():
                    found.append((canary, value))
            elif type(value) is type(canary) and value == canary:
                found.append((canary, value))
    return found


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
