"""PEP 249 type objects and constructors; ``description`` type codes are DuckDB type names."""

from __future__ import annotations

import datetime as dt
import time


class DBAPITypeObject:
    """Equal to every DuckDB type name of its kind, so ``description[i][1] == NUMBER`` works."""

    def __init__(self, *prefixes: str):
        self.prefixes = tuple(p.upper() for p in prefixes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.upper().startswith(self.prefixes)

    def __hash__(self) -> int:
        return hash(self.prefixes)


STRING = DBAPITypeObject("VARCHAR", "TEXT", "CHAR", "STRING", "UUID", "JSON", "ENUM")
BINARY = DBAPITypeObject("BLOB", "BYTEA", "BIT")
NUMBER = DBAPITypeObject("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                         "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")
DATETIME = DBAPITypeObject("DATE", "TIME", "TIMESTAMP", "INTERVAL")
ROWID = DBAPITypeObject("ROWID")

Date = dt.date
Time = dt.time
Timestamp = dt.datetime
Binary = bytes


def DateFromTicks(ticks: float) -> dt.date:  # noqa: N802 - PEP 249 names
    return dt.date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> dt.time:  # noqa: N802
    return dt.time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> dt.datetime:  # noqa: N802
    return dt.datetime(*time.localtime(ticks)[:6])
