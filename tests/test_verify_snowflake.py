"""``policyengine verify snowflake``: the engine against Snowflake's native policies, cell by cell.

There is no Snowflake account here: tests/harness/snowflake_policy_simulator.py stands in for one,
evaluating the plan's own policy bodies (transpiled to DuckDB) under POLICY_CONTEXT over a copy of
the same data. The example set must verify clean in every environment and both modes; a simulated
account whose policies differ (a column's protection, a role's clearance) must fail with the
difference reported, and never with a raw value on the screen.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from policyengine import crypto, load_policy_set
from policyengine.conformance.snowflake import (
    Verdict,
    compare,
    normalize,
    policy_context,
    snowflake_query,
    verify,
)
from policyengine.ddl.snowflake_plan import plan
from policyengine.decision import subject_for
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from tests.conftest import EXAMPLE
from tests.harness.cli import Cli
from tests.harness.snowflake_policy_simulator import PolicySimulator, ProgrammingError, split_statement

KEY_HEX = "76657269667920736e6f77666c616b6521"
KEY = crypto.parse_key(KEY_HEX)
TARGET = {"database": "ANALYTICS", "schema": "REVIEWS"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The demo data twice: one file for the engine, one for the simulated account (DuckDB will not
    open one file with two configurations in a process)."""
    root = tmp_path_factory.mktemp("verify")
    raw = root / "account.duckdb"
    build_demo_database(raw, users=150, reviews=400)
    served = root / "served.duckdb"
    shutil.copyfile(raw, served)
    engine = Engine.load(EXAMPLE, served, keys=KEY)
    yield root, raw, served, engine
    engine.close()


def account(raw: Path, policies: Path = EXAMPLE, env: str = "prod", mode: str = "column") -> PolicySimulator:
    """A simulated account whose policies were applied from ``policies``."""
    policy_set = load_policy_set(policies)
    return PolicySimulator(raw, plan(policy_set, env, mode=mode, **TARGET), policy_set, KEY)


def altered(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the example set with one text replaced: the policies someone applied by hand."""
    folder = tmp_path / "altered"
    shutil.copytree(EXAMPLE, folder)
    path = folder / file
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return folder


# --- the example set verifies clean ---------------------------------------------------------------

@pytest.mark.parametrize(("env", "mode"), [("prod", "column"), ("staging", "column"), ("dev", "column"),
                                           ("prod", "tag")])
def test_the_example_set_matches_snowflakes_policies(world, env, mode):
    _, raw, _, engine = world
    simulated = account(raw, env=env, mode=mode)
    try:
        # tag mode's bodies are one CASE per data type, inlined per column here: fewer generated queries
        report = verify(engine, simulated, environment=env, policies=EXAMPLE, sample=1 if mode == "tag" else 3,
                        **TARGET)
    finally:
        simulated.close()
    assert report.passed, report.mismatch_rows()[:5]
    assert len(report.matched) >= 20
    assert all(r.snowflake_sql.startswith("EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => '") for r in report.results)
    if env == "prod":
        notes = " | ".join(r.note for r in report.documented)
        assert "role developer has no access in prod" in notes and "Snowflake returned no data" in notes
        assert "NationalID is denied" in notes and "Snowflake failed the query (ProgrammingError" in notes
        assert {name for name, _ in report.skipped} == {"developers read everything raw in dev",
                                                       "developers see personal data masked in staging"}


def test_every_case_of_the_set_is_asked_as_written(world):
    _, raw, _, engine = world
    simulated = account(raw)
    try:
        report = verify(engine, simulated, environment="prod", policies=EXAMPLE, sample=0, **TARGET)
    finally:
        simulated.close()
    cases = [r for r in report.results if r.probe.source == "case"]
    assert cases and len(cases) == len(report.results)
    alice = next(r for r in cases if "marketing sees contact details" in r.probe.name)
    assert alice.snowflake_sql == ("EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => 'MARKETING_ANALYST', "
                                   "CURRENT_USER => 'ALICE') AS SELECT Email, Phone, Country FROM "
                                   "ANALYTICS.REVIEWS.user_demographics")
    assert alice.verdict is Verdict.MATCH


# --- a Snowflake side that differs fails -------------------------------------------------------------

def test_a_column_protected_differently_on_snowflake_is_a_mismatch(world, tmp_path):
    _, raw, _, engine = world
    folder = altered(tmp_path, "tables/user_demographics.yaml", "protection: email", "protection: redact")
    simulated = account(raw, folder)
    try:
        report = verify(engine, simulated, environment="prod", policies=EXAMPLE, sample=3, **TARGET)
    finally:
        simulated.close()
    assert not report.passed
    rows = report.mismatch_rows()
    email = [row for row in rows if row["column"] == "Email"]
    assert email, rows[:3]
    assert all(row["what"] == "value" for row in email)
    assert any(str(row["engine"]).startswith("*****@") for row in email)  # the engine's mask, as the role sees it


def test_a_role_with_another_clearance_on_snowflake_is_a_mismatch(world, tmp_path):
    _, raw, _, engine = world
    folder = altered(tmp_path, "roles.yaml", "    clearance: internal\n\n  support:",
                     "    clearance: restricted\n\n  support:")  # data_scientist
    simulated = account(raw, folder)
    try:
        report = verify(engine, simulated, environment="prod", policies=EXAMPLE, sample=0, **TARGET)
    finally:
        simulated.close()
    assert not report.passed
    assert {r.probe.who for r in report.mismatches} <= {"role data_scientist", "dave (data_scientist)"}


def test_snowflake_returning_data_to_a_role_without_access_is_a_mismatch(world, tmp_path):
    _, raw, _, engine = world
    # the account was applied as if developers could read prod
    folder = altered(tmp_path, "roles.yaml", "prod: none}\n\n  non_prod", "prod: regular}\n\n  non_prod")
    simulated = account(raw, folder)
    try:
        report = verify(engine, simulated, environment="prod", policies=EXAMPLE, sample=3, **TARGET)
    finally:
        simulated.close()
    notes = [r.note for r in report.mismatches if r.probe.who == "role developer"]
    assert notes and all("Snowflake returned" in note and "with data" in note for note in notes)


# --- the pieces ---------------------------------------------------------------------------------------

def test_the_snowflake_query_is_the_analysts_not_the_rewrite(example):
    sql = 'SELECT u."Email", count(*) AS n FROM user_demographics u JOIN region_countries r ON u.Country = ' \
          'r.Country WHERE r.Region = \'EU\' GROUP BY 1 ORDER BY 1'
    written = snowflake_query(example, sql, **TARGET)
    assert written == ("SELECT u.Email, COUNT(*) AS n FROM ANALYTICS.REVIEWS.user_demographics AS u JOIN "
                       "ANALYTICS.REVIEWS.region_countries AS r ON u.Country = r.Country WHERE r.Region = 'EU' "
                       "GROUP BY 1 ORDER BY 1")
    assert "__pe_" not in written
    cte = snowflake_query(example, "WITH reviews AS (SELECT 1 AS x) SELECT x FROM reviews", **TARGET)
    assert "ANALYTICS" not in cte  # a CTE named like a table stays the CTE


def test_policy_context_names_role_user_and_activated_roles(example):
    assert policy_context(example, subject_for(example, principal="bob")) == \
        "EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => 'BI_ANALYST', CURRENT_USER => 'BOB')"
    assert policy_context(example, subject_for(example, roles=["support", "reader"])) == (
        "EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => 'SUPPORT', "
        "SNOWFLAKE$SESSION_ACTIVATED_ROLES => ('SUPPORT', 'READER'))")
    arguments, query = split_statement(policy_context(example, subject_for(example, roles=["support", "reader"]))
                                       + " AS SELECT 'a)b' AS x")
    assert arguments == {"CURRENT_ROLE": "SUPPORT", "SNOWFLAKE$SESSION_ACTIVATED_ROLES": ["SUPPORT", "READER"]}
    assert query == "SELECT 'a)b' AS x"


def test_values_compare_by_value_across_engines():
    from datetime import UTC, datetime, timedelta, timezone
    from decimal import Decimal

    assert normalize(Decimal("0.730")) == normalize(0.73) and normalize(Decimal("3")) == normalize(3.0) == 3
    assert normalize(datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))) == \
        normalize(datetime(2024, 1, 1, 10, tzinfo=UTC)) == "2024-01-01T10:00:00"
    assert normalize(2**62 + 1) == 2**62 + 1  # hashed integers stay exact
    assert compare([(Decimal("1.0"), "a"), (2, "b")], [(2.0, "b"), (1, "a")], ["N", "S"], ordered=False,
                   count_only=False) == []
    differences = compare([(1, "a")], [(1, "b")], ["N", "S"], ordered=True, count_only=False)
    assert [(d.row, d.column, d.snowflake, d.engine) for d in differences] == [(0, "S", "a", "b")]
    assert compare([(1,)], [(2,)], ["N"], ordered=False, count_only=True) == []
    # a boolean is not the number 1 (Python's True == 1 would hide a type changed by a policy)
    assert normalize(True) != normalize(1) and normalize(False) != normalize(0)
    assert len(compare([(True, 1)], [(1, 1)], ["B", "N"], ordered=False, count_only=False)) == 1


def test_the_simulator_fails_projection_and_unknown_objects_like_snowflake(world, example):
    _, raw, _, _ = world
    simulated = account(raw)
    try:
        cursor = simulated.cursor()
        with pytest.raises(ProgrammingError):
            cursor.execute("EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => 'BI_ANALYST') AS "
                           "SELECT NationalID FROM ANALYTICS.REVIEWS.user_demographics")
        with pytest.raises(ProgrammingError):
            cursor.execute("EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => 'BI_ANALYST') AS SELECT * FROM secrets")
        cursor.execute("EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => 'ADMIN') AS "
                       "SELECT NationalID FROM ANALYTICS.REVIEWS.user_demographics")
        assert cursor.description[0][0] == "NATIONALID" and cursor.fetchall()
        cursor.execute("EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => 'BI_ANALYST', CURRENT_USER => 'CAROL') AS "
                       "SELECT DISTINCT Location FROM ANALYTICS.REVIEWS.verified_reviews ORDER BY 1")
        assert cursor.fetchall() == [("CA",), ("US",)]
    finally:
        simulated.close()


# --- the command ---------------------------------------------------------------------------------------

@pytest.fixture
def cli(capsys, monkeypatch, tmp_path) -> Cli:
    for name in ("POLICYENGINE_POLICIES", "POLICYENGINE_DB", "POLICYENGINE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POLICYENGINE_KEY", KEY_HEX)
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.chdir(tmp_path)
    return Cli(capsys, monkeypatch)


def connect_to(monkeypatch, make) -> list[str | None]:
    """``--connection`` resolved to a simulated account; returns the names the command asked for."""
    from policyengine.backends import snowflake_connection

    asked: list[str | None] = []

    def connect(name):
        asked.append(name)
        return make()

    monkeypatch.setattr(snowflake_connection, "connect", connect)
    return asked


def test_cli_verifies_end_to_end(cli, world, monkeypatch):
    _, raw, served, _ = world
    asked = connect_to(monkeypatch, lambda: account(raw))
    base = ["-p", str(EXAMPLE), "verify", "snowflake", "-c", "acct", "--database", "ANALYTICS", "--schema", "REVIEWS",
            "--db", str(served), "--sample", "1"]
    code, out, err = cli(*base)
    assert code == 0, out + err
    assert asked == ["acct"]
    assert "0 differ" in out and "Documented differences" in out and "Answers that differ" not in out

    code, out, _ = cli(*base, "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["passed"] is True and report["mismatches"] == []
    assert report["environment"] == "prod" and report["matched"] >= 15 and report["documented"] >= 3

    code, out, _ = cli(*base, "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and {row["kind"] for row in rows} == {"documented"}


def test_cli_exits_1_with_the_mismatches_and_never_a_raw_value(cli, world, monkeypatch, tmp_path):
    _, raw, served, _ = world
    folder = altered(tmp_path, "tables/user_demographics.yaml", "protection: email", "protection: redact")
    connect_to(monkeypatch, lambda: account(raw, folder))
    base = ["-p", str(EXAMPLE), "verify", "snowflake", "-c", "acct", "--database", "ANALYTICS", "--schema", "REVIEWS",
            "--db", str(served), "--sample", "0"]
    code, out, err = cli(*base)
    assert code == 1, out + err
    assert "Answers that differ" in out and "Email" in out and "differ" in out

    code, out, _ = cli(*base, "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["passed"] is False
    assert any(row["column"] == "Email" and row["what"] == "value" for row in report["mismatches"])
    with duckdb.connect(str(raw), read_only=True) as con:
        emails = [row[0] for row in
                  con.execute("SELECT Email FROM user_demographics WHERE Email IS NOT NULL").fetchall()]
    assert not [email for email in emails if email in out]  # neither side's value is ever the raw one


def test_cli_unknown_environment_or_database_exits_1_before_connecting(cli, world, monkeypatch, tmp_path):
    _, raw, served, _ = world
    asked = connect_to(monkeypatch, lambda: account(raw))
    code, _, err = cli("-p", str(EXAMPLE), "verify", "snowflake", "-c", "acct", "--db", str(served), "--env", "nosuch")
    assert code == 1 and "unknown environment 'nosuch'" in err
    code, _, err = cli("-p", str(EXAMPLE), "verify", "snowflake", "-c", "acct", "--db", str(tmp_path / "none.duckdb"))
    assert code == 1 and "database not found" in err
    assert asked == []
