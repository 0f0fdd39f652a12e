"""TPC-H and TPC-DS from ../shared/bench as DuckDB databases, with policy sets for them.

Two roles per set: ``all_clear`` (cleared for everything: every query must return the raw result)
and ``masked`` (protections of every kind on columns the queries read, and row filters), whose
results the tests (tests/test_tpc.py) hold against the materialized oracle and the benchmarks time.
It lives here, not under tests/, because the benchmarks use it too and import nothing from tests/.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import yaml

#: the project's shared material, beside the clone or named by POLICYENGINE_SHARED (as tests/conftest.py finds it)
SHARED_ROOT = Path(os.environ.get("POLICYENGINE_SHARED", Path(__file__).resolve().parent.parent.parent / "shared"))
SHARED = SHARED_ROOT / "bench"

ROLES = {
    "roles": {
        "all_clear": {"clearance": "restricted"},
        "masked": {"clearance": "regular"},
    }
}

# table -> column -> (sensitivity, protection); every other column is public and raw
TPCH_PROTECTIONS = {
    "customer": {
        "c_custkey": ("confidential", "hash"),
        "c_name": ("confidential", {"kind": "partial", "show_first": 9}),
        "c_address": ("confidential", {"kind": "custom",
                                       "expr": "CASE WHEN c_nationkey < 10 THEN val ELSE 'hidden' END"}),
        "c_phone": ("confidential", {"kind": "partial", "show_first": 2, "char": "#"}),
        "c_acctbal": ("confidential", {"kind": "generalize", "bucket": 1000}),
        "c_comment": ("confidential", "nullify"),
    },
    "orders": {
        "o_custkey": ("confidential", "hash"),
        "o_clerk": ("confidential", "tokenize"),
        "o_comment": ("confidential", "email"),
        "o_orderdate": ("confidential", {"kind": "generalize", "to": "month"}),
    },
    "lineitem": {
        "l_comment": ("confidential", "encrypt"),
        "l_extendedprice": ("confidential", {"kind": "generalize", "bucket": 100}),
    },
    "supplier": {
        "s_name": ("confidential", "tokenize"),
        "s_phone": ("confidential", {"kind": "partial", "show_last": 4}),
        "s_acctbal": ("confidential", "redact"),
    },
    "part": {"p_name": ("confidential", {"kind": "generalize", "keep": 12})},
    "partsupp": {"ps_comment": ("confidential", "deny")},
    "nation": {"n_comment": ("confidential", "deny")},
}
TPCH_ROWS = {
    "customer": "c_mktsegment <> 'HOUSEHOLD'",
    "region": "r_name <> 'AFRICA'",
    "orders": "o_orderpriority <> '5-LOW'",
}

TPCDS_PROTECTIONS = {
    "customer": {
        "c_customer_id": ("confidential", "tokenize"),
        "c_first_name": ("confidential", {"kind": "partial", "show_first": 1}),
        "c_last_name": ("confidential", "hash"),
        "c_email_address": ("confidential", "email"),
        "c_birth_year": ("confidential", {"kind": "generalize", "bucket": 10}),
        "c_login": ("confidential", "deny"),
    },
    "customer_address": {
        "ca_zip": ("confidential", {"kind": "generalize", "keep": 3}),
        "ca_street_name": ("confidential", "redact"),
        "ca_city": ("confidential", {"kind": "custom",
                                     "expr": "CASE WHEN ca_state IN ('TN', 'GA') THEN val ELSE 'Elsewhere' END"}),
    },
    "item": {
        "i_item_desc": ("confidential", "nullify"),
        "i_product_name": ("confidential", "tokenize"),
    },
    "store": {"s_store_name": ("confidential", "hash")},
    "store_sales": {"ss_net_profit": ("confidential", {"kind": "generalize", "bucket": 10})},
    "catalog_sales": {"cs_sales_price": ("confidential", "redact")},
    "web_sales": {"ws_ext_sales_price": ("confidential", {"kind": "generalize", "bucket": 5})},
    "date_dim": {"d_date": ("confidential", {"kind": "generalize", "to": "month"})},
}
TPCDS_ROWS = {
    "store": "s_state <> 'AL'",
    "customer": "c_birth_country IS DISTINCT FROM 'CHILE'",
    "item": "i_category IS DISTINCT FROM 'Jewelry'",
}


def build_database(benchmark: str, target: Path, only: set[str] | None = None) -> list[str]:
    """Load ``benchmark`` (tpch or tpcds) into ``target`` (``only`` these tables, if given); returns the
    table names. ``_zip`` columns are read as text (leading zeros)."""
    data = SHARED / benchmark / "data"
    tables = sorted(name for name in (p.name.removesuffix(".csv.gz") for p in data.glob("*.csv.gz"))
                    if only is None or name in only)
    with duckdb.connect(str(target)) as con:
        con.execute("SET enable_progress_bar = false")
        for table in tables:
            path = data / f"{table}.csv.gz"
            probe = con.execute(f"DESCRIBE SELECT * FROM read_csv('{path}', delim='|', header=true)").fetchall()
            types = {name: ("VARCHAR" if name.endswith("_zip") else kind) for name, kind, *_ in probe}
            spec = ", ".join(f"'{name}': '{kind}'" for name, kind in types.items())
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', delim='|', header=true, "
                        f"columns={{{spec}}})")
    return tables


def write_policy_set(database: Path, folder: Path, protections: dict, row_filters: dict) -> None:
    """Contracts for every table of ``database``, with ``protections`` and ``row_filters`` for role masked."""
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    (folder / "roles.yaml").write_text(yaml.safe_dump(ROLES))
    with duckdb.connect(str(database), read_only=True) as con:
        tables = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        for table in tables:
            columns = []
            for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall():
                sensitivity, protection = protections.get(table, {}).get(name, ("public", "none"))
                columns.append({"name": name, "type": kind, "sensitivity": sensitivity, "protection": protection})
            contract = {"table": table, "columns": columns}
            if table in row_filters:
                contract["row_access"] = [{"roles": ["masked"], "where": row_filters[table]},
                                          {"roles": ["all_clear"], "where": "TRUE"}]
            (folder / "tables" / f"{table}.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))


def queries(benchmark: str) -> list[tuple[str, str]]:
    """The benchmark's queries; when the shared data is absent, placeholders so that the tests that
    use them are collected and reported as skipped (requires_shared), not silently dropped."""
    folder = SHARED / benchmark / "queries"
    found = [(p.stem, p.read_text()) for p in sorted(folder.glob("q*.sql"))]
    return found or [("q00", "SELECT 1")]
