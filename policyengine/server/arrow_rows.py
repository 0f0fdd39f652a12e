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


def available() -> bool:
    return pa is not None


def supports(types: list[str], formats: list[int]) -> bool:
    """Whether a result with these DuckDB types, all in text format, can take the fast path."""
    if pa is None or any(formats):
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
        text = pc.cast(column, pa.string())  # "YYYY-MM-DD HH:MM:SS.ffffff"
        # PostgreSQL prints no fraction for whole seconds and drops trailing zeros otherwise
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


def _fixed(data: bytes, width: int, count: int) -> Any:
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), count, [None, pa.py_buffer(data)]).cast(pa.binary())


def _in_range(column: Any) -> bool:
    """Dates and timestamps Arrow formats like PostgreSQL: years 1 to 9999 (DuckDB clamps infinities there)."""
    kind = column.type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date32(kind)) or len(column) == column.null_count:
        return True
    years = pc.year(column)
    low, high = pc.min_max(years).values()
    return 1 <= low.as_py() and high.as_py() <= 9999


def data_rows(batch: Any) -> bytes | None:
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
        lengths = pc.binary_length(text).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
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
    return memoryview(joined.buffers()[2])[start:end].tobytes()
