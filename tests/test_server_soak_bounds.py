"""Soak readiness (issue #17): what the front door keeps per statement text is bounded by the bytes it
holds, not only by a count. sqlglot's tree of a catalog query takes 60-100 bytes per character of its
text, and BI tools send their metadata queries with a different table name each time (pgjdbc's
getColumns: 2.5 kB of SQL, a 170 kB tree): 2,048 kept trees grew a server from 199 to 561 MB."""

from __future__ import annotations

import gc
import tracemalloc

from policyengine.server import extended
from policyengine.server import session as session_module

GET_COLUMNS = (
    "SELECT * FROM (SELECT current_database() AS current_database, n.nspname, c.relname, a.attname, a.atttypid, "
    "a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull, a.atttypmod, a.attlen, t.typtypmod, "
    "row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, "
    "nullif(a.attidentity, '') AS attidentity, nullif(a.attgenerated, '') AS attgenerated, "
    "pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc, dsc.description, t.typbasetype, t.typtype "
    "FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid) "
    "JOIN pg_catalog.pg_attribute a ON (a.attrelid = c.oid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid) "
    "LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid = def.adrelid AND a.attnum = def.adnum) "
    "LEFT JOIN pg_catalog.pg_description dsc ON (c.oid = dsc.objoid AND a.attnum = dsc.objsubid) "
    "LEFT JOIN pg_catalog.pg_class dc ON (dc.oid = dsc.classoid AND dc.relname = 'pg_class') "
    "LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace = dn.oid AND dn.nspname = 'pg_catalog') "
    "WHERE c.relkind IN ('r', 'p', 'v', 'f', 'm') AND a.attnum > 0 AND NOT a.attisdropped "
    "AND n.nspname LIKE 'main' AND c.relname LIKE '{table}') c WHERE true ORDER BY nspname, c.relname, attnum")


def test_kept_catalog_trees_stay_within_their_byte_budget(monkeypatch):
    cache = session_module._TextCache(entries=2048, budget=2 << 20, longest=64 << 10)
    monkeypatch.setattr(session_module, "_CATALOG_TREES", cache)
    first = GET_COLUMNS.format(table="t0")
    assert session_module._catalog_tree(first) is session_module._catalog_tree(first)  # kept: parsed once
    gc.collect()
    tracemalloc.start()
    try:
        for table in range(1, 120):
            assert session_module._catalog_tree(GET_COLUMNS.format(table=f"t{table}")) is not None
        gc.collect()  # a tree is a cycle (parent links): one pushed out is freed by the collector
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_tree = session_module.TREE_BYTES_PER_CHARACTER * len(first)
    assert len(cache) <= cache.budget // per_tree < 119  # the budget, not the count, bounds them
    assert held < 2 * cache.budget  # the estimate holds: what is kept stays near the budget


def test_long_texts_are_not_kept(monkeypatch):
    cache = session_module._TextCache(entries=10, budget=1 << 30, longest=100)
    monkeypatch.setattr(session_module, "_RECOGNIZED", cache)
    session_module._recognized("SELECT 1 /*" + "x" * 200 + "*/")
    session_module._recognized("SHOW TIME ZONE")
    assert len(cache) == 1
    for n in range(20):
        session_module._recognized(f"SELECT {n}")
    assert len(cache) == 10  # and at most ``entries``
    long = "SELECT $1, '" + "x" * (extended.LONGEST_KEPT + 1) + "'"
    extended._parameter_count.cache_clear()
    assert extended.parameter_count(long) == 1
    assert extended._parameter_count.cache_info().currsize == 0
