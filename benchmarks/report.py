"""``docs/benchmarks.md`` and its plots, from the results of a run (``docs/benchmarks/results.json``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmarks.common import spread

#: a hand-written section kept from the existing report when it is regenerated
KEPT_SECTION = "## Findings"


def _f(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if value < 1 else f"{value:.1f}" if value >= 100 else f"{value:.2f}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**yes**" if ok else "**no**")


def _section(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    return results.get("sections", {}).get(name)


# --- the summary -------------------------------------------------------------------------------------

def summary_rows(results: dict[str, Any]) -> list[list[str]]:
    """The issue's table, with what was measured and whether it meets the target."""
    rows: list[list[str]] = []
    rewrite = _section(results, "rewrite")
    if rewrite:
        s = rewrite["summary"]
        what = f"TPC-H {sum(1 for r in rewrite['result']['rows'] if r['benchmark'] == 'tpch')} + " \
               f"TPC-DS {sum(1 for r in rewrite['result']['rows'] if r['benchmark'] == 'tpcds')}"
        first, cached = s["first"], s["cached"]
        rows.append(["rewrite, first time", f"sqlglot's own parse + generate of the same query, {what}, median",
                     "at most 1.5x",
                     f"{spread(first)} (CPU time; wall clock {spread(s.get('first_wall'))}); median "
                     f"{_f(s['first_ms']['median'], 2)} ms against {_f(s['sqlglot_ms']['median'], 2)} ms"
                     + (f"; the very first query of a role (no wrapper text cached yet): {spread(s['cold'])}"
                        if "cold" in s else ""),
                     _met(first["median"] <= 1.5)])
        rows.append(["rewrite, repeated query (cache)", "the same", "at most 0.05x",
                     f"{spread(cached, 4)} (wall clock {spread(s.get('cached_wall'), 4)}); "
                     f"{_f(s['cached_ms']['median'] * 1e3, 1)} µs",
                     _met(cached["median"] <= 0.05)])
    execution = _section(results, "execution")
    hashed = _section(results, "hash")
    if execution:
        s = execution["summary"]
        none, protected = s["none"], s["protected"]
        rows.append(["DuckDB execution, TPC-H/TPC-DS as a masked role, queries that read no protected column",
                     "the raw query", "at most 1.05x",
                     f"{spread(none, 3)} (CPU time; wall clock {spread(s.get('none_wall'), 3)}) over {none['n']} "
                     f"queries that read no protected column and no row-filtered table; those with a row filter: "
                     f"{spread(s['row filter'], 3)} over {s['row filter']['n']}; every query as role all_clear: "
                     f"{spread(s['clear'], 3)}",
                     _met(none["median"] <= 1.05 if none["n"] else None)])
        worst = ""
        if hashed:
            h = hashed["result"]
            worst = (f"; the worst case, the keyed hash of {h['values']:,} values in a full scan: "
                     f"{spread(h['engine_over_raw'], 1, iqr=False)} the raw scan, the hash alone "
                     f"{spread(h['hmac_over_raw'], 1, iqr=False)} (its limit): the engine at "
                     f"{spread(h['engine_over_hmac'], 2, iqr=False)} of the limit")
        rows.append(["DuckDB execution, the same queries where they read protected columns", "the raw query",
                     "at most 1.5x at the median; the full-scan worst case (keyed hash over 10 million values) "
                     "reported beside the cost of the hash function alone, which is its limit",
                     f"{spread(protected, 2)} (CPU time; wall clock {spread(s.get('protected_wall'))}) over "
                     f"{protected['n']} queries{worst}",
                     _met(protected["median"] <= 1.5 if protected["n"] else None)])
    elif hashed:
        h = hashed["result"]
        rows.append(["DuckDB execution, keyed hash full-scan worst case", "the raw scan; the hash alone", "reported",
                     f"{spread(h['engine_over_raw'], 1, iqr=False)}; the hash alone "
                     f"{spread(h['hmac_over_raw'], 1, iqr=False)}", "n/a"])
    front = _section(results, "frontdoor")
    if front and front["summary"]:
        s, r = front["summary"], front["result"]
        ratio = s["frank_fetch_ratio"]
        rows.append([f"rows per second to psycopg through the front door, {r['rows']:,} rows of "
                     f"{len(r['columns'])} columns",
                     "a real PostgreSQL 15 serving the same table on loopback", "at least 1.0x",
                     f"{spread(ratio, 3, iqr=False)}: {_f(s['frank_rows_per_s']['median'], 0)} rows/s against "
                     f"PostgreSQL's {_f(s['postgres_rows_per_s']['median'], 0)} (raw principal; masked: "
                     f"{spread(s['bob_fetch_ratio'], 3, iqr=False)})" + _cpu_row(s),
                     _met(ratio["median"] >= 1.0)])
        ratio = s["frank_over_duckdb"]
        rate = s["rate"]
        rows.append([f"pgbench transactions per second, point query, {r['clients']} clients, extended protocol",
                     "DuckDB's own in-process rate for the same query (one thread, prepared statement); "
                     "PostgreSQL's rate beside it", "at least 0.8x of DuckDB's rate",
                     f"{spread(ratio, 3, iqr=False)}: {_f(s['tps_frank']['median'], 0)} TPS against DuckDB's "
                     f"{_f(rate['duckdb_prepared']['median'], 0)}/s on one thread "
                     f"({_f(rate['duckdb_threads']['median'], 0)}/s on {r['clients']} threads); PostgreSQL "
                     f"{_f(s['tps_postgres']['median'], 0)} TPS (masked principal: "
                     f"{spread(s['bob_over_duckdb'], 3, iqr=False)})" + _cpu_tx(s),
                     _met(ratio["median"] >= 0.8)])
        if "streaming_peak_mb" in s:
            stream = r["stream"]
            peak = s["streaming_peak_mb"]
            fresh = s.get("fresh_streaming_peak_mb")
            if fresh is not None:
                rows.append([f"server memory while streaming {stream['rows']:,} rows", "", "under 300 MB",
                             f"{fresh:.0f} MB peak resident in a front door started for it (from "
                             f"{r['stream_fresh_start_kb'] / 1024:.0f} MB at start); {peak:.0f} MB in the one that "
                             f"had served the fetches and pgbench before (from {stream['rss_before_kb'] / 1024:.0f} "
                             f"MB: what it kept from that work, not what streaming holds)",
                             _met(fresh < 300)])
            else:
                rows.append([f"server memory while streaming {stream['rows']:,} rows", "", "under 300 MB",
                             f"{peak:.0f} MB peak resident (VmHWM"
                             f"{' reset before streaming' if stream['peak_reset'] else ''})", _met(peak < 300)])
    return rows


def _per_row(cpu: dict[str, float] | None, rows: int) -> str:
    if not cpu:
        return ""
    if cpu["median"] <= 0:  # below the clock's resolution
        return f"< {1e6 / 100 / rows:.2f}"
    return f"{cpu['median']:.2f}"


def _cpu_row(s: dict[str, Any]) -> str:
    cpu = s.get("cpu_us_per_row", {})
    if "frank" in cpu and "bench" in cpu and cpu["frank"]["median"] > 0 and cpu["bench"]["median"] > 0:
        return (f"; server CPU per row {cpu['frank']['median']:.2f} µs against PostgreSQL's "
                f"{cpu['bench']['median']:.2f} µs ({cpu['bench']['median'] / cpu['frank']['median']:.2f}x)")
    return ""


def _cpu_tx(s: dict[str, Any]) -> str:
    cpu = s.get("cpu_ms_per_tx", {})
    door, limit = cpu.get("pgbench_frank"), cpu.get("duckdb_prepared")
    if door and limit and door["n"] and limit["n"] and door["median"] > 0:
        return (f"; CPU per transaction {door['median']:.2f} ms in the server against {limit['median']:.2f} ms "
                f"in process ({limit['median'] / door['median']:.2f}x)")
    return ""


# --- the page ------------------------------------------------------------------------------------------

def markdown(results: dict[str, Any], plots: dict[str, str], kept: str | None = None) -> str:
    meta = results["meta"]
    m = meta["machine"]
    load = meta.get("load", {})
    lines = ["# Benchmarks", ""]
    commands = sorted({section["meta"]["command"] for section in results["sections"].values()})
    lines.append(
        f"Produced by `{meta['command']}` in {_duration(meta['seconds'])} on {meta['started'][:10]}, "
        f"on a {m['cores']}-core {m['cpu']} with {m['memory_mb'] / 1024:.0f} GB (Python {m['python']}, "
        f"DuckDB {m['duckdb']}, sqlglot {m['sqlglot']}). "
        f"The machine is shared: one-minute load average {_f(load.get('before'), 1)} at the start, "
        f"{_f(load.get('median'), 1)} at the median and {_f(load.get('max'), 1)} at the most during the run "
        f"(on {m['cores']} cores). So every figure is a ratio against a reference measured in the same run, "
        "in alternation with it (round by round, the order rotated), and medians are given with their "
        "spread: IQR across queries where a figure is a median over queries, min-max across rounds where "
        "it is one comparison repeated. With the load several times the cores, a process spends most of "
        "its wall-clock time waiting for a core, and wall-clock samples of one query spread over a factor "
        "of ten; so the in-process figures (rewrite, DuckDB execution) are ratios of CPU time (this "
        "process's, DuckDB's worker threads included), the cost an idle machine's clock would show, with "
        "the wall-clock ratio beside each. The front-door figures are rates on the wall clock, as the "
        "targets define them, with the servers' CPU time per row and per transaction beside them.")
    if len(commands) > 1:
        lines += ["", "Sections come from more than one run: " + "; ".join(
            f"{name}: `{section['meta']['command']}` ({section['meta']['started'][:16]})"
            for name, section in results["sections"].items()) + "."]
    lines += ["", "## Summary", "", "| what | measured against | target | measured ratio | met? |",
              "|---|---|---|---|---|"]
    for row in summary_rows(results):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines += ["", "Ratios are time over the reference's time (rewrite, execution), or rate over the reference's "
              "rate (rows/s, TPS). Run it again with `python -m benchmarks` (default: `--scale large`, under "
              "an hour on this machine; `pip install -e '.[test,bench]'` first); `--only SECTION` reruns one "
              "section and keeps the others; `--render` rewrites this page from `benchmarks/results.json`; "
              "`--scale small` is the test suite's smoke run.", ""]
    if kept:
        lines += [kept.rstrip(), ""]
    for name, render in (("rewrite", _rewrite), ("execution", _execution), ("kinds", _kinds), ("hash", _hash),
                         ("frontdoor", _frontdoor)):
        section = _section(results, name)
        if section:
            lines += render(section, plots)
    return "\n".join(lines).rstrip() + "\n"


def _produced(section: dict[str, Any]) -> str:
    meta = section["meta"]
    return (f"Measured by `{meta['command']}` (scale {meta['scale']}, {meta['repeat']} rounds) in "
            f"{meta['seconds']:.0f} s; load average {_f(meta['load_before'], 1)} before, "
            f"{_f(meta['load_after'], 1)} after.")


def _image(plots: dict[str, str], name: str, alt: str) -> list[str]:
    return [f"![{alt}]({plots[name]})", ""] if name in plots else []


def _rewrite(section: dict[str, Any], plots: dict[str, str]) -> list[str]:
    s, result = section["summary"], section["result"]
    lines = ["## Rewrite cost (TPC-H, TPC-DS)", "", _produced(section), "",
             ("Per query, in alternation: sqlglot's `parse_one(sql, read=\"duckdb\").sql(\"duckdb\")`; the engine's "
              "`Engine.rewrite_for` of a statement it has not seen (each sample's text is new, a distinct comment "
              "in front, so no statement cache answers; the role's per-table wrapper texts are warm, as in a "
              "running server)"
              + ("; the same with the wrapper-text cache emptied (the very first query of a role)"
                 if result.get("cold_measured") else "")
              + f"; and `Engine.rewrite_for` of a statement it has seen (timed over {result['cached_calls']} calls). "
              "Role `masked` of the tests' TPC policy sets (`benchmarks/tpc.py`). Per query the ratio of the medians; "
              "summarized by its median over the queries."), "",
             "| measure | CPU time: median over queries (IQR) | wall clock: median (IQR) | median CPU ms |",
             "|---|---|---|---:|",
             f"| sqlglot parse + generate | 1x | 1x | {_ms(s['sqlglot_ms']['median'])} |"]
    names = [("first", "rewrite, first time / sqlglot", 2),
             ("cold", "rewrite, very first query of a role / sqlglot", 2),
             ("cached", "rewrite, cached / sqlglot", 4)]
    for key, label, digits in names:
        if key in s:
            lines.append(f"| {label} | {spread(s[key], digits)} | {spread(s.get(key + '_wall'), digits)} | "
                         f"{_ms(s[key + '_ms']['median'])} |")
    for name, label in (("tpch", "TPC-H"), ("tpcds", "TPC-DS")):
        if f"first_{name}" in s:
            lines.append(f"| rewrite, first time / sqlglot, {label} only | {spread(s[f'first_{name}'])} | "
                         f"{spread(s.get(f'first_{name}_wall'))} | |")
    lines += ["", f"{s['rewritten']} of {s['queries']} queries rewritten; {s['refused']} refused with a reason "
              "(a denied column), and not counted.", ""]
    lines += _image(plots, "rewrite", "rewrite time against query size")
    lines += ["<details><summary>Every query (CPU ms)</summary>", "",
              "| query | chars | nodes | sqlglot ms | first ms | first / sqlglot | wall clock | cold ms | cached µs "
              "| note |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        if "refused" in r:
            lines.append(f"| {r['benchmark']} {r['query']} | {r['chars']} | {r['nodes']} | | | | | | | "
                         f"refused: {r['refused']} |")
            continue
        cpu = "_cpu_ms" if "sqlglot_cpu_ms" in r else "_ms"
        base = r["sqlglot" + cpu]
        lines.append(f"| {r['benchmark']} {r['query']} | {r['chars']} | {r['nodes']} | {_ms(base)} | "
                     f"{_ms(r['first' + cpu])} | {_ratio(r['first' + cpu], base)} | "
                     f"{_ratio(r['first_ms'], r['sqlglot_ms'])} | {_ms(r.get('cold' + cpu))} | "
                     f"{r['cached' + cpu] * 1e3:.1f} | |")
    lines += ["", "</details>", ""]
    return lines


def _ratio(a: float | None, b: float | None, digits: int = 2) -> str:
    if a is None or not b:
        return ""
    return f"{a / b:.{digits}f}x"


def _execution(section: dict[str, Any], plots: dict[str, str]) -> list[str]:
    s, result = section["summary"], section["result"]
    copies = result.get("copies") or 1
    sizes = result.get("table_rows", {})
    size_text = "; ".join(f"{name}: "
                          + ", ".join(f"{t} {n:,}" for t, n in sorted(tables.items(), key=lambda x: -x[1])[:4])
                          for name, tables in sizes.items())
    lines = ["## DuckDB execution overhead (TPC-H, TPC-DS)", "", _produced(section), "",
             (f"The shared TPC-H and TPC-DS data sets are small (TPC-H lineitem 8,233 rows), so queries would "
              f"take a millisecond; they are scaled {copies}-fold the way dbgen scales, the entity tables "
              "(customers, orders, line items, parts, suppliers; customers, addresses, items, sales, returns, "
              "inventory) copied with their keys offset per copy so that every join matches within a copy, "
              f"the shared dimensions as they are (largest tables: {size_text}). "
              "Each query runs through `Engine.query_for` (cached rewrite and cross-check, execution, every "
              "row fetched) as role `masked` and as role `all_clear`, and raw on a byte-identical copy opened "
              "with the engine's DuckDB settings (threads, memory limit), in alternation."), "",
             ("Groups follow the engine's own decision for role `masked` (`Rewritten.decisions`): a query "
              "*reads a protected column* when a column the decision marks PROTECTED appears in it (columns "
              "resolved with sqlglot's qualifier against the database's schema; `*` in a projection reads "
              "every column, `count(*)` and `EXISTS (SELECT * ...)` none); otherwise it is *row-filtered* "
              "when a table it reads has a row filter for the role, else it is *unprotected*."), "",
             "| queries | n | masked / raw, CPU time: median over queries (IQR) | wall clock: median (IQR) |",
             "|---|---:|---|---|",
             f"| read no protected column, no row filter | {s['none']['n']} | {spread(s['none'], 3)} | "
             f"{spread(s.get('none_wall'), 3)} |",
             f"| read no protected column, row-filtered | {s['row filter']['n']} | {spread(s['row filter'], 3)} | "
             f"{spread(s.get('row filter_wall'), 3)} |",
             f"| read a protected column | {s['protected']['n']} | {spread(s['protected'], 3)} | "
             f"{spread(s.get('protected_wall'), 3)} |",
             f"| all, as role `all_clear` (nothing protected) | {s['clear']['n']} | {spread(s['clear'], 3)} | "
             f"{spread(s.get('clear_wall'), 3)} |",
             "", f"Raw query CPU time: median {_ms(s['raw_ms']['median'])} ms (IQR {_ms(s['raw_ms']['q1'])}-"
             f"{_ms(s['raw_ms']['q3'])} ms) over {s['ran']} queries"
             + (f"; wall clock: median {_ms(s['raw_wall_ms']['median'])} ms" if "raw_wall_ms" in s else "") + ".", ""]
    lines += _image(plots, "execution", "execution overhead by protection kind")
    lines += ["<details><summary>Every query (CPU ms)</summary>", "",
              "| query | group | protected columns read | raw ms | masked ms | masked / raw (min-max over rounds) "
              "| wall clock | all_clear / raw | note |",
              "|---|---|---|---:|---:|---|---:|---:|---|"]
    for r in result["rows"]:
        if "raw_ms" not in r:
            lines.append(f"| {r['benchmark']} {r['query']} | {r.get('group', '')} | | | | | | | {r.get('note', '')} |")
            continue
        read = ", ".join(r["protected_read"])
        if not read and r["row_filtered"]:
            read = "row filter: " + ", ".join(r["row_filtered"])
        cpu = "_cpu_ms" if "raw_cpu_ms" in r else "_ms"
        lines.append(f"| {r['benchmark']} {r['query']} | {r['group']} | {read} | {_ms(r['raw' + cpu])} | "
                     f"{_ms(r['masked' + cpu])} | {spread(r['masked_ratio'], 2, iqr=False)} | "
                     f"{_ratio(r['masked_ms'], r['raw_ms'])} | {_ratio(r['clear' + cpu], r['raw' + cpu])} | |")
    lines += ["", "</details>", ""]
    return lines


def _kinds(section: dict[str, Any], plots: dict[str, str]) -> list[str]:
    result = section["result"]
    lines = ["## Overhead by protection kind", "", _produced(section), "",
             (f"A synthetic table of {result['table_rows']:,} rows (deterministic: every value is a function of "
              "the row number) with one column per protection kind; `SELECT max(col) FROM kinds` computes the "
              "protection for every row and returns one, through the engine as role `masked` and raw, in "
              "alternation. The first row is a raw column read through the engine: the wrapper alone."), "",
             "| kind | protection | raw CPU ms | masked CPU ms | masked / raw, CPU time, median (min-max) "
             "| wall clock | rounds |",
             "|---|---|---:|---:|---|---|---:|"]
    for r in result["rows"]:
        protection = r["protection"] if isinstance(r["protection"], str) else \
            ", ".join(f"{k}: {v}" for k, v in r["protection"].items())
        cpu = "_cpu_ms" if "raw_cpu_ms" in r else "_ms"
        lines.append(f"| {r['kind']} | `{protection}` | {_ms(r['raw' + cpu])} | {_ms(r['masked' + cpu])} | "
                     f"{spread(r['ratio'], 2, iqr=False)} | {spread(r.get('ratio_wall'), 2, iqr=False)} | "
                     f"{r['rounds']} |")
    lines.append("")
    return lines


def _hash(section: dict[str, Any], plots: dict[str, str]) -> list[str]:
    r = section["result"]
    ms = r.get("cpu_ms", r["ms"])
    wall = r["ms"]
    lines = ["## Keyed hash: the full-scan worst case", "", _produced(section), "",
             (f"`SELECT max(email) FROM hashed` over {r['values']:,} distinct text values: raw; through the engine "
              "as role `masked`, where `email` is protected by `hash` (HMAC-SHA-256 under the key's hash "
              "purpose, computed in DuckDB SQL); the hash function alone, that same HMAC written directly "
              "in DuckDB with the key's pads as bound constants and no policy layer: "
              f"`{r['hmac_sql']}` (it computes the same values: {'checked' if r['same_values'] else 'NOT the same'}); "
              "and one unkeyed `sha256(email)`, below which no hash in DuckDB goes."), "",
             "| query | CPU ms, median (min-max) | / raw scan, CPU time | wall-clock ms, median |",
             "|---|---|---|---:|"]
    for key, label, ratio in (("raw", "raw scan", None),
                              ("engine", "through the engine (keyed hash)", "engine_over_raw"),
                              ("hmac", "the HMAC alone (the limit)", "hmac_over_raw"),
                              ("sha256", "one sha256", "sha256_over_raw")):
        lines.append(f"| {label} | {_ms(ms[key]['median'])} ({_ms(ms[key]['min'])}-{_ms(ms[key]['max'])}) | "
                     f"{spread(r[ratio], 1, iqr=False) if ratio else '1x'} | {_ms(wall[key]['median'])} |")
    lines += ["", (f"The engine against the limit: {spread(r['engine_over_hmac'], 3, iqr=False)} on CPU time, "
                   f"{spread(r.get('engine_over_hmac_wall'), 3, iqr=False)} on the wall clock ({r['rounds']} rounds)."),
              ""]
    return lines


def _frontdoor(section: dict[str, Any], plots: dict[str, str]) -> list[str]:
    r, s = section["result"], section["summary"]
    if "missing" in r:
        return ["## Front door against PostgreSQL 15", "", f"Not measured: {r['missing']}.", ""]
    from benchmarks.frontdoor import FETCH, POINT, POINT_SQL, PRINCIPALS, tps

    def label(target: str, user: str) -> str:
        if target == "postgres":
            return "PostgreSQL 15 (table owner)"
        return f"front door as {user} ({PRINCIPALS[user].split(':')[0]}, {'raw' if user == 'frank' else 'masked'})"

    lines = ["## Front door against PostgreSQL 15", "", _produced(section), "",
             (f"PostgreSQL {r['postgres_version'].split()[0]} (Debian's package, started for the run on 127.0.0.1 "
              "as the postgres user, Debian's defaults but fsync off, removed afterwards) and the front door "
              "(`policyengine serve`, its own process, audit log on) serve the same "
              f"{r['rows']:,}-row `reviews` table of the demo database ({len(r['columns'])} columns: "
              f"{', '.join(c.split()[0] for c in r['columns'])}), both with SCRAM-SHA-256 logins, text results, "
              f"no TLS. Demo database built in {r['build_s']:.0f} s."), "",
             f"### `{FETCH}`: {r['rows']:,} rows, {r['fetch']['rounds']} rounds", "",
             ("psycopg: `cursor.execute` + `fetchall` (rows decoded into Python tuples): the target's figure. "
              "libpq: the same statement through `psycopg.pq` with no row decoding, so the figure is the "
              "server and the wire."), "",
             "| served by | psycopg rows/s, median | / PostgreSQL (min-max) | libpq rows/s | / PostgreSQL (min-max) "
             "| server CPU µs per row |",
             "|---|---:|---|---:|---|---:|"]
    for t in r["fetch"]["targets"]:
        cpu = t.get("server_cpu_us_per_row")
        lines.append(f"| {label(t['target'], t['user'])} | {_f(t['psycopg']['median'], 0)} | "
                     f"{spread(t['psycopg_ratio'], 3, iqr=False)} | {_f(t['libpq']['median'], 0)} | "
                     f"{spread(t['libpq_ratio'], 3, iqr=False)} | {_per_row(cpu, r['rows'])} |")
    lines += ["", ("Server CPU per row: the serving process's user + system CPU time (`/proc/<pid>/stat`; for "
                   "PostgreSQL the backend serving the connection) over each libpq fetch, divided by the rows: "
                   "unlike wall time it hardly depends on how busy the machine is, so its ratio is the "
                   "throughput ratio an otherwise idle machine would show once the server is the bottleneck.")]
    rate = s["rate"]
    lines += ["", (f"### pgbench point query, {r['clients']} clients, {r['threads']} pgbench threads, "
                   f"{r['seconds']} s per run, {r['pgbench_rounds']} rounds of `-M extended`"), "",
              "```", POINT.format(rows=r["rows"]).rstrip(), "```", "",
              (f"DuckDB in process runs `{POINT_SQL}` on a copy of the same database with the front door's "
               f"DuckDB settings ({r['inprocess_threads']} threads), in the same rounds: one thread looping over a "
               "prepared statement (`PREPARE` once, `EXECUTE point(id)`: the target's reference, the limit of a "
               "DuckDB backend as the issue defines it), one thread looping over `execute(sql, [id])`, and "
               f"{r['clients']} threads with a cursor each (what DuckDB reaches when the GIL is released during "
               "execution: the ceiling for a backend that runs clients' statements concurrently). The engine in "
               "process (`Engine.query_for`, one thread, no wire) shows the policy layer's cost apart from the "
               "protocol."), "",
              ("| who | transactions/s, median (min-max) | / DuckDB one thread | / PostgreSQL "
               "| CPU ms per transaction |"), "|---|---|---|---|---:|"]
    base, pg = rate["duckdb_prepared"], s["tps_postgres"]
    cpu = s.get("cpu_ms_per_tx", {})

    def row(name: str, st: dict[str, float], key: str) -> str:
        spent = cpu.get(key)
        return (f"| {name} | {_f(st['median'], 0)} ({_f(st['min'], 0)}-{_f(st['max'], 0)}) | "
                f"{st['median'] / base['median']:.3f}x | {st['median'] / pg['median']:.4f}x | "
                f"{_f(spent['median'], 3) if spent and spent['n'] else ''} |")

    lines += [row("PostgreSQL 15, pgbench", pg, "pgbench_bench"),
              row("DuckDB in process, one thread, prepared statement (the limit)", base, "duckdb_prepared"),
              row("DuckDB in process, one thread, execute(sql, [id])", rate["duckdb_execute"], "duckdb_execute"),
              row(f"DuckDB in process, {r['clients']} threads", rate["duckdb_threads"], "duckdb_threads"),
              row("engine in process, frank (raw), one thread", rate["engine_frank"], "engine_frank"),
              row("engine in process, bob (masked), one thread", rate["engine_bob"], "engine_bob"),
              row("front door as frank (raw), pgbench", s["tps_frank"], "pgbench_frank"),
              row("front door as bob (masked), pgbench", s["tps_bob"], "pgbench_bob"), "",
              ("CPU ms per transaction: the server's CPU time over the pgbench run (PostgreSQL: the postmaster's "
               "whole process tree) divided by the transactions, or this process's CPU time per statement in "
               "process (DuckDB's worker threads included). It does not grow with the machine's load as "
               "transactions per second fall with it: the ratio of two of them is what the rates' ratio "
               "would be on an idle machine, where the CPU is the limit."), "",
              (f"Front door as frank over DuckDB's one-thread rate, round by round: "
               f"{spread(s['frank_over_duckdb'], 3, iqr=False)}; over DuckDB's {r['clients']}-thread rate: "
               f"{spread(s['frank_over_duckdb_threads'], 3, iqr=False)}; over PostgreSQL: "
               f"{spread(s['frank_over_postgres'], 4, iqr=False)}.")]
    context = [x for x in r["pgbench"] if x["mode"] != "extended" or x["connect"]]
    if context:
        lines += ["", "For context, run once each:", "",
                  "| served by | -M simple TPS | -M simple -C TPS (a SCRAM login per transaction) |",
                  "|---|---:|---:|"]
        for target, user in [("postgres", "bench"), ("frontdoor", "frank"), ("frontdoor", "bob")]:
            simple, connect = tps(r, target, user, "simple", False), tps(r, target, user, "simple", True)
            lines.append(f"| {label(target, user)} | {_f(simple[0] if simple else None, 0)} | "
                         f"{_f(connect[0] if connect else None, 0)} |")
    lines += ["", r["pgbench_version"] + "."]
    stream = r.get("stream")
    if stream:
        pg_s, door = stream["postgres"], stream["frontdoor"]
        pg_rate, door_rate = pg_s["rows"] / pg_s["seconds"], door["rows"] / door["seconds"]
        lines += ["", f"### Streaming {stream['rows']:,} rows through a server-side cursor (DECLARE/FETCH, 20,000 "
                      "rows per fetch), as frank", "", f"`{stream['query']}`", "",
                  "| served by | rows | seconds | rows/s | / PostgreSQL |", "|---|---:|---:|---:|---:|",
                  f"| PostgreSQL | {pg_s['rows']:,} | {pg_s['seconds']:.1f} | {pg_rate:,.0f} | 1x |",
                  f"| front door | {door['rows']:,} | {door['seconds']:.1f} | {door_rate:,.0f} | "
                  f"{door_rate / pg_rate:.3f}x |", "",
                  (f"Front-door process: {r['frontdoor_rss_start_kb'] / 1024:.0f} MB resident after start; peak "
                   f"{r['frontdoor_rss_after_fetch_kb'] / 1024:.0f} MB after the whole-table fetches, "
                   f"{r['frontdoor_rss_after_pgbench_kb'] / 1024:.0f} MB after pgbench; "
                   + (f"peak reset to {stream['rss_before_kb'] / 1024:.0f} MB before streaming, "
                      f"**{stream['peak_after_kb'] / 1024:.0f} MB peak while streaming**"
                      if stream["peak_reset"] else
                      f"highest resident memory sampled while streaming {stream['sampled_peak_kb'] / 1024:.0f} MB")
                   + f" ({stream['rss_after_kb'] / 1024:.0f} MB resident after): the result is never held whole.")]
        fresh = r.get("stream_fresh")
        if fresh:
            done = fresh["frontdoor"]
            lines += ["", (f"The same {fresh['rows']:,} rows from a front door started just before: "
                           f"{r['stream_fresh_start_kb'] / 1024:.0f} MB resident at start, "
                           f"**{fresh['streaming_peak_kb'] / 1024:.0f} MB peak while streaming** "
                           f"({done['rows'] / done['seconds']:,.0f} rows/s). The difference from the figure above "
                           "is what the long-running server kept from the work before it (DuckDB's buffer pool "
                           "holding the table, Python's heap after the 1-million-row fetches), not what "
                           "streaming holds.")]
    lines.append("")
    lines += _image(plots, "throughput", "throughput against PostgreSQL 15")
    return lines


# --- plots ---------------------------------------------------------------------------------------------

def plots(results: dict[str, Any], folder: Path, relative_to: Path) -> tuple[dict[str, str], str | None]:
    """PNG plots into ``folder``; (name -> path relative to the page, or why none were drawn)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}, "matplotlib is not installed (pip install -e '.[bench]'): no plots"
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}

    def save(fig: Any, name: str) -> None:
        path = folder / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made[name] = str(path.relative_to(relative_to)) if path.is_relative_to(relative_to) else str(path)

    rewrite = _section(results, "rewrite")
    if rewrite:
        ok = [r for r in rewrite["result"]["rows"] if "refused" not in r]
        fig, ax = plt.subplots(figsize=(8, 4.8))
        series = [("sqlglot_ms", "sqlglot parse + generate", "o"), ("first_ms", "rewrite, first time", "s"),
                  ("cold_ms", "rewrite, first query of a role", "^"), ("cached_ms", "rewrite, cached", "x")]
        for key, name, marker in series:
            cpu_key = key.replace("_ms", "_cpu_ms")
            points = [(r["nodes"], r.get(cpu_key, r.get(key))) for r in ok if key in r]
            if points:
                ax.scatter([p[0] for p in points], [p[1] for p in points], label=name, marker=marker, s=16)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("query size (sqlglot expression nodes)")
        ax.set_ylabel("CPU milliseconds")
        ax.set_title("Rewrite time against query size (TPC-H, TPC-DS)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, "rewrite")
    kinds, execution = _section(results, "kinds"), _section(results, "execution")
    if kinds or execution:
        labels, values, errors = [], [], []
        if execution:
            s = execution["summary"]
            for key, name in (("none", "TPC, no protected column"), ("row filter", "TPC, row-filtered only"),
                              ("protected", "TPC, protected columns read"), ("clear", "TPC, role all_clear")):
                if s[key]["n"]:
                    labels.append(name)
                    values.append(s[key]["median"])
                    errors.append((s[key]["median"] - s[key]["q1"], s[key]["q3"] - s[key]["median"]))
        if kinds:
            for r in kinds["result"]["rows"]:
                labels.append(f"kind: {r['kind']}")
                values.append(r["ratio"]["median"])
                errors.append((r["ratio"]["median"] - r["ratio"]["min"], r["ratio"]["max"] - r["ratio"]["median"]))
        hashed = _section(results, "hash")
        if hashed:
            h = hashed["result"]
            for key, name in (("engine_over_raw", f"keyed hash, {h['values']:,} values, engine"),
                              ("hmac_over_raw", f"keyed hash, {h['values']:,} values, the hash alone")):
                labels.append(name)
                values.append(h[key]["median"])
                errors.append((h[key]["median"] - h[key]["min"], h[key]["max"] - h[key]["median"]))
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.6))
        ys = list(range(len(labels)))[::-1]
        ax.barh(ys, values, xerr=list(zip(*errors)) if errors else None, color="#4477aa", capsize=2)
        ax.set_yticks(ys)
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xscale("log")
        for target in (1.05, 1.5):
            ax.axvline(target, color="#cc6677", linestyle="--", linewidth=1)
        ax.set_xlabel("CPU time through the engine / raw (log scale; dashed: the 1.05x and 1.5x targets)")
        ax.set_title("DuckDB execution overhead by protection kind")
        ax.grid(True, axis="x", which="both", alpha=0.3)
        save(fig, "execution")
    front = _section(results, "frontdoor")
    if front and front["summary"]:
        s, r = front["summary"], front["result"]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        names = ["PostgreSQL 15", "front door, raw", "front door, masked"]
        medians = [s["postgres_rows_per_s"], s["frank_rows_per_s"], s["bob_rows_per_s"]]
        left.bar(names, [m["median"] for m in medians],
                 yerr=[[m["median"] - m["min"] for m in medians], [m["max"] - m["median"] for m in medians]],
                 color=["#888888", "#4477aa", "#66ccee"], capsize=3)
        left.set_ylabel("rows per second (psycopg fetchall)")
        left.set_title(f"Whole-table fetch, {r['rows']:,} rows")
        left.tick_params(axis="x", labelsize=8)
        rate = s["rate"]
        names = ["PostgreSQL", "DuckDB\n1 thread", f"DuckDB\n{r['clients']} threads", "engine\nin process",
                 "front door\nraw", "front door\nmasked"]
        medians = [s["tps_postgres"], rate["duckdb_prepared"], rate["duckdb_threads"], rate["engine_frank"],
                   s["tps_frank"], s["tps_bob"]]
        right.bar(names, [m["median"] for m in medians],
                  yerr=[[m["median"] - m["min"] for m in medians], [m["max"] - m["median"] for m in medians]],
                  color=["#888888", "#228833", "#228833", "#ccbb44", "#4477aa", "#66ccee"], capsize=3)
        right.set_yscale("log")
        right.set_ylabel("point queries per second (log)")
        right.set_title(f"pgbench -M extended, {r['clients']} clients / in process")
        right.tick_params(axis="x", labelsize=8)
        save(fig, "throughput")
    return made, None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
