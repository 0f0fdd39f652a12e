"""DataRow messages built column-wise from Arrow record batches, for results in text format.

Python spends about a microsecond per value turning a row into PostgreSQL's text format; a
dashboard pulling a million rows waits seconds for it. When every column has a type whose text
form Arrow's compute kernels produce exactly as PostgreSQL prints it, the whole batch is encoded
in C++: each column cast to text, its lengths prefixed, and rows joined element-wise into one
buffer of ready DataRows. Anything else keeps the exact per-value encoders of binary.py, which
are the reference these are tested against.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

try:  # the fast path needs pyarrow and numpy; without them results use binary.py's encoders
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - exercised only where pyarrow is not installed
    pa = None

_INTEGER = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$")
_DECIMAL = re.compile(r"^DECIMAL\(\d+,\d+\)$")
_SIMPLE = {"VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP", "INTERVAL"}
#: batches up to this many rows are encoded value by value (binary.py)
SMALL_BATCH = 32


def available() -> bool:
    return pa is not None


def supports(types: list[str], formats: list[int]) -> bool:
    """Whether a result with these DuckDB types, all in text format, can take the fast path."""
    return not any(formats) and supports_types(types)


def supports_types(types: list[str]) -> bool:
    """Whether results of these DuckDB types can be sent in text format from Arrow batches."""
    if pa is None:
        return False
    return all(t in _SIMPLE or _INTEGER.match(t) or _DECIMAL.match(t) for t in (t.upper() for t in types))


def _as_text(column: Any) -> Any:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column
    if pa.types.is_boolean(kind):
        return pc.if_else(column, "t", "f")
    if pa.types.is_timestamp(kind):
        if kind.unit != "us" or kind.tz is not None:
            raise TypeError("only microsecond timestamps without a time zone")
        text = pc.cast(column, pa.string())  # "YYYY-MM-DD HH:MM:SS.ffffff" (years 1-9999: _in_range)
        # PostgreSQL prints no fraction for whole seconds and drops trailing zeros otherwise; the
        # common cases (all whole seconds, or no trailing zero anywhere) avoid the regular expression
        micros = _numbers(column.cast(pa.int64())) % 1_000_000
        if not micros.any():
            return pc.utf8_slice_codeunits(text, 0, 19)
        if (micros % 10).all():
            return text
        return pc.replace_substring_regex(text, r"\.?0+$", "")
    if pa.types.is_date32(kind) or pa.types.is_integer(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_interval(kind):  # PostgreSQL's EncodeInterval, value by value, from the exact parts
        from policyengine.server.binary import interval_text

        return pa.array([None if parts is None else interval_text(*parts) for parts in interval_parts(column)],
                        pa.string())
    if pa.types.is_decimal(kind):
        text = pc.cast(column, pa.string())
        # Arrow writes |x| < 1e-6 (and zero at scale > 6) as 1E-9; PostgreSQL never does
        if pc.any(pc.match_substring(text, "E")).as_py():
            raise _Inexact()
        return text
    raise TypeError(f"no fast text form for {kind}")


class _Inexact(Exception):
    """A value in this batch has no exact fast text form: the batch takes the per-value path."""


def _numbers(column: Any) -> Any:
    """An integer column as numpy, nulls as 0 (fill_null costs more than the rest of a batch's work)."""
    if column.null_count:
        column = pc.if_else(pc.is_valid(column), column, 0)
    return column.to_numpy(zero_copy_only=False)


def _lengths(text: Any) -> Any:
    """Byte length of each value, -1 for NULL (PostgreSQL's marker), from the offsets buffer."""
    wide = pa.types.is_large_string(text.type) or pa.types.is_large_binary(text.type)
    offsets = np.frombuffer(text.buffers()[1], np.int64 if wide else np.int32)[text.offset:text.offset + len(text) + 1]
    lengths = np.diff(offsets).astype(np.int64)
    if text.null_count:
        lengths[pc.is_null(text).to_numpy(zero_copy_only=False)] = -1
    return lengths


def _fixed(data: bytes, width: int, count: int) -> Any:
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), count, [None, pa.py_buffer(data)]).cast(pa.binary())


#: the first and last instant of years 1-9999, as days (date32) and microseconds (timestamp[us])
_DAYS = (-719162, 2932896)
_MICROS = (-62135596800 * 10**6, 253402300800 * 10**6 - 1)


def _in_range(column: Any) -> bool:
    """Dates and timestamps Arrow formats like PostgreSQL: years 1 to 9999 (DuckDB clamps infinities
    outside them). Compared as integers: no calendar arithmetic per value."""
    kind = column.type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date32(kind)) or len(column) == column.null_count:
        return True
    low, high = _DAYS if pa.types.is_date32(kind) else _MICROS
    extremes = pc.min_max(column.cast(pa.int32() if pa.types.is_date32(kind) else pa.int64()))
    return low <= extremes["min"].as_py() and extremes["max"].as_py() <= high


def data_rows(batch: Any) -> bytes | memoryview | None:
    """The batch's rows as DataRow messages in text format, or None when a value needs the exact
    per-value path (a date outside years 1-9999, a decimal Arrow would write with an exponent)."""
    count = batch.num_rows
    if count == 0:
        return b""
    columns = list(batch.columns)
    if not all(_in_range(column) for column in columns):
        return None
    parts: list[Any] = []
    row_length = np.full(count, 4 + 2, np.int64)
    for column in columns:
        try:
            text = _as_text(column)
        except _Inexact:
            return None
        lengths = _lengths(text)
        row_length += 4 + np.maximum(lengths, 0)
        parts.append(_fixed(lengths.astype(">i4").tobytes(), 4, count))
        parts.append(text.cast(pa.binary()))
    header = np.empty((count, 7), np.uint8)
    header[:, 0] = ord("D")
    header[:, 1:5] = row_length.astype(">i4").view(np.uint8).reshape(count, 4)
    header[:, 5:7] = np.frombuffer(len(columns).to_bytes(2, "big"), np.uint8)
    joined = pc.binary_join_element_wise(_fixed(header.tobytes(), 7, count), *parts, b"",
                                         null_handling="replace", null_replacement=b"")
    offsets = np.frombuffer(joined.buffers()[1], np.int32)
    start, end = int(offsets[joined.offset]), int(offsets[joined.offset + count])
    return memoryview(joined.buffers()[2])[start:end]  # no copy: the buffer lives as long as the view


def encode_batch(batch: Any, encoders: list[Any]) -> bytes | memoryview:
    """A batch's DataRows: column-wise, or through the exact per-value encoders (``binary.py``) when
    a value has no exact fast form."""
    # a few rows (a point query's answer) cost less one value at a time than a dozen compute kernels
    fast = data_rows(batch) if batch.num_rows > SMALL_BATCH else None
    if fast is not None:
        return fast
    from policyengine.server import binary

    return binary.data_rows(list(zip(*[interval_parts(column) if pa.types.is_interval(column.type) else
                                       column.to_pylist() for column in batch.columns])), encoders)


# --- exact Python values for results with intervals --------------------------------------------------
#
# DuckDB's Python rows give an INTERVAL as a ``datetime.timedelta``: months folded into days of 30 and
# days into the time (``1 year 2 mons`` is 420 days, ``1 day -36:00:00`` is -12:00:00). PostgreSQL keeps
# months, days and microseconds apart and prints them apart, and so does DuckDB; its Arrow export
# (month_day_nano_interval) keeps them too. So a result with an interval column is read as Arrow, and
# its columns turned into the Python values DuckDB's own rows would hold, intervals as exact
# ``(months, days, microseconds)`` tuples (binary.py's encoders take them). Only the column types whose
# Arrow values convert to exactly DuckDB's Python values are read this way; a result with another type
# keeps DuckDB's rows.

_INTERVAL_TYPE = re.compile(r"\bINTERVAL\b")
#: DuckDB types whose Arrow values ``to_pylist`` gives exactly as DuckDB's own rows do (dates and
#: timestamps only within years 1-9999: :func:`_column_values` sends the others through DuckDB)
_PLAIN = re.compile(r"^(VARCHAR|BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
                    r"FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|BLOB|JSON|DATE|TIMESTAMP|TIMESTAMP_S|TIMESTAMP_MS|"
                    r"TIMESTAMP WITH TIME ZONE|TIME|UUID|HUGEINT|UHUGEINT|INTERVAL)$")
_LIST = re.compile(r"^(.*)\[\]$")


def has_interval(types: list[str]) -> bool:
    """Whether a result with these DuckDB types holds an interval (in a column or an array's elements)."""
    return any("INTERVAL" in t and _INTERVAL_TYPE.search(t) for t in types)


def exact_types(types: list[str]) -> bool:
    """Whether every column of these DuckDB types can be read from Arrow as DuckDB's rows hold it,
    intervals exactly."""
    return pa is not None and all(_convertible(t) for t in types)


def _convertible(duckdb_type: str) -> bool:
    kind = duckdb_type.upper()
    if _PLAIN.match(kind):
        return True
    listed = _LIST.match(kind)
    return listed is not None and _PLAIN.match(listed.group(1)) is not None and listed.group(1) not in (
        "DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP WITH TIME ZONE", "TIME")


_MDN = None if pa is None else np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])


def interval_parts(column: Any) -> list[tuple[int, int, int] | None]:
    """A month_day_nano_interval array as (months, days, microseconds) tuples, None for NULL
    (DuckDB's intervals hold whole microseconds)."""
    count = len(column)
    raw = np.frombuffer(column.buffers()[1], _MDN)[column.offset:column.offset + count]
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False) if column.null_count else None
    # a NULL's slot holds whatever was there: only the values are read
    if ((raw["nanos"] if valid is None else raw["nanos"][valid]) % 1000).any():
        raise _beyond()
    values = [(months, days, nanos // 1000) for months, days, nanos in raw.tolist()]
    if valid is not None:
        values = [value if ok else None for value, ok in zip(values, valid.tolist())]
    return values


def _exact(value: Any) -> Any:
    """A MonthDayNano (or a list of them) as (months, days, microseconds)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_exact(item) for item in value]
    if value.nanoseconds % 1000:
        raise _beyond()
    return (value.months, value.days, value.nanoseconds // 1000)


def _beyond() -> Exception:
    """DuckDB exports an interval's microseconds to Arrow as nanoseconds, which wrap past 2^63: beyond
    about 2,562,047 hours the time part arrives wrong. A wrapped value is (but for a few magnitudes of
    hundreds of millions of hours) not a whole number of microseconds: refused, never sent wrong."""
    from policyengine.backends.errors import QueryFailed

    return QueryFailed("an interval whose time part is beyond 2562047 hours cannot be given PostgreSQL's exact "
                       "meaning here", "0A000")


def _through_duckdb(column: Any) -> list[Any]:
    """A date or timestamp column as DuckDB's rows give it: the values outside years 1-9999 are DuckDB's
    own strings (``'0044-03-15 (BC)'``), which Arrow cannot make into Python dates."""
    import duckdb

    with duckdb.connect() as connection:
        kind = column.type
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            connection.execute("SET TimeZone = ?", [kind.tz])
        return [row[0] for row in connection.from_arrow(pa.table({"v": column})).fetchall()]


def _column_values(column: Any, duckdb_type: str) -> list[Any]:
    kind = column.type
    if pa.types.is_interval(kind):
        return interval_parts(column)
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and pa.types.is_interval(kind.value_type):
        return [_exact(value) for value in column.to_pylist()]
    if pa.types.is_time(kind):  # TIME '24:00:00' is DuckDB's string; Arrow would make it midnight
        micros = column.cast(pa.int64()).to_pylist()
        return [None if m is None else "24:00:00" if m == 86_400_000_000 else v
                for m, v in zip(micros, column.to_pylist())]
    if not _in_range(column):
        return _through_duckdb(column)
    values = column.to_pylist()
    upper = duckdb_type.upper()
    if upper in ("HUGEINT", "UHUGEINT"):  # Arrow's decimal128(38, 0): DuckDB gives int
        return [None if v is None else int(v) for v in values]
    if upper == "UUID":  # Arrow's string
        return [None if v is None else uuid.UUID(v) for v in values]
    return values


def python_rows(batch: Any, types: list[str]) -> list[tuple[Any, ...]]:
    """A record batch's rows as DuckDB's Python rows would hold them, intervals as exact
    (months, days, microseconds) (types: the result's DuckDB types, :func:`exact_types`)."""
    return list(zip(*[_column_values(column, t) for column, t in zip(batch.columns, types)]))
