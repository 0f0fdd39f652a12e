"""Column-level lineage, sensitivity propagation, and what validation says about both.

The TPC-H and TPC-DS expectations below were written by reading each query, not by running the
code: for every output column, the table columns its value is computed from (through subqueries,
CTEs, set operations, aggregates, windows and CASE), with columns that only filter or join rows
left out, as docs/lineage.md defines a source.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import yaml

from policyengine import PolicySetInvalid, load_policy_set
from policyengine.lineage import Catalog, LineageError, Transform, analyse
from policyengine.lineage.propagate import STRENGTH, propagate
from tests.conftest import EXAMPLE, SHARED, requires_shared
from tests.harness.cli import Cli

BENCH = SHARED / "bench"


# --- helpers ------------------------------------------------------------------------------------------

def sources(sql: str, catalog: Catalog) -> dict[str, set[str]]:
    """Output column -> its sources (``table.column``), for the last statement of ``sql``."""
    statement = analyse(sql, catalog)[-1]
    assert all(c.determined for c in statement.columns), [(c.name, c.unknown) for c in statement.columns]
    return {c.name: {str(s) for s in c.sources} for c in statement.columns}


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "250")
    return Cli(capsys, monkeypatch)


# --- TPC-H and TPC-DS: hand-checked expectations -----------------------------------------------------

def _bench_catalog(name: str) -> Catalog:
    """The benchmark's tables and columns, typed as benchmarks/tpc.py loads them."""
    schema: dict[str, dict[str, str]] = {}
    with duckdb.connect() as con:
        for path in sorted((BENCH / name / "data").glob("*.csv.gz")):
            described = con.execute(f"DESCRIBE SELECT * FROM read_csv('{path}', delim='|', header=true)").fetchall()
            schema[path.name.removesuffix(".csv.gz")] = {
                column: ("VARCHAR" if column.endswith("_zip") else kind) for column, kind, *_ in described}
    return Catalog.from_mapping(schema)


@pytest.fixture(scope="module")
def tpch() -> Catalog:
    return _bench_catalog("tpch")


@pytest.fixture(scope="module")
def tpcds() -> Catalog:
    return _bench_catalog("tpcds")


def query(bench: str, name: str) -> str:
    return (BENCH / bench / "queries" / f"{name}.sql").read_text()


L, ORD, N, PS, S = "lineitem", "orders", "nation", "partsupp", "supplier"

TPCH_EXPECTED: dict[str, dict[str, set[str]]] = {
    "q01": {
        "l_returnflag": {f"{L}.l_returnflag"}, "l_linestatus": {f"{L}.l_linestatus"},
        "sum_qty": {f"{L}.l_quantity"}, "sum_base_price": {f"{L}.l_extendedprice"},
        "sum_disc_price": {f"{L}.l_extendedprice", f"{L}.l_discount"},
        "sum_charge": {f"{L}.l_extendedprice", f"{L}.l_discount", f"{L}.l_tax"},
        "avg_qty": {f"{L}.l_quantity"}, "avg_price": {f"{L}.l_extendedprice"}, "avg_disc": {f"{L}.l_discount"},
        "count_order": set(),  # count(*): no column
    },
    "q03": {  # customer is only joined and filtered on: it is a source of nothing
        "l_orderkey": {f"{L}.l_orderkey"}, "revenue": {f"{L}.l_extendedprice", f"{L}.l_discount"},
        "o_orderdate": {f"{ORD}.o_orderdate"}, "o_shippriority": {f"{ORD}.o_shippriority"},
    },
    "q07": {  # through a derived table; nation read twice under two aliases
        "supp_nation": {f"{N}.n_name"}, "cust_nation": {f"{N}.n_name"}, "l_year": {f"{L}.l_shipdate"},
        "revenue": {f"{L}.l_extendedprice", f"{L}.l_discount"},
    },
    "q08": {  # CASE over the derived table's nation inside an aggregate
        "o_year": {f"{ORD}.o_orderdate"},
        "mkt_share": {f"{N}.n_name", f"{L}.l_extendedprice", f"{L}.l_discount"},
    },
    "q09": {
        "nation": {f"{N}.n_name"}, "o_year": {f"{ORD}.o_orderdate"},
        "sum_profit": {f"{L}.l_extendedprice", f"{L}.l_discount", f"{PS}.ps_supplycost", f"{L}.l_quantity"},
    },
    "q13": {  # the derived table's column list renames count(o_orderkey) to c_count
        "c_count": {f"{ORD}.o_orderkey"}, "custdist": set(),
    },
    "q15": {  # a CTE with a column list, read twice (once in a scalar subquery of the WHERE)
        "s_suppkey": {f"{S}.s_suppkey"}, "s_name": {f"{S}.s_name"}, "s_address": {f"{S}.s_address"},
        "s_phone": {f"{S}.s_phone"}, "total_revenue": {f"{L}.l_extendedprice", f"{L}.l_discount"},
    },
}

SS, WS, CS, IT, ST, D, T = "store_sales", "web_sales", "catalog_sales", "item", "store", "date_dim", "time_dim"

TPCDS_EXPECTED: dict[str, dict[str, set[str]]] = {
    "q01": {"c_customer_id": {"customer.c_customer_id"}},  # the CTE only filters
    "q12": {
        "i_item_id": {f"{IT}.i_item_id"}, "i_item_desc": {f"{IT}.i_item_desc"}, "i_category": {f"{IT}.i_category"},
        "i_class": {f"{IT}.i_class"}, "i_current_price": {f"{IT}.i_current_price"},
        "itemrevenue": {f"{WS}.ws_ext_sales_price"},
        # a window's PARTITION BY is part of the value
        "revenueratio": {f"{WS}.ws_ext_sales_price", f"{IT}.i_class"},
    },
    "q36": {
        "gross_margin": {f"{SS}.ss_net_profit", f"{SS}.ss_ext_sales_price"},
        "i_category": {f"{IT}.i_category"}, "i_class": {f"{IT}.i_class"},
        "lochierarchy": {f"{IT}.i_category", f"{IT}.i_class"},  # GROUPING() of them
        "rank_within_parent": {f"{IT}.i_category", f"{IT}.i_class", f"{SS}.ss_net_profit", f"{SS}.ss_ext_sales_price"},
    },
    "q71": {  # a UNION ALL of three sales tables in a derived table
        "brand_id": {f"{IT}.i_brand_id"}, "brand": {f"{IT}.i_brand"}, "t_hour": {f"{T}.t_hour"},
        "t_minute": {f"{T}.t_minute"},
        "ext_price": {f"{WS}.ws_ext_sales_price", f"{CS}.cs_ext_sales_price", f"{SS}.ss_ext_sales_price"},
    },
    "q89": {  # SELECT * over a derived table: * expanded to its columns
        "i_category": {f"{IT}.i_category"}, "i_class": {f"{IT}.i_class"}, "i_brand": {f"{IT}.i_brand"},
        "s_store_name": {f"{ST}.s_store_name"}, "s_company_name": {f"{ST}.s_company_name"}, "d_moy": {f"{D}.d_moy"},
        "sum_sales": {f"{SS}.ss_sales_price"},
        "avg_monthly_sales": {f"{SS}.ss_sales_price", f"{IT}.i_category", f"{IT}.i_brand", f"{ST}.s_store_name",
                              f"{ST}.s_company_name"},
    },
    "q96": {"_col_0": set()},  # count(*) over a four-way join
    "q28": {  # SELECT * over six derived tables, each three aggregates of ss_list_price
        f"b{i}_{what}": {f"{SS}.ss_list_price"} for i in range(1, 7) for what in ("lp", "cnt", "cntd")
    },
}


@requires_shared
@pytest.mark.parametrize("name", sorted(TPCH_EXPECTED))
def test_tpch_lineage(tpch: Catalog, name: str) -> None:
    assert sources(query("tpch", name), tpch) == TPCH_EXPECTED[name]


@requires_shared
@pytest.mark.parametrize("name", sorted(TPCDS_EXPECTED))
def test_tpcds_lineage(tpcds: Catalog, name: str) -> None:
    assert sources(query("tpcds", name), tpcds) == TPCDS_EXPECTED[name]


@requires_shared
def test_tpc_transforms(tpch: Catalog, tpcds: Catalog) -> None:
    q01 = {c.name: c for c in analyse(query("tpch", "q01"), tpch)[0].columns}
    assert q01["l_returnflag"].transform is Transform.COLUMN and q01["l_returnflag"].preserves_value
    assert q01["sum_qty"].transform is Transform.AGGREGATE and not q01["sum_qty"].preserves_value
    assert q01["count_order"].transform is Transform.AGGREGATE and q01["count_order"].sources == ()
    q03 = {c.name: c for c in analyse(query("tpch", "q03"), tpch)[0].columns}
    assert q03["o_orderdate"].transform is Transform.VALUE  # CAST(o_orderdate AS STRING)
    assert str(q03["o_orderdate"].type) == "VARCHAR"
    q12 = {c.name: c for c in analyse(query("tpcds", "q12"), tpcds)[0].columns}
    assert q12["revenueratio"].transform is Transform.WINDOW


@requires_shared
def test_every_tpc_query_is_analysed(tpch: Catalog, tpcds: Catalog) -> None:
    """All 22 TPC-H and 98 TPC-DS queries: every output column's sources determined. q30 names a
    column its table does not have (c_last_review_date), and is refused rather than guessed."""
    for bench, catalog in (("tpch", tpch), ("tpcds", tpcds)):
        for path in sorted((BENCH / bench / "queries").glob("q*.sql")):
            if (bench, path.stem) == ("tpcds", "q30"):
                with pytest.raises(LineageError, match="unknown column 'c_last_review_date'"):
                    analyse(path.read_text(), catalog)
                continue
            statements = analyse(path.read_text(), catalog)
            assert all(c.determined for s in statements for c in s.columns), (bench, path.stem)
            assert all(s.reads and not s.unknown_reads for s in statements), (bench, path.stem)


@requires_shared
def test_tpch_query_as_ctas_through_the_policy_set(tmp_path: Path, tpch: Catalog, cli: Cli) -> None:
    """The TPC-H tables as contracts (benchmarks/tpc.py's protections), q03 as a CTAS: derive propagates."""
    from benchmarks import tpc

    (tmp_path / "tables").mkdir()
    (tmp_path / "roles.yaml").write_text(yaml.safe_dump(tpc.ROLES))
    for table in tpch.tables.values():
        columns = []
        for column, kind in table.columns:
            level, protection = tpc.TPCH_PROTECTIONS.get(table.name, {}).get(column, ("public", "none"))
            columns.append({"name": column, "type": kind, "sensitivity": level, "protection": protection})
        (tmp_path / "tables" / f"{table.name}.yaml").write_text(
            yaml.safe_dump({"table": table.name, "columns": columns}))
    ctas = "CREATE TABLE top_orders AS\n" + query("tpch", "q03").rstrip().rstrip(";")
    code, out, err = cli("-p", str(tmp_path), "derive", "-f", "json", stdin=ctas)
    assert code == 0, err
    derived = {c["column"]: c for c in json.loads(out)["derived"][0]["columns"]}
    assert derived["l_orderkey"]["sensitivity"] == "public" and derived["l_orderkey"]["protection"] == "none"
    # l_extendedprice is confidential (generalize bucket 100), l_discount public: a computed value
    assert (derived["revenue"]["sensitivity"], derived["revenue"]["protection"]) == ("confidential", "redact")
    # CAST(o_orderdate AS STRING): generalize(to: month) does not fit a string, so redact
    assert (derived["o_orderdate"]["sensitivity"], derived["o_orderdate"]["protection"]) == ("confidential", "redact")
    assert load_policy_set(tmp_path).find_table("top_orders").column("revenue").sensitivity == "confidential"


# --- constructs, on a small catalog ------------------------------------------------------------------

SMALL = Catalog.from_mapping({
    "t": {"a": "INTEGER", "b": "VARCHAR"},
    "u": {"a": "INTEGER", "c": "DATE"},
    "sales.orders": {"OrderID": "VARCHAR", "Amount": "DECIMAL(10,2)"},
})


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM t JOIN u USING (a)", {"a": {"t.a", "u.a"}, "b": {"t.b"}, "c": {"u.c"}}),
    ("SELECT u.* FROM t JOIN u ON t.a = u.a", {"a": {"u.a"}, "c": {"u.c"}}),
    ("SELECT * EXCLUDE (b) FROM t", {"a": {"t.a"}}),
    ("SELECT a, b FROM t UNION ALL SELECT a, CAST(c AS VARCHAR) FROM u", {"a": {"t.a", "u.a"}, "b": {"t.b", "u.c"}}),
    ("WITH x AS (SELECT a, b || '!' AS z FROM t) SELECT z, a FROM x", {"z": {"t.b"}, "a": {"t.a"}}),
    ("SELECT CASE WHEN a > 1 THEN b ELSE 'n' END AS k FROM t", {"k": {"t.a", "t.b"}}),
    ("SELECT b, sum(a) OVER (PARTITION BY b ORDER BY a) AS running FROM t", {"b": {"t.b"}, "running": {"t.a", "t.b"}}),
    ("SELECT t.a, (SELECT max(c) FROM u WHERE u.a = t.a) AS latest FROM t", {"a": {"t.a"}, "latest": {"u.c"}}),
    ("SELECT count(*) AS n, count(DISTINCT b) AS nb, 1 AS one FROM t", {"n": set(), "nb": {"t.b"}, "one": set()}),
    ("SELECT o.OrderID, sum(Amount) AS total FROM sales.orders o GROUP BY 1",
     {"OrderID": {"sales.orders.OrderID"}, "total": {"sales.orders.Amount"}}),
    ("SELECT * FROM (VALUES (1, 'x')) AS v(n, s)", {"n": set(), "s": set()}),
])
def test_constructs(sql: str, expected: dict[str, set[str]]) -> None:
    assert sources(sql, SMALL) == expected


def test_other_dialects_and_pivots() -> None:
    snowflake = analyse('SELECT "A", IFF(a > 1, b, NULL) AS pick FROM t', SMALL, dialect="snowflake")[0]
    # a column keeps its contract's spelling, as DuckDB names it
    assert {c.name: {str(s) for s in c.sources} for c in snowflake.columns} == {"a": {"t.a"}, "pick": {"t.a", "t.b"}}
    pivot = analyse("SELECT * FROM (SELECT a, b FROM t) PIVOT (count(a) FOR b IN ('x', 'y'))", SMALL)[0]
    cells = {c.name: c for c in pivot.columns}
    assert {str(s) for s in cells["x"].sources} == {"t.a"}
    assert cells["x"].transform is Transform.AGGREGATE and not cells["x"].preserves_value


def test_names_keep_the_statement_and_contract_spelling() -> None:
    statement = analyse("SELECT OrderID, amount AS Total FROM sales.orders", SMALL)[0]
    assert [c.name for c in statement.columns] == ["OrderID", "Total"]
    assert [str(c.type) for c in statement.columns] == ["VARCHAR", "DECIMAL(10,2)"]


def test_value_preserving_columns() -> None:
    columns = {c.name: c for c in analyse(
        "SELECT t.a, max(u.c) AS latest, CAST(t.a AS BIGINT) AS wide, t.a + 1 AS next FROM t JOIN u ON t.a = u.a "
        "GROUP BY t.a",
        SMALL)[0].columns}
    assert columns["latest"].transform is Transform.VALUE and columns["latest"].preserves_value
    assert columns["wide"].transform is Transform.VALUE
    assert columns["next"].transform is Transform.EXPRESSION and not columns["next"].preserves_value


@pytest.mark.parametrize(("sql", "reason"), [
    ("SELECT a FROM t, u", "cannot tell which table column 'a' comes from"),
    ("SELECT t AS whole FROM t", "reads the whole row 't'"),
    ("SELECT COLUMNS('a|b') AS picked FROM t", "COLUMNS(...)"),
    ("SELECT to_json(t.*) AS j FROM t", "reads every column of 't'"),
    ("SELECT range AS r FROM range(10)", "reads the table function"),
    ("WITH x AS (SELECT * FROM nowhere) SELECT a FROM x", "could not be expanded"),
])
def test_columns_whose_sources_cannot_be_determined_say_so(sql: str, reason: str) -> None:
    column = analyse(sql, SMALL)[0].columns[0]
    assert not column.determined and column.transform is Transform.UNKNOWN
    assert reason in (column.unknown or "")


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT FROM", "syntax error"),
    ("SELECT zz FROM t", "unknown column 'zz'"),
    ("SELECT t.zz FROM t", "unknown column 'zz' of table t: its contract does not list it"),
    ("SELECT * FROM nowhere", "cannot expand * over nowhere, which has no contract"),
    ("SELECT * FROM read_csv('secrets.csv')", "cannot expand *"),
    ("UPDATE t SET a = 1", "a UPDATE statement has no lineage"),
    ("INSERT INTO t SELECT * FROM t", "has no lineage"),
    ("CREATE TABLE x (a INT)", "CREATE TABLE without AS SELECT has no lineage"),
    ("SELECT a FROM {{ ref('t') }}", "holds Jinja"),
    ("CREATE VIEW v (p, q, r) AS SELECT a, b FROM t", "the column list names 3 columns, the query gives 2"),
    ("SELECT 1; DROP TABLE t", "statement 2: a DROP statement has no lineage"),
    ("", "the SQL holds no statement"),
])
def test_sql_that_cannot_be_analysed_is_refused(sql: str, message: str) -> None:
    with pytest.raises(LineageError) as refused:
        analyse(sql, SMALL)
    assert message in str(refused.value)


def test_ctas_chain_in_one_script_is_traced_to_the_base_tables() -> None:
    statements = analyse("""
        CREATE TABLE b AS SELECT a AS id, upper(b) AS label FROM t;
        CREATE VIEW c (ident, lbl, n) AS SELECT id, max(label), count(*) FROM b GROUP BY id;
        SELECT c.lbl, c.ident + 1 AS nxt FROM c
    """, SMALL)
    assert [(s.kind, s.target) for s in statements] == [("create table", "b"), ("create view", "c"), ("select", None)]
    assert statements[1].reads == ("t",) and statements[2].reads == ("t",)
    last = {c.name: c for c in statements[2].columns}
    assert {str(s) for s in last["lbl"].sources} == {"t.b"} and last["lbl"].via == ("c", "b")
    assert last["lbl"].transform is Transform.EXPRESSION  # upper() on the way
    assert {str(s) for s in last["nxt"].sources} == {"t.a"}
    middle = {c.name: c for c in statements[1].columns}
    assert middle["ident"].preserves_value and middle["n"].sources == ()


# --- derive and validate: a CTAS chain A -> B -> C ----------------------------------------------------

CHAIN_SET = {
    "roles.yaml": """
        roles:
          reader: {clearance: regular}
          admin: {clearance: restricted}
        """,
    "tables/a.yaml": """
        columns:
          - {name: id, type: INTEGER, sensitivity: public}
          - {name: email, type: STRING, sensitivity: restricted, protection: email}
          - {name: birth, type: DATE, sensitivity: confidential, protection: {kind: generalize, to: year}}
          - {name: score, type: INTEGER, sensitivity: regular}
          - {name: ssn, type: STRING, sensitivity: restricted, protection: deny}
        """,
}
CHAIN_SQL = """
CREATE TABLE b AS
SELECT id, email AS contact, CAST(year(birth) AS INTEGER) AS birth_year, score * 2 AS double_score FROM a;

CREATE TABLE c AS
SELECT contact, max(birth_year) AS newest, count(*) AS n, sum(double_score) AS total
FROM b GROUP BY contact;
"""


@pytest.fixture
def chain(write_set: Callable[..., Path]) -> Path:
    return write_set(CHAIN_SET)


def contract(folder: Path, name: str) -> dict:
    return yaml.safe_load((folder / "tables" / f"{name}.yaml").read_text())


def columns_of(document: dict) -> dict[str, dict]:
    return {c["name"]: c for c in document["columns"]}


def test_derive_writes_each_table_of_a_chain(chain: Path, cli: Cli) -> None:
    code, out, err = cli("-p", str(chain), "derive", stdin=CHAIN_SQL)
    assert code == 0, err
    assert "wrote" in out and "tables/b.yaml" in out and "tables/c.yaml" in out
    b, c = columns_of(contract(chain, "b")), columns_of(contract(chain, "c"))
    assert b["id"] == {"name": "id", "type": "INTEGER", "sensitivity": "public", "protection": "none",
                       "originatingSource": "warehouse:a.id"}
    assert (b["contact"]["sensitivity"], b["contact"]["protection"]) == ("restricted", "email")
    assert (b["birth_year"]["sensitivity"], b["birth_year"]["protection"]) == ("confidential", "redact")
    assert (b["double_score"]["sensitivity"], b["double_score"]["protection"]) == ("regular", "none")
    # c inherits through b: a.email -> b.contact -> c.contact
    assert c["contact"] == {"name": "contact", "type": "VARCHAR", "sensitivity": "restricted", "protection": "email",
                            "originatingSource": "warehouse:b.contact"}
    assert (c["newest"]["sensitivity"], c["newest"]["protection"]) == ("confidential", "redact")  # max() keeps b's
    assert c["n"] == {"name": "n", "type": "BIGINT", "sensitivity": "public", "protection": "none"}
    assert (c["total"]["sensitivity"], c["total"]["protection"]) == ("regular", "none")
    assert contract(chain, "c")["derivation"]["sql"].startswith("CREATE TABLE c AS")
    load_policy_set(chain)  # valid, derivations included


def test_raised_source_sensitivity_propagates_step_by_step(chain: Path, cli: Cli) -> None:
    assert cli("-p", str(chain), "derive", stdin=CHAIN_SQL)[0] == 0
    a = chain / "tables" / "a.yaml"
    a.write_text(a.read_text().replace("{name: score, type: INTEGER, sensitivity: regular}",
                                       "{name: score, type: INTEGER, sensitivity: confidential, protection: hash}"))
    with pytest.raises(PolicySetInvalid) as invalid:
        load_policy_set(chain)
    assert [str(p) for p in invalid.value.problems] == [
        "tables/b.yaml: columns[3].sensitivity: 'double_score' is regular, below confidential of a.score, which it "
        "is derived from (its derivation): a derived column is at least as sensitive as its sources"]
    # derive b again: b.double_score inherits; then c.total, derived from it, is below it
    b_sql = CHAIN_SQL.split(";")[0]
    assert cli("-p", str(chain), "derive", stdin=b_sql)[0] == 1  # c would be invalid: nothing written
    code, _, err = cli("-p", str(chain), "derive", stdin=CHAIN_SQL)
    assert code == 0, err
    assert (columns_of(contract(chain, "b"))["double_score"]["sensitivity"],
            columns_of(contract(chain, "b"))["double_score"]["protection"]) == ("confidential", "hash")
    total = columns_of(contract(chain, "c"))["total"]
    assert (total["sensitivity"], total["protection"]) == ("confidential", "hash")  # sum() of a hashed integer


def test_derive_refuses_a_set_the_contract_would_make_invalid(chain: Path, cli: Cli) -> None:
    assert cli("-p", str(chain), "derive", stdin=CHAIN_SQL)[0] == 0
    a = chain / "tables" / "a.yaml"
    a.write_text(a.read_text().replace("{name: score, type: INTEGER, sensitivity: regular}",
                                       "{name: score, type: INTEGER, sensitivity: internal, protection: redact}"))
    b_sql = CHAIN_SQL.split(";")[0]
    before = (chain / "tables" / "b.yaml").read_text()
    code, _, err = cli("-p", str(chain), "derive", stdin=b_sql)
    assert code == 1
    assert "tables/c.yaml: columns[3].sensitivity: 'total' is regular, below internal of b.double_score" in err
    assert "nothing written" in err
    assert (chain / "tables" / "b.yaml").read_text() == before


def test_derive_keeps_what_was_written_by_hand(chain: Path, cli: Cli) -> None:
    assert cli("-p", str(chain), "derive", stdin=CHAIN_SQL.split(";")[0])[0] == 0
    path = chain / "tables" / "b.yaml"
    text = path.read_text()
    assert "description: Derived from a\n" in text
    text = text.replace("description: Derived from a\n", "description: hand-written  # a comment kept\n")
    text = text.replace("{name: double_score, type: INTEGER, sensitivity: regular, protection: none,",
                        "{name: double_score, type: INTEGER, sensitivity: confidential, protection: nullify, "
                        "description: doubled,")
    text += "row_access:\n  # who sees which rows\n  - {roles: [reader, admin], where: 'id > 0'}\n"
    path.write_text(text)
    load_policy_set(chain)
    assert cli("-p", str(chain), "derive", stdin=CHAIN_SQL.split(";")[0])[0] == 0
    again = path.read_text()
    assert "description: hand-written  # a comment kept\n" in again
    assert "row_access:\n  # who sees which rows\n  - {roles: [reader, admin], where: 'id > 0'}\n" in again
    double = columns_of(yaml.safe_load(again))["double_score"]
    assert double == {"name": "double_score", "type": "INTEGER", "sensitivity": "confidential", "protection": "nullify",
                      "description": "doubled", "originatingSource": "warehouse:a.score"}
    # running it once more changes nothing
    assert cli("-p", str(chain), "derive", stdin=CHAIN_SQL.split(";")[0])[0] == 0
    assert path.read_text() == again


def test_derive_plain_select_needs_a_name_and_can_print(chain: Path, cli: Cli) -> None:
    model = 'select "id", email from "analytics"."main"."a" where score > 1'  # dbt's compiled SQL
    code, _, err = cli("-p", str(chain), "derive", stdin=model)
    assert code == 1 and "a plain SELECT needs --table NAME" in err
    code, out, err = cli("-p", str(chain), "derive", "--table", "emails", "--catalog", "analytics", "-o", "-",
                         stdin=model)
    assert code == 0, err
    document = yaml.safe_load(out)
    assert document["table"] == "emails" and document["derivation"]["sql"] == model + "\n"
    assert columns_of(document)["email"]["protection"] == "email"
    assert not (chain / "tables" / "emails.yaml").exists()
    code, _, err = cli("-p", str(chain), "derive", "--table", "other", stdin="CREATE TABLE x AS SELECT id FROM a")
    assert code == 1 and "--table other does not match the table the SQL creates (x)" in err


def test_derive_updates_a_json_contract_in_its_layout(chain: Path, cli: Cli) -> None:
    (chain / "tables" / "b.json").write_text(json.dumps([{"table": "b", "description": "by hand", "columns": [
        {"name": "id", "type": "Integer", "description": "the id"}, {"name": "old", "type": "STRING"}]}]))
    code, out, err = cli("-p", str(chain), "derive", stdin="CREATE TABLE b AS SELECT id, email AS contact FROM a")
    assert code == 0, err
    assert "column old is no longer produced by the SQL: removed from the contract" in out
    [document] = json.loads((chain / "tables" / "b.json").read_text())
    assert document["description"] == "by hand" and document["derivation"]["dialect"] == "duckdb"
    assert document["columns"] == [
        {"name": "id", "type": "Integer", "description": "the id", "sensitivity": "public", "protection": "none",
         "originatingSource": "warehouse:a.id"},
        {"name": "contact", "type": "VARCHAR", "sensitivity": "restricted", "protection": "email",
         "originatingSource": "warehouse:a.email"}]
    assert not (chain / "tables" / "b.yaml").exists()


def test_derive_fails_closed(chain: Path, cli: Cli) -> None:
    # a whole-row reference: every column of a counts, so the strongest protection (deny) and level
    code, out, err = cli("-p", str(chain), "derive", "--dry-run", "-f", "json",
                         stdin="CREATE TABLE d AS SELECT id, CAST(a AS VARCHAR) AS blob FROM a")
    assert code == 0, err
    derived = json.loads(out)["derived"][0]
    blob = {c["column"]: c for c in derived["columns"]}["blob"]
    assert (blob["sensitivity"], blob["protection"]) == ("restricted", "deny")
    assert "sources unknown (reads the whole row 'a')" in blob["why"]
    assert any("sources unknown for blob" in note for note in derived["notes"])
    assert not (chain / "tables" / "d.yaml").exists()
    # a table with no contract: its sensitivity is unknown, so nothing can be inherited
    code, _, err = cli("-p", str(chain), "derive", stdin="CREATE TABLE d AS SELECT x.v FROM elsewhere x")
    assert code == 2 and "reads elsewhere, which has no contract" in err
    code, _, err = cli("-p", str(chain), "derive", stdin="CREATE TABLE d AS SELECT sum(id) FROM a WHERE")
    assert code == 1 and err.startswith("error: cannot analyse the SQL: syntax error")  # invalid input, not policy


def test_propagated_protection_is_never_weaker(example) -> None:
    """Every column of the example's derived table: a protection at least as strong as each source's."""
    statement = analyse(example.find_table("review_summary").derivation_sql, Catalog.from_policy_set(example))[0]
    for column in propagate(statement, example.find_table, example.settings, example.roles):
        for source in column.basis:
            protection = example.find_table(source.table).column(source.column).protection
            assert STRENGTH[column.protection.kind] >= STRENGTH[protection.kind], (column.name, source)


# --- validate -----------------------------------------------------------------------------------------

def problems(folder: Path) -> list[str]:
    with pytest.raises(PolicySetInvalid) as invalid:
        load_policy_set(folder)
    return [str(p) for p in invalid.value.problems]


def test_validate_lineage_from_originating_source(write_set: Callable[..., Path]) -> None:
    folder = write_set({**CHAIN_SET, "tables/copy.yaml": """
        columns:
          - {name: mail, type: STRING, sensitivity: regular, protection: none, originatingSource: "crm:a.email"}
          - {name: id2, type: INTEGER, originatingSource: "crm:a.id"}
          - {name: guess, type: STRING, originatingSource: "crm:users.email"}
          - {name: model, type: STRING, originatingSource: "mlmodel:Sentiment"}
        """})
    assert problems(folder) == [
        "tables/copy.yaml: columns[2].originatingSource: 'crm:users.email' names table 'users', which this set does "
        "not define (a source outside the set is written without a column, as 'mlmodel:Sentiment')",
        "tables/copy.yaml: columns[0].sensitivity: 'mail' is regular, below restricted of a.email, which it is "
        "derived from (originatingSource): a derived column is at least as sensitive as its sources",
    ]


def test_validate_derivation_problems(write_set: Callable[..., Path]) -> None:
    folder = write_set({**CHAIN_SET, "tables/d.yaml": """
        derivation:
          sql: "CREATE TABLE d AS SELECT id, email AS contact, year(birth) AS y FROM a"
        columns:
          - {name: id, type: INTEGER}
          - {name: contact, type: STRING, sensitivity: confidential, protection: redact}
          - {name: stale, type: STRING}
        """, "tables/e.yaml": """
        derivation: {sql: "CREATE TABLE e AS SELECT v FROM missing"}
        columns:
          - {name: v, type: STRING}
        """, "tables/f.yaml": """
        derivation: {sql: "SELECT FROM", dialect: duckdb}
        columns:
          - {name: v, type: STRING}
        """, "tables/g.yaml": """
        derivation: {sql: "CREATE TABLE other AS SELECT id FROM a", dialect: nosuchsql}
        columns:
          - {name: id, type: INTEGER}
        """})
    assert problems(folder) == [
        "tables/d.yaml: derivation.sql: produces column 'y', which the contract does not list (run policyengine "
        "derive again)",
        "tables/d.yaml: columns[2].name: column 'stale' is not produced by the derivation (run policyengine derive "
        "again, or remove it)",
        "tables/e.yaml: derivation.sql: reads table 'missing', which this set does not define",
        "tables/f.yaml: derivation.sql: cannot be analysed: syntax error at line 1, column 11: Expected table name",
        "tables/g.yaml: derivation.dialect: unknown SQL dialect 'nosuchsql' (sqlglot's names: duckdb, snowflake, "
        "bigquery, ...)",
        "tables/d.yaml: columns[1].sensitivity: 'contact' is confidential, below restricted of a.email, which it is "
        "derived from (its derivation): a derived column is at least as sensitive as its sources",
    ]


def test_validate_derivation_with_unknown_sources_fails_closed(write_set: Callable[..., Path]) -> None:
    folder = write_set({**CHAIN_SET, "tables/h.yaml": """
        derivation: {sql: "CREATE TABLE h AS SELECT CAST(a AS VARCHAR) AS blob FROM a"}
        columns:
          - {name: blob, type: STRING, sensitivity: confidential, protection: redact}
        """})
    assert problems(folder) == [
        "tables/h.yaml: columns[0].sensitivity: 'blob' is confidential, below restricted of a.email, which it is "
        "derived from (its derivation: sources unknown (reads the whole row 'a'), so every column the SQL reads): "
        "a derived column is at least as sensitive as its sources"]


def test_validate_says_nothing_of_what_an_unreadable_file_hides(write_set: Callable[..., Path]) -> None:
    folder = write_set({**CHAIN_SET, "tables/broken.yaml": "columns: [\n", "tables/k.yaml": """
        derivation: {sql: "CREATE TABLE k AS SELECT x FROM broken"}
        columns:
          - {name: x, type: STRING, originatingSource: "crm:broken.x"}
        """})
    assert [p.split(": ")[0] for p in problems(folder)] == ["tables/broken.yaml"]


# --- the lineage command ------------------------------------------------------------------------------

def test_lineage_command_formats_and_exit_codes(cli: Cli) -> None:
    sql = ("SELECT u.Country, count(*) AS users, max(u.Email) AS last_email "
           "FROM user_demographics u GROUP BY u.Country")
    code, out, _ = cli("-p", str(EXAMPLE), "lineage", "-f", "json", sql)
    assert code == 0
    [statement] = json.loads(out)
    assert statement["reads"] == ["user_demographics"] and statement["kind"] == "select"
    rows = {c["column"]: c for c in statement["columns"]}
    assert rows["Country"]["sources"] == ["user_demographics.Country"] and rows["Country"]["sensitivity"] == "regular"
    assert rows["users"]["sources"] == [] and rows["users"]["sensitivity"] == "public"
    assert (rows["last_email"]["transform"], rows["last_email"]["sensitivity"]) == ("value", "restricted")
    code, out, _ = cli("-p", str(EXAMPLE), "lineage", "-f", "csv", stdin=sql)
    assert code == 0 and out.splitlines()[0] == "statement,target,column,type,transform,sources,sensitivity,note"
    assert out.splitlines()[1] == "1,,Country,VARCHAR,column,user_demographics.Country,regular,"
    code, out, _ = cli("-p", str(EXAMPLE), "lineage", stdin=(EXAMPLE / "derived" / "review_summary.sql").read_text())
    assert code == 0 and "create table review_summary — reads reviews, user_demographics, verified_reviews" in out
    code, _, err = cli("-p", str(EXAMPLE), "lineage", "SELECT NoSuchColumn FROM reviews")
    assert code == 2 and "refused: cannot analyse the SQL: unknown column 'NoSuchColumn'" in err
    code, out, _ = cli("-p", str(EXAMPLE), "lineage", "-f", "json", "SELECT u.* FROM user_demographics u, reviews")
    assert code == 0 and len(json.loads(out)[0]["columns"]) == 12  # * expanded from the contract
    code, _, err = cli("-p", str(EXAMPLE), "lineage", "   ")
    assert code == 1 and "the SQL statement is empty" in err


def test_lineage_command_fails_closed_and_says_so(cli: Cli) -> None:
    code, out, _ = cli("-p", str(EXAMPLE), "lineage", "-f", "json",
                       "SELECT CAST(u AS VARCHAR) AS everything FROM user_demographics u")
    assert code == 0
    column = json.loads(out)[0]["columns"][0]
    assert column["determined"] is False and column["transform"] == "unknown"
    assert column["sensitivity"] == "restricted"  # the most sensitive column read
    assert "sources unknown (reads the whole row 'u'): as sensitive as every column read" in column["note"]


# --- the example policy set's derived table -----------------------------------------------------------

def test_example_derived_contract_is_what_derive_produces(cli: Cli) -> None:
    """tables/review_summary.yaml is derive's output for policies/derived/review_summary.sql, with
    only what derive keeps added by hand (a description, row_access)."""
    sql = (EXAMPLE / "derived" / "review_summary.sql").read_text()
    code, out, err = cli("-p", str(EXAMPLE), "derive", "-o", "-", stdin=sql)
    assert code == 0, err
    assert out == (EXAMPLE / "tables" / "review_summary.yaml").read_text()


def test_example_derived_contract_lineage(example) -> None:
    table = example.find_table("review_summary")
    seen = {c.name: (c.sensitivity, c.protection.kind, c.originating_source) for c in table.columns}
    assert seen == {
        "UserID": ("confidential", "hash", "warehouse:verified_reviews.UserID"),
        "ContactEmail": ("restricted", "email", "warehouse:user_demographics.Email"),
        "Country": ("regular", "none", "warehouse:user_demographics.Country"),
        "BirthDecade": ("confidential", "redact", "warehouse:user_demographics.BirthDate"),
        "ConsentedCity": ("confidential", "redact", "warehouse:user_demographics.City"),
        "ReviewCount": ("public", "none", None),
        "AvgSentiment": ("regular", "none", "warehouse:verified_reviews.ReviewSentiment"),
        "Segment": ("regular", "none", "warehouse:verified_reviews.ReviewSentiment"),
        "LastReviewAt": ("internal", "generalize", "warehouse:reviews.CreatedAt"),
    }
    assert [r.roles for r in table.row_access][0] == ("bi_analyst",)


def test_example_lowered_derived_column_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(EXAMPLE, folder)
    path = folder / "tables" / "review_summary.yaml"
    path.write_text(path.read_text().replace(
        "{name: ContactEmail, type: VARCHAR, sensitivity: restricted,", "{name: ContactEmail, type: VARCHAR, "
        "sensitivity: confidential,"))
    assert problems(folder) == [
        "tables/review_summary.yaml: columns[1].sensitivity: 'ContactEmail' is confidential, below restricted of "
        "user_demographics.Email, which it is derived from (its derivation): a derived column is at least as "
        "sensitive as its sources"]
