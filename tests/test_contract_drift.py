"""The database against the contracts: types that differ, tables and columns on one side only.

Found by ``policyengine validate --db`` (exit 1) and ``policyengine scan`` (reported), before a query
fails on them; spellings of one type are not differences.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import duckdb
import pytest

from policyengine import load_policy_set
from policyengine.backends.contract_drift import Drift, DriftError, canonical_database_type, contract_drift
from tests.conftest import EXAMPLE

ROLES = "roles:\n  admin: {clearance: restricted}\n"

CONTRACT = """\
table: shop.orders
columns:
  - {name: id, type: INT64}
  - {name: customer, type: STRING}
  - {name: amount, type: DECIMAL}
  - {name: ratio, type: FLOAT}
  - {name: placed, type: DATETIME}
  - {name: paid, type: BOOL}
  - {name: note, type: VARCHAR(200)}
  - {name: raw, type: BYTES}
  - {name: seen, type: TIMESTAMP_TZ}
  - {name: qty, type: INTEGER}
"""

#: the same columns, in DuckDB's spellings of the same types: no difference
MATCHING = ("id BIGINT, customer VARCHAR, amount DECIMAL(38,9), ratio DOUBLE, placed TIMESTAMP, paid BOOLEAN, "
            "note VARCHAR, raw BLOB, seen TIMESTAMPTZ, qty INTEGER")


@pytest.fixture
def policies(write_set) -> Path:
    return write_set({"roles.yaml": ROLES, "tables/orders.yaml": CONTRACT,
                      "tables/customers.yaml": "table: shop.customers\ncolumns:\n  - {name: id, type: INT64}\n"})


def _database(path: Path, *statements: str) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA shop")
        for statement in statements:
            con.execute(statement)
    return path


def test_equivalent_spellings_are_not_drift(policies, tmp_path):
    db = _database(tmp_path / "warehouse.duckdb", f"CREATE TABLE shop.orders ({MATCHING})",
                   "CREATE TABLE shop.customers (ID BIGINT)")  # names match case-insensitively
    assert contract_drift(load_policy_set(policies), db) == []


@pytest.mark.parametrize("column, database_type", [
    ("qty", "BIGINT"),  # a wider integer is another type
    ("id", "INTEGER"),
    ("ratio", "FLOAT"),  # DuckDB's FLOAT is 4 bytes; the contract's FLOAT is BigQuery's FLOAT64
    ("amount", "DECIMAL(10,2)"),
    ("placed", "DATE"),
    ("customer", "UUID"),  # no contract type is it
    ("note", "VARCHAR[]"),
    ("seen", "TIMESTAMP"),
])
def test_a_type_that_differs_is_reported(policies, tmp_path, column, database_type):
    columns = MATCHING.replace(f"{column} {dict(c.split(' ', 1) for c in MATCHING.split(', '))[column]}",
                               f"{column} {database_type}")
    db = _database(tmp_path / "warehouse.duckdb", f"CREATE TABLE shop.orders ({columns})",
                   "CREATE TABLE shop.customers (id BIGINT)")
    [drift] = contract_drift(load_policy_set(policies), db)
    assert (drift.kind, drift.table, drift.column) == ("type", "shop.orders", column)
    assert drift.database_type.replace(" ", "") == database_type.replace(" ", "")
    assert str(drift).startswith(f"tables/orders.yaml: shop.orders.{column}: the contract says ")


def test_tables_and_columns_on_one_side_only(policies, tmp_path):
    columns = MATCHING.replace("note VARCHAR, ", "") + ", secret VARCHAR"
    db = _database(tmp_path / "warehouse.duckdb", f"CREATE TABLE shop.orders ({columns})",
                   "CREATE TABLE main.audit_copy (x INTEGER)")
    found = {(d.kind, d.table, d.column) for d in contract_drift(load_policy_set(policies), db)}
    assert found == {
        ("missing-column", "shop.orders", "note"),
        ("unlisted-column", "shop.orders", "secret"),
        ("missing-table", "shop.customers", None),
        ("unlisted-table", "audit_copy", None),
    }


def test_only_the_tables_asked_for(policies, tmp_path):
    db = _database(tmp_path / "warehouse.duckdb",
                   f"CREATE TABLE shop.orders ({MATCHING.replace('qty INTEGER', 'qty BIGINT')})")
    policy_set = load_policy_set(policies)
    assert [d.kind for d in contract_drift(policy_set, db, ["orders"])] == ["type"]
    assert [d.kind for d in contract_drift(policy_set, db, ["shop.customers"])] == ["missing-table"]


def test_the_demo_database_matches_the_example_contracts(tmp_path):
    from policyengine.demo.data import build_demo_database

    build_demo_database(tmp_path / "demo.duckdb", users=50, reviews=100)
    assert contract_drift(load_policy_set(EXAMPLE), tmp_path / "demo.duckdb") == []


def test_no_database_is_an_error(policies, tmp_path):
    with pytest.raises(DriftError, match="no database at"):
        contract_drift(load_policy_set(policies), tmp_path / "nowhere.duckdb")
    (tmp_path / "text.duckdb").write_text("not a database")
    with pytest.raises(DriftError, match="cannot open"):
        contract_drift(load_policy_set(policies), tmp_path / "text.duckdb")


@pytest.mark.parametrize("duckdb_type, canonical", [
    ("VARCHAR", "VARCHAR"), ("BIGINT", "BIGINT"), ("DECIMAL(38,9)", "DECIMAL(38,9)"), ("FLOAT", "REAL"),
    ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"), ("BLOB", "BLOB"), ("UUID", None), ("INTEGER[]", None),
])
def test_canonical_database_type(duckdb_type, canonical):
    assert canonical_database_type(duckdb_type) == canonical


def test_drift_as_json_carries_its_message():
    item = Drift("type", "t", "c", "INT64", "INTEGER", "tables/t.yaml")
    assert item.as_dict() == {"kind": "type", "table": "t", "column": "c", "contract_type": "INT64",
                              "database_type": "INTEGER", "file": "tables/t.yaml",
                              "message": "tables/t.yaml: t.c: the contract says INT64, the database has INTEGER"}


# --- through the command line ---------------------------------------------------------------------------

def _cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    from policyengine.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return int(exited.value.code or 0), out, err


@pytest.fixture
def drifted(policies, tmp_path) -> Path:
    columns = MATCHING.replace("qty INTEGER", "qty BIGINT")
    return _database(tmp_path / "warehouse.duckdb", f"CREATE TABLE shop.orders ({columns})")


def test_validate_db_exits_1_listing_each_difference(capsys, monkeypatch, policies, drifted):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = _cli(capsys, monkeypatch, "-p", str(policies), "validate", "--db", str(drifted))
    assert code == 1
    assert "valid" in out  # the policy set itself is valid
    assert err.splitlines() == [
        "tables/orders.yaml: shop.orders.qty: the contract says INTEGER, the database has BIGINT",
        "tables/customers.yaml: shop.customers: in the contract, not in the database",
        f"2 differences between the contracts and the database {drifted}",
    ]


def test_validate_db_json_carries_the_drift(capsys, monkeypatch, policies, drifted):
    code, out, _ = _cli(capsys, monkeypatch, "-p", str(policies), "--db", str(drifted), "-f", "json", "validate")
    summary = json.loads(out)
    assert code == 1 and summary["valid"] is True and summary["database"] == str(drifted)
    assert [(d["kind"], d["table"], d["column"]) for d in summary["drift"]] == [
        ("type", "shop.orders", "qty"), ("missing-table", "shop.customers", None)]


def test_validate_db_without_drift_exits_0(capsys, monkeypatch, policies, tmp_path):
    db = _database(tmp_path / "warehouse.duckdb", f"CREATE TABLE shop.orders ({MATCHING})",
                   "CREATE TABLE shop.customers (id BIGINT)")
    code, out, _ = _cli(capsys, monkeypatch, "-p", str(policies), "validate", "--db", str(db))
    assert code == 0 and "the database matches the contracts" in out
    code, out, _ = _cli(capsys, monkeypatch, "-p", str(policies), "validate", "-f", "json")
    assert code == 0 and "drift" not in json.loads(out)  # no --db: the database is not looked at


def test_validate_db_missing_database_exits_1(capsys, monkeypatch, policies, tmp_path):
    code, _, err = _cli(capsys, monkeypatch, "-p", str(policies), "validate", "--db", str(tmp_path / "none.duckdb"))
    assert code == 1 and err.strip() == f"error: no database at {tmp_path / 'none.duckdb'}"


def test_scan_reports_the_drift(capsys, monkeypatch, policies, drifted):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = _cli(capsys, monkeypatch, "-p", str(policies), "scan", "--db", str(drifted), "-f", "json")
    assert code == 0  # scan reports; validate --db is the gate
    assert [(d["kind"], d["column"]) for d in json.loads(out)["drift"]] == [("type", "qty"), ("missing-table", None)]
    code, out, _ = _cli(capsys, monkeypatch, "-p", str(policies), "scan", "--db", str(drifted))
    assert "2 differences between the contracts and the database" in out
    assert "shop.orders.qty: the contract says INTEGER, the database has BIGINT" in out
    code, out, _ = _cli(capsys, monkeypatch, "-p", str(policies), "scan", "--db", str(drifted), "-f", "json", "orders")
    assert [d["kind"] for d in json.loads(out)["drift"]] == ["type"]  # only the table scanned
