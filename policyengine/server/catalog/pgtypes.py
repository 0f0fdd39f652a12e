"""PostgreSQL 15's built-in types as its catalog lists them, and the type each contract column shows.

Clients read ``pg_type`` to learn how to decode what arrives (asyncpg, Npgsql, pgjdbc and the ADBC
driver load it at connect), so the front door lists exactly the rows of a new PostgreSQL 15 database:
every built-in type (base, array, pseudo, range, multirange, the information_schema domains and the row
types of the system relations), with PostgreSQL's OIDs, names and every column, and the ``pg_proc`` and
``pg_range`` rows they name. They are in pg15_types.json, taken from a real PostgreSQL 15 by
pg15_snapshot.py (tests/test_catalog_pg15_types.py checks the file against a fresh cluster).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

#: pg_catalog's namespace OID, as in PostgreSQL
PG_CATALOG_OID = 11
DATA = Path(__file__).with_name("pg15_types.json")


@dataclass(frozen=True)
class PgType:
    oid: int
    name: str
    length: int
    category: str
    array_oid: int
    element_oid: int = 0
    by_value: bool = False
    kind: str = "b"  # b base, c composite, d domain, p pseudo, r range, m multirange
    #: the input, output, receive and send functions (their names, as the regproc columns show them)
    functions: tuple[str, str, str, str] = ("", "", "", "")


def _load() -> dict[str, Any]:
    return json.loads(DATA.read_text())


_DATA = _load()
#: information_schema's namespace OID in the cluster the types were taken from (its types' OIDs follow it)
INFORMATION_SCHEMA_OID: int = _DATA["information_schema_oid"]


def _records(table: str) -> list[dict[str, Any]]:
    columns = _DATA[table]["columns"]
    return [dict(zip(columns, row)) for row in _DATA[table]["rows"]]


BUILTIN_TYPES: tuple[PgType, ...] = tuple(
    PgType(r["oid"], r["typname"], r["typlen"], r["typcategory"], r["typarray"], r["typelem"], r["typbyval"],
           r["typtype"], (r["typinput"], r["typoutput"], r["typreceive"], r["typsend"]))
    for r in _records("pg_type"))
BY_OID = {t.oid: t for t in BUILTIN_TYPES}
#: PostgreSQL's ``format_type(oid, NULL)``, as ``::regtype`` prints a type
DISPLAY: dict[int, str] = dict((oid, text) for oid, text in _DATA["format_type"])


@cache
def _builtin_rows() -> dict[str, tuple[dict[str, Any], ...]]:
    return {"pg_type": tuple(_records("pg_type")), "pg_proc": tuple(_records("pg_proc")),
            "pg_range": tuple(_records("pg_range")),
            "pe_type_names": tuple({"pe_oid": t.oid, "pe_display": DISPLAY[t.oid], "pe_name": t.name}
                                   for t in BUILTIN_TYPES)}


def builtin_rows() -> dict[str, list[dict[str, Any]]]:
    """The shadow catalog's rows for the built-in types: ``pg_type``, ``pg_proc`` (the functions the types
    and ranges name), ``pg_range`` and the ``pe_type_names`` lookup (new lists; the rows are shared, unchanged)."""
    return {table: list(rows) for table, rows in _builtin_rows().items()}


#: canonical SQL type of a contract column -> PostgreSQL type OID
_FROM_SQL = [
    (r"VARCHAR|TEXT|STRING", 25), (r"BIGINT", 20), (r"INTEGER|INT$", 23), (r"SMALLINT|TINYINT", 21),
    (r"DOUBLE", 701), (r"REAL|FLOAT$", 700), (r"DECIMAL|NUMERIC", 1700), (r"BOOLEAN", 16), (r"DATE$", 1082),
    (r"TIMESTAMPTZ|TIMESTAMP WITH TIME ZONE", 1184), (r"TIMESTAMP", 1114), (r"TIME", 1083), (r"BLOB|BYTEA|BINARY", 17),
    (r"UUID", 2950), (r"JSON", 114), (r"INTERVAL", 1186),
]


def column_type(sql_type: str) -> tuple[int, int]:
    """(type OID, typmod) a column of this canonical type shows in the catalog."""
    upper = sql_type.upper().strip()
    if upper.endswith("[]"):
        oid, _ = column_type(upper[:-2])
        element = BY_OID.get(oid)
        return (element.array_oid if element else 1009), -1
    for pattern, oid in _FROM_SQL:
        if re.match(pattern, upper):
            if oid == 1700:
                digits = re.findall(r"\d+", upper)
                if len(digits) == 2:
                    return oid, ((int(digits[0]) << 16) | int(digits[1])) + 4
            return oid, -1
    return 25, -1


def format_type(oid: int | None, typmod: int | None) -> str | None:
    """PostgreSQL's ``format_type``: the name a type is shown by in ``\\d`` and information_schema."""
    if oid is None:
        return None
    names = {16: "boolean", 20: "bigint", 21: "smallint", 23: "integer", 25: "text", 700: "real",
             701: "double precision", 1043: "character varying", 1042: "character", 1082: "date",
             1083: "time without time zone", 1114: "timestamp without time zone",
             1184: "timestamp with time zone", 1186: "interval", 19: "name", 18: '"char"'}
    if oid == 1700:
        if typmod is not None and typmod >= 4:
            return f"numeric({(typmod - 4) >> 16},{(typmod - 4) & 0xFFFF})"
        return "numeric"
    if oid in names:
        return names[oid]
    found = BY_OID.get(oid)
    if found is None:
        return "???"
    if found.functions[0] == "array_in":  # not name, int2vector, point...: their typelem is no array's element
        return (format_type(found.element_oid, typmod) or "???") + "[]"
    return DISPLAY.get(oid, found.name)
