"""Rewrite cost per TPC-H / TPC-DS query, against sqlglot's own parse + generate of the same text.

Measured per query, interleaved round by round:

- ``sqlglot``: ``sqlglot.parse_one(text, read="duckdb").sql("duckdb")``, the floor any SQL-rewriting
  proxy built on sqlglot pays;
- ``first``: ``Engine.rewrite_for`` (what every query of the engine and the front door goes through)
  of a statement the engine has not seen: every sample's text is new (a distinct comment in front),
  so no statement cache can answer; the per-table wrapper texts of the role are warm, as in a
  running server;
- ``cold``: the same with the wrapper-text cache emptied too (the very first query of a role after a
  start or a policy reload), where the engine has such a cache;
- ``cached``: ``Engine.rewrite_for`` of a statement it has seen (timed over 200 calls per sample).

All three ratios are per query; the summary is their median over the queries (spread: IQR over the
queries).
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import sqlglot

from benchmarks.common import Steps, interleaved, stat
from benchmarks.tpcworld import TpcWorld
from policyengine.decision import Subject
from policyengine.engine import Engine
from policyengine.rewrite import Refused

CACHED_CALLS = 200


def _wrapper_cache() -> Any:
    """The wrapper-text cache, if the engine has one (a dict-like with ``clear``), else None."""
    try:
        from policyengine.rewrite import wrapper
    except ImportError:
        return None
    cache = getattr(wrapper, "_TEXTS", None)
    return cache if hasattr(cache, "clear") else None


def run(worlds: list[TpcWorld], repeat: int, steps: Steps) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    counter = itertools.count()
    cache = _wrapper_cache()
    for world in worlds:
        engine, subject = world.engine, world.masked
        for query_id, sql in world.queries:
            steps.note(f"rewrite {world.name} {query_id}")
            tree = sqlglot.parse_one(sql, read="duckdb")
            row: dict[str, Any] = {"benchmark": world.name, "query": query_id, "chars": len(sql),
                                   "nodes": sum(1 for _ in tree.walk())}

            def fresh(sql: str = sql) -> str:
                return f"/* pe-bench {next(counter)} */ {sql}"

            try:
                engine.rewrite_for(subject, sql)
            except Refused as refusal:
                rows.append({**row, "refused": refusal.reason})
                steps.step()
                continue

            def cold(engine: Engine = engine, subject: Subject = subject) -> object:
                cache.clear()
                return engine.rewrite_for(subject, fresh())

            contenders = {
                "sqlglot": lambda: sqlglot.parse_one(fresh(), read="duckdb").sql("duckdb"),
                "first": lambda engine=engine, subject=subject: engine.rewrite_for(subject, fresh()),
                "cached": lambda engine=engine, subject=subject, sql=sql: [
                    engine.rewrite_for(subject, sql) for _ in range(CACHED_CALLS)],
            }
            if cache is not None:
                contenders["cold"] = cold
            samples = interleaved(contenders, repeat)
            for per in (samples, samples.cpu):
                per["cached"] = [s / CACHED_CALLS for s in per["cached"]]
            for name in samples:
                row[f"{name}_ms"] = statistics.median(samples[name]) * 1e3
                row[f"{name}_cpu_ms"] = statistics.median(samples.cpu[name]) * 1e3
            rows.append(row)
            steps.step()
    return {"rows": rows, "cached_calls": CACHED_CALLS, "cold_measured": cache is not None}


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Per-query ratios summarized over the queries: on CPU time (``first``, ``cached``...), and on wall
    clock (``first_wall``...)."""
    ok = [r for r in result["rows"] if "refused" not in r]
    out: dict[str, Any] = {"queries": len(result["rows"]), "rewritten": len(ok),
                           "refused": len(result["rows"]) - len(ok)}
    names = ["first", "cached"] + (["cold"] if ok and "cold_ms" in ok[0] else [])
    for suffix, clock in (("", "_cpu_ms"), ("_wall", "_ms")):
        base = "sqlglot" + clock
        if not ok or base not in ok[0]:
            continue
        out["sqlglot" + suffix + "_ms"] = stat(r[base] for r in ok)
        for name in names:
            out[name + suffix] = stat(r[name + clock] / r[base] for r in ok if r[base] > 0)
            out[name + suffix + "_ms"] = stat(r[name + clock] for r in ok)
        for bench in ("tpch", "tpcds"):
            mine = [r for r in ok if r["benchmark"] == bench and r[base] > 0]
            if mine:
                out[f"first_{bench}{suffix}"] = stat(r["first" + clock] / r[base] for r in mine)
    return out
