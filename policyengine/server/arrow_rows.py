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
from typing import Any

try:  # the fast path needs pyarrow and numpy; without them results use binary.py's encoders
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - exercised only where pyarrow is not installed
    pa = None

_INTEGER = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$")
_DECIMAL = re.compile(r"^DECIMAL\(\d+,\d+\)$")
_SIMPLE = {"VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP"}
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

    return binary.data_rows(list(zip(*[column.to_pylist() for column in batch.columns])), encoders)
