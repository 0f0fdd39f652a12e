"""Issue #17: intervals answer as PostgreSQL 15 holds and prints them.

PostgreSQL keeps an interval's months, days and microseconds apart (``1 day -36:00:00`` is not
``-12:00:00``, ``1 year 2 mons`` is not ``420 days``). The front door reads them exactly from DuckDB's
Arrow export (policyengine/server/arrow_rows.py, feed.py) and writes them as PostgreSQL does, in
text (IntervalStyle postgres) and binary (interval_send); the rewrite gives the operators
PostgreSQL's meaning (policyengine/rewrite/postgres_intervals.py). Each statement runs on the front
door and on a real PostgreSQL 15; the values as the servers sent them (text, and binary bytes), the
type OIDs and the column names must be equal.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.frontdoor import PASSWORDS

psycopg = pytest.importorskip("psycopg")

SAME = [
    # the three parts kept apart, and signs as EncodeInterval writes them
    "SELECT INTERVAL '1 day' - INTERVAL '36 hours', INTERVAL '1 year 2 mons', - INTERVAL '36 hours', "
    "INTERVAL '36 hours' + INTERVAL '1 week', INTERVAL '-3 days' + (INTERVAL '1 year 2 mons' - INTERVAL '36 hours')",
    "SELECT INTERVAL '36 hours' - '10 days 04:05:06'::interval, "
    "'10 days 04:05:06'::interval - INTERVAL '1 year 2 mons', INTERVAL '00:00:01.5', - INTERVAL '00:00:01.5', "
    "INTERVAL '0 days'",
    "SELECT 1940 * INTERVAL '1 hour', (-2147483648) * INTERVAL '1 second', INTERVAL '-2147483648 mons', "
    "INTERVAL '2147483647 days 2562047 hours', make_interval(days => 2147483647), "
    "- make_interval(days => 2147483647)",
    # arrays of intervals
    "SELECT ARRAY[INTERVAL '1 year 2 mons', INTERVAL '1 day -36:00:00', NULL], ARRAY[]::interval[]",
    # interval strings as PostgreSQL reads them (sqlglot cut them to their first number and unit)
    "SELECT INTERVAL '10 days 04:05:06', INTERVAL '1.5 months', INTERVAL '1 mon', INTERVAL '-3 days', "
    "INTERVAL '1 day' + '10 days 04:05:06', INTERVAL '2 hours 30 minutes' + '10 days 04:05:06'::interval AS c",
    "SELECT INTERVAL '1 day ago', INTERVAL '1.5 years', INTERVAL '0.5 weeks', INTERVAL '1 millennium'",
    # timestamp - timestamp: days and the rest of the time; age(): years, months, days by the calendar
    "SELECT TIMESTAMP '2022-12-31' - TIMESTAMP '1999-01-01 00:00:00.123456', "
    "TIMESTAMP '1999-01-01 00:00:00.123456' - TIMESTAMP '2022-12-31', time '10:00' - time '23:30:00.5'",
    "SELECT age(TIMESTAMP '2000-02-29 23:59:59.5', TIMESTAMP '2021-06-15 12:00:00'), "
    "age(TIMESTAMP '2024-03-01', TIMESTAMP '2023-01-15'), age(DATE '2024-03-31', DATE '2024-02-29'), "
    "age(TIMESTAMP '2023-01-31', DATE '2023-03-01')",
    # products and quotients: PostgreSQL's cascade of fractions, to the microsecond
    "SELECT INTERVAL '1 mon 3 days' * 0.3, INTERVAL '1 year' / 7, INTERVAL '10 days 04:05:06' * 1.5::float8, "
    "0.7 * INTERVAL '1 mon 36 hours', INTERVAL '5 mons -527 days 148039.560285 seconds' * 0.3, "
    "INTERVAL '1 year' / 2, INTERVAL '2 hours 30 minutes' * 2",
    # sums add the three parts apart; extremes compare with 30-day months and keep the first of equals
    "SELECT sum(i * INTERVAL '1 hour' + INTERVAL '1 day -36 hours'), sum(age(TIMESTAMP '2021-06-15 12:00', "
    "TIMESTAMP '2000-02-29 23:59:59.5')), max(i * INTERVAL '13 days'), min(-i * INTERVAL '1 mon') "
    "FROM generate_series(1, 40) AS g(i)",
    "SELECT greatest(INTERVAL '1 mon', INTERVAL '31 days'), least(INTERVAL '1 mon', INTERVAL '31 days'), "
    "greatest(INTERVAL '1 mon', INTERVAL '30 days'), least(INTERVAL '30 days', NULL, INTERVAL '720 hours'), "
    "greatest(INTERVAL '1 day', INTERVAL '25 hours')",
    # justify_*: DuckDB has none
    "SELECT justify_hours(INTERVAL '1 day -36 hours'), justify_days(INTERVAL '1 mon -35 days'), "
    "justify_interval(INTERVAL '1 mon -1 hour'), justify_interval(- INTERVAL '1 year 2 mons 45 days 30 hours')",
    # ordering and grouping compare as PostgreSQL
    "SELECT x, count(*) FROM (SELECT (i % 3) * INTERVAL '1 mon' + (i % 2) * INTERVAL '30 days' AS x "
    "FROM generate_series(1, 12) AS g(i)) AS t GROUP BY x ORDER BY x",
]

REFUSED = [
    "SELECT (-2147483648) * INTERVAL '1 hour'",  # DuckDB's Arrow export of this time part wraps
    "SELECT age(TIMESTAMP '2024-03-01')",  # from today's midnight, in the session's zone
    "SELECT age(TIMESTAMPTZ '2024-03-01 00:00+00', TIMESTAMPTZ '2023-01-15 00:00+00')",
]


@pytest.fixture(scope="module")
def servers(frontdoor: Any, postgres15: Any) -> Any:
    ours = psycopg.connect(host="127.0.0.1", port=frontdoor.port, user="frank", password=PASSWORDS["frank"],
                           dbname="demo", autocommit=True, sslmode="disable")
    theirs = psycopg.connect(host="127.0.0.1", port=postgres15.port, user=postgres15.user,
                             password=postgres15.password, dbname="postgres", autocommit=True, sslmode="disable")
    with ours, theirs:
        yield ours, theirs


def sent(connection: Any, sql: str, binary: bool) -> tuple[Any, ...]:
    """Column names, type OIDs and each value as the server sent it (bytes), never decoded; or the
    SQLSTATE of the error."""
    pgconn = connection.pgconn
    result = pgconn.exec_params(sql.encode(), [], result_format=1) if binary else pgconn.exec_(sql.encode())
    if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
        return ("ERROR", (result.error_field(psycopg.pq.DiagnosticField.SQLSTATE) or b"").decode())
    columns = [(result.fname(i), result.ftype(i)) for i in range(result.nfields)]
    rows = [tuple(None if (value := result.get_value(row, column)) is None else bytes(value)
                  for column in range(result.nfields)) for row in range(result.ntuples)]
    return columns, rows


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("sql", SAME)
def test_intervals_as_postgresql(servers, sql, binary):
    ours, theirs = servers
    expected = sent(theirs, sql, binary)
    assert expected[0] != "ERROR", expected
    assert sent(ours, sql, binary) == expected


@pytest.mark.parametrize("sql", REFUSED)
def test_what_cannot_be_exact_is_refused(servers, sql):
    ours, theirs = servers
    assert sent(theirs, sql, False)[0] != "ERROR"
    assert sent(ours, sql, False) == ("ERROR", "0A000")
    assert sent(ours, "SELECT INTERVAL '1 day'", False)[1] == [(b"1 day",)]


def test_the_time_parts_of_a_large_result(servers):
    """Enough rows for the result to stream in batches (and, run twice, as Arrow record batches)."""
    ours, theirs = servers
    sql = ("SELECT i * INTERVAL '1 day -36 hours' + (i % 7) * INTERVAL '1 mon' FROM generate_series(1, 5000) "
           "AS g(i) ORDER BY i")
    expected = sent(theirs, sql, False)
    for _ in range(2):
        assert sent(ours, sql, False) == expected


@pytest.mark.parametrize("form", ["text", "csv", "binary"])
def test_copy_out(servers, form):
    ours, theirs = servers
    sql = ("COPY (SELECT INTERVAL '1 day -36 hours', INTERVAL '1 year 2 mons', ARRAY[INTERVAL '-1 mon 1 day']) "
           f"TO STDOUT (FORMAT {form})")

    def copied(connection: Any) -> bytes:
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            return b"".join(bytes(chunk) for chunk in copy)

    assert copied(ours) == copied(theirs)


@pytest.mark.parametrize("value", [b"1 year 2 mons -36:00:00", b"1 day -36 hours", b"-12:00:00", b"@ 1 day 2 hours ago",
                                   b"P1Y2M3DT4H5M6S", b"0.5 months"])
def test_interval_parameters(servers, value):
    """An interval Bind parameter keeps its months, days and time apart (a timedelta folded months into
    30 days and wrote -12:00:00 as -1 days +12:00:00), in text and in binary."""
    ours, theirs = servers
    sql = b"SELECT $1::interval, TIMESTAMP '2024-01-31 10:00' + $1, $1 * 0.5"
    forms = []
    for connection in (ours, theirs):
        text = connection.pgconn.exec_params(sql, [value], [1186], result_format=0)
        binary = connection.pgconn.exec_params(sql, [text.get_value(0, 0)], [1186], [0], result_format=1)
        raw = binary.get_value(0, 0)
        again = connection.pgconn.exec_params(sql, [raw], [1186], [1], result_format=0)
        forms.append([[bytes(result.get_value(0, i)) for i in range(3)] for result in (text, binary, again)])
    assert forms[0] == forms[1]
