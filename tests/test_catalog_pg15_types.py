"""The front door's built-in types are PostgreSQL 15's (policyengine/server/catalog/pg15_types.json).

The committed file is compared with a snapshot taken from a new database of a fresh PostgreSQL 15
cluster by the script that wrote it (pg15_snapshot.py), so it cannot drift from PostgreSQL; and every
principal's shadow catalog is checked to list exactly those rows, beside its own tables' row types.
"""

from __future__ import annotations

import json

import pytest

from policyengine.server.catalog import pg15_snapshot, pgtypes
from policyengine.server.catalog.listing import ListedColumn, ListedTable, Listing
from policyengine.server.catalog.shadow import SHADOW, TABLES, _columns, shadow_database

COMMITTED = json.loads(pgtypes.DATA.read_text())


def _first_differences(ours: list[list], theirs: list[list], key: int = 0) -> str:
    mine, reference = {r[key]: r for r in ours}, {r[key]: r for r in theirs}
    lines = [f"only in the file: {mine[k]}" for k in sorted(set(mine) - set(reference))][:5]
    lines += [f"only in PostgreSQL: {reference[k]}" for k in sorted(set(reference) - set(mine))][:5]
    lines += [f"file {mine[k]}\n  PostgreSQL {reference[k]}" for k in sorted(set(mine) & set(reference))
              if mine[k] != reference[k]][:5]
    return "\n".join(lines)


def test_the_committed_types_are_a_fresh_postgresql_15s(postgres15):
    """Regenerate with: python -m policyengine.server.catalog.pg15_snapshot --dsn '<a new PG15 database>'."""
    with postgres15.connect(dbname="postgres") as conn:
        conn.execute("DROP DATABASE IF EXISTS pe_pg15_types")
        conn.execute("CREATE DATABASE pe_pg15_types TEMPLATE template1")
    try:
        with postgres15.connect(dbname="pe_pg15_types") as conn:
            fresh = json.loads(pg15_snapshot.dumps(pg15_snapshot.snapshot(conn)))
    finally:
        with postgres15.connect(dbname="postgres") as conn:
            conn.execute("DROP DATABASE IF EXISTS pe_pg15_types")
    assert fresh["postgresql"].split(".")[0] == COMMITTED["postgresql"].split(".")[0] == "15"
    # initdb gives information_schema the OIDs after the collations it imports from `locale -a`
    assert fresh["information_schema_oid"] == COMMITTED["information_schema_oid"], \
        "this system's locales moved information_schema's OIDs: regenerate pg15_types.json (see the module)"
    for table in ("pg_type", "pg_proc", "pg_range"):
        assert fresh[table]["columns"] == COMMITTED[table]["columns"], table
        assert fresh[table]["rows"] == COMMITTED[table]["rows"], \
            f"{table}:\n{_first_differences(COMMITTED[table]['rows'], fresh[table]['rows'])}"
    assert fresh["format_type"] == COMMITTED["format_type"]


def test_the_file_is_as_the_script_writes_it():
    """One row a line (a changed type is a one-line diff), and loadable as the shadow's columns."""
    assert pg15_snapshot.dumps(COMMITTED) == pgtypes.DATA.read_text()
    for table in ("pg_type", "pg_proc", "pg_range"):
        assert COMMITTED[table]["columns"] == [name for name, _ in _columns(TABLES[table])]


@pytest.fixture(scope="module")
def shadow():
    columns = (ListedColumn("id", "INTEGER", True, True, None), ListedColumn("name", "VARCHAR", False, False, None))
    listing = Listing("demo", "ana", (ListedTable("public", "orders", None, columns),))
    con = shadow_database(listing, {"TimeZone": "UTC"})
    yield con
    con.close()


@pytest.mark.parametrize("table,key", [("pg_type", "oid"), ("pg_proc", "oid"), ("pg_range", "rngtypid")])
def test_every_shadow_lists_exactly_the_builtin_rows(shadow, table, key):
    columns = COMMITTED[table]["columns"]
    rows = shadow.execute(f"SELECT {', '.join(columns)} FROM {SHADOW}.{table} WHERE {key} < 16384 "
                          f"ORDER BY {key}").fetchall()
    assert [list(r) for r in rows] == COMMITTED[table]["rows"]


def test_without_a_temporary_folder_the_rows_are_inserted_as_values(monkeypatch):
    from policyengine.server.catalog import shadow as module

    def refuse() -> str:
        raise OSError("no space left on device")
    monkeypatch.setattr(module, "_builtin_file", refuse)
    con = shadow_database(Listing("demo", "ana", ()), {})
    try:
        rows = con.execute(f"SELECT {', '.join(COMMITTED['pg_type']['columns'])} FROM {SHADOW}.pg_type "
                           "ORDER BY oid").fetchall()
        assert [list(r) for r in rows] == COMMITTED["pg_type"]["rows"]
    finally:
        con.close()


def test_the_tables_row_types_follow_the_builtin_ones(shadow):
    rows = shadow.execute(f"SELECT typname FROM {SHADOW}.pg_type WHERE oid >= 16384 ORDER BY oid").fetchall()
    names = [r[0] for r in rows]
    assert names == ["orders", "_orders"]
    shown = shadow.execute(f"SELECT count(*) FROM {SHADOW}.pe_type_names").fetchone()
    assert shown == (len(pgtypes.BUILTIN_TYPES) + 2,)


def test_types_are_shown_as_postgresql_shows_them():
    """pgtypes.format_type (\\d, information_schema) gives PostgreSQL's format_type(oid, NULL) for every type."""
    shown = {oid: pgtypes.format_type(oid, None) for oid in pgtypes.BY_OID}
    assert shown == pgtypes.DISPLAY
    assert pgtypes.format_type(1700, (10 << 16 | 2) + 4) == "numeric(10,2)"


@pytest.mark.parametrize("sql_type,expected", [
    ("VARCHAR", (25, -1)), ("STRING", (25, -1)), ("BIGINT", (20, -1)), ("INTEGER", (23, -1)), ("INT", (23, -1)),
    ("SMALLINT", (21, -1)), ("TINYINT", (21, -1)), ("DOUBLE", (701, -1)), ("REAL", (700, -1)), ("FLOAT", (700, -1)),
    ("DECIMAL(10,2)", (1700, 655366)), ("NUMERIC", (1700, -1)), ("BOOLEAN", (16, -1)), ("DATE", (1082, -1)),
    ("TIMESTAMP WITH TIME ZONE", (1184, -1)), ("TIMESTAMPTZ", (1184, -1)), ("TIMESTAMP", (1114, -1)),
    ("TIME", (1083, -1)), ("BLOB", (17, -1)), ("UUID", (2950, -1)), ("JSON", (114, -1)), ("INTERVAL", (1186, -1)),
    ("INTEGER[]", (1007, -1)), ("VARCHAR[]", (1009, -1)), ("GEOMETRY", (25, -1)),
])
def test_contract_columns_keep_their_types(sql_type, expected):
    assert pgtypes.column_type(sql_type) == expected
