"""The front door with every driver a BI tool or notebook uses, against a started server.

Each client runs the same queries as a masked principal (bob) and a cleared one (frank); the oracle
is the engine in process: what a client receives over the wire must equal what the engine gives
that principal, and bob's values must differ from frank's where his are masked.
"""

from __future__ import annotations

import asyncio
import decimal
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.harness import frontdoor as harness
from tests.harness.frontdoor import PASSWORDS, FrontDoor, dsn
from tests.harness.frontdoor import listed as _listed

QUERY = 'SELECT "ReviewID", "UserID", "ReviewSentiment", "BirthYear" FROM verified_reviews ORDER BY "ReviewID" LIMIT 5'
PARAMETERIZED = ('SELECT "ReviewID", "UserID", "BirthYear" FROM verified_reviews WHERE "BirthYear" > {} '
                 'ORDER BY "ReviewID" LIMIT 5')
PRINCIPALS = ("bob", "frank")


def expected(frontdoor: FrontDoor, principal: str, sql: str = QUERY, parameters: list | None = None) -> list[tuple]:
    return harness.expected(frontdoor, principal, sql, parameters)


def url(frontdoor: FrontDoor, principal: str, scheme: str = "postgresql") -> str:
    return f"{scheme}://{principal}:{PASSWORDS[principal]}@127.0.0.1:{frontdoor.port}/demo"


def test_masked_and_raw_differ_where_the_policy_masks(frontdoor):
    """The premise of every test here: bob's UserID is protected, frank's is raw."""
    everything = 'SELECT "ReviewID", "UserID" FROM verified_reviews'
    raw = dict(expected(frontdoor, "frank", everything))
    masked = expected(frontdoor, "bob", QUERY)
    assert masked and all(raw[review] != user for review, user, *_ in masked)  # bob's rows, UserID masked


# --- psycopg 3 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("principal", PRINCIPALS)
def test_psycopg_simple_extended_binary_and_server_side_cursor(frontdoor, principal):
    import psycopg

    want = expected(frontdoor, principal)
    with psycopg.connect(dsn(frontdoor, principal), autocommit=True) as conn:
        with psycopg.ClientCursor(conn) as simple:  # the simple protocol
            simple.execute(QUERY)
            assert simple.fetchall() == want
        with conn.cursor() as extended:
            extended.execute(QUERY)
            assert extended.fetchall() == want
        with conn.cursor(binary=True) as binary:  # binary result format
            binary.execute(QUERY)
            assert binary.fetchall() == want
        with conn.cursor() as typed:
            typed.execute(PARAMETERIZED.format("%s"), (1975,))
            assert typed.fetchall() == expected(frontdoor, principal, PARAMETERIZED.format("$1"), [1975])
    with psycopg.connect(dsn(frontdoor, principal)) as conn:  # a transaction: DECLARE, then FETCH in pages
        with conn.cursor(name="pages") as named:
            named.itersize = 2
            named.execute(PARAMETERIZED.format("%s"), (1975,))
            assert [tuple(r) for r in named] == expected(frontdoor, principal, PARAMETERIZED.format("$1"), [1975])


@pytest.mark.parametrize("fmt", ["text", "csv", "binary"])
def test_psycopg_copy_to_stdout(frontdoor, fmt):
    import psycopg

    for principal in PRINCIPALS:
        want = expected(frontdoor, principal)
        with psycopg.connect(dsn(frontdoor, principal)) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY ({QUERY}) TO STDOUT (FORMAT {fmt})") as copy:
                if fmt == "binary":
                    copy.set_types(["text", "text", "numeric", "int4"])
                    rows = list(copy.rows())
                else:
                    rows = [tuple(line.split("\t" if fmt == "text" else ","))
                            for line in b"".join(bytes(b) for b in copy).decode().splitlines()]
            if fmt != "binary":
                want = [tuple("\\N" if v is None and fmt == "text" else "" if v is None else str(v) for v in row)
                        for row in want]
            assert rows == want


def test_psycopg_declare_fetch_close_by_hand(frontdoor):
    import psycopg

    with psycopg.connect(dsn(frontdoor, "bob")) as conn, psycopg.ClientCursor(conn) as cur:
        cur.execute(f"DECLARE c NO SCROLL CURSOR FOR {QUERY}")
        cur.execute("FETCH 2 FROM c")
        first = cur.fetchall()
        cur.execute("FETCH ALL IN c")
        rest = cur.fetchall()
        cur.execute("CLOSE c")
        assert first + rest == expected(frontdoor, "bob")
        with pytest.raises(psycopg.errors.InvalidCursorName):
            cur.execute("FETCH 1 FROM c")
    with psycopg.connect(dsn(frontdoor, "bob")) as conn, psycopg.ClientCursor(conn) as cur:
        cur.execute(f"DECLARE d CURSOR FOR {QUERY}")
        cur.execute("MOVE 2 IN d")
        assert cur.statusmessage == "MOVE 2"
        cur.execute("FETCH ALL FROM d")
        assert cur.fetchall() == expected(frontdoor, "bob")[2:]


def test_session_statements_keep_the_principal_and_the_transaction_rules(frontdoor):
    import psycopg

    with psycopg.connect(dsn(frontdoor, "bob")) as conn, psycopg.ClientCursor(conn) as cur:
        for statement in ("SET ROLE frank", "SET SESSION AUTHORIZATION frank", "SET client_encoding = 'LATIN1'"):
            with pytest.raises(psycopg.Error) as refused:
                cur.execute(statement)
            assert refused.value.sqlstate in ("42501", "22023")
            conn.rollback()
        cur.execute("SELECT current_user")
        assert cur.fetchone() == ("bob",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute('SELECT "NationalID" FROM user_demographics')
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):  # 25P02 until the transaction ends
            cur.execute("SELECT 1")
        conn.rollback()
        cur.execute(f"EXPLAIN {QUERY}")
        plan = "\n".join(row[0] for row in cur.fetchall())
        assert "cost=" in plan and "verified_reviews" in plan and "UserID" in plan
        assert "getvariable" not in plan.lower()  # what the policy does, not the rewritten SQL


# --- SQLAlchemy and pandas ---------------------------------------------------------------------------

@pytest.mark.parametrize("principal", PRINCIPALS)
def test_sqlalchemy_inspector_and_pandas(frontdoor, principal):
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(url(frontdoor, principal, "postgresql+psycopg"))
    try:
        inspector = sqlalchemy.inspect(engine)
        listed = _listed(frontdoor, principal)
        assert sorted(inspector.get_table_names()) == sorted(listed)
        for table, columns in listed.items():
            assert [c["name"] for c in inspector.get_columns(table)] == columns
        assert inspector.get_pk_constraint("verified_reviews")["constrained_columns"] == ["ReviewID"]
        types = {c["name"]: type(c["type"]).__name__ for c in inspector.get_columns("verified_reviews")}
        assert types["ReviewSentiment"] == "NUMERIC" and types["BirthYear"] == "INTEGER"
        frame = pd.read_sql(QUERY, engine)
        want = expected(frontdoor, principal)
        assert [tuple(r) for r in frame.itertuples(index=False)] == \
            [(a, b, float(c), d) for a, b, c, d in want] if frame["ReviewSentiment"].dtype == float else want
    finally:
        engine.dispose()


# --- pg8000 and asyncpg ------------------------------------------------------------------------------

@pytest.mark.parametrize("principal", PRINCIPALS)
def test_pg8000(frontdoor, principal):
    import pg8000.native

    conn = pg8000.native.Connection(principal, host="127.0.0.1", port=frontdoor.port,
                                    password=PASSWORDS[principal], database="demo")
    try:
        assert [tuple(r) for r in conn.run(QUERY)] == expected(frontdoor, principal)
        rows = conn.run(PARAMETERIZED.format(":year"), year=1975)
        assert [tuple(r) for r in rows] == expected(frontdoor, principal, PARAMETERIZED.format("$1"), [1975])
    finally:
        conn.close()


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_asyncpg_binary_protocol(frontdoor, principal):
    import asyncpg

    async def run() -> tuple[list, list]:
        conn = await asyncpg.connect(user=principal, password=PASSWORDS[principal], host="127.0.0.1",
                                     port=frontdoor.port, database="demo", ssl=False)
        try:
            plain = await conn.fetch(QUERY)
            typed = await conn.fetch(PARAMETERIZED.format("$1"), 1975)  # an int: the parameter's type was inferred
            return [tuple(r) for r in plain], [tuple(r) for r in typed]
        finally:
            await conn.close()

    plain, typed = asyncio.run(run())
    assert plain == expected(frontdoor, principal)
    assert isinstance(plain[0][2], decimal.Decimal)
    assert typed == expected(frontdoor, principal, PARAMETERIZED.format("$1"), [1975])


# --- ADBC (COPY ... TO STDOUT (FORMAT binary) for every query) ---------------------------------------

@pytest.mark.parametrize("principal", PRINCIPALS)
def test_adbc_postgresql_driver(frontdoor, principal):
    dbapi = pytest.importorskip("adbc_driver_postgresql.dbapi")

    with dbapi.connect(url(frontdoor, principal)) as conn, conn.cursor() as cur:
        cur.execute(QUERY)
        table = cur.fetch_arrow_table()
    rows = [tuple(r.values()) for r in table.to_pylist()]
    # ADBC hands numeric over as its decimal text, as it does from PostgreSQL itself
    assert rows == [tuple(str(v) if isinstance(v, decimal.Decimal) else v for v in row)
                    for row in expected(frontdoor, principal)]


# --- pgjdbc (DBeaver, Metabase, Tableau) -------------------------------------------------------------

JAR = Path("/usr/share/java/postgresql.jar")
JAVAC = shutil.which("javac")


@pytest.mark.skipif(JAVAC is None or not JAR.exists(),
                    reason="needs a JDK and Debian's pgjdbc: "
                           "apt-get install default-jdk-headless libpostgresql-jdbc-java")
@pytest.mark.parametrize("principal", PRINCIPALS)
def test_pgjdbc_database_metadata_and_prepared_statement(frontdoor, principal, tmp_path_factory):
    classes = tmp_path_factory.getbasetemp() / "jdbc"
    if not (classes / "JdbcProbe.class").exists():
        subprocess.run([JAVAC, "-d", str(classes), str(Path(__file__).parent / "clients" / "JdbcProbe.java")],
                       check=True, capture_output=True, timeout=120)
    run = subprocess.run(["java", "-cp", f"{JAR}{os.pathsep}{classes}", "JdbcProbe",
                          f"jdbc:postgresql://127.0.0.1:{frontdoor.port}/demo?sslmode=disable", principal,
                          PASSWORDS[principal], "verified_reviews", "UserID"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    facts = [line.split("\t") for line in run.stdout.splitlines()]
    listed = _listed(frontdoor, principal)
    assert sorted(f[2] for f in facts if f[0] == "table") == sorted(listed)
    assert [f[1] for f in facts if f[0] == "column"] == listed["verified_reviews"]
    assert [f[1] for f in facts if f[0] == "key"] == ["ReviewID"]
    sql = ('SELECT "UserID" FROM verified_reviews WHERE "UserID" IS NOT NULL AND "UserID" <> $1 '
           "ORDER BY 1 LIMIT 3")
    assert [f[2] for f in facts if f[0] == "row"] == [r[0] for r in expected(frontdoor, principal, sql,
                                                                              ["no such value"])]
    everything = frontdoor.engine.query('SELECT count(*) FROM verified_reviews', principal=principal).fetchall()
    assert [f[1] for f in facts if f[0] == "fetched"] == [str(everything[0][0])]


# --- a client that goes away in the middle of a large result ---------------------------------------

def test_disconnect_in_the_middle_of_a_large_result(frontdoor):
    """27 million rows requested, a few read, then the client process dies: the session ends, its
    query is abandoned, and the server keeps answering others."""
    import psycopg

    script = textwrap.dedent(f"""
        import os, psycopg
        conn = psycopg.connect({dsn(frontdoor, "frank")!r})
        for n, row in enumerate(conn.cursor().stream(
                'SELECT a."ReviewID" FROM verified_reviews a, verified_reviews b, verified_reviews c')):
            if n == 1000:
                print("read", flush=True)
                os._exit(0)
    """)
    before = len(frontdoor.server.sessions)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "read", run.stderr
    for _ in range(100):
        if len(frontdoor.server.sessions) <= before:
            break
        import time
        time.sleep(0.1)
    assert len(frontdoor.server.sessions) <= before  # the abandoned session is gone
    with psycopg.connect(dsn(frontdoor, "bob")) as conn:
        assert conn.execute(QUERY).fetchall() == expected(frontdoor, "bob")


def test_every_session_and_statement_is_audited(frontdoor):
    import json

    import psycopg

    log = frontdoor.root / "audit.jsonl"
    start = len(log.read_text().splitlines()) if log.exists() else 0
    with psycopg.connect(dsn(frontdoor, "bob"), autocommit=True) as conn, psycopg.ClientCursor(conn) as cur:
        cur.execute("SET application_name = 'audited'")
        cur.execute("SELECT relname FROM pg_catalog.pg_class LIMIT 1")
        cur.execute(QUERY)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute('SELECT "NationalID" FROM user_demographics')
    def session_lines() -> list[dict]:
        lines = [json.loads(line) for line in log.read_text().splitlines()[start:]]
        session = next(e["session"] for e in lines if e.get("application") == "audited")
        return [e for e in lines if e.get("session") == session]

    for _ in range(50):  # the end of the session is recorded as the server notices the client left
        if any(e.get("event") == "session_end" for e in session_lines()):
            break
        import time
        time.sleep(0.1)
    mine = session_lines()
    events = [e.get("event") or e.get("decision") for e in mine]
    assert events[0] == "session_start" and events[-1] == "session_end"
    assert {"session_statement", "catalog", "allowed", "refused"} <= set(events)
    assert any(e.get("application") == "audited" for e in mine)
    refused = next(e for e in mine if e.get("decision") == "refused")
    assert "NationalID" in refused["statement"] and "denied" in refused["reason"]
