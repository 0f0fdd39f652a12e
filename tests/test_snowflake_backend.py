"""Snowflake as a query backend, through the real snowflake-connector-python client, against fakesnow.

fakesnow runs Snowflake's wire API on DuckDB in a server process; it needs its own pins (sqlglot
30.22, connector below 5), so it runs from a virtual environment of its own (.venv/fakesnow, prepared
from tests/harness/fakesnow-requirements.txt, as .ci/run does; without it these tests skip, saying
how), and the engine talks to it over HTTP with the real connector. No Snowflake account is involved:
fakesnow is the stand-in. The oracle is the other backend: the same query, policy and data through the DuckDB engine.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
import snowflake.connector

from policyengine import load_policy_set
from policyengine.backends.errors import QueryFailed
from policyengine.backends.snowflake import SnowflakeBackend
from policyengine.engine import Engine
from policyengine.fuzz.oracle import normalize_rows
from policyengine.rewrite import Refused

POLICIES = Path(__file__).parent / "fixtures" / "rewrite" / "policies"
ROOT = Path(__file__).resolve().parent.parent
#: the Python of fakesnow's own environment: POLICYENGINE_FAKESNOW_PYTHON names one (it must then exist:
#: .ci/run sets it), else .venv/fakesnow's is used when prepared
FAKESNOW_PYTHON = Path(os.environ.get("POLICYENGINE_FAKESNOW_PYTHON") or ROOT / ".venv" / "fakesnow" / "bin" / "python")
PREPARE_FAKESNOW = ("python3 -m venv .venv/fakesnow && .venv/fakesnow/bin/pip install -r "
                    "tests/harness/fakesnow-requirements.txt (its pins conflict with the project's; .ci/run does this)")
SERVER = """
import json, sys, time, fakesnow
with fakesnow.server(port=int(sys.argv[1])) as kwargs:
    print(json.dumps(kwargs), flush=True)
    while True:
        time.sleep(3600)
"""
PEOPLE = [(1, "Ann Smith", "ann@x.org", "111-22-3333", "EU"), (2, "Bob Jones", "bob@y.org", "222-33-4444", "US"),
          (3, "Cy Twombly", None, "333-44-5555", "EU"), (4, "Di Prince", "di@z.org", None, "EU")]
ORDERS = [(10, 1, 120.5), (11, 1, 80.0), (12, 2, 999.99), (13, 3, 15.25), (14, 4, 250.0)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fakesnow_server(tmp_path_factory):
    """Connection arguments: fakesnow's server, or a real account when POLICYENGINE_SNOWFLAKE_CONNECTION
    names a connection of connections.toml (the tests then create ANALYTICS.SALES there)."""
    real = os.environ.get("POLICYENGINE_SNOWFLAKE_CONNECTION")
    if real:
        yield {"connection_name": real}
        return
    if not FAKESNOW_PYTHON.exists():
        if os.environ.get("POLICYENGINE_FAKESNOW_PYTHON"):
            pytest.fail(f"POLICYENGINE_FAKESNOW_PYTHON names {FAKESNOW_PYTHON}, which does not exist")
        pytest.skip(f"needs fakesnow in an environment of its own at {FAKESNOW_PYTHON.parent.parent}: "
                    f"{PREPARE_FAKESNOW}")
    root = tmp_path_factory.mktemp("fakesnow")
    script = root / "server.py"
    script.write_text(SERVER)
    log = root / "server.log"
    with log.open("w") as errors:
        process = subprocess.Popen([str(FAKESNOW_PYTHON), str(script), str(free_port())],
                                   stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        deadline = time.time() + 60
        line = ""
        while time.time() < deadline and not line.startswith("{") and process.poll() is None:
            line = process.stdout.readline()
        assert line.startswith("{"), f"fakesnow did not start from {FAKESNOW_PYTHON}: {log.read_text()[-2000:]}"
        yield json.loads(line)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def engines(fakesnow_server, tmp_path_factory):
    connection = snowflake.connector.connect(**fakesnow_server, database="ANALYTICS", schema="SALES")
    cursor = connection.cursor()
    cursor.execute("CREATE DATABASE IF NOT EXISTS ANALYTICS")
    cursor.execute("CREATE SCHEMA IF NOT EXISTS ANALYTICS.SALES")
    cursor.execute("CREATE OR REPLACE TABLE ANALYTICS.SALES.people "
                   "(id INT, name VARCHAR, email VARCHAR, ssn VARCHAR, region VARCHAR)")
    cursor.execute("CREATE OR REPLACE TABLE ANALYTICS.SALES.orders (id INT, person_id INT, amount NUMBER(10,2))")
    cursor.executemany("INSERT INTO ANALYTICS.SALES.people VALUES (%s, %s, %s, %s, %s)", PEOPLE)
    cursor.executemany("INSERT INTO ANALYTICS.SALES.orders VALUES (%s, %s, %s)", ORDERS)

    local = tmp_path_factory.mktemp("local") / "sales.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE people (id INTEGER, name VARCHAR, email VARCHAR, ssn VARCHAR, region VARCHAR)")
        con.execute("CREATE TABLE orders (id INTEGER, person_id INTEGER, amount DECIMAL(10,2))")
        con.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?)", PEOPLE)
        con.executemany("INSERT INTO orders VALUES (?, ?, ?)", ORDERS)
    policy_set = load_policy_set(POLICIES)
    warehouse = Engine(policy_set, SnowflakeBackend(connection, database="ANALYTICS", schema="SALES"))
    embedded = Engine.load(POLICIES, local)
    yield warehouse, embedded
    embedded.close()
    connection.close()


QUERIES = [
    "SELECT * FROM people",
    "SELECT name, email FROM people WHERE email LIKE 'a%'",
    "SELECT p.name, SUM(o.amount) AS total FROM people p JOIN orders o ON o.person_id = p.id GROUP BY p.name",
    "SELECT region, COUNT(*) AS n FROM people GROUP BY region",
    "SELECT id, amount FROM orders WHERE amount > 100",
    "WITH big AS (SELECT * FROM orders WHERE amount >= 100) SELECT COUNT(*) FROM big",
    "SELECT p FROM people p",
]


@pytest.mark.parametrize("role", ["analyst", "admin"])
@pytest.mark.parametrize("sql", QUERIES)
def test_same_answer_on_snowflake_and_duckdb(engines, role, sql):
    warehouse, embedded = engines
    if sql.startswith("SELECT p FROM"):
        with pytest.raises(QueryFailed):  # whole-row references are DuckDB's; Snowflake has none
            warehouse.query(sql, role=role).fetchall()
        return
    got = warehouse.query(sql, role=role, read="snowflake").fetchall()
    expected = embedded.query(sql, role=role).fetchall()
    assert normalize_rows(got, False) == normalize_rows(expected, False)


def test_masked_on_snowflake(engines):
    warehouse, _ = engines
    rows = warehouse.query("SELECT name, email FROM people ORDER BY id", role="analyst").fetchall()
    assert rows == [("A********", "*****"), ("C*********", None), ("D********", "*****")]  # EU rows only
    with pytest.raises(Refused, match="people.ssn is denied"):
        warehouse.query("SELECT ssn FROM people", role="analyst")


def test_rewritten_sql_for_snowflake_uses_folded_names_and_udfs(engines):
    warehouse, _ = engines
    sql = warehouse.rewrite_for(warehouse.subject(role="analyst"), "SELECT email FROM people", write="snowflake").sql
    assert "FROM people AS" in sql and '"email"' not in sql and 'AS "people"' not in sql
    # the reader's unquoted table name works as a qualifier, as Snowflake folds both to PEOPLE
    rows = warehouse.query("SELECT people.name FROM people WHERE people.region = 'EU'", role="admin").fetchall()
    assert len(rows) == 3


@pytest.mark.parametrize(("sql", "reason"), [
    ("SELECT * FROM TABLE(RESULT_SCAN(LAST_QUERY_ID()))", "table function result_scan() is not allowed"),
    ("SELECT * FROM IDENTIFIER('people')", "is not allowed"),
    ("SELECT $1 FROM @stage", "is not allowed"),
    ("SELECT SYSTEM$GET_TAG('t', 'people.ssn', 'column')", "system$get_tag"),
    ("SELECT GET_DDL('table', 'people')", "get_ddl"),
    ("SELECT * FROM people AT(OFFSET => -60)", "time travel (AT / BEFORE) on table 'people' is not allowed"),
    ("SELECT * FROM people CHANGES(INFORMATION => DEFAULT) AT(OFFSET => -60)", "not allowed"),
    ("SELECT * FROM snowflake.account_usage.query_history", "unknown table"),
    ("SELECT MY_UDF(email) FROM people", "my_udf() is not known to the engine for this warehouse"),
    ("CALL proc()", "only queries are allowed"),
    ("EXECUTE IMMEDIATE 'SELECT 1'", "only queries are allowed"),
])
def test_snowflake_only_constructs_are_refused(sql, reason):
    from policyengine.decision import subject_for
    from policyengine.rewrite import rewrite

    policy_set = load_policy_set(POLICIES)
    with pytest.raises(Refused, match=re.escape(reason)):
        rewrite(sql, policy_set, subject_for(policy_set, roles=["analyst"]), None, read="snowflake",
                write="snowflake", udf_prefix="")
