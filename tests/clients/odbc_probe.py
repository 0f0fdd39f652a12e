"""psqlODBC through pyodbc, as an ODBC tool (Excel, Power BI's ODBC path, Tableau's generic ODBC) reads a
server: run by tests/test_client_psqlodbc.py in a process of its own (a driver crash then fails the test,
not the test run), against the front door and against PostgreSQL 15, printing one JSON object.

    python odbc_probe.py DRIVER_PATH PORT USER PASSWORD DATABASE
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main() -> None:
    import pyodbc

    driver, port, user, password, database = sys.argv[1:6]
    connection = pyodbc.connect(f"DRIVER={{{driver}}};SERVER=127.0.0.1;PORT={port};DATABASE={database};"
                                f"UID={user};PWD={password};SSLmode=disable", autocommit=True, timeout=10)
    cursor = connection.cursor()
    found: dict[str, Any] = {}

    def keep(name: str, rows: list[Any]) -> None:
        found[name] = {"columns": [d[0] for d in cursor.description or []], "rows": [_row(r) for r in rows]}

    keep("SQLTables", cursor.tables(schema="public").fetchall())
    keep("SQLTables(TABLE)", cursor.tables(schema="public", tableType="TABLE").fetchall())
    keep("SQLTables(schemas)", cursor.tables(catalog="", schema="%", table="").fetchall())
    for table in ("customers", "orders"):
        keep(f"SQLColumns({table})", cursor.columns(table=table, schema="public").fetchall())
        keep(f"SQLPrimaryKeys({table})", cursor.primaryKeys(table, schema="public").fetchall())
        keep(f"SQLStatistics({table})", cursor.statistics(table, schema="public").fetchall())
        keep(f"SQLSpecialColumns({table})", cursor.rowIdColumns(table, schema="public").fetchall())
        keep(f"SQLForeignKeys({table})", cursor.foreignKeys(table, schema="public").fetchall())
    keep("SQLGetTypeInfo(INTEGER)", cursor.getTypeInfo(pyodbc.SQL_INTEGER).fetchall())
    # a parameterized query (psqlODBC prepares it on the server) and the values and types a tool gets
    cursor.execute("SELECT id, name, email, created_at FROM public.customers WHERE id <= ? ORDER BY id", 3)
    found["query"] = {"description": [list(d[:2]) for d in cursor.description], "rows": [_row(r) for r in cursor]}
    cursor.execute("SELECT status, count(*) AS n, sum(total) AS total FROM orders GROUP BY status ORDER BY status")
    found["aggregate"] = {"description": [[d[0], d[1].__name__] for d in cursor.description],
                          "rows": [_row(r) for r in cursor]}
    found["SQLGetInfo"] = {name: connection.getinfo(getattr(pyodbc, name)) for name in
                           ("SQL_DBMS_NAME", "SQL_IDENTIFIER_QUOTE_CHAR", "SQL_CATALOG_NAME_SEPARATOR")}
    connection.close()
    json.dump(found, sys.stdout, default=str, indent=1)


def _row(row: Any) -> list[Any]:
    return [value if value is None or isinstance(value, (int, str)) else str(value) for value in row]


if __name__ == "__main__":
    main()
