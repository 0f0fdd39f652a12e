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


# --- every cache keyed by statement text is bounded by bytes, and the server gives memory back idle ---

def test_a_byte_budget_pushes_out_the_least_recently_used_and_refuses_what_alone_exceeds_it():
    from policyengine.bounded_cache import BoundedCache, text_bytes

    evicted: list[str] = []
    cache: BoundedCache[str, None] = BoundedCache(1000, lambda key, _: evicted.append(key),
                                                  budget=3 * text_bytes("x" * 100), weigh=text_bytes)
    for n in range(5):
        cache.put(f"{n}" + "x" * 99, None)
    assert len(cache) == 3 and evicted == ["0" + "x" * 99, "1" + "x" * 99]
    assert cache.weight == 3 * text_bytes("x" * 100) <= cache.budget
    cache.put("y" * 1000, None)  # more than the whole budget: not kept, and nothing pushed out for it
    assert len(cache) == 3 and "y" * 1000 not in cache
    cache.put("2" + "x" * 99, None)  # the same key again weighs once
    assert cache.weight == 3 * text_bytes("x" * 100)
    cache.pop("3" + "x" * 99)
    assert cache.weight == 2 * text_bytes("x" * 100)
    cache.clear()
    assert cache.weight == 0 and len(cache) == 0


def test_the_rewrites_kept_stay_within_their_byte_budget(example, monkeypatch):
    from policyengine import engine as engine_module

    monkeypatch.setattr(engine_module, "REWRITES_BUDGET", 256 << 10)
    engine = engine_module.Engine(example)
    padding = "x" * 4000
    for n in range(200):  # 200 distinct texts of 4 kB: 800 kB of statements alone
        engine.rewrite(f"SELECT \"ReviewID\", '{padding}' AS p{n} FROM reviews", principal="frank")
    assert engine._cache.weight <= 256 << 10
    assert 0 < len(engine._cache) < 200


def test_statement_fingerprints_kept_are_bounded_by_bytes(monkeypatch):
    from policyengine import audit
    from policyengine.bounded_cache import BoundedCache, text_bytes

    monkeypatch.setattr(audit, "_FINGERPRINTS", BoundedCache(4096, budget=64 << 10, weigh=text_bytes))
    long = "SELECT 1 AS a /* " + "x" * 10_000 + " */"
    assert audit.fingerprint(long) == audit.fingerprint(long)
    for n in range(50):
        audit.fingerprint(f"SELECT {n} AS a /* " + "x" * 10_000 + " */")
    assert audit._FINGERPRINTS.weight <= 64 << 10 and len(audit._FINGERPRINTS) <= 6


def test_every_cache_keyed_by_statement_text_has_a_byte_budget(frontdoor):
    from policyengine import audit

    engine, backend = frontdoor.engine, frontdoor.engine.backend
    caches = {"rewrites": engine._cache, "audit fragments": engine._audit_fragments,
              "checked texts": backend._checked, "result types": backend._types, "large results": backend._large,
              "texts seen": backend._plans._seen, "texts not prepared": backend._plans._refused,
              "fingerprints": audit._FINGERPRINTS}
    for name, cache in caches.items():
        assert cache.budget is not None and cache.budget <= 32 << 20, name
    assert session_module._CATALOG_TREES.budget <= 32 << 20 and session_module._RECOGNIZED.budget <= 8 << 20


def test_the_server_gives_memory_back_once_per_idle_spell(monkeypatch):
    import asyncio

    from policyengine.server import server as server_module
    from policyengine.server.workers import ElasticPool

    given: list[float] = []
    monkeypatch.setattr(server_module, "give_back_memory", lambda: given.append(1.0))
    pool = ElasticPool(core=1)

    class Idle:
        workers = pool
        run = server_module.Server.run
        give_back_when_idle = server_module.Server.give_back_when_idle

    async def soak() -> None:
        idle = Idle()
        watcher = asyncio.create_task(idle.give_back_when_idle(0.1))
        await asyncio.sleep(0.4)
        assert given == []  # nothing ran yet: nothing to give back
        await idle.run(sum, [1, 2])
        await asyncio.sleep(0.4)
        assert len(given) == 1  # once, not every tick of a long idle spell
        await idle.run(sum, [3])
        await asyncio.sleep(0.05)
        assert len(given) == 1  # busy again: not yet
        await asyncio.sleep(0.4)
        assert len(given) == 2
        watcher.cancel()

    try:
        asyncio.run(soak())
    finally:
        pool.shutdown()


def test_giving_memory_back_is_safe_to_call_anywhere():
    from policyengine.server import server as server_module

    server_module.tune_allocator()
    server_module.give_back_memory()  # glibc or not, pyarrow or not: no error
