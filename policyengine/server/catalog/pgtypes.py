"""PostgreSQL's built-in types as its catalog lists them, and the type each contract column shows.

Clients read ``pg_type`` to learn how to decode what arrives (asyncpg, Npgsql and the ADBC driver
load it at connect), so the OIDs, names and array links here are PostgreSQL's own: a client that
finds a familiar type decodes it with its built-in codec and asks nothing more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: pg_catalog's namespace OID, as in PostgreSQL
PG_CATALOG_OID = 11


@dataclass(frozen=True)
class PgType:
    oid: int
    name: str
    length: int
    category: str
    array_oid: int
    element_oid: int = 0
    by_value: bool = False
    kind: str = "b"  # b base, p pseudo
    stem: str = ""  # the in/out/recv/send function stem; defaults to the name

    @property
    def functions(self) -> tuple[str, str, str, str]:
        stem = self.stem or self.name
        if self.element_oid and self.name.startswith("_"):  # int2vector and oidvector have their own
            return "array_in", "array_out", "array_recv", "array_send"
        return f"{stem}in", f"{stem}out", f"{stem}recv", f"{stem}send"


_BASE = [
    PgType(16, "bool", 1, "B", 1000, by_value=True, stem="bool"),
    PgType(17, "bytea", -1, "U", 1001, stem="bytea"),
    PgType(18, "char", 1, "Z", 1002, by_value=True, stem="char"),
    PgType(19, "name", 64, "S", 1003, stem="name"),
    PgType(20, "int8", 8, "N", 1016, by_value=True, stem="int8"),
    PgType(21, "int2", 2, "N", 1005, by_value=True, stem="int2"),
    PgType(22, "int2vector", -1, "A", 1006, element_oid=21, stem="int2vector"),
    PgType(23, "int4", 4, "N", 1007, by_value=True, stem="int4"),
    PgType(24, "regproc", 4, "N", 1008, by_value=True, stem="regproc"),
    PgType(25, "text", -1, "S", 1009, stem="text"),
    PgType(26, "oid", 4, "N", 1028, by_value=True, stem="oid"),
    PgType(30, "oidvector", -1, "A", 1013, element_oid=26, stem="oidvector"),
    PgType(114, "json", -1, "U", 199, stem="json_"),
    PgType(700, "float4", 4, "N", 1021, by_value=True, stem="float4"),
    PgType(701, "float8", 8, "N", 1022, by_value=True, stem="float8"),
    PgType(1042, "bpchar", -1, "S", 1014, stem="bpchar"),
    PgType(1043, "varchar", -1, "S", 1015, stem="varchar"),
    PgType(1082, "date", 4, "D", 1182, by_value=True, stem="date_"),
    PgType(1083, "time", 8, "D", 1183, by_value=True, stem="time_"),
    PgType(1114, "timestamp", 8, "D", 1115, by_value=True, stem="timestamp_"),
    PgType(1184, "timestamptz", 8, "D", 1185, by_value=True, stem="timestamptz_"),
    PgType(1186, "interval", 16, "T", 1187, stem="interval_"),
    PgType(1700, "numeric", -1, "N", 1231, stem="numeric_"),
    PgType(2205, "regclass", 4, "N", 2210, by_value=True, stem="regclass"),
    PgType(2206, "regtype", 4, "N", 2211, by_value=True, stem="regtype"),
    PgType(2950, "uuid", 16, "U", 2951, stem="uuid_"),
    PgType(3802, "jsonb", -1, "U", 3807, stem="jsonb_"),
    PgType(4089, "regnamespace", 4, "N", 4090, by_value=True, stem="regnamespace"),
]
_PSEUDO = [
    PgType(705, "unknown", -2, "X", 0, kind="p", stem="unknown"),
    PgType(2249, "record", -1, "P", 2287, kind="p", stem="record_"),
    PgType(2276, "any", 4, "P", 0, kind="p", stem="any_"),
    PgType(2277, "anyarray", -1, "P", 0, kind="p", stem="anyarray_"),
    PgType(2278, "void", 4, "P", 0, kind="p", stem="void_"),
]


def _arrays() -> list[PgType]:
    return [PgType(t.array_oid, "_" + t.name, -1, "A" if t.kind == "b" else "P", 0, element_oid=t.oid, kind=t.kind)
            for t in _BASE + _PSEUDO[1:2] if t.array_oid]


BUILTIN_TYPES: tuple[PgType, ...] = tuple(_BASE + _PSEUDO + _arrays())
BY_OID = {t.oid: t for t in BUILTIN_TYPES}

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
    if found.element_oid:
        return (format_type(found.element_oid, typmod) or "???") + "[]"
    return found.name
