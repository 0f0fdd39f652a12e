"""The column-wise DataRow encoder must produce exactly the bytes of the per-value encoders
(binary.py), which are themselves checked byte for byte against a real PostgreSQL 15."""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyengine.server import arrow_rows, binary

pytest.importorskip("pyarrow")

COLUMNS = [("v", "VARCHAR"), ("i", "INTEGER"), ("b", "BIGINT"), ("s", "SMALLINT"), ("d", "DECIMAL(12,3)"),
           ("f", "BOOLEAN"), ("day", "DATE"), ("ts", "TIMESTAMP"), ("big", "DECIMAL(38,9)"), ("u", "UBIGINT")]
VALUES = {
    "VARCHAR": st.text(max_size=20),
    "INTEGER": st.integers(-2**31, 2**31 - 1),
    "BIGINT": st.integers(-2**63, 2**63 - 1),
    "SMALLINT": st.integers(-2**15, 2**15 - 1),
    "DECIMAL(12,3)": st.decimals(min_value=-10**8, max_value=10**8, places=3, allow_nan=False),
    "BOOLEAN": st.booleans(),
    "DATE": st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
    "TIMESTAMP": st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59)),
    "DECIMAL(38,9)": st.decimals(min_value=-10**20, max_value=10**20, places=9, allow_nan=False),
    "UBIGINT": st.integers(0, 2**64 - 1),
}
ROW = st.tuples(*[st.none() | VALUES[kind] for _, kind in COLUMNS])


def both(rows: list[tuple]) -> tuple[bytes, bytes]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (" + ", ".join(f"{name} {kind}" for name, kind in COLUMNS) + ")")
    if rows:
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' for _ in COLUMNS)})", rows)
    query = "SELECT * FROM t ORDER BY rowid"
    cursor = con.execute(query)
    types = [str(d[1]) for d in cursor.description]
    expected = binary.data_rows(cursor.fetchall(), binary.column_encoders(types, []))
    assert arrow_rows.supports(types, [])
    rows_back = con.execute(query).fetchall()
    batches = list(con.sql(query).to_arrow_reader(1000))
    encoders = binary.column_encoders(types, [])
    # a batch the fast path declines goes through the exact encoders, as the server does
    encoded = [arrow_rows.data_rows(batch) or binary.data_rows([tuple(r.values()) for r in batch.to_pylist()],
                                                                encoders) for batch in batches]
    assert sum(batch.num_rows for batch in batches) == len(rows_back)
    return b"".join(encoded), expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, max_size=8))
def test_the_same_bytes_as_the_exact_encoders(rows):
    fast, exact = both(rows)
    assert fast == exact


def test_edge_values():
    rows = [("", 0, 0, 0, decimal.Decimal("0.000"), False, dt.date(1, 1, 1), dt.datetime(2020, 1, 1, 0, 0, 0, 100),
             decimal.Decimal("-0.000000001"), 0),
            ("é\t\"'\\", -1, -2**63, -2**15, decimal.Decimal("-99999999.999"), True, dt.date(9999, 12, 31),
             dt.datetime(1999, 12, 31, 23, 59, 59, 999999), decimal.Decimal("12345678901234567890.123456789"),
             2**64 - 1),
            (None,) * len(COLUMNS)]
    fast, exact = both(rows)
    assert fast == exact


def test_tiny_decimals_decline_the_fast_path():
    con = duckdb.connect()
    batch = next(iter(con.sql("SELECT CAST(0 AS DECIMAL(38,9)) AS x").to_arrow_reader(10)))
    assert arrow_rows.data_rows(batch) is None
    batch = next(iter(con.sql("SELECT CAST(0.73 AS DECIMAL(38,9)) AS x").to_arrow_reader(10)))
    assert arrow_rows.data_rows(batch) is not None


def test_types_without_an_exact_fast_form_take_the_exact_path():
    assert not arrow_rows.supports(["DOUBLE"], [])
    assert not arrow_rows.supports(["INTEGER[]"], [])
    assert not arrow_rows.supports(["TIMESTAMP WITH TIME ZONE"], [])
    assert not arrow_rows.supports(["INTEGER"], [1])  # binary format
    assert arrow_rows.supports(["VARCHAR", "DECIMAL(38,9)", "DATE"], [0, 0, 0])
