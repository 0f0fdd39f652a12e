"""Issue #17: after ``SET TimeZone`` the front door computes local dates and times in the session's zone,
as PostgreSQL 15 does (policyengine/rewrite/postgres_zones.py), or refuses what it cannot.

Each statement runs on the front door and on the real PostgreSQL 15 with the same TimeZone, and the
text answers must be equal; the refused ones must be 0A000 on the front door while PostgreSQL
answers (they are refusals, never different answers).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.frontdoor import dsn

#: IANA zones with daylight saving on either side of UTC, a half-hour zone, POSIX offsets (hours WEST:
#: '+02:00' is UTC-2) and a SQL offset of 5h45 (no IANA name: computed as a fixed offset)
ZONES = ["America/New_York", "Asia/Kolkata", "Australia/Adelaide", "+02:00", "5.75", "UTC"]

LOCAL = [
    "SELECT TIMESTAMPTZ '2024-07-01 02:00:00+00'::text, CAST(TIMESTAMPTZ '2024-01-01 12:00:00.25+00' AS varchar), "
    "'at ' || TIMESTAMPTZ '1850-01-01 12:00:00+00', TIMESTAMPTZ '2024-07-01 02:00:00.000001+00'::text",
    "SELECT TIMESTAMPTZ '2024-07-01 02:00:00+00'::date, TIMESTAMPTZ '2024-01-01 23:30:00+00'::date",
    "SELECT TIMESTAMPTZ '2024-07-01 02:00:00+00'::time, TIMESTAMPTZ '2024-07-01 02:00:00+00'::timestamp",
    "SELECT '2024-07-01 12:00'::timestamptz, TIMESTAMPTZ '2024-03-10 12:00', '2024-07-01 12:00+02'::timestamptz",
    "SELECT DATE '2024-07-01'::timestamptz, TIMESTAMP '2024-07-01 12:00'::timestamptz",
    "SELECT date_trunc('day', TIMESTAMPTZ '2024-07-01 02:00:00+00'), date_trunc('month', DATE '2024-07-15')",
    "SELECT date_trunc('hour', TIMESTAMPTZ '2024-07-01 02:59:00+00')::date",
    "SELECT extract(hour FROM TIMESTAMPTZ '2024-07-01 02:00:00+00'), "
    "extract(day FROM TIMESTAMPTZ '2024-07-01 02:00:00+00')",
    "SELECT to_char(TIMESTAMPTZ '2024-07-01 02:00:00+00', 'YYYY-MM-DD HH24:MI')",
    "SELECT TIMESTAMPTZ '2024-07-01 02:00:00+00' > TIMESTAMP '2024-06-30 23:00:00', "
    "TIMESTAMPTZ '2024-07-01 02:00:00+00' = DATE '2024-07-01'",
    "SELECT TIMESTAMPTZ '2024-07-01 02:00:00+00' IN ('2024-06-30 22:00:00', '2024-07-01 02:00:00'), "
    "TIMESTAMPTZ '2024-07-01 02:00:00+00' BETWEEN '2024-06-30 00:00' AND '2024-07-01 00:00'",
    "SELECT TIMESTAMPTZ '2024-07-01 02:00:00+00' AT TIME ZONE 'UTC', TIMESTAMP '2024-07-01 02:00' AT TIME ZONE 'UTC'",
    "SELECT TIMESTAMPTZ '2024-07-01 02:00:00+00' - TIMESTAMPTZ '2024-06-29 12:00:00+00'",
    "SELECT now()::date = current_date, localtimestamp::date = current_date, now() - now()",
    'SELECT count(*) FROM reviews WHERE now() > DATE \'2000-01-01\' AND "CreatedAt" < current_date',
    "SELECT max(TIMESTAMPTZ '2024-07-01 02:00:00+00'), min(date_trunc('day', TIMESTAMPTZ '2024-07-01 02:00+00'))",
]

REFUSED = [
    "SELECT TIMESTAMPTZ '2024-07-01 02:00:00+00' + INTERVAL '1 day'",
    "SELECT 'today'::timestamptz",
    "SELECT to_timestamp('2024-07-01', 'YYYY-MM-DD')",
    "SELECT current_time",
    "SELECT d::date FROM (SELECT now() AS d) AS t",
]


@pytest.fixture
def postgresql(postgres15: Any) -> str:
    return postgres15.dsn()


def answer(where: str, zone: str, statement: str) -> tuple[Any, ...]:
    """The text of the first row (or the SQLSTATE) of ``statement`` after SET TimeZone."""
    import psycopg

    with psycopg.connect(where, autocommit=True, prepare_threshold=None, sslmode="disable") as connection:
        connection.execute(f"SET TimeZone = '{zone}'")
        cursor = connection.cursor()
        cursor.adapters.register_loader("timestamptz", psycopg.types.string.TextLoader)
        cursor.adapters.register_loader("date", psycopg.types.string.TextLoader)
        cursor.adapters.register_loader("timestamp", psycopg.types.string.TextLoader)
        cursor.adapters.register_loader("time", psycopg.types.string.TextLoader)
        cursor.adapters.register_loader("interval", psycopg.types.string.TextLoader)
        cursor.adapters.register_loader("numeric", psycopg.types.string.TextLoader)
        try:
            return tuple(cursor.execute(statement).fetchone())
        except psycopg.Error as error:
            return ("ERROR", error.sqlstate)


def ours(frontdoor: Any) -> str:
    return dsn(frontdoor, "frank")


@pytest.mark.parametrize("zone", ZONES)
def test_local_times_are_the_sessions_zone_as_in_postgresql(frontdoor, postgresql, zone):
    differences = []
    for statement in LOCAL:
        if "reviews" in statement:  # the demo table is the front door's only: its answer is checked below
            continue
        got, expected = answer(ours(frontdoor), zone, statement), answer(postgresql, zone, statement)
        if got != expected:
            differences.append(f"{statement}\n  front door {got}\n  PostgreSQL {expected}")
    assert not differences, "\n".join(differences)


def test_a_table_read_with_the_zone_in_its_conditions(frontdoor):
    statement = next(s for s in LOCAL if "reviews" in s)
    counts = {zone: answer(ours(frontdoor), zone, statement) for zone in ("UTC", "Asia/Kolkata", "5.75")}
    assert len(set(counts.values())) == 1 and int(counts["UTC"][0]) > 0, counts


@pytest.mark.parametrize("statement", REFUSED)
def test_what_cannot_follow_the_zone_is_refused_never_answered_differently(frontdoor, postgresql, statement):
    assert answer(ours(frontdoor), "America/New_York", statement) == ("ERROR", "0A000")
    if "FROM (SELECT" not in statement:  # PostgreSQL answers each of them (in the zone)
        assert answer(postgresql, "America/New_York", statement)[0] != "ERROR"


@pytest.mark.parametrize("statement", REFUSED[:1])
def test_in_utc_nothing_is_refused(frontdoor, postgresql, statement):
    assert answer(ours(frontdoor), "UTC", statement) == answer(postgresql, "UTC", statement)


def copied(where: str, zone: str, statement: str) -> bytes:
    import psycopg

    with psycopg.connect(where, autocommit=True, sslmode="disable") as connection:
        connection.execute(f"SET TimeZone = '{zone}'")
        with connection.cursor().copy(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)") as copy:
            return b"".join(bytes(chunk) for chunk in copy)


@pytest.mark.parametrize("zone", ["America/New_York", "5.75"])
def test_copy_writes_timestamptz_in_the_sessions_zone(frontdoor, postgresql, zone):
    statement = ("SELECT TIMESTAMPTZ '2024-07-01 02:00:00+00' AS t, "
                 "TIMESTAMPTZ '2024-01-01 12:00:00.25+00'::date AS d, "
                 "date_trunc('day', TIMESTAMPTZ '2024-07-01 02:00:00+00') AS day")
    assert copied(ours(frontdoor), zone, statement) == copied(postgresql, zone, statement)
