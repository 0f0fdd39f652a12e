"""The benchmarks' data, built at a chosen scale, deterministically (nothing random, nothing read from the clock).

- TPC-H and TPC-DS: the shared data set (``../shared/bench``, loaded as the tests load it) is small
  (8,233 lineitems, 10,000 rows in TPC-DS's largest tables), so queries finish in a millisecond or two
  and fixed costs would be all one measured. It is scaled the way dbgen scales: the entity tables
  (customers, orders, line items, parts, suppliers; customers, addresses, items, sales, returns,
  inventory) are copied N times with their keys offset per copy, so copy k's orders reference copy
  k's customers and every join matches within one copy as in the original, while the shared
  dimensions (nations, regions, dates, times, stores, warehouses, promotions, demographics...) stay
  as they are. Results grow N-fold; no join fans out across copies.
- Synthetic tables: one column per protection kind (``kinds``), and a narrow one (``hashed``) whose
  text column is the keyed hash's full-scan worst case.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

#: per benchmark: table -> key columns offset in each copy (the tables not named are not copied)
TPC_ENTITIES: dict[str, dict[str, tuple[str, ...]]] = {
    "tpch": {
        "customer": ("c_custkey",),
        "orders": ("o_orderkey", "o_custkey"),
        "lineitem": ("l_orderkey", "l_partkey", "l_suppkey"),
        "part": ("p_partkey",),
        "supplier": ("s_suppkey",),
        "partsupp": ("ps_partkey", "ps_suppkey"),
    },
    "tpcds": {
        "customer": ("c_customer_sk", "c_current_addr_sk"),
        "customer_address": ("ca_address_sk",),
        "item": ("i_item_sk",),
        "store_sales": ("ss_customer_sk", "ss_addr_sk", "ss_item_sk", "ss_ticket_number"),
        "store_returns": ("sr_customer_sk", "sr_addr_sk", "sr_item_sk", "sr_ticket_number"),
        "catalog_sales": ("cs_bill_customer_sk", "cs_ship_customer_sk", "cs_bill_addr_sk", "cs_ship_addr_sk",
                          "cs_item_sk", "cs_order_number"),
        "catalog_returns": ("cr_refunded_customer_sk", "cr_returning_customer_sk", "cr_refunded_addr_sk",
                            "cr_returning_addr_sk", "cr_item_sk", "cr_order_number"),
        "web_sales": ("ws_bill_customer_sk", "ws_ship_customer_sk", "ws_bill_addr_sk", "ws_ship_addr_sk",
                      "ws_item_sk", "ws_order_number"),
        "web_returns": ("wr_refunded_customer_sk", "wr_returning_customer_sk", "wr_refunded_addr_sk",
                        "wr_returning_addr_sk", "wr_item_sk", "wr_order_number"),
        "inventory": ("inv_item_sk",),
    },
}


def build_tpc(benchmark: str, target: Path, copies: int, only: set[str] | None = None) -> dict[str, int]:
    """The shared data set of ``benchmark`` in ``target``, its entities copied ``copies`` times; rows per
    table. ``only``: just these tables (the smoke run's few queries need few), loaded as the tests load them."""
    from benchmarks import tpc

    tables = tpc.build_database(benchmark, target, only)
    with duckdb.connect(str(target)) as con:
        con.execute("SET enable_progress_bar = false")
        if copies > 1:
            # one offset per benchmark, above every key of every copied table
            offset = _offset(con, benchmark, tables)
            for table, keys in TPC_ENTITIES[benchmark].items():
                if table not in tables:
                    continue
                described = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()}
                present = [key for key in keys if key in described]
                replaced = ", ".join(f"CAST({key} + copy * {offset} AS {described[key]}) AS {key}" for key in present)
                columns = ", ".join(described)
                con.execute(f"CREATE TABLE {table}__copies AS SELECT {columns} FROM "
                            f"(SELECT * REPLACE ({replaced}), copy FROM {table}, range({copies}) r(copy)) "
                            f"ORDER BY copy")
                con.execute(f"DROP TABLE {table}")
                con.execute(f"ALTER TABLE {table}__copies RENAME TO {table}")
        counts = {table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}
        con.execute("CHECKPOINT")
    return counts


def _offset(con: duckdb.DuckDBPyConnection, benchmark: str, tables: list[str]) -> int:
    """A power of ten above every key that is offset, read once from the original tables."""
    highest = 0
    for table, keys in TPC_ENTITIES[benchmark].items():
        if table not in tables:
            continue
        names = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
        for key in keys:
            if key in names:
                value = con.execute(f"SELECT max({key}) FROM {table}").fetchone()[0]
                highest = max(highest, int(value or 0))
    offset = 10
    while offset <= highest:
        offset *= 10
    return offset


# --- synthetic ---------------------------------------------------------------------------------------

#: the ``kinds`` table: column -> (DuckDB type, SQL over i = 0..rows-1, protection); raw_* columns are
#: the unprotected twins the raw query reads where the protection needs another column
KINDS: dict[str, tuple[str, str, object]] = {
    "hash": ("VARCHAR", "'user' || i || '@mail' || (i % 97) || '.example.com'", "hash"),
    "tokenize": ("VARCHAR", "'C-' || lpad(CAST((i * 2654435761) % 100000000 AS VARCHAR), 8, '0') || '-XZ'",
                 "tokenize"),
    "encrypt": ("VARCHAR", "substr(md5(CAST(i AS VARCHAR)), 1, 16)", "encrypt"),
    "partial": ("VARCHAR", "printf('+1-%03d-%03d-%04d', (i * 7919) % 1000, (i * 104729) % 1000, (i * 1299709) % 10000)",
                {"kind": "partial", "show_last": 4}),
    "email": ("VARCHAR", "'person' || i || '@' || ['example.com', 'mail.test', 'corp.invalid'][1 + i % 3]", "email"),
    "redact": ("VARCHAR", "'secret-' || (i % 100003)", "redact"),
    "generalize": ("DATE", "DATE '2015-01-01' + CAST(i % 3650 AS INTEGER)", {"kind": "generalize", "to": "month"}),
    "nullify": ("VARCHAR", "'note ' || (i % 1009)", "nullify"),
    "custom": ("INTEGER", "CAST((i * 48271) % 1000000 AS INTEGER)",
               {"kind": "custom", "expr": "CASE WHEN region < 3 THEN val ELSE val - val % 1000 END"}),
}
#: the other columns of ``kinds``: the id and the column the custom protection reads
KINDS_EXTRA = {"id": ("BIGINT", "i"), "region": ("INTEGER", "CAST(i % 7 AS INTEGER)")}
#: the keyed-hash worst case: a text column of 10 million distinct values (at the large scale)
HASHED = {"id": ("BIGINT", "i"), "email": ("VARCHAR", "'user' || i || '@mail' || (i % 97) || '.example.com'")}

ROLES = {"roles": {"masked": {"clearance": "regular"}, "all_clear": {"clearance": "restricted"}}}


def build_synthetic(target: Path, kinds_rows: int, hash_rows: int) -> None:
    """``kinds`` and ``hashed`` in ``target``."""
    with duckdb.connect(str(target)) as con:
        con.execute("SET enable_progress_bar = false")
        columns = {**KINDS_EXTRA, **{name: (kind, sql) for name, (kind, sql, _) in KINDS.items()}}
        body = ", ".join(f"CAST({sql} AS {kind}) AS \"{name}\"" for name, (kind, sql) in columns.items())
        con.execute(f"CREATE TABLE kinds AS SELECT {body} FROM range({kinds_rows}) t(i) ORDER BY i")
        body = ", ".join(f"CAST({sql} AS {kind}) AS \"{name}\"" for name, (kind, sql) in HASHED.items())
        con.execute(f"CREATE TABLE hashed AS SELECT {body} FROM range({hash_rows}) t(i) ORDER BY i")
        con.execute("CHECKPOINT")


def write_synthetic_policies(folder: Path) -> None:
    """Role ``masked`` sees every kinds column through its protection and hashed.email hashed;
    ``all_clear`` sees everything raw."""
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    (folder / "roles.yaml").write_text(yaml.safe_dump(ROLES))
    columns = [{"name": name, "type": kind, "sensitivity": "public", "protection": "none"}
               for name, (kind, _) in KINDS_EXTRA.items()]
    columns += [{"name": name, "type": kind, "sensitivity": "confidential", "protection": protection}
                for name, (kind, _, protection) in KINDS.items()]
    (folder / "tables" / "kinds.yaml").write_text(yaml.safe_dump({"table": "kinds", "columns": columns},
                                                                  sort_keys=False))
    columns = [{"name": "id", "type": "BIGINT", "sensitivity": "public", "protection": "none"},
               {"name": "email", "type": "VARCHAR", "sensitivity": "confidential", "protection": "hash"}]
    (folder / "tables" / "hashed.yaml").write_text(yaml.safe_dump({"table": "hashed", "columns": columns},
                                                                   sort_keys=False))
