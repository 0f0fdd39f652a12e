"""DuckDB execution through the engine against the raw query on the same data, same DuckDB settings.

Three sections:

- ``execution``: every TPC-H / TPC-DS query as role ``masked`` (and ``all_clear``) through
  ``Engine.query_for`` (cached rewrite, cached cross-check, run, rows fetched), against the raw query on
  the raw twin. Queries are grouped by the engine's own decision (:func:`benchmarks.tpcworld.classify`).
- ``kinds``: a synthetic table with one column per protection kind; ``SELECT max(col)`` over the whole
  table (every value is computed, one row travels), masked against raw.
- ``hash``: the full-scan worst case, the keyed hash (HMAC-SHA-256) of 10 million text values, against
  the raw scan and against the hash function alone: the same HMAC written directly in DuckDB, with the
  key's pads as constants and no policy layer, which computes the same values (checked) and is the
  limit of any engine that computes the hash in DuckDB; a single unkeyed ``sha256`` is shown beside.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any

import duckdb

from benchmarks import data
from benchmarks.common import KEY_HEX, Steps, interleaved, paired, stat
from benchmarks.tpcworld import TpcWorld, classify, reference_connection
from policyengine import crypto
from policyengine.decision import subject_for
from policyengine.engine import Engine
from policyengine.rewrite import Refused

# --- TPC-H / TPC-DS ----------------------------------------------------------------------------------

def run_tpc(worlds: list[TpcWorld], repeat: int, steps: Steps) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for world in worlds:
        engine = world.engine
        for query_id, sql in world.queries:
            steps.note(f"execute {world.name} {query_id}")
            row: dict[str, Any] = {"benchmark": world.name, "query": query_id}
            try:
                rewritten = engine.rewrite_for(world.masked, sql)
            except Refused as refusal:
                rows.append({**row, "note": f"refused: {refusal.reason}"})
                steps.step()
                continue
            row.update(classify(world, sql, rewritten))

            def raw(sql: str = sql, world: TpcWorld = world) -> object:
                return world.reference.execute(sql).fetchall()

            def masked(sql: str = sql, engine: Engine = engine, world: TpcWorld = world) -> object:
                return engine.query_for(world.masked, sql).fetchall()

            def clear(sql: str = sql, engine: Engine = engine, world: TpcWorld = world) -> object:
                return engine.query_for(world.clear, sql).fetchall()

            try:
                raw()
            except duckdb.Error as error:
                rows.append({**row, "note": f"fails on the raw data too: {type(error).__name__}"})
                steps.step()
                continue
            try:
                samples = interleaved({"raw": raw, "masked": masked, "clear": clear}, repeat)
            except Exception as error:  # noqa: BLE001 - reported, not hidden
                rows.append({**row, "note": f"not run: {type(error).__name__}: {str(error)[:120]}"})
                steps.step()
                continue
            for name in samples:
                row[f"{name}_ms"] = statistics.median(samples[name]) * 1e3
                row[f"{name}_cpu_ms"] = statistics.median(samples.cpu[name]) * 1e3
            row["masked_ratio"] = paired(samples.cpu["masked"], samples.cpu["raw"])
            row["clear_ratio"] = paired(samples.cpu["clear"], samples.cpu["raw"])
            row["masked_ratio_wall"] = paired(samples["masked"], samples["raw"])
            row["clear_ratio_wall"] = paired(samples["clear"], samples["raw"])
            rows.append(row)
            steps.step()
    return {"rows": rows, "copies": None}


def summary_tpc(result: dict[str, Any]) -> dict[str, Any]:
    """Per query, the ratio of the medians; summarized over the queries of each group: on CPU time
    (``none``, ``protected``...) and on wall clock (``none_wall``...)."""
    ran = [r for r in result["rows"] if "raw_ms" in r]
    out: dict[str, Any] = {"queries": len(result["rows"]), "ran": len(ran)}
    for suffix, clock in (("", "_cpu_ms"), ("_wall", "_ms")):
        if ran and "raw" + clock not in ran[0]:
            continue
        usable = [r for r in ran if r["raw" + clock] > 0]
        for group in ("none", "row filter", "protected"):
            mine = [r for r in usable if r["group"] == group]
            out[group + suffix] = stat(r["masked" + clock] / r["raw" + clock] for r in mine)
        out["clear" + suffix] = stat(r["clear" + clock] / r["raw" + clock] for r in usable)
        out["masked_all" + suffix] = stat(r["masked" + clock] / r["raw" + clock] for r in usable)
        out["raw" + suffix + "_ms"] = stat(r["raw" + clock] for r in usable)
    return out


# --- synthetic: one column per protection kind, and the keyed-hash worst case --------------------------

class Synthetic:
    """The synthetic database served by an engine (role masked), and its raw twin."""

    def __init__(self, folder: Path, kinds_rows: int, hash_rows: int):
        raw = folder / "synthetic.duckdb"
        data.build_synthetic(raw, kinds_rows, hash_rows)
        served = folder / "synthetic-served.duckdb"
        shutil.copyfile(raw, served)
        policies = folder / "synthetic-policies"
        data.write_synthetic_policies(policies)
        self.key = crypto.parse_key(KEY_HEX)
        self.engine = Engine.load(policies, served, keys=self.key)
        self.masked = subject_for(self.engine.policy_set, roles=["masked"])
        self.reference = reference_connection(raw, self.engine)
        self.kinds_rows, self.hash_rows = kinds_rows, hash_rows

    def close(self) -> None:
        self.reference.close()
        self.engine.close()


def run_kinds(world: Synthetic, repeat: int, budget: float, steps: Steps) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    columns = [("none (raw column, wrapper only)", "id")] + [(kind, kind) for kind in data.KINDS]
    for label, column in columns:
        steps.note(f"protection kind: {label}")
        sql = f'SELECT max("{column}") FROM kinds'
        world.reference.execute(sql).fetchall()  # the column in DuckDB's buffers before the first timed round
        samples = interleaved({
            "raw": lambda sql=sql: world.reference.execute(sql).fetchall(),
            "masked": lambda sql=sql: world.engine.query_for(world.masked, sql).fetchall(),
        }, repeat, budget=budget)
        protection = data.KINDS[column][2] if column in data.KINDS else "none"
        rows.append({"kind": label, "column": column, "protection": protection,
                     "raw_ms": statistics.median(samples["raw"]) * 1e3,
                     "masked_ms": statistics.median(samples["masked"]) * 1e3,
                     "raw_cpu_ms": statistics.median(samples.cpu["raw"]) * 1e3,
                     "masked_cpu_ms": statistics.median(samples.cpu["masked"]) * 1e3,
                     "ratio": paired(samples.cpu["masked"], samples.cpu["raw"]),
                     "ratio_wall": paired(samples["masked"], samples["raw"]), "rounds": len(samples["raw"])})
        steps.step()
    return {"rows": rows, "table_rows": world.kinds_rows}


def run_hash(world: Synthetic, repeat: int, budget: float, steps: Steps) -> dict[str, Any]:
    inner, outer = world.key.pads("hash")
    hmac = "sha256(?::BLOB || unhex(sha256(?::BLOB || encode(email))))"
    queries = {
        "raw": ("SELECT max(email) FROM hashed", None),
        "hmac": (f"SELECT max({hmac}) FROM hashed", [outer, inner]),
        "sha256": ("SELECT max(sha256(email)) FROM hashed", None),
    }

    def on_reference(name: str) -> Any:
        sql, parameters = queries[name]
        return lambda: world.reference.execute(sql, parameters).fetchall()

    def engine() -> Any:
        return world.engine.query_for(world.masked, "SELECT max(email) FROM hashed").fetchall()

    steps.note(f"keyed hash over {world.hash_rows:,} values: checking the limit computes the same")
    same = engine() == on_reference("hmac")()
    steps.step()
    steps.note(f"keyed hash over {world.hash_rows:,} values")
    samples = interleaved({"raw": on_reference("raw"), "engine": engine, "hmac": on_reference("hmac"),
                           "sha256": on_reference("sha256")}, repeat, warmup=False, budget=budget)
    steps.step()
    cpu = samples.cpu
    return {
        "values": world.hash_rows, "same_values": same, "rounds": len(samples["raw"]),
        "ms": {name: stat(v * 1e3 for v in values) for name, values in samples.items()},
        "cpu_ms": {name: stat(v * 1e3 for v in values) for name, values in cpu.items()},
        "engine_over_raw": paired(cpu["engine"], cpu["raw"]),
        "hmac_over_raw": paired(cpu["hmac"], cpu["raw"]),
        "sha256_over_raw": paired(cpu["sha256"], cpu["raw"]),
        "engine_over_hmac": paired(cpu["engine"], cpu["hmac"]),
        "engine_over_raw_wall": paired(samples["engine"], samples["raw"]),
        "hmac_over_raw_wall": paired(samples["hmac"], samples["raw"]),
        "engine_over_hmac_wall": paired(samples["engine"], samples["hmac"]),
        "engine_sql": world.engine.rewrite_for(world.masked, "SELECT max(email) FROM hashed").sql,
        "hmac_sql": queries["hmac"][0].replace("?::BLOB", "<pad>::BLOB", 2),
    }
