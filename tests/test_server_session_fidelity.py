"""Issue #17: what pools and BI tools ask of a session besides queries, answered as PostgreSQL 15 does.

pgjdbc's Connection.isValid() (HikariCP validates every connection with it) is an empty query over
the extended protocol; pgcli asks SHOW TIME ZONE; Metabase sets the session's TimeZone; a
statement_timeout cancels a slow query with 57014. Where a real PostgreSQL 15 runs here, the same
exchange is compared with its answer.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from policyengine.fuzz.protocol_mutate import frame, startup_packet
from policyengine.fuzz.protocol_world import connect_and_login, error_fields, read_frame
from tests.harness.frontdoor import PASSWORDS, dsn

#: a query DuckDB needs seconds for on the demo data (300 reviews, four times over)
SLOW = ('SELECT count(*) FROM verified_reviews a, verified_reviews b, verified_reviews c, verified_reviews d '
        'WHERE length(a."ReviewID" || b."ReviewID" || c."ReviewID" || d."ReviewID") = 5')
JAR = Path("/usr/share/java/postgresql.jar")
JAVAC = shutil.which("javac")


@pytest.fixture
def postgresql(postgres15: Any) -> dict[str, Any]:
    """The shared PostgreSQL 15 (tests/harness/postgres15.py: TimeZone UTC, as ours), as connect() takes it."""
    return {"host": "127.0.0.1", "port": postgres15.port, "user": postgres15.user,
            "password": postgres15.password, "dbname": "postgres"}


def ours(frontdoor: Any, principal: str = "frank") -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": frontdoor.port, "user": principal, "password": PASSWORDS[principal],
            "dbname": "demo"}


def connect(where: dict[str, Any]) -> Any:
    import psycopg
    from psycopg.types.string import TextLoader

    connection = psycopg.connect(**where, autocommit=True, prepare_threshold=None, sslmode="disable")
    connection.adapters.register_loader("timestamptz", TextLoader)  # the server's text, not psycopg's reading
    return connection


# --- the raw protocol -----------------------------------------------------------------------------

def parse(sql: str) -> bytes:
    return frame(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))


BIND = frame(b"B", b"\0\0" + struct.pack("!hhh", 0, 0, 0))
DESCRIBE_STATEMENT = frame(b"D", b"S\0")
DESCRIBE_PORTAL = frame(b"D", b"P\0")
EXECUTE = frame(b"E", b"\0" + struct.pack("!i", 0))
SYNC = frame(b"S")


def exchanges(where: dict[str, Any], *messages: bytes) -> list[bytes]:
    """Log in, send each message batch and read up to ReadyForQuery; the message kinds of each answer."""

    async def main() -> list[bytes]:
        reader, writer, _ = await connect_and_login(
            where["host"], where["port"], where["user"], where["password"],
            startup=startup_packet({"user": where["user"], "database": where["dbname"]}))
        answers = []
        try:
            for data in messages:
                writer.write(data)
                await writer.drain()
                kinds = b""
                while not kinds.endswith(b"Z"):
                    kind, payload = await asyncio.wait_for(read_frame(reader), 30)
                    kinds += kind
                    if kind == b"E":
                        kinds += error_fields(payload).get("C", "").encode()
                answers.append(kinds)
        finally:
            writer.close()
        return answers

    return asyncio.run(main())


EMPTY_TEXTS = ["", ";", "  \n ", "-- only a comment", "/* a comment */ ;"]


@pytest.mark.parametrize("text", EMPTY_TEXTS)
def test_an_empty_query_is_an_empty_query_response_in_both_protocols(frontdoor, text):
    """postgres.c: Describe of an empty statement is ParameterDescription + NoData, of its portal
    NoData, and Execute is EmptyQueryResponse (every time), never 42601."""
    extended = parse(text) + BIND + DESCRIBE_STATEMENT + DESCRIBE_PORTAL + EXECUTE + EXECUTE + SYNC
    simple = frame(b"Q", text.encode() + b"\0")
    assert exchanges(ours(frontdoor), extended, simple) == [b"12tnnIIZ", b"IZ"]


def test_an_empty_query_answers_as_postgresql_does(frontdoor, postgresql):
    extended = [parse(text) + BIND + DESCRIBE_STATEMENT + DESCRIBE_PORTAL + EXECUTE + SYNC for text in EMPTY_TEXTS]
    simple = [frame(b"Q", text.encode() + b"\0") for text in EMPTY_TEXTS]
    failed = [frame(b"Q", b"BEGIN\0"), frame(b"Q", b"SELEC 1\0"), frame(b"Q", b"\0"), frame(b"Q", b"ROLLBACK\0")]
    messages = [*extended, *simple, *failed]
    assert exchanges(ours(frontdoor), *messages) == exchanges(postgresql, *messages)


# --- SHOW's keyword forms ---------------------------------------------------------------------------

SHOWN = ["SHOW TIME ZONE", "show time  zone", "SHOW TRANSACTION ISOLATION LEVEL", "SHOW SESSION AUTHORIZATION",
         "SHOW timezone", "SHOW datestyle", "SHOW statement_timeout"]


def show(where: dict[str, Any], statement: str) -> tuple[str, str]:
    with connect(where) as connection:
        cursor = connection.execute(statement)
        return cursor.description[0].name, cursor.fetchone()[0]


@pytest.mark.parametrize("statement", SHOWN)
def test_show_keyword_forms(frontdoor, statement):
    """gram.y's VariableShowStmt: SHOW TIME ZONE, TRANSACTION ISOLATION LEVEL and SESSION AUTHORIZATION
    (pgcli asks the first, pgjdbc the second); the column is the parameter's own spelling."""
    column, value = show(ours(frontdoor), statement)
    assert (column, value) == {"TimeZone": ("TimeZone", "UTC"), "transaction_isolation": (column, "read committed"),
                               "session_authorization": (column, "frank"), "DateStyle": (column, "ISO, MDY"),
                               "statement_timeout": (column, "0")}[column]


def test_show_columns_are_postgresqls(frontdoor, postgresql):
    assert [show(ours(frontdoor), s)[0] for s in SHOWN] == [show(postgresql, s)[0] for s in SHOWN]


def test_show_of_nothing_or_of_two_names_is_a_syntax_error(frontdoor):
    import psycopg

    with connect(ours(frontdoor)) as connection:
        for statement in ("SHOW", "SHOW time foo"):
            with pytest.raises(psycopg.errors.SyntaxError):
                connection.execute(statement)


# --- TimeZone ---------------------------------------------------------------------------------------

#: zone names, SQL numeric offsets (east of UTC) and POSIX offsets (west of UTC: '+02:00' is UTC-2)
ZONES = ["UTC", "America/New_York", "america/new_york", "Asia/Kolkata", "+02:00", "+02", "-03", "2", "UTC+3",
         "GMT+2", "Etc/GMT-2", "EST5EDT", "+05:30", "-5.5", "5.75", "+2:30", "+16", "UTC-14"]
INSTANTS = ("SELECT TIMESTAMPTZ '2024-07-01 12:00:00+00', TIMESTAMPTZ '2024-01-01 12:00:00.25+00', "
            "TIMESTAMPTZ '1850-01-01 12:00:00+00'")


def zoned(where: dict[str, Any], zone: str, statement: str = "SET TimeZone = '{}'") -> tuple[Any, ...]:
    with connect(where) as connection:
        connection.execute(statement.format(zone))
        return (connection.execute("SHOW TimeZone").fetchone()[0], connection.info.parameter_status("TimeZone"),
                connection.execute(INSTANTS).fetchone())


def test_timestamptz_values_follow_the_session_time_zone(frontdoor):
    assert zoned(ours(frontdoor), "America/New_York") == (
        "America/New_York", "America/New_York",
        ("2024-07-01 08:00:00-04", "2024-01-01 07:00:00.25-05", "1850-01-01 07:03:58-04:56:02"))
    assert zoned(ours(frontdoor), "+02:00")[2][0] == "2024-07-01 10:00:00-02"  # POSIX: two hours WEST
    assert zoned(ours(frontdoor), "2", "SET TIME ZONE {}")[:2] == ("<+02>-02", "<+02>-02")  # SQL: east
    with connect(ours(frontdoor)) as connection:
        connection.execute("SET TIME ZONE 'Asia/Kolkata'")
        assert connection.execute("SELECT now()").fetchone()[0].endswith("+05:30")
        with connection.cursor(binary=True) as cursor:  # binary: the instant, whatever the zone
            cursor.adapters.register_loader("timestamptz", __import__("psycopg").types.datetime.TimestamptzBinaryLoader)
            value = cursor.execute("SELECT TIMESTAMPTZ '2024-07-01 12:00:00+00'").fetchone()[0]
            assert value.timestamp() == 1719835200
        connection.execute("SET TIME ZONE LOCAL")
        assert connection.execute("SHOW TIME ZONE").fetchone()[0] == "UTC"


@pytest.mark.parametrize("zone", ZONES)
def test_time_zones_as_postgresql_reads_and_prints_them(frontdoor, postgresql, zone):
    assert zoned(ours(frontdoor), zone) == zoned(postgresql, zone)


def test_set_time_zone_forms_as_postgresql(frontdoor, postgresql):
    for statement in ("SET TIME ZONE 2", "SET TIME ZONE -3", "SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE",
                      "SET TIME ZONE 'America/New_York'"):
        assert zoned(ours(frontdoor), "", statement)[2] == zoned(postgresql, "", statement)[2], statement


def test_an_unknown_time_zone_is_22023_with_postgresqls_text(frontdoor):
    import psycopg

    with connect(ours(frontdoor)) as connection:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
            connection.execute("SET TimeZone = 'Nowhere/Land'")
        assert str(refused.value) == 'invalid value for parameter "TimeZone": "Nowhere/Land"'
        assert connection.execute("SHOW TimeZone").fetchone()[0] == "UTC"
        for offset in ("UTC+24", "+30"):  # PostgreSQL takes offsets up to a week; refused here, never a crash
            with pytest.raises(psycopg.errors.FeatureNotSupported):
                connection.execute(f"SET TimeZone = '{offset}'")
        assert connection.execute(INSTANTS).fetchone()[0] == "2024-07-01 12:00:00+00"


# --- statement_timeout ------------------------------------------------------------------------------

def test_statement_timeout_cancels_a_slow_query_in_both_protocols(frontdoor):
    import psycopg

    with connect(ours(frontdoor)) as connection:
        connection.execute("SET statement_timeout = '50ms'")
        assert connection.execute("SHOW statement_timeout").fetchone()[0] == "50ms"
        for cursor in (connection.cursor(), psycopg.ClientCursor(connection)):
            with pytest.raises(psycopg.errors.QueryCanceled) as canceled:
                cursor.execute(SLOW)
            assert str(canceled.value) == "canceling statement due to statement timeout"
        assert connection.execute("SELECT 1").fetchone() == (1,)  # the session goes on
        connection.execute("RESET statement_timeout")
        assert connection.execute("SHOW statement_timeout").fetchone()[0] == "0"


def test_a_cancel_request_says_user_request_as_postgresql(frontdoor):
    import threading
    import time

    import psycopg

    with connect(ours(frontdoor)) as connection:
        timer = threading.Timer(0.3, connection.cancel_safe)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as canceled:
            connection.execute(SLOW)
        timer.join()
        assert str(canceled.value) == "canceling statement due to user request"
        assert time.monotonic() - started < 30
        assert connection.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize(("value", "shown"), [("50", "50ms"), ("1s", "1s"), ("60s", "1min"), ("1500ms", "1500ms"),
                                              ("1.5", "2ms"), ("100us", "0")])
def test_statement_timeout_values_as_postgresql_shows_them(frontdoor, value, shown):
    with connect(ours(frontdoor)) as connection:
        connection.execute(f"SET statement_timeout = '{value}'")
        assert connection.execute("SHOW statement_timeout").fetchone()[0] == shown


def test_bad_statement_timeouts_as_postgresql(frontdoor, postgresql):
    import psycopg

    def answer(where: dict[str, Any], value: str) -> tuple[str | None, str]:
        with connect(where) as connection:
            try:
                connection.execute(f"SET statement_timeout = '{value}'")
            except psycopg.Error as error:
                return error.sqlstate, str(error)
            return None, connection.execute("SHOW statement_timeout").fetchone()[0]

    for value in ("abc", "-1", "2min", "3600000", "1.5", "5 s"):
        assert answer(ours(frontdoor), value) == answer(postgresql, value), value


# --- pgjdbc -----------------------------------------------------------------------------------------

@pytest.mark.skipif(JAVAC is None or not JAR.exists(),
                    reason="needs a JDK and Debian's pgjdbc: "
                           "apt-get install default-jdk-headless libpostgresql-jdbc-java")
def test_pgjdbc_is_valid_isolation_time_zone_and_statement_timeout(frontdoor, tmp_path_factory):
    """HikariCP's and c3p0's check (isValid: an empty query), the isolation level (SHOW TRANSACTION
    ISOLATION LEVEL), SHOW TIME ZONE, a zoned timestamptz and a statement_timeout, through pgjdbc."""
    classes = tmp_path_factory.getbasetemp() / "jdbc-session"
    if not (classes / "JdbcSession.class").exists():
        subprocess.run([JAVAC, "-d", str(classes), str(Path(__file__).parent / "clients" / "JdbcSession.java")],
                       check=True, capture_output=True, timeout=120)
    run = subprocess.run(["java", "-cp", f"{JAR}{os.pathsep}{classes}", "JdbcSession",
                          f"jdbc:postgresql://127.0.0.1:{frontdoor.port}/demo?sslmode=disable", "frank",
                          PASSWORDS["frank"], SLOW], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "valid\ttrue", "valid\ttrue", "valid\ttrue",
        "isolation\t2",  # Connection.TRANSACTION_READ_COMMITTED
        "show\tTimeZone\tUTC",
        "zone\t2024-07-01T12:00:00Z\t2024-07-01 08:00:00-04",  # the text in the session's zone, as PostgreSQL
        "timeout\t57014\tERROR: canceling statement due to statement timeout",
        "valid\ttrue", "valid-in-transaction\ttrue"]


def test_libpq_ping_and_psycopg_on_an_idle_session(frontdoor):
    """lib/pq and psycopg pools ping with an empty query too."""
    import psycopg

    with psycopg.connect(dsn(frontdoor, "bob"), autocommit=True) as connection:
        for text in ("", ";"):
            cursor = connection.execute(text)
            assert cursor.pgresult.status == psycopg.pq.ExecStatus.EMPTY_QUERY
            cursor = psycopg.ClientCursor(connection).execute(text)
            assert cursor.pgresult.status == psycopg.pq.ExecStatus.EMPTY_QUERY


# --- pgcli ------------------------------------------------------------------------------------------

PGCLI = shutil.which("pgcli") or os.environ.get("PGCLI")


@pytest.mark.skipif(PGCLI is None, reason="needs pgcli: pip install pgcli (or PGCLI=/path/to/pgcli)")
def test_pgcli_connects_and_follows_the_local_time_zone(frontdoor, tmp_path):
    """pgcli asks SHOW TIME ZONE as it connects (it stopped there with 42704) and then sets the session
    to the machine's zone with SET TIME ZONE "<name>"; its timestamptz values follow."""
    env = {**os.environ, "PGPASSWORD": PASSWORDS["frank"], "HOME": str(tmp_path), "TZ": "America/New_York"}
    run = subprocess.run([PGCLI, "-h", "127.0.0.1", "-p", str(frontdoor.port), "-u", "frank", "-d", "demo",
                          "--less-chatty", "-t", "-c", "SHOW TIME ZONE",
                          "-c", "SELECT TIMESTAMPTZ '2024-07-01 12:00:00+00' AS t"],
                         capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert "Using local time zone America/New_York (server uses UTC)" in lines
    assert lines[-2:] == ["America/New_York", "2024-07-01 08:00:00-04"]  # as PostgreSQL 15 answers pgcli
