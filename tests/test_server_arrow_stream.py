"""Large text-format results stream from DuckDB as Arrow and are encoded column-wise (arrow_rows.py).

A statement takes that path once its last run returned more than one batch of rows, so each test
runs its statement twice: the first answer (DuckDB's rows, encoded value by value) is the oracle for
the second (Arrow, encoded column by column), byte for byte as the client receives it, and both must
equal the engine's answer in process. A spy on the column-wise encoder shows the second run took it.
"""

from __future__ import annotations

import threading
import time

import pytest

from policyengine.server import arrow_rows
from tests.harness.frontdoor import FrontDoor, dsn, expected

pytest.importorskip("pyarrow")

#: every type the column-wise encoder takes, NULLs in each column, more rows than one batch
TYPED = """
SELECT i,
       CAST(i AS SMALLINT) AS small,
       CAST(i AS BIGINT) * 1000003 AS big,
       CASE WHEN i % 7 = 0 THEN NULL ELSE 'text ' || CAST(i AS VARCHAR) || ' é' END AS label,
       CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END AS flag,
       CASE WHEN i % 11 = 0 THEN NULL ELSE DATE '1999-12-25' + CAST(i AS INTEGER) END AS day,
       CASE WHEN i % 13 = 0 THEN NULL
            ELSE TIMESTAMP '2020-02-29 23:59:59' + to_microseconds(i * 1234567) END AS stamp,
       TIMESTAMP '2001-01-01 00:00:00' + to_seconds(i) AS whole_second,
       CASE WHEN i % 3 = 0 THEN NULL ELSE CAST(i * 1.25 - 3000 AS DECIMAL(12, 3)) END AS amount
FROM range(6000) AS r(i)
""".strip()
#: bob's view of the reviews, many times over: masked columns through the wrappers
MASKED = 'SELECT r.*, n.i FROM reviews AS r, range(12) AS n(i) ORDER BY r."ReviewID", n.i'


class Spy:
    """Counts batches the column-wise encoder turned into DataRows."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.batches = 0
        real = arrow_rows.encode_batch

        def counting(batch, encoders):
            self.batches += 1
            return real(batch, encoders)

        monkeypatch.setattr(arrow_rows, "encode_batch", counting)


def raw_text(frontdoor: FrontDoor, principal: str, sql: str) -> list[list[bytes | None]]:
    """The values as the server sent them (libpq's result, no client-side decoding)."""
    import psycopg
    from psycopg import pq

    with psycopg.connect(dsn(frontdoor, principal), autocommit=True) as connection:
        result = connection.pgconn.exec_(sql.encode())
        assert result.status == pq.ExecStatus.TUPLES_OK, result.error_message
        return [[result.get_value(row, column) for column in range(result.nfields)] for row in range(result.ntuples)]


@pytest.mark.parametrize("principal, sql", [("frank", TYPED), ("bob", MASKED)])
def test_second_run_streams_arrow_with_the_same_bytes(frontdoor, monkeypatch, principal, sql):
    spy = Spy(monkeypatch)
    first = raw_text(frontdoor, principal, sql)
    assert spy.batches == 0 and len(first) > 2048
    second = raw_text(frontdoor, principal, sql)
    assert spy.batches > 0, "the repeated large statement did not take the Arrow path"
    assert second == first
    # and what a client decodes equals the engine in process, for this principal
    import psycopg

    with psycopg.connect(dsn(frontdoor, principal), autocommit=True) as connection:
        decoded = [tuple(row) for row in connection.execute(sql).fetchall()]
    assert decoded == expected(frontdoor, principal, sql)


def test_masked_values_stay_masked_on_the_arrow_path(frontdoor, monkeypatch):
    spy = Spy(monkeypatch)
    sql = 'SELECT r."ReviewID", r."UserID" FROM reviews AS r, range(10) AS n(i)'
    raw_text(frontdoor, "bob", sql)
    masked = raw_text(frontdoor, "bob", sql)
    assert spy.batches > 0
    raw = {row[0]: row[1] for row in raw_text(frontdoor, "frank", sql)}
    assert masked and all(raw[review] != user for review, user in masked)


def test_extended_protocol_with_parameters_and_a_small_answer_after_a_large_one(frontdoor, monkeypatch):
    """The same statement text with other parameter values: large, then small, then an error."""
    import psycopg

    spy = Spy(monkeypatch)
    sql = ('SELECT i, CAST(CASE WHEN i > %s THEN \'x\' || CAST(i AS VARCHAR) ELSE CAST(i AS VARCHAR) END AS INTEGER) '
           'AS n FROM range(%s) AS r(i)')
    with psycopg.connect(dsn(frontdoor, "frank"), autocommit=True) as connection:
        for _ in range(2):
            assert connection.execute(sql, [10**9, 5000]).fetchall() == [(i, i) for i in range(5000)]
        assert spy.batches > 0
        assert connection.execute(sql, [10**9, 3]).fetchall() == [(0, 0), (1, 1), (2, 2)]
        connection.execute(sql, [10**9, 5000]).fetchall()  # large again
        # fails part-way (the string 'x4000' is not an integer): sanitized, no value in the message
        with pytest.raises(psycopg.errors.DataError) as failure:
            connection.execute(sql, [3999, 5000]).fetchall()
        assert "x4000" not in str(failure.value) and "4000" not in str(failure.value)
        assert connection.execute("SELECT 1").fetchone() == (1,)  # the session goes on


def test_cancel_interrupts_an_arrow_stream(frontdoor, monkeypatch):
    import psycopg

    spy = Spy(monkeypatch)
    # a result that would not end for hours; the first run (rows) is canceled after its first
    # batches, which marks the statement large, so the second streams as Arrow and is canceled too
    huge = "SELECT a.i, b.i AS j FROM range(3000) AS a(i), range(100000000) AS b(i)"
    with psycopg.connect(dsn(frontdoor, "frank"), autocommit=True) as connection:
        for attempt in range(2):
            started = time.monotonic()
            timer = threading.Timer(0.5 + attempt, connection.cancel_safe)
            timer.start()
            with pytest.raises(psycopg.errors.QueryCanceled):
                connection.execute(huge).fetchall()
            assert time.monotonic() - started < 30
            timer.join()
            assert connection.execute("SELECT 2").fetchone() == (2,)  # the session goes on
    assert spy.batches > 0


def test_feed_row_limits_cut_arrow_batches_like_rows(frontdoor):
    """Execute with a row limit (pgjdbc's fetch size): an Arrow feed cut at any limit sends the same
    DataRows as a row feed."""
    from policyengine.server import binary
    from policyengine.server.feed import Feed

    engine = frontdoor.engine
    subject = engine.subject(principal="frank")

    def feed(arrow: bool) -> Feed:
        result = engine.query_for(subject, TYPED, read="postgres",
                                  arrow=arrow_rows.supports_types if arrow else None)
        return Feed(result).fill()

    first = feed(False)
    first.take(None)  # every batch read: the statement is marked large
    first.close()
    rows, arrow = feed(False), feed(True)
    assert arrow.streams_arrow and not rows.streams_arrow
    encoders = binary.column_encoders(rows.types, [])
    limits = [1, 7, 2048, 333, 5000, 10**6]
    sent: list[bytes] = []
    got: list[bytes] = []
    for limit in limits:
        for target, out in ((rows, sent), (arrow, got)):
            taken = 0
            while taken < limit and not target.exhausted:
                data, count = target.produce(limit - taken, encoders)
                taken += count
                out.append(data)
        assert rows.exhausted == arrow.exhausted
    assert b"".join(got) == b"".join(sent) and rows.exhausted


def test_a_client_gone_mid_stream_stops_the_read_ahead(frontdoor, monkeypatch):
    """The Arrow read-ahead thread of an abandoned result stops; the server answers others."""
    import psycopg

    spy = Spy(monkeypatch)
    huge = "SELECT a.i, b.i AS j FROM range(2000) AS a(i), range(100000000) AS b(i)"
    with psycopg.connect(dsn(frontdoor, "frank"), autocommit=True) as connection:
        timer = threading.Timer(0.5, connection.cancel_safe)  # first run: rows, marks the statement large
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            connection.execute(huge).fetchall()
        timer.join()
    connection = psycopg.connect(dsn(frontdoor, "frank"), autocommit=True)
    connection.pgconn.send_query(huge.encode())
    deadline = time.monotonic() + 30
    while spy.batches < 2 and time.monotonic() < deadline:  # the Arrow stream is under way
        connection.pgconn.consume_input()
        time.sleep(0.01)
    assert spy.batches >= 2
    connection.pgconn.finish()  # gone, mid-result

    def readers() -> int:
        return sum(1 for thread in threading.enumerate() if thread.name == "policyengine-arrow-read")

    while readers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert readers() == 0
    with psycopg.connect(dsn(frontdoor, "bob"), autocommit=True) as other:
        assert other.execute("SELECT 3").fetchone() == (3,)


def test_closing_an_arrow_result_part_way_stops_its_reader(frontdoor):
    """Closed with batches unread (a portal closed, a session ended): DuckDB is interrupted, the
    read-ahead thread stops at once, not when the garbage collector gets to it, and the pooled
    cursor answers the next query."""
    engine = frontdoor.engine
    subject = engine.subject(principal="frank")
    sql = "SELECT a.i, b.i AS j FROM range(1000) AS a(i), range(100000000) AS b(i)"
    for _ in range(2):  # the first run (rows) marks the statement large
        result = engine.query_for(subject, sql, read="postgres", arrow=arrow_rows.supports_types)
        batches = result.arrow_batches() if result.streams_arrow else result.batches()
        next(batches)
        next(batches)
        kept = batches  # still referenced: only close() can stop the reader
        result.close()
    assert result.streams_arrow
    assert not [t for t in threading.enumerate() if t.name == "policyengine-arrow-read"]
    assert engine.query("SELECT 5 AS five", principal="frank").fetchall() == [(5,)]
    del kept
