"""Take PostgreSQL 15's built-in types from a real server into ``pg15_types.json`` (what pgtypes.py loads).

    python -m policyengine.server.catalog.pg15_snapshot --dsn "host=... dbname=postgres ..." [--out FILE]

The DSN must name a database of a freshly initialized PostgreSQL 15 cluster (``postgres`` or a database
made from ``template1``, with nothing created in it): every ``pg_type`` row is taken, with the
``pg_proc`` rows of the functions those types and their ranges name (input, output, receive, send,
typmod, analyze, subscript, canonical, subdiff), the ``pg_range`` rows, and each type's name as
``format_type`` writes it. The columns are those of the front door's shadow tables (shadow.py's
TABLES), cast to the types the shadow stores them as. tests/test_catalog_pg15_types.py takes a fresh
snapshot from a new cluster and checks the committed file equals it.

Built-in objects created by initdb after the collations it imports from the operating system
(information_schema and its types) take OIDs that depend on the number of locales installed; the file
records information_schema's OID so that the shadow's ``pg_namespace`` agrees with its types.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("pg15_types.json")

#: the regproc columns of pg_type and pg_range: the functions whose pg_proc rows are kept
_TYPE_FUNCTIONS = ("typinput", "typoutput", "typreceive", "typsend", "typmodin", "typmodout", "typanalyze",
                   "typsubscript")
_RANGE_FUNCTIONS = ("rngcanonical", "rngsubdiff")

#: DuckDB column type in the shadow -> the cast that gives PostgreSQL's value as the shadow stores it
_CASTS = {"BIGINT": "::bigint", "VARCHAR": "::text", "BIGINT[]": "::oid[]::bigint[]", "SMALLINT[]": "::int2[]",
          "VARCHAR[]": "::text[]", "INTEGER": "::int4", "SMALLINT": "::int2", "BOOLEAN": "::bool",
          "REAL": "::float4", "TIMESTAMP": "::timestamp"}


def _select(table: str, spec: str, where: str, order: str) -> str:
    from policyengine.server.catalog.shadow import _columns

    casts = ", ".join(f"{name}{_CASTS[kind]} AS {name}" for name, kind in _columns(spec))
    return f"SELECT {casts} FROM pg_catalog.{table} {where} ORDER BY {order}"


def snapshot(connection: Any) -> dict[str, Any]:
    """The built-in types of the database ``connection`` is open on (a psycopg 3 connection)."""
    from policyengine.server.catalog.shadow import TABLES

    version = connection.execute("SHOW server_version_num").fetchone()[0]
    if not version.startswith("15"):
        raise SystemExit(f"needs PostgreSQL 15, this server is {version}")
    functions = " UNION ".join(
        [f"SELECT {c}::oid FROM pg_catalog.pg_type" for c in _TYPE_FUNCTIONS]
        + [f"SELECT {c}::oid FROM pg_catalog.pg_range" for c in _RANGE_FUNCTIONS])
    result: dict[str, Any] = {
        "postgresql": connection.execute("SHOW server_version").fetchone()[0],
        "information_schema_oid": connection.execute(
            "SELECT oid::bigint FROM pg_catalog.pg_namespace WHERE nspname = 'information_schema'").fetchone()[0],
    }
    queries = {
        "pg_type": _select("pg_type", TABLES["pg_type"], "", "oid"),
        "pg_proc": _select("pg_proc", TABLES["pg_proc"], f"WHERE oid IN ({functions})", "oid"),
        "pg_range": _select("pg_range", TABLES["pg_range"], "", "rngtypid"),
    }
    for table, query in queries.items():
        cursor = connection.execute(query)
        result[table] = {"columns": [d.name for d in cursor.description], "rows": [list(r) for r in cursor]}
    result["format_type"] = [list(r) for r in connection.execute(
        "SELECT oid::bigint, pg_catalog.format_type(oid, NULL) FROM pg_catalog.pg_type ORDER BY oid")]
    return result


def dumps(data: dict[str, Any]) -> str:
    """JSON with one row a line, so that a change to one type is a one-line diff."""
    def rows(values: list[Any]) -> str:
        return "[\n" + ",\n".join("    " + json.dumps(v, ensure_ascii=False) for v in values) + "\n  ]"

    parts = []
    for key, value in data.items():
        if isinstance(value, dict):
            text = ('{"columns": ' + json.dumps(value["columns"]) + ',\n  "rows": ' + rows(value["rows"]) + "}")
        elif isinstance(value, list):
            text = rows(value)
        else:
            text = json.dumps(value)
        parts.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="a database of a freshly initialized PostgreSQL 15 cluster")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with psycopg.connect(args.dsn, autocommit=True) as connection:
        data = snapshot(connection)
    args.out.write_text(dumps(data))
    print(f"{args.out}: {len(data['pg_type']['rows'])} types, {len(data['pg_proc']['rows'])} functions, "
          f"{len(data['pg_range']['rows'])} ranges from PostgreSQL {data['postgresql']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
