"""In-process use: the DB-API connection, pandas and polars on it, and the red-team suite through it."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import polars as pl
import pytest

import policyengine
from policyengine import dbapi
from policyengine.demo.data import build_demo_database
from policyengine.fuzz.canaries import plant
from policyengine.fuzz.oracle import materialize
from tests.adversarial_queries import all_attacks
from tests.conftest import EXAMPLE
from tests.harness.redteam import KEY, Denied, check_attacks, forbidden

KEY_HEX = KEY.master.hex()

#: parameters are values: none of them may change what a statement reads
PARAMETER_ATTACKS = [
    ("parameters", "SELECT count(*) FROM user_demographics WHERE Email = ?", ["canary_local_9f1e@canary.example"]),
    ("parameters", "SELECT count(*) FROM user_demographics WHERE NationalID = ?", ["CANARYNID-000"]),
    ("parameters", "SELECT ? AS c FROM user_demographics LIMIT 1", ["NationalID"]),
    ("parameters", "SELECT Email FROM user_demographics WHERE Country = ?", ["US"]),
    ("parameters", "SELECT Email FROM user_demographics WHERE Country = $1", ["US"]),
    ("parameters", "SELECT Email FROM user_demographics WHERE Country = $country", {"country": "US"}),
    ("parameters", "SELECT * FROM verified_reviews WHERE ReviewID = ?", ["R-CANARY-NA"]),
    ("parameters", "SELECT * FROM verified_reviews WHERE ReviewID = ? OR TRUE", ["x"]),
    ("parameters", "SELECT FullName FROM user_demographics WHERE FullName LIKE ?", ["Xcanary%"]),
    ("parameters", "SELECT count(*) FROM reviews WHERE CreatedAt = ?", [dt.datetime(2023, 3, 17, 13, 37, 42)]),
    ("parameters", "SELECT count(*) FROM user_demographics WHERE BirthDate = ?", [dt.date(1901, 7, 13)]),
    ("parameters", "SELECT * FROM user_demographics WHERE Country = ?", ["US' OR '1'='1"]),
    ("parameters", "SELECT * FROM query(?)", ["SELECT * FROM user_demographics"]),
    ("parameters", "SELECT * FROM read_csv(?)", ["/etc/passwd"]),
    ("parameters", "SELECT getvariable(?)", ["__pe_hash_i"]),
    ("parameters", "SELECT Email FROM user_demographics LIMIT ?", [3]),
]

WHO = [("alice", "prod"), ("bob", "prod"), ("dave", "prod"), ("grace", "prod")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("dbapi")
    raw = root / "raw.duckdb"
    build_demo_database(raw, users=150, reviews=400)
    plant(raw)
    served = root / "served.duckdb"
    shutil.copyfile(raw, served)
    key_file = root / "key"
    key_file.write_text(KEY_HEX)
    return raw, served, key_file


@pytest.fixture(scope="module")
def bob(world):
    _, served, key_file = world
    connection = policyengine.connect(served, principal="bob", policies=EXAMPLE, key_file=key_file)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def admin(world, bob):
    _, served, _ = world
    connection = dbapi.connect(served, role="admin", engine=bob.engine)  # shares bob's loaded engine
    yield connection


def test_module_is_pep_249():
    assert (dbapi.apilevel, dbapi.threadsafety, dbapi.paramstyle) == ("2.0", 1, "qmark")
    assert issubclass(dbapi.PolicyDenied, dbapi.ProgrammingError)
    assert issubclass(dbapi.ProgrammingError, dbapi.DatabaseError) and issubclass(dbapi.DatabaseError, dbapi.Error)
    assert dbapi.NUMBER == "BIGINT" and dbapi.STRING == "VARCHAR" and dbapi.DATETIME == "TIMESTAMP"


def test_cursor_fetches_and_describes(bob):
    cursor = bob.cursor()
    cursor.execute("SELECT Email, BirthDate, MarketingConsent FROM user_demographics WHERE Country = ? ORDER BY Email",
                   ["DE"])
    assert [d[:2] for d in cursor.description] == [("Email", "VARCHAR"), ("BirthDate", "DATE"),
                                                   ("MarketingConsent", "BOOLEAN")]
    first = cursor.fetchone()
    assert first[0].startswith("*****@") and first[1].month == 1 and first[1].day == 1
    two = cursor.fetchmany(2)
    rest = cursor.fetchall()
    assert len(two) == 2 and cursor.fetchone() is None and len(rest) >= 1
    assert cursor.rowcount == -1


def test_masked_for_bob_raw_for_admin(bob, admin):
    masked = bob.cursor().execute("SELECT Email, Phone FROM user_demographics ORDER BY Email").fetchall()
    raw = admin.cursor().execute("SELECT Email, Phone FROM user_demographics ORDER BY Email").fetchall()
    assert all(e.startswith("*****@") for e, _ in masked)
    assert all(not e.startswith("*****") for e, _ in raw)
    assert len(raw) > len(masked)  # bob's region filter


def test_refusal_is_policy_denied_with_reason(bob):
    with pytest.raises(dbapi.PolicyDenied) as denied:
        bob.cursor().execute("SELECT NationalID FROM user_demographics")
    assert denied.value.reason == "column user_demographics.NationalID is denied to this role"
    assert denied.value.sqlstate == "42501"


def test_errors_map_to_pep_249_classes(bob):
    with pytest.raises(dbapi.DataError):
        bob.cursor().execute("SELECT CAST(Email AS INTEGER) FROM user_demographics").fetchall()
    with pytest.raises(dbapi.ProgrammingError):
        bob.cursor().execute("SELECT nosuchcolumn FROM reviews")
    with pytest.raises(dbapi.ProgrammingError):
        bob.cursor().fetchall()


def test_closed_cursor_and_connection_refuse_work(world, bob):
    cursor = bob.cursor()
    cursor.close()
    with pytest.raises(dbapi.InterfaceError):
        cursor.execute("SELECT 1")
    _, served, key_file = world
    other = policyengine.connect(served, role="admin", policies=EXAMPLE, key_file=key_file)
    other.close()
    with pytest.raises(dbapi.InterfaceError):
        other.cursor()


def test_executemany_checks_each_statement(bob):
    cursor = bob.cursor()
    cursor.executemany("SELECT count(*) FROM user_demographics WHERE Country = ?", [["DE"], ["FR"], ["US"]])
    assert cursor.fetchall() == [(0,)]  # the last: US rows are outside bob's region
    with pytest.raises(dbapi.PolicyDenied):
        cursor.executemany("SELECT NationalID FROM user_demographics WHERE Country = ?", [["DE"]])


def test_unknown_role_fails_at_connect(world):
    _, served, key_file = world
    with pytest.raises(dbapi.InterfaceError, match="unknown role 'nobody'"):
        policyengine.connect(served, role="nobody", policies=EXAMPLE, key_file=key_file)


def test_pandas_polars_arrow(bob):
    frame = pd.read_sql("SELECT Email, Country FROM user_demographics", bob)
    assert list(frame.columns) == ["Email", "Country"] and frame["Email"].str.startswith("*****@").all()
    polars_frame = pl.read_database("SELECT Phone FROM user_demographics", bob)
    assert polars_frame.height == len(frame)
    arrow = bob.cursor().execute("SELECT Email FROM user_demographics").arrow()
    assert arrow.num_rows == len(frame)
    df = bob.cursor().execute("SELECT BirthDate FROM user_demographics").df()
    assert (pd.to_datetime(df["BirthDate"]).dt.day_of_year == 1).all()


def test_policy_introspection_on_cursor(bob):
    cursor = bob.cursor().execute("SELECT r.Rating, u.Email FROM reviews r JOIN user_demographics u USING (UserID)")
    assert cursor.column_outcomes("Email") == [("user_demographics", policyengine.decision.Outcome.PROTECTED, "email")]


@pytest.mark.parametrize(("principal", "env"), WHO, ids=[f"{p}-{e}" for p, e in WHO])
def test_red_team_through_dbapi(world, bob, principal, env, tmp_path):
    raw, served, _ = world
    connection = dbapi.connect(served, principal=principal, env=env, engine=bob.engine)
    oracle = tmp_path / "oracle.duckdb"
    materialize(bob.engine.policy_set, connection.subject, env, raw, oracle, KEY)

    def run(sql, parameters):
        try:
            return connection.cursor().execute(sql, parameters).fetchall()
        except dbapi.Error as error:
            raise Denied(str(error)) from None

    attacks = [(g, sql, None) for g, sql in all_attacks()] + PARAMETER_ATTACKS
    problems, outcomes = check_attacks(run, oracle, forbidden(bob.engine, principal, env), attacks)
    assert problems == [], "\n".join(map(str, problems))
    assert outcomes["equal"] >= 60
