"""Column types as people spell them, reduced to one canonical SQL type.

Contracts come from BigQuery schemas (``STRING``, ``INT64``), SQL DDL (``VARCHAR``, ``DECIMAL(10,2)``)
and hand-written registrations (``String``, ``Integer``, ``Decimal``). Protections need to know the
family (a string can be partially masked, a date generalized to a year) and the exact type (a
masked value keeps its column's type, as Snowflake requires), so both are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class TypeFamily(str, Enum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIME = "time"
    BINARY = "binary"

    @property
    def is_numeric(self) -> bool:
        return self in (TypeFamily.INTEGER, TypeFamily.FLOAT, TypeFamily.DECIMAL)


#: Bare DECIMAL/NUMERIC means BigQuery's NUMERIC, (38, 9): DuckDB's default (18, 3) and Snowflake's
#: default (38, 0) disagree, and Snowflake's would silently turn a sentiment score of 0.73 into 1.
DEFAULT_DECIMAL = (38, 9)

_SIMPLE: dict[str, tuple[TypeFamily, str]] = {
    **{name: (TypeFamily.STRING, "VARCHAR") for name in ("STRING", "VARCHAR", "TEXT", "CHAR", "CHARACTER",
                                                          "NVARCHAR", "NCHAR", "BPCHAR", "CHARACTER VARYING")},
    "INT64": (TypeFamily.INTEGER, "BIGINT"),
    "BIGINT": (TypeFamily.INTEGER, "BIGINT"),
    "LONG": (TypeFamily.INTEGER, "BIGINT"),
    "INTEGER": (TypeFamily.INTEGER, "INTEGER"),
    "INT": (TypeFamily.INTEGER, "INTEGER"),
    "INT32": (TypeFamily.INTEGER, "INTEGER"),
    "SMALLINT": (TypeFamily.INTEGER, "SMALLINT"),
    "INT16": (TypeFamily.INTEGER, "SMALLINT"),
    "TINYINT": (TypeFamily.INTEGER, "TINYINT"),
    "FLOAT64": (TypeFamily.FLOAT, "DOUBLE"),
    "FLOAT": (TypeFamily.FLOAT, "DOUBLE"),
    "DOUBLE": (TypeFamily.FLOAT, "DOUBLE"),
    "DOUBLE PRECISION": (TypeFamily.FLOAT, "DOUBLE"),
    "REAL": (TypeFamily.FLOAT, "REAL"),
    "FLOAT32": (TypeFamily.FLOAT, "REAL"),
    "BOOL": (TypeFamily.BOOLEAN, "BOOLEAN"),
    "BOOLEAN": (TypeFamily.BOOLEAN, "BOOLEAN"),
    "DATE": (TypeFamily.DATE, "DATE"),
    "TIMESTAMP": (TypeFamily.TIMESTAMP, "TIMESTAMP"),
    "DATETIME": (TypeFamily.TIMESTAMP, "TIMESTAMP"),
    "TIMESTAMP_NTZ": (TypeFamily.TIMESTAMP, "TIMESTAMP"),
    "TIMESTAMPTZ": (TypeFamily.TIMESTAMP, "TIMESTAMPTZ"),
    "TIMESTAMP_TZ": (TypeFamily.TIMESTAMP, "TIMESTAMPTZ"),
    "TIMESTAMP WITH TIME ZONE": (TypeFamily.TIMESTAMP, "TIMESTAMPTZ"),
    "TIME": (TypeFamily.TIME, "TIME"),
    "BYTES": (TypeFamily.BINARY, "BLOB"),
    "BINARY": (TypeFamily.BINARY, "BLOB"),
    "VARBINARY": (TypeFamily.BINARY, "BLOB"),
    "BLOB": (TypeFamily.BINARY, "BLOB"),
}

_DECIMAL_NAMES = ("DECIMAL", "NUMERIC", "NUMBER", "BIGNUMERIC", "DEC")
_PARAMETERS = re.compile(r"^(?P<name>[A-Z_ ]+?)\s*\(\s*(?P<args>[0-9 ,]*)\)$")


@dataclass(frozen=True)
class ColumnType:
    family: TypeFamily
    sql: str  # canonical SQL spelling, understood by DuckDB and Snowflake alike
    written: str  # as the contract wrote it, for messages

    def __str__(self) -> str:
        return self.sql


class UnknownType(ValueError):
    pass


def parse_column_type(written: str) -> ColumnType:
    """Map a type as written in a contract to its family and canonical SQL type."""
    text = " ".join(str(written).strip().upper().split())
    if text in _SIMPLE:
        family, sql = _SIMPLE[text]
        return ColumnType(family, sql, str(written))
    if text in _DECIMAL_NAMES:
        precision, scale = DEFAULT_DECIMAL
        return ColumnType(TypeFamily.DECIMAL, f"DECIMAL({precision},{scale})", str(written))
    match = _PARAMETERS.match(text)
    if match:
        name = match["name"].strip()
        args = [a.strip() for a in match["args"].split(",") if a.strip()]
        if name in _DECIMAL_NAMES and 1 <= len(args) <= 2:
            precision = int(args[0])
            scale = int(args[1]) if len(args) == 2 else 0
            if not 1 <= precision <= 38 or scale > precision:
                raise UnknownType(f"DECIMAL precision must be 1 to 38 and scale at most the precision, got '{written}'")
            return ColumnType(TypeFamily.DECIMAL, f"DECIMAL({precision},{scale})", str(written))
        if name in _SIMPLE and _SIMPLE[name][0] is TypeFamily.STRING and len(args) == 1:
            return ColumnType(TypeFamily.STRING, "VARCHAR", str(written))
    raise UnknownType(
        f"unknown column type '{written}' (expected one of STRING, VARCHAR, INTEGER, INT64, BIGINT, "
        "FLOAT, DOUBLE, DECIMAL(p,s), NUMERIC, BOOLEAN, DATE, TIMESTAMP, TIME, BYTES)"
    )
