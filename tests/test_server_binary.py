"""Oracle tests for the wire formats (policyengine.server.binary and policyengine.server.copyout).

Nothing here checks our bytes against bytes written by hand where a real decoder exists:

* what we send is decoded by psycopg 3's own loaders (the decoders a real client runs), and must give
  back the value we started from;
* Bind parameters come from psycopg's own dumpers, and must decode to the value psycopg was given;
* DuckDB supplies the Python objects the server really handles (not objects we imagine it returns);
* when Debian's PostgreSQL 15 is installed, the session's throwaway server (tests/harness/postgres15.py) is the final
  word: our text and binary output, RowDescription fields and COPY streams must equal its bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import functools
import io
import json
import math
import os
import random
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from policyengine.server.binary import (
    BinaryUnsupported,
    column_encoders,
    data_rows,
    decode_parameter,
    pg_type,
    row_description,
    type_modifier,
)
from policyengine.server.copyout import CopyEncoder, copy_out_response

# after the importorskip on purpose: without psycopg the module is skipped, not an import error
psycopg = pytest.importorskip("psycopg")
from psycopg import postgres as pg_registry  # noqa: E402
from psycopg._copy_base import _parse_row_binary, _parse_row_text  # noqa: E402  # psycopg's COPY row parsers
from psycopg.adapt import PyFormat, Transformer  # noqa: E402
from psycopg.pq import Format  # noqa: E402

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    # hypothesis caches source constants under ./.hypothesis; keep the working tree clean
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "policyengine-hypothesis")
# database=None: no example database either; a failure prints its reproducing example
SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
# each example against PostgreSQL carries a list of values or rows: a few hundred values per type in all
PG_SETTINGS = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
VARIANT_SETTINGS = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
UTC = dt.UTC

# --- decoding with psycopg ---------------------------------------------------------------------------

_TX = Transformer()


def load(oid: int, fmt: int, data: bytes | None) -> Any:
    """Decode one field the way a psycopg client does."""
    if data is None:
        return None
    return _TX.get_loader(oid, Format(fmt)).load(data)


def encode(duckdb_type: str, fmt: int, value: Any) -> bytes | None:
    return column_encoders([duckdb_type], [fmt])[0](value)


def as_float4(value: Any) -> Any:
    """float4 text is the shortest decimal that reads back as the float4; a client parsing it as a double
    (psycopg does, for real PostgreSQL too) gets a nearby double, equal once rounded to float4 again."""
    if isinstance(value, list):
        return [as_float4(item) for item in value]
    return None if value is None else struct.unpack("!f", struct.pack("!f", value))[0]


def client_value(duckdb_type: str, fmt: int, got: Any) -> Any:
    if fmt == 0 and duckdb_type in ("FLOAT", "FLOAT[]"):
        return as_float4(got)
    return got


def same(expected: Any, got: Any) -> bool:
    """Equality that knows NaN, negative zero, Decimal scale, and aware times' offsets; an interval
    parameter bound as DuckDB's own value (one a timedelta cannot hold) by its length, as timedelta's."""
    if expected is None or got is None:
        return expected is got
    if isinstance(expected, dt.timedelta) and type(got).__name__ == "Value":
        months, days, micros = _bound_interval(got)
        return expected == dt.timedelta(days=months * 30 + days, microseconds=micros)
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(got, (list, tuple))
            and len(expected) == len(got)
            and all(same(a, b) for a, b in zip(expected, got))
        )
    if isinstance(expected, float) or isinstance(got, float):
        expected, got = float(expected), float(got)
        if math.isnan(expected):
            return math.isnan(got)
        return expected == got and math.copysign(1, expected) == math.copysign(1, got)
    if isinstance(expected, decimal.Decimal) and isinstance(got, decimal.Decimal):
        if expected.is_nan():
            return got.is_nan()
        if expected != got:
            return False
        # the scale (dscale) travels too: 1.50 stays 1.50
        return not expected.is_finite() or got.as_tuple().exponent == min(expected.as_tuple().exponent, 0)
    if isinstance(expected, dt.datetime) and expected.tzinfo is not None:
        # subtraction, not ==: Python never calls a time in a DST gap or fold equal to another zone's
        return isinstance(got, dt.datetime) and got.tzinfo is not None and expected - got == dt.timedelta(0)
    if isinstance(expected, dt.time) and expected.tzinfo is not None:
        return (
            isinstance(got, dt.time)
            and expected.replace(tzinfo=None) == got.replace(tzinfo=None)
            and expected.utcoffset() == got.utcoffset()
        )
    return expected == got


# --- value strategies ----------------------------------------------------------------------------------

INT_BOUNDS = {
    "TINYINT": (-(2**7), 2**7 - 1),
    "SMALLINT": (-(2**15), 2**15 - 1),
    "INTEGER": (-(2**31), 2**31 - 1),
    "BIGINT": (-(2**63), 2**63 - 1),
    "UTINYINT": (0, 2**8 - 1),
    "USMALLINT": (0, 2**16 - 1),
    "UINTEGER": (0, 2**32 - 1),
    "UBIGINT": (0, 2**64 - 1),
    "HUGEINT": (-(2**127), 2**127 - 1),
    "UHUGEINT": (0, 2**128 - 1),
}
ZONES = [
    UTC,
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(-dt.timedelta(hours=8)),
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/St_Johns"),
    ZoneInfo("Asia/Kathmandu"),
]
TIME_ZONES = [
    UTC,
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(-dt.timedelta(hours=12, minutes=34)),
    dt.timezone(dt.timedelta(hours=14)),
    dt.timezone(dt.timedelta(hours=5, minutes=30, seconds=15)),
]


def decimals(
    max_digits: int = 40, exponents: tuple[int, int] = (-40, 40), special: bool = True
) -> st.SearchStrategy:
    """Decimals built digit by digit: scale 0, negative and positive exponents, long coefficients."""
    finite = st.builds(
        lambda sign, digits, exponent: decimal.Decimal((sign, tuple(int(c) for c in str(digits)), exponent)),
        st.integers(0, 1),
        st.integers(0, 10**max_digits - 1),
        st.integers(*exponents),
    )
    if not special:
        return finite
    return finite | st.sampled_from(
        [decimal.Decimal("NaN"), decimal.Decimal("Infinity"), decimal.Decimal("-Infinity")]
    )


def json_texts(pg: bool) -> st.SearchStrategy:
    text = (
        st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
        if pg
        else st.text()
    )
    scalars = (
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
    )
    tree = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=6,
    )
    return st.builds(json.dumps, tree, ensure_ascii=st.booleans())


def scalar_strategy(duckdb_type: str, pg: bool = False) -> st.SearchStrategy:
    """Values of a DuckDB type as DuckDB's Python API returns them; pg=True: only what PostgreSQL stores."""
    if duckdb_type in INT_BOUNDS:
        return st.integers(*INT_BOUNDS[duckdb_type])
    text = (
        st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
        if pg
        else st.text()
    )
    special_text = st.lists(
        st.sampled_from(
            [
                "\t",
                "\n",
                "\r",
                "\\",
                '"',
                "'",
                ",",
                "{",
                "}",
                " ",
                "NULL",
                "\\N",
                "é",
                "€",
                "\v",
                "\b",
                "\f",
                ";",
                "a",
            ]
        ),
        max_size=6,
    ).map("".join)
    return {
        "BOOLEAN": st.booleans(),
        "DECIMAL(38,10)": decimals(28, (-10, -10), special=False),
        "DECIMAL": decimals(),
        "FLOAT": st.floats(width=32),
        "DOUBLE": st.floats(),
        "VARCHAR": text | special_text,
        "BLOB": st.binary(max_size=40),
        "DATE": st.dates(),
        "TIME": st.times(),
        "TIME WITH TIME ZONE": st.times(timezones=st.sampled_from(TIME_ZONES)),
        "TIMESTAMP": st.datetimes(),
        "TIMESTAMP WITH TIME ZONE": st.datetimes(
            min_value=dt.datetime(1, 1, 2),
            max_value=dt.datetime(9999, 12, 30),
            timezones=st.sampled_from(ZONES),
        ),
        "INTERVAL": st.timedeltas(),
        "UUID": st.uuids(),
        "JSON": json_texts(pg),
    }[duckdb_type]


SCALAR_TYPES = [
    *INT_BOUNDS,
    "BOOLEAN",
    "DECIMAL(38,10)",
    "DECIMAL",
    "FLOAT",
    "DOUBLE",
    "VARCHAR",
    "BLOB",
    "DATE",
    "TIME",
    "TIME WITH TIME ZONE",
    "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE",
    "INTERVAL",
    "UUID",
    "JSON",
]
ARRAY_TYPES = [
    "INTEGER[]",
    "SMALLINT[]",
    "BIGINT[]",
    "VARCHAR[]",
    "DOUBLE[]",
    "FLOAT[]",
    "DECIMAL[]",
    "BOOLEAN[]",
    "DATE[]",
    "TIME[]",
    "TIMESTAMP[]",
    "TIMESTAMP WITH TIME ZONE[]",
    "UUID[]",
    "BLOB[]",
    "INTERVAL[]",
    "JSON[]",
]


@functools.cache
def value_strategy(duckdb_type: str, pg: bool = False) -> st.SearchStrategy:
    """Built once per type: hypothesis validates and labels a strategy object the first time it is drawn."""
    if duckdb_type.endswith("[]"):
        return st.lists(st.none() | value_strategy(duckdb_type[:-2], pg), max_size=6)
    strategy = scalar_strategy(duckdb_type, pg)
    if pg and duckdb_type in ("FLOAT", "DOUBLE"):
        # a NaN's sign and payload mean nothing, and PostgreSQL keeps or drops them depending on the cast
        # path; we always send its canonical NaN, so the byte-for-byte oracles are given that one
        strategy = strategy.map(lambda number: math.nan if math.isnan(number) else number)
    return strategy


def expected_load(duckdb_type: str, value: Any) -> Any:
    """What a psycopg client should get back: JSON arrives parsed, everything else as it went in."""
    if value is None:
        return None
    if duckdb_type.endswith("[]"):
        return [expected_load(duckdb_type[:-2], item) for item in value]
    if duckdb_type == "JSON":
        return json.loads(value)
    return value


# --- type mapping ----------------------------------------------------------------------------------

#: the DuckDB type -> the PostgreSQL type it is announced as (by name: psycopg's registry gives the OID)
ANNOUNCED = {
    "INTEGER": "int4",
    "BIGINT": "int8",
    "SMALLINT": "int2",
    "TINYINT": "int2",
    "UTINYINT": "int2",
    "USMALLINT": "int4",
    "UINTEGER": "int8",
    "UBIGINT": "numeric",
    "HUGEINT": "numeric",
    "UHUGEINT": "numeric",
    "DECIMAL(10,2)": "numeric",
    "DECIMAL(38,10)": "numeric",
    "FLOAT": "float4",
    "DOUBLE": "float8",
    "BOOLEAN": "bool",
    "VARCHAR": "text",
    "BLOB": "bytea",
    "DATE": "date",
    "TIME": "time",
    "TIME WITH TIME ZONE": "timetz",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "JSON": "json",
    "STRUCT(a INTEGER, b VARCHAR)": "text",
    "MAP(VARCHAR, INTEGER)": "json",  # a map is what PostgreSQL's json is for: clients parse it
    "UNION(k INTEGER)": "text",
    "ENUM('a', 'b')": "text",
    "BIT": "text",
    "INTEGER[][]": "text",
    "STRUCT(a INTEGER)[]": "text",
}
ARRAYS = {
    "INTEGER[]": "int4",
    "BIGINT[]": "int8",
    "SMALLINT[]": "int2",
    "VARCHAR[]": "text",
    "DOUBLE[]": "float8",
    "FLOAT[]": "float4",
    "BOOLEAN[]": "bool",
    "DECIMAL(10,2)[]": "numeric",
    "DATE[]": "date",
    "TIMESTAMP[]": "timestamp",
    "TIMESTAMP WITH TIME ZONE[]": "timestamptz",
    "UUID[]": "uuid",
    "BLOB[]": "bytea",
    "INTEGER[3]": "int4",
    "INTERVAL[]": "interval",
    "JSON[]": "json",
    "TIME[]": "time",
}


@pytest.mark.parametrize("duckdb_type", sorted(ANNOUNCED))
def test_pg_type_names_real_postgresql_types(duckdb_type: str) -> None:
    info = pg_registry.types[ANNOUNCED[duckdb_type]]
    assert pg_type(duckdb_type)[0] == info.oid


@pytest.mark.parametrize("duckdb_type", sorted(ARRAYS))
def test_lists_become_postgresql_array_types(duckdb_type: str) -> None:
    info = pg_registry.types[ARRAYS[duckdb_type]]
    assert pg_type(duckdb_type) == (info.array_oid, -1)


def test_spec_oids_and_lengths() -> None:
    """The OIDs the protocol brief names, spelled out once (psycopg's registry checks the names above)."""
    assert pg_type("INTEGER") == (23, 4) and pg_type("BIGINT") == (20, 8) and pg_type("SMALLINT") == (21, 2)
    assert pg_type("DECIMAL(10,2)") == (1700, -1) and pg_type("TIMESTAMP WITH TIME ZONE") == (1184, 8)
    assert (
        pg_type("INTERVAL") == (1186, 16) and pg_type("UUID") == (2950, 16) and pg_type("JSON") == (114, -1)
    )
    assert pg_type("INTEGER[]") == (1007, -1) and pg_type("DECIMAL(4,1)[]") == (1231, -1)
    assert type_modifier("DECIMAL(10,2)") == ((10 << 16) | 2) + 4 and type_modifier("INTEGER") == -1


def parse_row_description(message: bytes) -> list[tuple[str, int, int, int, int]]:
    assert message[:1] == b"T"
    (length,) = struct.unpack("!i", message[1:5])
    assert length == len(message) - 1
    (count,) = struct.unpack("!h", message[5:7])
    offset, fields = 7, []
    for _ in range(count):
        end = message.index(b"\0", offset)
        name = message[offset:end].decode()
        _table, _attnum, oid, typlen, typmod, fmt = struct.unpack("!ihihih", message[end + 1 : end + 19])
        fields.append((name, oid, typlen, typmod, fmt))
        offset = end + 19
    assert offset == len(message)
    return fields


def test_row_description_fields_and_formats() -> None:
    fields = parse_row_description(
        row_description(["a", "é", "d"], ["INTEGER", "VARCHAR", "DECIMAL(10,2)"], [1, 0, 1])
    )
    assert fields == [("a", 23, 4, -1, 1), ("é", 25, -1, -1, 0), ("d", 1700, -1, (10 << 16 | 2) + 4, 1)]
    assert [f[4] for f in parse_row_description(row_description(["a", "b"], ["INTEGER", "BIGINT"]))] == [0, 0]
    assert [f[4] for f in parse_row_description(row_description(["a", "b"], ["INTEGER", "BIGINT"], [1]))] == [
        1,
        1,
    ]
    with pytest.raises(ValueError):
        row_description(["a", "b"], ["INTEGER", "BIGINT"], [1, 0, 1])


def test_format_code_rules() -> None:
    assert len(column_encoders(["INTEGER", "VARCHAR"], [])) == 2
    one = column_encoders(["INTEGER", "BIGINT"], [1])
    assert [e(7) for e in one] == [struct.pack("!i", 7), struct.pack("!q", 7)]
    assert [e(7) for e in column_encoders(["INTEGER", "BIGINT"], [0, 1])] == [b"7", struct.pack("!q", 7)]
    assert column_encoders(["INTEGER"], [1])[0](None) is None
    with pytest.raises(ValueError):
        column_encoders(["INTEGER", "BIGINT", "DATE"], [0, 1])
    with pytest.raises(ValueError):
        column_encoders(["INTEGER"], [2])


@pytest.mark.parametrize(
    "duckdb_type",
    [
        "STRUCT(a INTEGER, b VARCHAR)",
        "UNION(k INTEGER)",
        "INTEGER[][]",
        "STRUCT(a INTEGER)[]",
    ],
)
def test_binary_refused_for_types_without_a_binary_form(duckdb_type: str) -> None:
    with pytest.raises(BinaryUnsupported) as refused:
        column_encoders(["INTEGER", duckdb_type], [1])
    assert refused.value.type_name == duckdb_type and duckdb_type in str(refused.value)
    with pytest.raises(BinaryUnsupported):
        CopyEncoder(["INTEGER", duckdb_type], "binary")
    column_encoders([duckdb_type], [0])  # text always works


# --- our bytes, decoded by psycopg -----------------------------------------------------------------


def check_round_trips(duckdb_type: str, value: Any) -> None:
    """psycopg's loaders give back the value we encoded, in both formats; and decode_parameter reads our
    output back too (our output is PostgreSQL's, byte for byte, in the PostgreSQL tests below)."""
    oid, _ = pg_type(duckdb_type)
    expected = expected_load(duckdb_type, value)
    for fmt in (0, 1):
        encoded = encode(duckdb_type, fmt, value)
        got = client_value(duckdb_type, fmt, load(oid, fmt, encoded))
        assert same(expected, got), (fmt, value, got)
        assert encoded is not None
        assert same(value, decode_parameter(encoded, oid, fmt)), fmt


@pytest.mark.parametrize("duckdb_type", SCALAR_TYPES)
@SETTINGS
@given(data=st.data())
def test_psycopg_decodes_what_we_send(duckdb_type: str, data: st.DataObject) -> None:
    check_round_trips(duckdb_type, data.draw(value_strategy(duckdb_type), label="value"))


@pytest.mark.parametrize("duckdb_type", ARRAY_TYPES)
@settings(SETTINGS, max_examples=100)  # up to six elements each
@given(data=st.data())
def test_psycopg_decodes_our_arrays(duckdb_type: str, data: st.DataObject) -> None:
    check_round_trips(duckdb_type, data.draw(value_strategy(duckdb_type), label="value"))


# --- Bind parameters -------------------------------------------------------------------------------

#: Python values a client binds; psycopg chooses the type OID and the bytes
PARAMETER_VALUES = {
    "int": st.integers(-(2**70), 2**70),
    "float": st.floats(),
    "decimal": decimals(30, (-30, 30)),
    "bool": st.booleans(),
    "str": st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
    "bytes": st.binary(max_size=30),
    "date": st.dates(),
    "time": st.times(),
    "timetz": st.times(timezones=st.sampled_from(TIME_ZONES)),
    "timestamp": st.datetimes(),
    "timestamptz": st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.sampled_from(ZONES)
    ),
    "interval": st.timedeltas(),
    "uuid": st.uuids(),
    "int list": st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=6).filter(
        lambda items: any(item is not None for item in items)
    ),
    "str list": st.lists(
        st.none()
        | st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
        min_size=1,
        max_size=6,
    ).filter(lambda items: any(item is not None for item in items)),
    "date list": st.lists(st.dates(), min_size=1, max_size=4),
    "decimal list": st.lists(decimals(20, (-10, 5), special=False), min_size=1, max_size=4),
}


@pytest.mark.parametrize("kind", sorted(PARAMETER_VALUES))
@SETTINGS
@given(data=st.data())
def test_parameters_from_psycopg_dumpers(kind: str, data: st.DataObject) -> None:
    value = data.draw(PARAMETER_VALUES[kind], label="value")
    for fmt, pyformat in ((0, PyFormat.TEXT), (1, PyFormat.BINARY)):
        if kind == "bytes" and fmt == 0:
            continue  # without a connection psycopg escapes bytea for a SQL literal; see the PostgreSQL test
        dumper = _TX.get_dumper(value, pyformat)
        raw = dumper.dump(value)
        assert raw is not None
        got = decode_parameter(bytes(raw), dumper.oid, fmt)
        # OID 0 leaves the type to the server: the text stays text and DuckDB casts it where it is used
        expected = bytes(raw).decode() if dumper.oid == 0 else value
        assert same(expected, got), (fmt, dumper.oid, bytes(raw), got)


def test_parameter_spellings_postgresql_accepts() -> None:
    assert decode_parameter(b" 42 ", 23, 0) == 42
    assert [
        decode_parameter(word, 16, 0) for word in (b"t", b"TRUE", b"yes", b"on", b"1", b"of", b"n", b"0")
    ] == [True, True, True, True, True, False, False, False]
    assert _bound_interval(decode_parameter(b"1 year 2 mons 3 days 04:05:06.5", 1186, 0)) == (14, 3, 14706500000)
    assert decode_parameter(b"P1DT2H", 1186, 0) == dt.timedelta(days=1, hours=2)
    assert _bound_interval(decode_parameter(b"@ 1 day 2 hours ago", 1186, 0)) == (0, -1, -7200000000)
    assert _bound_interval(decode_parameter(b"1 day -36:00:00", 1186, 0)) == (0, 1, -129600000000)
    assert _bound_interval(decode_parameter(struct.pack("!qii", -1, 2, -3), 1186, 1)) == (-3, 2, -1)
    assert decode_parameter(b"2020-01-01 10:00:00+02", 1184, 0) == dt.datetime(2020, 1, 1, 8, tzinfo=UTC)
    assert decode_parameter(b"2020-01-01 10:00:00", 1184, 0) == dt.datetime(2020, 1, 1, 10, tzinfo=UTC)
    assert decode_parameter(b'[0:1]={"a b",NULL}', 1009, 0) == ["a b", None]
    assert decode_parameter(b"{{1,2},{3,4}}", 1007, 0) == [[1, 2], [3, 4]]
    assert decode_parameter(b"\\001abc\\\\", 17, 0) == b"\x01abc\\"
    assert decode_parameter(b"whatever", 0, 1) == "whatever"
    assert decode_parameter(b"{1,2}", 0, 0) == "{1,2}"


def test_parameters_duckdb_cannot_hold_as_python_objects() -> None:
    """BC and far-future values become DuckDB's own spelling, so DuckDB binds the right day."""
    bc = decode_parameter(b"0044-03-15 10:00:00 BC", 1114, 0)
    assert bc == "0044-03-15 (BC) 10:00:00"
    assert decode_parameter(b"0044-03-15 BC", 1082, 0) == "0044-03-15 (BC)"
    assert decode_parameter(b"infinity", 1082, 0) == "infinity"
    assert decode_parameter(struct.pack("!q", 2**63 - 1), 1114, 1) == "infinity"
    assert decode_parameter(struct.pack("!q", 86_400_000_000), 1083, 1) == "24:00:00"
    con = duckdb.connect()
    assert con.execute("SELECT ?::TIMESTAMP = TIMESTAMP '0044-03-15 (BC) 10:00:00'", [bc]).fetchone() == (
        True,
    )


@pytest.mark.parametrize(
    ("oid", "size"),
    [
        (16, 1),
        (21, 2),
        (23, 4),
        (20, 8),
        (700, 4),
        (701, 8),
        (1082, 4),
        (1083, 8),
        (1266, 12),
        (1114, 8),
        (1184, 8),
        (1186, 16),
        (2950, 16),
    ],
)
@settings(max_examples=50, deadline=None, database=None)
@given(raw=st.binary(max_size=20))
def test_binary_parameters_of_the_wrong_size_are_refused(oid: int, size: int, raw: bytes) -> None:
    assume(len(raw) != size)
    with pytest.raises(ValueError):
        decode_parameter(raw, oid, 1)


DECODABLE_OIDS = [
    0,
    16,
    17,
    19,
    20,
    21,
    23,
    25,
    26,
    114,
    700,
    701,
    1042,
    1043,
    1082,
    1083,
    1114,
    1184,
    1186,
    1266,
    1700,
    2950,
    3802,
    1000,
    1001,
    1005,
    1007,
    1009,
    1016,
    1021,
    1022,
    1182,
    1115,
    1185,
    1187,
    1231,
    2951,
]


@settings(max_examples=500, deadline=None, database=None)
@given(
    raw=st.binary(max_size=40) | st.text(max_size=30).map(str.encode),
    oid=st.sampled_from(DECODABLE_OIDS),
    fmt=st.sampled_from([0, 1]),
)
def test_malformed_parameters_raise_value_error_only(raw: bytes, oid: int, fmt: int) -> None:
    try:
        decode_parameter(raw, oid, fmt)
    except ValueError:
        pass


# --- values straight out of DuckDB ---------------------------------------------------------------

DUCKDB_QUERIES = [
    "SELECT 42::TINYINT, (-32768)::SMALLINT, 2147483647::INTEGER, (-9223372036854775808)::BIGINT",
    "SELECT 255::UTINYINT, 65535::USMALLINT, 4294967295::UINTEGER, 18446744073709551615::UBIGINT",
    (
        "SELECT 170141183460469231731687303715884105727::HUGEINT, (-170141183460469231731687303715884105727)::HUGEINT, "
        "340282366920938463463374607431768211455::UHUGEINT"
    ),
    (
        "SELECT 12.34::DECIMAL(10,2), (-0.5)::DECIMAL(38,10), 0::DECIMAL(10,4) * -1, 1e20::DECIMAL(38,0), "
        "0.001::DECIMAL(4,3)"
    ),
    "SELECT 0.1::FLOAT, 'nan'::FLOAT, '-inf'::DOUBLE, -0.0::DOUBLE, 1e300::DOUBLE, 5e-324::DOUBLE",
    "SELECT true, false, 'tab\there', 'quote\"back\\slash', ''",
    "SELECT '\\xAA00FF'::BLOB, ''::BLOB, uuid '6ba7b810-9dad-11d1-80b4-00c04fd430c8'",
    "SELECT DATE '2000-01-01', DATE '1969-07-20', DATE '0001-01-01', DATE '9999-12-31'",
    "SELECT TIME '12:34:56.789', TIME '00:00:00', '12:00:00.5+05:30:15'::TIMETZ, '23:59:59-12:34'::TIMETZ",
    (
        "SELECT TIMESTAMP '1969-12-31 23:59:59.999999', TIMESTAMP '2000-01-01', TIMESTAMP_S '2020-02-29 12:00:00', "
        "TIMESTAMP_MS '1900-01-01 00:00:00.123', TIMESTAMP_NS '2020-01-01 00:00:00.123456789'"
    ),
    (
        "SELECT TIMESTAMPTZ '2020-01-01 12:00:00+02', TIMESTAMPTZ '1901-12-13 20:45:52+00', "
        "TIMESTAMPTZ '0001-01-01 00:00:00+00'"
    ),
    (
        "SELECT INTERVAL '1 year 2 months 3 days 04:05:06.5', INTERVAL '-1 hour', INTERVAL '40 hours', "
        "INTERVAL '0 seconds', INTERVAL '1 month -1 day', INTERVAL '-1 day 1 hour'"
    ),
    "SELECT '{\"a\": [1, 2.5, null]}'::JSON, '[]'::JSON, '\"text\"'::JSON",
    "SELECT [1, NULL, 3], ['a b', '', 'NULL', NULL, 'x\"y\\z', '{}'], []::INTEGER[], [1.5::DECIMAL(4,1), NULL]",
    (
        "SELECT [DATE '2020-01-01', NULL], [TIMESTAMPTZ '2020-01-01 00:00:00+00'], [true, NULL], [0.5::FLOAT], "
        "['\\x01'::BLOB], [uuid '6ba7b810-9dad-11d1-80b4-00c04fd430c8'], [INTERVAL '1 day'], [1, 2, 3]::INTEGER[3]"
    ),
    "SELECT [TIME '01:02:03'], ['{}'::JSON], [1::SMALLINT], [1::BIGINT], [1.5::DOUBLE], 'a'::ENUM('a', 'b')",
]


_DUCKDB = duckdb.connect()
_DUCKDB.execute("SET TimeZone = 'UTC'")


def _duckdb_rows(query: str) -> tuple[list[str], tuple[Any, ...]]:
    cursor = _DUCKDB.cursor().execute(query)
    types = [str(column[1]) for column in cursor.description]
    row = cursor.fetchone()
    assert row is not None
    return types, row


def _normalised(duckdb_type: str, value: Any) -> Any:
    """DuckDB's value as a client should see it: JSON parsed, fixed arrays as lists."""
    if value is None:
        return None
    if duckdb_type == "JSON":
        return json.loads(value)
    if duckdb_type.endswith("]"):
        element = duckdb_type[: duckdb_type.rindex("[")]
        return [_normalised(element, item) for item in value]
    return value


@pytest.mark.parametrize("query", DUCKDB_QUERIES)
def test_duckdb_values_survive_the_trip(query: str) -> None:
    types, row = _duckdb_rows(query)
    for duckdb_type, value in zip(types, row):
        oid, _ = pg_type(duckdb_type)
        expected = _normalised(duckdb_type, value)
        for fmt in (0, 1):
            got = client_value(duckdb_type, fmt, load(oid, fmt, encode(duckdb_type, fmt, value)))
            assert same(expected, got), (duckdb_type, fmt, value, got)


@SETTINGS
@given(precision=st.integers(1, 38), data=st.data())
def test_duckdb_decimals_keep_value_and_scale(precision: int, data: st.DataObject) -> None:
    scale = data.draw(st.integers(0, precision))
    unscaled = data.draw(st.integers(-(10**precision) + 1, 10**precision - 1))
    con = _DUCKDB.cursor()
    value = decimal.Decimal(unscaled).scaleb(-scale, decimal.Context(prec=50))  # exact: 38 digits at most
    cursor = con.execute(f"SELECT ?::DECIMAL({precision},{scale})", [value])
    (duck_value,) = cursor.fetchone()
    duckdb_type = str(cursor.description[0][1])
    assert duckdb_type == f"DECIMAL({precision},{scale})"
    assert type_modifier(duckdb_type) == ((precision << 16) | scale) + 4
    for fmt in (0, 1):
        got = load(1700, fmt, encode(duckdb_type, fmt, duck_value))
        assert got == value and got.as_tuple().exponent == -scale


@SETTINGS
@given(
    months=st.integers(-1200, 1200),
    days=st.integers(-(10**5), 10**5),
    micros=st.integers(-(10**14), 10**14),
    stamp=st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.sampled_from(ZONES)
    ),
    real=st.floats(width=32, allow_nan=False),
    huge=st.integers(*INT_BOUNDS["HUGEINT"]),
)
def test_duckdb_intervals_timestamptz_floats_hugeints(
    months: int, days: int, micros: int, stamp: dt.datetime, real: float, huge: int
) -> None:
    cursor = _DUCKDB.cursor().execute(
        "SELECT to_months(?) + to_days(?) + to_microseconds(?), ?::TIMESTAMPTZ, ?::FLOAT, ?::HUGEINT",
        [months, days, micros, stamp, real, huge],
    )
    row = cursor.fetchone()
    types = [str(column[1]) for column in cursor.description]
    assert types == ["INTERVAL", "TIMESTAMP WITH TIME ZONE", "FLOAT", "HUGEINT"]
    assert isinstance(row[0], dt.timedelta) and isinstance(row[3], int)
    for duckdb_type, value in zip(types, row):
        for fmt in (0, 1):
            got = client_value(
                duckdb_type, fmt, load(pg_type(duckdb_type)[0], fmt, encode(duckdb_type, fmt, value))
            )
            assert same(value, got), (duckdb_type, fmt, value, got)


# --- DataRow -----------------------------------------------------------------------------------------

ROW_TYPES = [
    "INTEGER",
    "VARCHAR",
    "DECIMAL",
    "TIMESTAMP WITH TIME ZONE",
    "BOOLEAN",
    "DOUBLE",
    "INTEGER[]",
    "BLOB",
]


def parse_data_rows(stream: bytes) -> Iterator[list[bytes | None]]:
    offset = 0
    while offset < len(stream):
        assert stream[offset : offset + 1] == b"D"
        (length,) = struct.unpack_from("!i", stream, offset + 1)
        end = offset + 1 + length
        (count,) = struct.unpack_from("!h", stream, offset + 5)
        position, fields = offset + 7, []
        for _ in range(count):
            (size,) = struct.unpack_from("!i", stream, position)
            position += 4
            fields.append(None if size == -1 else stream[position : position + size])
            position += max(size, 0)
        assert position == end
        offset = end
        yield fields


@SETTINGS
@given(
    rows=st.lists(st.tuples(*[st.none() | value_strategy(t) for t in ROW_TYPES]), max_size=5),
    formats=st.lists(st.sampled_from([0, 1]), min_size=len(ROW_TYPES), max_size=len(ROW_TYPES)),
)
def test_data_rows_decode_column_by_column(rows: list[tuple[Any, ...]], formats: list[int]) -> None:
    stream = data_rows(rows, column_encoders(ROW_TYPES, formats))
    decoded = list(parse_data_rows(stream))
    assert len(decoded) == len(rows)
    for row, fields in zip(rows, decoded):
        for duckdb_type, fmt, value, field in zip(ROW_TYPES, formats, row, fields):
            assert same(value, load(pg_type(duckdb_type)[0], fmt, field))


# --- COPY, decoded by client-side parsers ------------------------------------------------------------

COPY_TYPES = [
    "INTEGER",
    "BIGINT",
    "DECIMAL(12,3)",
    "DOUBLE",
    "FLOAT",
    "BOOLEAN",
    "VARCHAR",
    "BLOB",
    "DATE",
    "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE",
    "UUID",
    "INTEGER[]",
    "VARCHAR[]",
    "JSON",
    "TIME",
    "INTERVAL",
]
COPY_PG_TYPES = [
    "int4",
    "int8",
    "numeric(12,3)",
    "float8",
    "float4",
    "bool",
    "text",
    "bytea",
    "date",
    "timestamp",
    "timestamptz",
    "uuid",
    "int4[]",
    "text[]",
    "json",
    "time",
    "interval",
]
COPY_COLUMNS = [
    "id",
    "na,me",
    'q"uote',
    "back\\slash",
    "sp ace",
    "tab\there",
    "c7",
    "c8",
    "c9",
    "c10",
    "c11",
    "c12",
    "c13",
    "c14",
    "c15",
    "c16",
    "c17",
]


def same_sign_interval() -> st.SearchStrategy:
    """Intervals whose days and time share a sign: the split DuckDB held, which PostgreSQL is given too."""
    return st.builds(
        lambda days, micros, negative: (
            -dt.timedelta(days=days, microseconds=micros)
            if negative
            else dt.timedelta(days=days, microseconds=micros)
        ),
        st.integers(0, 10**6),
        st.integers(0, 86_400_000_000 - 1),
        st.booleans(),
    )


@functools.cache
def copy_value_strategy(duckdb_type: str) -> st.SearchStrategy:
    if duckdb_type == "DECIMAL(12,3)":
        return decimals(12, (-3, -3), special=False).filter(lambda d: abs(d) < 10**9)
    if duckdb_type == "INTERVAL":
        return same_sign_interval()
    return value_strategy(duckdb_type, pg=True)


COPY_ROWS = st.lists(
    st.tuples(*[st.none() | copy_value_strategy(t) for t in COPY_TYPES]), min_size=0, max_size=4
)


def copy_messages(stream: bytes) -> list[bytes]:
    """The CopyData payloads of a message stream, checking it is only CopyData then one CopyDone."""
    offset, payload = 0, []
    done = False
    while offset < len(stream):
        kind = stream[offset : offset + 1]
        (length,) = struct.unpack_from("!i", stream, offset + 1)
        assert not done, "nothing may follow CopyDone"
        if kind == b"d":
            payload.append(stream[offset + 5 : offset + 1 + length])
        else:
            assert kind == b"c" and length == 4
            done = True
        offset += 1 + length
    assert offset == len(stream)
    return payload


def our_copy_messages(
    rows: list[tuple[Any, ...]], fmt: str, types: list[str] = COPY_TYPES, **options: Any
) -> list[bytes]:
    encoder = CopyEncoder(types, fmt, **options)
    stream = encoder.start() + encoder.rows(rows) + encoder.end()
    assert stream.endswith(b"c\x00\x00\x00\x04")
    return copy_messages(stream)


def our_copy(rows: list[tuple[Any, ...]], fmt: str, types: list[str] = COPY_TYPES, **options: Any) -> bytes:
    return b"".join(our_copy_messages(rows, fmt, types, **options))


def test_copy_out_response_layout() -> None:
    assert copy_out_response("text", 3) == b"H" + struct.pack("!ibhhhh", 13, 0, 3, 0, 0, 0)
    assert copy_out_response("csv", 1) == b"H" + struct.pack("!ibhh", 9, 0, 1, 0)
    assert copy_out_response("binary", 2) == b"H" + struct.pack("!ibhhh", 11, 1, 2, 1, 1)


@SETTINGS
@given(rows=COPY_ROWS)
def test_copy_text_parsed_by_psycopg(rows: list[tuple[Any, ...]]) -> None:
    payload = our_copy(rows, "text")
    transformer = Transformer()
    transformer.set_loader_types([pg_type(t)[0] for t in COPY_TYPES], Format.TEXT)
    lines = payload.split(b"\n")[:-1] if payload else []
    assert len(lines) == len(rows)
    for row, line in zip(rows, lines):
        got = _parse_row_text(line + b"\n", transformer)
        assert all(
            same(expected_load(t, v), client_value(t, 0, g)) for t, v, g in zip(COPY_TYPES, row, got)
        ), line


@SETTINGS
@given(rows=COPY_ROWS)
def test_copy_binary_parsed_by_psycopg(rows: list[tuple[Any, ...]]) -> None:
    payload = our_copy(rows, "binary")
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
    assert payload.startswith(header) and payload.endswith(b"\xff\xff")
    transformer = Transformer()
    transformer.set_loader_types([pg_type(t)[0] for t in COPY_TYPES], Format.BINARY)
    body, offset, decoded = payload[len(header) : -2], 0, []
    while offset < len(body):  # walk the tuples to find where each one ends
        start = offset
        (count,) = struct.unpack_from("!h", body, offset)
        offset += 2
        for _ in range(count):
            (size,) = struct.unpack_from("!i", body, offset)
            offset += 4 + max(size, 0)
        decoded.append(_parse_row_binary(body[start:offset], transformer))
    assert len(decoded) == len(rows)
    for row, got in zip(rows, decoded):
        assert all(same(expected_load(t, v), g) for t, v, g in zip(COPY_TYPES, row, got))


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            st.none() | scalar_strategy("VARCHAR", pg=True), st.none() | st.integers(), st.none() | st.dates()
        ),
        max_size=5,
    ),
    header=st.booleans(),
)
def test_copy_csv_parsed_by_the_csv_module(rows: list[tuple[Any, ...]], header: bool) -> None:
    types = ["VARCHAR", "HUGEINT", "DATE"]
    payload = our_copy(rows, "csv", types, header=header, columns=["a,b", 'q"', "c"]).decode()
    records = list(csv.reader(io.StringIO(payload, newline="")))
    if header:
        assert records.pop(0) == ["a,b", 'q"', "c"]
    assert records == [
        ["" if v is None else str(v) if t != "DATE" else v.isoformat() for t, v in zip(types, row)]
        for row in rows
    ]
    # the csv module reads NULL and '' alike; PostgreSQL tells them apart by the quotes
    empty_strings = sum(1 for row in rows if row[0] == "")
    assert payload.count('""') >= empty_strings


def test_copy_text_options_and_escapes() -> None:
    rows = [("a\tb\\c\nd\re;f\bg\fh\vi", None), ("", "x")]
    assert our_copy(rows, "text", ["VARCHAR", "VARCHAR"]) == (b"a\\tb\\\\c\\nd\\re;f\\bg\\fh\\vi\t\\N\n\tx\n")
    # control characters keep their escapes whatever the delimiter; the delimiter gains a backslash
    assert our_copy(rows, "text", ["VARCHAR", "VARCHAR"], delimiter=";", null="") == (
        b"a\\tb\\\\c\\nd\\re\\;f\\bg\\fh\\vi;\n;x\n"
    )
    with pytest.raises(ValueError):
        CopyEncoder(["VARCHAR"], "text", delimiter="\\")
    with pytest.raises(ValueError):
        CopyEncoder(["VARCHAR"], "csv", delimiter='"')
    with pytest.raises(ValueError):
        CopyEncoder(["VARCHAR"], "text", header=True)  # the header needs names


# --- a real PostgreSQL 15 --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgres(postgres15: Any) -> Iterator[Any]:
    """A connection to the session's throwaway PostgreSQL 15 (tests/harness/postgres15.py: TimeZone UTC,
    DateStyle ISO, IntervalStyle postgres, extra_float_digits 1), or a skip saying what is missing."""
    with postgres15.connect() as connection:
        yield connection


#: the PostgreSQL type a DuckDB type's values are given to the server as
PG_CAST = {
    "TINYINT": "int2",
    "SMALLINT": "int2",
    "UTINYINT": "int2",
    "INTEGER": "int4",
    "USMALLINT": "int4",
    "BIGINT": "int8",
    "UINTEGER": "int8",
    "UBIGINT": "numeric",
    "HUGEINT": "numeric",
    "UHUGEINT": "numeric",
    "DECIMAL(38,10)": "numeric",
    "DECIMAL": "numeric",
    "FLOAT": "float4",
    "DOUBLE": "float8",
    "BOOLEAN": "bool",
    "VARCHAR": "text",
    "BLOB": "bytea",
    "DATE": "date",
    "TIME": "time",
    "TIME WITH TIME ZONE": "timetz",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "JSON": "json",
}


def pg_parameter(duckdb_type: str, value: Any) -> Any:
    """How a value is handed to PostgreSQL: psycopg's dumpers, except intervals, given as days + time with
    the split we send (psycopg would send -1 hour as -1 days +23:00:00, a different interval to print)."""
    if value is None:
        return None
    if duckdb_type.endswith("[]"):
        return [pg_parameter(duckdb_type[:-2], item) for item in value]
    if duckdb_type == "INTERVAL":
        total = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        days, micros = divmod(abs(total), 86_400_000_000)
        sign = "-" if total < 0 else ""
        return f"{sign}{days} days {sign}{micros} microseconds"
    return value


def postgres_output(
    connection: Any, pg_cast: str, values: list[Any]
) -> list[tuple[bytes | None, bytes | None]]:
    """PostgreSQL's bytes for each value, in order: its output function (what a text-format result
    carries, not a ::text cast, which differs for bool) and its send function (binary format)."""
    source = "text" if pg_cast in ("interval", "json") else pg_cast
    query = f"SELECT v FROM unnest(%s::{source}[]::{pg_cast}[]) WITH ORDINALITY AS t(v, n) ORDER BY n"
    columns = []
    for binary in (False, True):
        cursor = connection.cursor()
        cursor.execute(query, [values], binary=binary)
        result = cursor.pgresult
        columns.append([result.get_value(i, 0) for i in range(result.ntuples)])
    return list(zip(*columns))


def postgres_row(
    connection: Any, query: str, parameters: list[Any] | None = None
) -> tuple[list[Any], list[Any], Any]:
    """One row as (text-format fields, binary-format fields, the binary result)."""
    rows = []
    for binary in (False, True):
        cursor = connection.cursor()
        cursor.execute(query, parameters, binary=binary)
        result = cursor.pgresult
        rows.append(([result.get_value(0, i) for i in range(result.nfields)], result))
    return rows[0][0], rows[1][0], rows[1][1]


PG_SCALARS = [t for t in SCALAR_TYPES if t in PG_CAST]


@pytest.mark.parametrize("duckdb_type", PG_SCALARS)
@PG_SETTINGS
@given(data=st.data())
def test_bytes_equal_postgresql_output(postgres: Any, duckdb_type: str, data: st.DataObject) -> None:
    values = data.draw(value_strategy(duckdb_type + "[]", pg=True).filter(bool))
    pg_cast = PG_CAST[duckdb_type]
    outputs = postgres_output(postgres, pg_cast, [pg_parameter(duckdb_type, v) for v in values])
    assert len(outputs) == len(values)
    for value, (text, binary) in zip(values, outputs):
        assert encode(duckdb_type, 0, value) == text, value
        assert encode(duckdb_type, 1, value) == binary, value


PG_ARRAYS = [t for t in ARRAY_TYPES if t[:-2] in PG_CAST]


@functools.cache
def array_lists(duckdb_type: str) -> st.SearchStrategy:
    return st.lists(value_strategy(duckdb_type, pg=True), min_size=1, max_size=4)


@pytest.mark.parametrize("duckdb_type", PG_ARRAYS)
@PG_SETTINGS
@given(data=st.data())
def test_array_bytes_equal_postgresql_output(postgres: Any, duckdb_type: str, data: st.DataObject) -> None:
    arrays = data.draw(array_lists(duckdb_type))
    pg_cast = PG_CAST[duckdb_type[:-2]]
    source = "text" if pg_cast in ("interval", "json") else pg_cast
    columns = ", ".join(f"%s::{source}[]::{pg_cast}[]" for _ in arrays)
    texts, binaries, _ = postgres_row(
        postgres, f"SELECT {columns}", [pg_parameter(duckdb_type, a) for a in arrays]
    )
    for array, text, binary in zip(arrays, texts, binaries):
        assert encode(duckdb_type, 0, array) == text, array
        assert encode(duckdb_type, 1, array) == binary, array


def test_float_text_equals_postgresql_on_random_bit_patterns(postgres: Any) -> None:
    """Shortest-digit output where Python's repr and PostgreSQL's Ryu can disagree: a decimal exactly
    halfway between two floats (PostgreSQL never picks one), lopsided gaps at powers of two, float4."""
    generator = random.Random(20240601)
    doubles = [struct.unpack("!d", generator.randbytes(8))[0] for _ in range(3000)]
    doubles += [2.0**60 + 2**8 * k for k in range(0, 600, 2)] + [2.0**k for k in range(-1074, 1024, 7)]
    doubles += [generator.uniform(-1, 1) * 10 ** generator.randint(-8, 20) for _ in range(1000)]
    singles = [struct.unpack("!f", generator.randbytes(4))[0] for _ in range(3000)] + [
        2.0**k for k in range(-149, 128)
    ]
    for duckdb_type, values in (("DOUBLE", doubles), ("FLOAT", singles)):
        values = [math.nan if math.isnan(v) else v for v in values]
        outputs = postgres_output(postgres, PG_CAST[duckdb_type], values)
        mismatches = [(v, text) for v, (text, _) in zip(values, outputs) if encode(duckdb_type, 0, v) != text]
        assert not mismatches, mismatches[:5]


def test_bytea_escape_format_reads_back(postgres: Any) -> None:
    """Clients may send bytea in the old escape format; PostgreSQL's own escape output must parse."""
    value = bytes(range(256)) + b"\\'\""
    postgres.execute("SET bytea_output = escape")
    try:
        (texts, _, _) = postgres_row(postgres, "SELECT %s::bytea", [value])
    finally:
        postgres.execute("RESET bytea_output")
    assert decode_parameter(texts[0], 17, 0) == value


def test_binary_parameters_of_unknown_types_are_unsupported() -> None:
    with pytest.raises(BinaryUnsupported):
        decode_parameter(b"\x00" * 16, 600, 1)  # point
    assert decode_parameter(b"(1,2)", 600, 0) == "(1,2)"  # text: DuckDB casts it where it is used


#: the same value made by DuckDB and by PostgreSQL; DuckDB's Python object must encode to PostgreSQL's bytes
SAME_VALUES = [
    ("DATE '0044-03-15 (BC)'", "DATE '0044-03-15 BC'"),
    ("DATE '12000-01-01'", "DATE '12000-01-01'"),
    ("TIMESTAMP '0044-03-15 (BC) 10:00:00.25'", "TIMESTAMP '0044-03-15 10:00:00.25 BC'"),
    ("TIMESTAMP '294246-12-31 23:59:59.999999'", "TIMESTAMP '294246-12-31 23:59:59.999999'"),
    ("TIMESTAMPTZ '0044-03-15 (BC) 10:00:00+00'", "TIMESTAMPTZ '0044-03-15 10:00:00+00 BC'"),
    ("TIMESTAMPTZ '20000-06-01 00:00:00.5+00'", "TIMESTAMPTZ '20000-06-01 00:00:00.5+00'"),
    ("TIME '24:00:00'", "TIME '24:00:00'"),
    ("'12:34:56.5+05:30:15'::TIMETZ", "'12:34:56.5+05:30:15'::timetz"),
    ("'00:00:00-15:59'::TIMETZ", "'00:00:00-15:59'::timetz"),
    ("170141183460469231731687303715884105727::HUGEINT", "170141183460469231731687303715884105727::numeric"),
    ("18446744073709551615::UBIGINT", "18446744073709551615::numeric"),
    ("(-1.5)::DECIMAL(10,3)", "(-1.5)::numeric(10,3)"),
    ("0::DECIMAL(10,4) * -1", "0.0000::numeric"),
    ("0.00001::DECIMAL(18,5)", "0.00001::numeric"),
    ("'nan'::DOUBLE", "'nan'::float8"),
    ("'-inf'::FLOAT", "'-inf'::float4"),
    ("0.1::FLOAT", "0.1::float4"),
    ("3.4028235e38::FLOAT", "3.4028235e38::float4"),
    ("1e-45::FLOAT", "1e-45::float4"),
    ("1e15::DOUBLE", "1e15::float8"),
    ("123456789012345.6::DOUBLE", "123456789012345.6::float8"),
    ("INTERVAL '40 hours'", "INTERVAL '1 day 16 hours'"),  # Python's timedelta keeps days and time apart
    ("INTERVAL '-1 hour'", "INTERVAL '-1 hour'"),
    ("INTERVAL '1 year 2 months 3 days 04:05:06.5'", "INTERVAL '423 days 04:05:06.5'"),  # months are 30 days
    ("INTERVAL '-3 days -00:00:00.000001'", "INTERVAL '-3 days -00:00:00.000001'"),
    ("'\\xAA\\x00'::BLOB", "'\\xaa00'::bytea"),
    ("'{\"a\": [1, 2]}'::JSON", "'{\"a\": [1, 2]}'::json"),
    ("uuid '6ba7b810-9dad-11d1-80b4-00c04fd430c8'", "'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid"),
    ("TIMESTAMP_NS '2020-01-01 00:00:00.123456789'", "TIMESTAMP '2020-01-01 00:00:00.123456'"),  # truncated
    ("TIMESTAMPTZ '2020-06-01 12:00:00+02'", "TIMESTAMPTZ '2020-06-01 12:00:00+02'"),
    ("[1, NULL, 3]", "ARRAY[1, NULL, 3]"),
    ("['a b', '', 'NULL', NULL, 'x\"y\\z', '{,}']", "ARRAY['a b', '', 'NULL', NULL, 'x\"y\\z', '{,}']"),
    ("[DATE '0044-03-15 (BC)', NULL]", "ARRAY[DATE '0044-03-15 BC', NULL]"),
    ("[1.5::DECIMAL(4,1), NULL]", "ARRAY[1.5::numeric(4,1), NULL]"),
    ("[TIMESTAMPTZ '2020-01-01 00:00+00']", "ARRAY[TIMESTAMPTZ '2020-01-01 00:00+00']"),
    ("[true, false, NULL]", "ARRAY[true, false, NULL]"),
    ("[INTERVAL '-1 hour']", "ARRAY[INTERVAL '-1 hour']"),
    ("[]::VARCHAR[]", "ARRAY[]::text[]"),
    ("[1, 2]::INTEGER[2]", "ARRAY[1, 2]"),
    ("[[1, 2], [3, 4]]", "ARRAY[[1, 2], [3, 4]]"),  # text only: nested lists have no binary form here
    ("['x'::ENUM('x', 'y')]", "ARRAY['x'::text]"),
]


@pytest.mark.parametrize(("duckdb_sql", "pg_sql"), SAME_VALUES)
def test_duckdb_values_encode_to_postgresql_bytes(postgres: Any, duckdb_sql: str, pg_sql: str) -> None:
    types, (value,) = _duckdb_rows(f"SELECT {duckdb_sql}")
    (text,), (binary,), result = postgres_row(postgres, f"SELECT {pg_sql}")
    assert encode(types[0], 0, value) == text, value
    if types[0] == "INTEGER[][]":
        return
    assert encode(types[0], 1, value) == binary, value
    assert pg_type(types[0])[0] == result.ftype(0)


def test_row_description_matches_postgresql(postgres: Any) -> None:
    """OID, typlen and typmod as PostgreSQL describes the same columns (psycopg's .description reads them)."""
    pairs = [
        ("INTEGER", "1::int4"),
        ("BIGINT", "1::int8"),
        ("SMALLINT", "1::int2"),
        ("DECIMAL(10,2)", "1::numeric(10,2)"),
        ("DECIMAL(38,0)", "1::numeric(38,0)"),
        ("DOUBLE", "1::float8"),
        ("FLOAT", "1::float4"),
        ("BOOLEAN", "true"),
        ("VARCHAR", "'a'::text"),
        ("BLOB", "'a'::bytea"),
        ("DATE", "current_date"),
        ("TIME", "'1:00'::time"),
        ("TIME WITH TIME ZONE", "'1:00+00'::timetz"),
        ("TIMESTAMP", "now()::timestamp"),
        ("TIMESTAMP WITH TIME ZONE", "now()"),
        ("INTERVAL", "'1 day'::interval"),
        ("UUID", "gen_random_uuid()"),
        ("JSON", "'1'::json"),
        ("INTEGER[]", "ARRAY[1]"),
        ("DECIMAL(10,2)[]", "ARRAY[1::numeric(10,2)]"),
        ("VARCHAR[]", "ARRAY['a'::text]"),
    ]
    cursor = postgres.cursor()
    cursor.execute("SELECT " + ", ".join(f"{sql} AS c{i}" for i, (_, sql) in enumerate(pairs)))
    result = cursor.pgresult
    ours = parse_row_description(row_description([f"c{i}" for i in range(len(pairs))], [t for t, _ in pairs]))
    for index, (name, oid, typlen, typmod, fmt) in enumerate(ours):
        assert (name, oid, typlen, typmod, fmt) == (
            result.fname(index).decode(),
            result.ftype(index),
            result.fsize(index),
            result.fmod(index),
            0,
        ), pairs[index]


@pytest.fixture(scope="module")
def copy_table(postgres: Any) -> str:
    columns = ", ".join(
        f'"{name.replace(chr(34), chr(34) * 2)}" {kind}' for name, kind in zip(COPY_COLUMNS, COPY_PG_TYPES)
    )
    postgres.execute(f"CREATE TEMP TABLE copy_oracle ({columns})")
    return "copy_oracle"


def postgres_copy(
    connection: Any,
    table: str,
    rows: list[tuple[Any, ...]],
    options: str,
    types: list[str] = COPY_TYPES,
    pg_types: list[str] = COPY_PG_TYPES,
) -> list[bytes]:
    """PostgreSQL's COPY output, one item per CopyData message: clients such as psycopg and ADBC read
    rows message by message, so the framing must match as well as the bytes."""
    connection.execute(f"TRUNCATE {table}")
    if rows:
        placeholders = ", ".join(
            f"%s::text::{kind}" if kind in ("interval", "json") else f"%s::{kind}" for kind in pg_types
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} VALUES ({placeholders})",
                [[pg_parameter(t, v) for t, v in zip(types, row)] for row in rows],
            )
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} TO STDOUT ({options})") as copy:
        return [bytes(chunk) for chunk in copy]


COPY_FORMATS = [("text", "FORMAT text"), ("csv", "FORMAT csv"), ("binary", "FORMAT binary")]
COPY_VARIANTS = [
    ("text", {"header": True}, "FORMAT text, HEADER"),
    ("text", {"delimiter": "|", "null": "<null>"}, "FORMAT text, DELIMITER '|', NULL '<null>'"),
    ("csv", {"header": True}, "FORMAT csv, HEADER"),
    (
        "csv",
        {"delimiter": ";", "null": "NULL", "quote": "'", "escape": "\\"},
        "FORMAT csv, DELIMITER ';', NULL 'NULL', QUOTE '''', ESCAPE '\\'",
    ),
    ("csv", {"delimiter": "\t", "header": True}, "FORMAT csv, DELIMITER E'\\t', HEADER"),
]


@pytest.mark.parametrize(("fmt", "pg_options"), COPY_FORMATS, ids=[fmt for fmt, _ in COPY_FORMATS])
@PG_SETTINGS
@given(rows=COPY_ROWS)
def test_copy_equals_postgresql_copy(
    postgres: Any, copy_table: str, fmt: str, pg_options: str, rows: list[tuple[Any, ...]]
) -> None:
    assert our_copy_messages(rows, fmt) == postgres_copy(postgres, copy_table, rows, pg_options)


@pytest.mark.parametrize(("fmt", "options", "pg_options"), COPY_VARIANTS, ids=[o[2] for o in COPY_VARIANTS])
@VARIANT_SETTINGS
@given(rows=COPY_ROWS)
def test_copy_options_equal_postgresql_copy(
    postgres: Any,
    copy_table: str,
    fmt: str,
    options: dict[str, Any],
    pg_options: str,
    rows: list[tuple[Any, ...]],
) -> None:
    expected = postgres_copy(postgres, copy_table, rows, pg_options)
    assert our_copy_messages(rows, fmt, columns=COPY_COLUMNS, **options) == expected


@pytest.mark.parametrize("value", ["\\.", "", "a", None, "x,y"])
def test_single_column_csv_equals_postgresql(postgres: Any, value: str | None) -> None:
    """A lone ``\\.`` is quoted so it cannot end the data; the empty string is quoted to differ from NULL."""
    postgres.execute("CREATE TEMP TABLE IF NOT EXISTS single (v text)")
    expected = postgres_copy(postgres, "single", [(value,)], "FORMAT csv", ["VARCHAR"], ["text"])
    assert our_copy_messages([(value,)], "csv", ["VARCHAR"]) == expected


def test_copy_out_response_matches_postgresql(postgres: Any, copy_table: str) -> None:
    for fmt, pg_options in (("text", "FORMAT text"), ("csv", "FORMAT csv"), ("binary", "FORMAT binary")):
        with postgres.cursor() as cursor, cursor.copy(f"COPY {copy_table} TO STDOUT ({pg_options})") as copy:
            result = cursor.pgresult
            assert result is not None
            nfields = result.nfields
            formats = [result.fformat(i) for i in range(nfields)]
            for _ in copy:
                pass
        message = copy_out_response(fmt, len(COPY_TYPES))
        overall, count = struct.unpack_from("!bh", message, 5)
        assert count == nfields and overall == result.binary_tuples
        assert list(struct.unpack_from(f"!{count}h", message, 8)) == formats


# --- intervals as PostgreSQL holds them: the exact (months, days, microseconds) ---------------------------

#: DuckDB intervals (read as the front door reads them, through Arrow) and the same on PostgreSQL: a
#: timedelta would have folded the months into days of 30 and the days into the time
EXACT_INTERVALS = [
    "INTERVAL '1 day' - INTERVAL '36 hours'",
    "INTERVAL '1 year 2 months'",
    "-INTERVAL '1 year 2 months 3 days 04:05:06.5'",
    "INTERVAL '1 month' - INTERVAL '1 day'",
    "INTERVAL '-1 day' + INTERVAL '1 hour'",
    "INTERVAL '10 days' - INTERVAL '100 hours'",
    "INTERVAL '-3 days -00:00:00.000001'",
    "INTERVAL '0 seconds'",
    "INTERVAL '2147483647 days'",
    "INTERVAL '-2147483648 months'",
    "INTERVAL '2562047 hours'",
]


def _exact_rows(query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    from policyengine.server.arrow_rows import python_rows

    relation = _DUCKDB.cursor().sql(query)
    types = [str(t) for t in relation.types]
    return types, [row for batch in relation.to_arrow_table().to_batches() for row in python_rows(batch, types)]


@pytest.mark.parametrize("interval", EXACT_INTERVALS)
def test_exact_intervals_encode_to_postgresql_bytes(postgres: Any, interval: str) -> None:
    types, [(value, listed)] = _exact_rows(f"SELECT {interval}, [{interval}, NULL]")
    assert types == ["INTERVAL", "INTERVAL[]"] and type(value) is tuple
    pg_sql = f"SELECT {interval}, ARRAY[{interval}, NULL]"
    (text, text_array), (binary, binary_array), _ = postgres_row(postgres, pg_sql)
    assert encode("INTERVAL", 0, value) == text and encode("INTERVAL", 1, value) == binary
    assert encode("INTERVAL[]", 0, listed) == text_array and encode("INTERVAL[]", 1, listed) == binary_array


def test_interval_parts_of_arrow_values() -> None:
    """pyarrow's MonthDayNano (an Arrow batch's value) is its months, days and nanoseconds / 1000; a
    (months, days, microseconds) tuple is taken as it is."""
    import pyarrow as pa

    (value,) = pa.array([pa.MonthDayNano([14, -3, -129_600_000_000_000])], pa.month_day_nano_interval()).to_pylist()
    assert encode("INTERVAL", 0, value) == b"1 year 2 mons -3 days -36:00:00"
    assert encode("INTERVAL", 0, (14, -3, -129_600_000_000)) == b"1 year 2 mons -3 days -36:00:00"
    assert encode("INTERVAL", 1, value) == struct.pack("!qii", -129_600_000_000, -3, 14)


def test_a_wrapped_interval_export_is_refused() -> None:
    """DuckDB exports an interval's microseconds as nanoseconds, which wrap beyond 2^63: refused (0A000)."""
    from policyengine.backends.errors import QueryFailed

    with pytest.raises(QueryFailed) as refused:
        _exact_rows("SELECT (-2147483648)::BIGINT * INTERVAL '1 hour'")
    assert refused.value.sqlstate == "0A000"


def test_exact_rows_keep_duckdb_values_of_other_types() -> None:
    """Beside an interval, every other column is the value DuckDB's own rows hold (HUGEINT an int, UUID
    a UUID, a date outside years 1-9999 DuckDB's string, TIME '24:00:00' its string)."""
    query = ("SELECT INTERVAL '1 day', 12::HUGEINT, uuid '6ba7b810-9dad-11d1-80b4-00c04fd430c8', "
             "DATE '0044-03-15 (BC)', TIME '24:00:00', 1.50::DECIMAL(10,2), 'x', [1, NULL], TIMESTAMP '2020-01-01'")
    _, [exact] = _exact_rows(query)
    _, duck = _duckdb_rows(query)
    assert exact[0] == (0, 1, 0)
    assert exact[1:] == duck[1:] and [type(v) for v in exact[1:]] == [type(v) for v in duck[1:]]


def test_interval_batches_encode_alike_column_wise_and_value_by_value() -> None:
    """The Arrow fast path (a batch of more than SMALL_BATCH rows) sends the bytes the per-value
    encoders send."""
    from policyengine.server import arrow_rows

    relation = _DUCKDB.cursor().sql(
        "SELECT i, i * INTERVAL '1 day -25 hours' + (i % 5) * INTERVAL '-1 mon', "
        "CASE WHEN i % 7 = 0 THEN NULL ELSE i * INTERVAL '1 second' END FROM range(500) AS r(i)")
    types = [str(t) for t in relation.types]
    assert arrow_rows.supports_types(types)
    encoders = column_encoders(types, [])
    for batch in relation.to_arrow_table().to_batches():
        assert bytes(arrow_rows.encode_batch(batch, encoders)) == data_rows(arrow_rows.python_rows(batch, types),
                                                                            encoders)


def _bound_interval(value: Any) -> tuple[int, int, int]:
    """(months, days, microseconds) of the interval DuckDB binds for a decoded parameter."""
    from policyengine.server.arrow_rows import python_rows

    relation = _DUCKDB.cursor().sql("SELECT $1::INTERVAL", params=[value])
    (batch,) = relation.to_arrow_table().to_batches()
    return python_rows(batch, ["INTERVAL"])[0][0]
