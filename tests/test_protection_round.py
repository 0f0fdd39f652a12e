"""The ``round`` kind end to end: the one module (policyengine/protections/round.py) and its one
Snowflake template are all it took, and every consumer of kinds knows it.

The DuckDB rewrite is held against the kind's Python reference on values chosen to catch the ways
rounding goes wrong: halves (SQL rounds them away from zero, Python's ``round`` to even), binary
fractions that only look like halves (1.005), negative digits, and the edges of each type, where
rounding away from zero would leave the type and must not raise.
"""

from __future__ import annotations

import decimal
import math
import random
import struct
from pathlib import Path

import duckdb
import pytest
import sqlglot
from pydantic import TypeAdapter, ValidationError
from sqlglot import exp

from policyengine import load_policy_set
from policyengine.ddl.snowflake import render, statements
from policyengine.ddl.snowflake_plan import plan
from policyengine.engine import Engine
from policyengine.fuzz.oracle import protector
from policyengine.fuzz.policy_matrix import KIND_STRICTNESS, Cell, compare
from policyengine.lineage.propagate import STRENGTH, stronger
from policyengine.model import PolicySetInvalid
from policyengine.model.protections import KINDS, Protection, normalize_protection
from policyengine.protections import KINDS as REGISTRY
from policyengine.protections.round import Round, _round_float
from policyengine.rewrite.protections import protect
from policyengine.testing.case_model import MASK_KINDS

GOLDEN = Path(__file__).parent / "fixtures" / "snowflake" / "round.sql"
ADAPTER: TypeAdapter = TypeAdapter(Protection)

SETTINGS = "sensitivity_levels: [public, secret]\nenvironments: [prod]\n"
ROLES = "roles:\n  analyst:\n    clearance: public\n  owner:\n    clearance: secret\n"
TABLE = """
table: amounts
columns:
  - {name: id, type: INTEGER, mode: REQUIRED, sensitivity: public}
  - {name: tiny, type: TINYINT, sensitivity: secret, protection: {kind: round, digits: -1}}
  - {name: salary, type: INTEGER, sensitivity: secret, protection: {kind: round, digits: -3}}
  - {name: big, type: BIGINT, sensitivity: secret, protection: {kind: round, digits: -2}}
  - {name: price, type: "DECIMAL(5,2)", sensitivity: secret, protection: {kind: round, digits: 0}}
  - {name: amount, type: "DECIMAL(12,4)", sensitivity: secret, protection: {kind: round, digits: -2}}
  - {name: rate, type: FLOAT64, sensitivity: secret, protection: {kind: round, digits: 2}}
  - {name: score, type: FLOAT64, sensitivity: secret, protection: {kind: round, digits: -1}}
"""


def _set(write_set, table: str = TABLE) -> Path:
    return write_set({"policyengine.yaml": SETTINGS, "roles.yaml": ROLES, "tables/amounts.yaml": table})


def _problems(write_set, column: str) -> list[str]:
    table = "table: amounts\ncolumns:\n  - {name: id, type: INTEGER, sensitivity: public}\n  - " + column + "\n"
    with pytest.raises(PolicySetInvalid) as caught:
        load_policy_set(_set(write_set, table))
    return [str(p) for p in caught.value.problems]


# --- the model --------------------------------------------------------------------------------------

def test_round_validates_its_digits():
    assert ADAPTER.validate_python(normalize_protection({"kind": "round", "digits": 2})) == \
        Round(kind="round", digits=2)
    assert ADAPTER.validate_python(normalize_protection({"Kind": "ROUND", "digits": -38})).digits == -38
    for bad in ({"kind": "round"}, {"kind": "round", "digits": "2"}, {"kind": "round", "digits": 2.0},
                {"kind": "round", "digits": True}, {"kind": "round", "digits": 39},
                {"kind": "round", "digits": 2, "bucket": 10}, "round"):
        with pytest.raises(ValidationError):
            ADAPTER.validate_python(normalize_protection(bad))


def test_round_refused_where_it_does_not_fit(write_set):
    on_text = "{name: x, type: STRING, sensitivity: secret, protection: {kind: round, digits: 1}}"
    assert _problems(write_set, on_text) == [
        "tables/amounts.yaml: columns[1].protection.kind: protection 'round' does not fit column type STRING: "
        "it applies to decimal or float or integer columns"]
    assert _problems(write_set, "{name: x, type: DATE, sensitivity: secret, protection: {kind: round, digits: 1}}")
    assert _problems(write_set, "{name: x, type: INTEGER, sensitivity: secret, protection: {kind: round}}") == [
        "tables/amounts.yaml: columns[1].protection: missing required key 'digits'"]
    assert "expected a whole number" in _problems(
        write_set, "{name: x, type: INTEGER, sensitivity: secret, protection: {kind: round, digits: two}}")[0]
    # rounding that keeps every digit would show the raw value: refused, not silently raw
    kept = _problems(write_set, "{name: x, type: INTEGER, sensitivity: secret, protection: {kind: round, digits: 0}}")
    assert kept == ["tables/amounts.yaml: columns[1].protection.digits: round to 0 digits keeps every digit of column "
                    "type INTEGER (whole numbers): it would show the raw value; use a smaller digits"]
    assert _problems(write_set, "{name: x, type: 'DECIMAL(10,2)', sensitivity: secret, "
                                "protection: {kind: round, digits: 2}}")
    assert "from -22 to 22" in _problems(
        write_set, "{name: x, type: FLOAT64, sensitivity: secret, protection: {kind: round, digits: 23}}")[0]
    assert _problems(write_set, "{name: x, type: INTEGER, mode: REPEATED, sensitivity: secret, "
                                "protection: {kind: round, digits: -1}}")


def test_round_is_listed_everywhere_kinds_are():
    assert "round" in KINDS and "round" in MASK_KINDS and "round" in REGISTRY
    schema = (Path(__file__).resolve().parent.parent / "policyengine" / "schema" / "table.schema.json").read_text()
    assert '"round"' in schema and '"digits"' in schema


# --- the DuckDB rewrite against the reference --------------------------------------------------------

VALUES = {
    "TINYINT": [-128, -126, -125, -124, -5, -4, 0, 4, 5, 15, 25, 119, 120, 124, 125, 126, 127],
    "INTEGER": [-2147483648, -2147483500, -2147483499, -1500, -1499, -500, 0, 499, 500, 1500, 2500,
                2147482499, 2147482500, 2147483499, 2147483500, 2147483647],
    "BIGINT": [-9223372036854775808, -9223372036854775750, -150, -149, -50, 50, 149, 150, 250,
               9223372036854775749, 9223372036854775750, 9223372036854775807],
    "DECIMAL(5,2)": [decimal.Decimal(v) for v in ("-999.99", "-999.50", "-999.49", "-2.50", "-0.50", "-0.49", "0.00",
                                                   "0.49", "0.50", "1.50", "2.50", "999.49", "999.50", "999.99")],
    "DECIMAL(12,4)": [decimal.Decimal(v) for v in ("-99999999.9999", "-99999950.0000", "-99999949.9999", "-150.0000",
                                                    "-49.9999", "-50.0000", "0.0000", "50.0000", "149.9999",
                                                    "99999949.9999", "99999950.0000", "99999999.9999")],
    # the default DECIMAL: 29 integer digits, where a limit computed in 28 digits would be wrong
    "DECIMAL(38,9)": [decimal.Decimal(v) for v in (
        "-99999999999999999999999999999.999999999", "-99999999999999999999999999999.499999999", "-0.000000005",
        "0.000000005", "12345678901234567890.123456789", "99999999999999999999999999999.499999999",
        "99999999999999999999999999999.500000000", "99999999999999999999999999999.999999999")],
    "REAL": [-2.5, -0.125, 0.0, 0.125, 2.5, 15.0, 1250.0, 123.456, 65504.0, -3.0e38],
    "DOUBLE": [-2.5, -1.005, -0.125, -0.0, 0.0, 0.125, 0.5, 1.005, 1.015, 2.675, 2.5, 15.0, 25.0, 1250.0,
               1e-320, 1.7e308, -1.7e308, 123456789.125, 0.49999999999999994, 4503599627370497.0],
}


def _rewritten(sql_type: str, digits: int, values: list) -> list:
    from policyengine.model.policyset import Column
    from policyengine.model.types import parse_column_type

    column = Column(name="v", type=parse_column_type(sql_type), sensitivity="secret",
                    protection=Round(kind="round", digits=digits))
    expression = protect(exp.column("v"), column, column.protection).sql("duckdb")
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t (i INTEGER, v {sql_type})")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, v) for i, v in enumerate(values)] + [(len(values), None)])
    rows = con.execute(f"SELECT {expression} FROM t ORDER BY i").fetchall()
    con.close()
    reference = protector(column, None)
    expected = [reference(v) for v in values] + [None]
    if sql_type == "REAL":  # the reference computes in doubles; the column (and the oracle's copy) holds floats
        expected = [None if e is None else struct.unpack("f", struct.pack("f", e))[0] for e in expected]
    return [r[0] for r in rows], expected


@pytest.mark.parametrize(("sql_type", "digits"), [
    ("TINYINT", -1), ("TINYINT", -2), ("TINYINT", -3), ("INTEGER", -1), ("INTEGER", -3), ("INTEGER", -9),
    ("INTEGER", -10), ("INTEGER", -38), ("BIGINT", -2), ("BIGINT", -18), ("BIGINT", -19),
    ("DECIMAL(5,2)", 1), ("DECIMAL(5,2)", 0), ("DECIMAL(5,2)", -1), ("DECIMAL(5,2)", -3), ("DECIMAL(5,2)", -4),
    ("DECIMAL(12,4)", 3), ("DECIMAL(12,4)", -2), ("DECIMAL(12,4)", -8),
    ("DECIMAL(38,9)", 8), ("DECIMAL(38,9)", 0), ("DECIMAL(38,9)", -5), ("DECIMAL(38,9)", -28), ("DECIMAL(38,9)", -29),
    ("DOUBLE", 2), ("DOUBLE", 0), ("DOUBLE", -1), ("DOUBLE", -3), ("DOUBLE", 22), ("DOUBLE", -22),
    ("REAL", 2), ("REAL", -1),
])
def test_duckdb_rewrite_equals_the_reference(sql_type, digits):
    got, expected = _rewritten(sql_type, digits, VALUES[sql_type.split("(")[0] if "DECIMAL" not in sql_type
                                                        else sql_type])
    assert got == expected


def test_halves_round_away_from_zero_not_to_even():
    got, _ = _rewritten("DOUBLE", 0, [0.5, 1.5, 2.5, -2.5])
    assert got == [1.0, 2.0, 3.0, -3.0, None]  # Python's round() would give 0, 2, 2, -2
    # the binary value is rounded: 1.005 and 2.675 are just below their halves, 0.125 is one exactly
    assert (_round_float(2.5, 0), _round_float(1.005, 2), _round_float(2.675, 2), _round_float(0.125, 2)) == \
        (3.0, 1.0, 2.67, 0.13)
    got, _ = _rewritten("INTEGER", -1, [15, 25, -25, 2147483645, -2147483648])
    assert got == [20, 30, -30, 2147483640, -2147483640, None]  # at the edge: toward zero, inside the type


def test_near_halves_of_every_float_digits_agree():
    """Values a hair either side of a half at each digits: where DuckDB's arithmetic and the
    reference's could part."""
    rng = random.Random(7)
    for digits in range(-22, 23):
        values = []
        for _ in range(60):
            half = rng.randint(-10 ** 9, 10 ** 9) + 0.5
            value = half / 10.0 ** digits if digits >= 0 else half * 10.0 ** -digits
            for _ in range(rng.randint(0, 2)):
                value = math.nextafter(value, rng.choice([math.inf, -math.inf]))
            values.append(value)
        values += [rng.uniform(-1, 1) * 10 ** rng.uniform(-10, 30) for _ in range(60)]
        got, expected = _rewritten("DOUBLE", digits, values)
        assert got == expected, digits


def test_random_values_agree():
    rng = random.Random(20)
    doubles = [rng.uniform(-1e6, 1e6) for _ in range(300)] + [rng.randint(-10**6, 10**6) / 8 for _ in range(300)]
    for digits in (3, 1, 0, -2):
        got, expected = _rewritten("DOUBLE", digits, doubles)
        assert got == expected, digits
    decimals = [decimal.Decimal(rng.randint(-99999999, 99999999)).scaleb(-4) for _ in range(300)]
    for digits in (2, 0, -1):
        got, expected = _rewritten("DECIMAL(8,4)", digits, decimals)
        assert got == expected, digits
    integers = [rng.randint(-2**31, 2**31 - 1) for _ in range(300)]
    got, expected = _rewritten("INTEGER", -4, integers)
    assert got == expected


def test_engine_masks_with_round(write_set, tmp_path):
    folder = _set(write_set)
    database = tmp_path / "amounts.duckdb"
    con = duckdb.connect(str(database))
    con.execute("CREATE TABLE amounts (id INTEGER, tiny TINYINT, salary INTEGER, big BIGINT, price DECIMAL(5,2), "
                "amount DECIMAL(12,4), rate DOUBLE, score DOUBLE)")
    con.execute("INSERT INTO amounts VALUES (1, 127, 52499, 1250, 999.50, 1234.5678, 0.125, 15.0), "
                "(2, -125, 2147483647, -150, 2.49, -50.0, 2.675, -25.0)")
    con.close()
    engine = Engine.load(folder, database)
    try:
        rows = engine.query("SELECT * FROM amounts ORDER BY id", role="analyst").fetchall()
        raw = engine.query("SELECT * FROM amounts ORDER BY id", role="owner").fetchall()
    finally:
        engine.close()
    assert rows == [(1, 120, 52000, 1300, decimal.Decimal("999.00"), decimal.Decimal("1200.0000"), 0.13, 20.0),
                    (2, -120, 2147483000, -200, decimal.Decimal("2.00"), decimal.Decimal("-100.0000"), 2.67, -30.0)]
    assert raw[0][1:3] == (127, 52499)


# --- Snowflake ---------------------------------------------------------------------------------------

def test_snowflake_ddl_golden_and_parse(write_set):
    policy_set = load_policy_set(_set(write_set))
    text = render(plan(policy_set, "prod", database="ANALYTICS", schema="PAY"))
    assert text == GOLDEN.read_text()
    bodies = [s for s in statements(text) if s.startswith("CREATE OR REPLACE MASKING POLICY")]
    assert len(bodies) == 7
    for statement in bodies:
        body = statement.split("->", 1)[1].rsplit("COMMENT", 1)[0]
        assert "ROUND(val, " in body
        sqlglot.parse_one(body, read="snowflake")


def test_snowflake_body_computes_the_reference(write_set):
    """The Snowflake body (Snowflake's ROUND and TRUNC, as its docs define them: half away from zero,
    toward zero), transpiled to DuckDB, gives the reference's values."""
    policy_set = load_policy_set(_set(write_set))
    snowflake = plan(policy_set, "prod")
    table = policy_set.tables["amounts"]
    con = duckdb.connect()
    for policy in snowflake.masking:
        column = table.column(policy.column.name)
        sql_type = column.type.sql
        values = VALUES["DECIMAL(5,2)" if sql_type == "DECIMAL(5,2)" else "DECIMAL(12,4)" if "DECIMAL" in sql_type
                        else sql_type if sql_type in VALUES else "DOUBLE"]
        body = policy.body.sql("snowflake")
        uncleared = sqlglot.parse_one(body, read="snowflake").transform(
            lambda n: exp.false() if isinstance(n, exp.Anonymous) and n.name.upper() == "IS_ROLE_IN_SESSION" else n)
        duck = uncleared.sql("duckdb")
        reference = protector(column, None)
        for value in values:
            got = con.execute(f"SELECT CAST(({duck}) AS {sql_type}) FROM (SELECT CAST(? AS {sql_type}) AS val)",
                              [value]).fetchone()[0]
            assert got == reference(value), (column.name, value, body)


# --- strength: lineage, the fuzzers ------------------------------------------------------------------

def test_round_rank_between_partial_views_and_keyed_stand_ins():
    assert STRENGTH["partial"] < STRENGTH["round"] == STRENGTH["generalize"] < STRENGTH["encrypt"]
    assert KIND_STRICTNESS["round"] == STRENGTH["round"]
    round_cell = Cell(2, "protected", ("round", (("digits", -2),)))
    hash_cell = Cell(2, "protected", ("hash", ()))
    partial_cell = Cell(2, "protected", ("partial", (("show_last", 4),)))
    generalize_cell = Cell(2, "protected", ("generalize", (("bucket", 100),)))
    assert compare(round_cell, hash_cell) == -1 and compare(hash_cell, round_cell) == 1
    assert compare(partial_cell, round_cell) == -1
    assert compare(round_cell, generalize_cell) is None  # equally strong: incomparable
    coarser = Cell(2, "protected", ("round", (("digits", -3),)))
    assert compare(round_cell, coarser) == -1 and compare(coarser, round_cell) == 1  # fewer digits: less
    rounded, hashed = Round(kind="round", digits=-2), ADAPTER.validate_python({"kind": "hash"})
    assert stronger(rounded, hashed) is hashed and stronger(hashed, rounded) is hashed


def test_lineage_of_a_rounded_column(write_set):
    from policyengine.lineage import Catalog, analyse
    from policyengine.lineage.propagate import propagate

    policy_set = load_policy_set(_set(write_set))
    statement = analyse("SELECT salary, salary * 2 AS doubled FROM amounts", Catalog.from_policy_set(policy_set))[-1]
    out = {p.name: p for p in propagate(statement, policy_set.find_table, policy_set.settings, policy_set.roles)}
    assert out["salary"].protection == Round(kind="round", digits=-3)  # the same value keeps its rounding
    assert out["doubled"].protection.kind == "redact"  # a computed value is not a rounding of its source
