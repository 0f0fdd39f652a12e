"""Snowflake DDL from the example policy set: golden files, statement shapes, and equivalence.

Equivalence: every generated masking, projection and row access body, transpiled with sqlglot to
DuckDB with the role functions bound to a principal (and the keyed UDFs replaced by the DuckDB
SQL for the same algorithms), gives exactly the rows and values the DuckDB rewrite gives that
principal, column by column. No Snowflake account is needed; nothing here pretends to be one.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from policyengine import crypto, load_policy_set
from policyengine.ddl.keyed_handler import handler_source
from policyengine.ddl.snowflake import render, statements
from policyengine.ddl.snowflake_plan import ATTRIBUTES_TABLE, plan
from policyengine.decision import decide, subject_for
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.fuzz.oracle import normalize_rows
from policyengine.model import name_key
from policyengine.rewrite import Refused, keyed
from tests.conftest import EXAMPLE
from tests.harness.snowflake_policy_simulator import keyed_sql

GOLDEN = Path(__file__).parent / "fixtures" / "snowflake"
ENVIRONMENTS = ("dev", "staging", "prod")
KEY = crypto.parse_key("736e6f77666c616b652065717569763121")

SHAPES = [
    r"CREATE OR REPLACE SECURE FUNCTION [\w.]+\([^)]*\) RETURNS [\w(),]+\s+LANGUAGE PYTHON RUNTIME_VERSION = '3\.11' "
    r"HANDLER = '\w+'\s+IMPORTS = \('@[\w.]+/policyengine_keys\.json'\)\s+COMMENT = '[^']*'\s+AS \$\$.*\$\$",
    r"CREATE STAGE IF NOT EXISTS [\w.]+ ENCRYPTION = \(TYPE = 'SNOWFLAKE_SSE'\) COMMENT = '[^']*'",
    r"PUT 'file://policyengine_keys\.json' @[\w.]+ AUTO_COMPRESS = FALSE OVERWRITE = TRUE",
    r"CREATE TABLE IF NOT EXISTS [\w.]+ \(PRINCIPAL VARCHAR, NAME VARCHAR, VALUE VARCHAR\)",
    r"DELETE FROM [\w.]+",
    r"INSERT INTO [\w.]+ \(PRINCIPAL, NAME, VALUE\) VALUES.*",
    r"CREATE TAG IF NOT EXISTS [\w.]+ ALLOWED_VALUES ('\w+'(, )?)+ COMMENT = '[^']*'",
    r"CREATE TAG IF NOT EXISTS [\w.]+ COMMENT = '[^']*'",
    r"ALTER TAG [\w.]+ SET MASKING POLICY [\w.]+(, MASKING POLICY [\w.]+)*( FORCE)?",
    r"CREATE OR REPLACE MASKING POLICY [\w.]+ AS \(val [\w(),]+(, \w+ [\w(),]+)*\) RETURNS [\w(),]+ ->\s+(?P<body>.*?)"
    r"\s+COMMENT = '(?:[^']|'')*'(\s+EXEMPT_OTHER_POLICIES = TRUE)?",
    r"CREATE OR REPLACE PROJECTION POLICY [\w.]+ AS \(\) RETURNS PROJECTION_CONSTRAINT ->\s+(?P<body>.*)",
    r"CREATE OR REPLACE ROW ACCESS POLICY [\w.]+ "
    r"AS \(\w+ [\w(),]+(, \w+ [\w(),]+)*\) RETURNS BOOLEAN ->\s+(?P<body>.*)",
    r"ALTER TABLE [\w.]+ MODIFY COLUMN \w+ SET TAG [\w.]+ = '[^']*'",
    r"ALTER TABLE [\w.]+ MODIFY COLUMN \w+ SET MASKING POLICY [\w.]+( USING \(\w+(, \w+)+\))? FORCE",
    r"ALTER TABLE [\w.]+ MODIFY COLUMN \w+ SET PROJECTION POLICY [\w.]+ FORCE",
    r"ALTER TABLE [\w.]+ ADD ROW ACCESS POLICY [\w.]+ ON \(\w+(, \w+)*\)",
]


@pytest.fixture(scope="module")
def policy_set():
    return load_policy_set(EXAMPLE)


MODES = ("column", "tag")
GOLDENS = [(env, mode) for mode in MODES for env in ENVIRONMENTS]


def generate(policy_set, env: str, mode: str = "column") -> str:
    return render(plan(policy_set, env, database="ANALYTICS", schema="REVIEWS", mode=mode))


def golden_path(env: str, mode: str) -> Path:
    return GOLDEN / (f"{env}.sql" if mode == "column" else f"{env}-{mode}.sql")


@pytest.mark.parametrize(("env", "mode"), GOLDENS)
def test_golden(policy_set, env, mode):
    assert generate(policy_set, env, mode) == golden_path(env, mode).read_text()


@pytest.mark.parametrize(("env", "mode"), GOLDENS)
def test_every_statement_has_a_known_shape_and_its_body_parses(policy_set, env, mode):
    text = generate(policy_set, env, mode)
    found = statements(text)
    assert len(found) > 50
    for statement in found:
        matches = [re.fullmatch(shape, statement, flags=re.S) for shape in SHAPES]
        match = next((m for m in matches if m), None)
        assert match is not None, f"unknown statement shape: {statement[:200]}"
        body = match.groupdict().get("body")
        if body:
            trees = sqlglot.parse(body, read="snowflake")
            assert len(trees) == 1 and not isinstance(trees[0], exp.Command), body[:200]
    # statements sqlglot understands are parsed in full, not as opaque commands
    for statement in found:
        if statement.startswith(("CREATE TABLE", "INSERT", "DELETE", "CREATE TAG")):
            assert not isinstance(sqlglot.parse_one(statement, read="snowflake"), exp.Command), statement


@pytest.mark.parametrize("mode", MODES)
def test_tables_created_with_inline_policies_parse(policy_set, mode):
    """--create-tables: per table, one Snowflake Scripting block that creates a missing table with its
    policies inline, and attaches them to one that exists (never skips it unprotected)."""
    text = render(plan(policy_set, "prod", database="ANALYTICS", schema="REVIEWS", mode=mode), create_tables=True)
    assert text == golden_path("prod", f"{mode}-create").read_text()
    blocks = [s for s in statements(text) if s.startswith("EXECUTE IMMEDIATE $$")]
    assert len(blocks) == len(policy_set.tables)
    assert not any(s.startswith("ALTER TABLE") for s in statements(text))  # only inside the blocks
    for block in blocks:
        inner = block[len("EXECUTE IMMEDIATE $$"):-2]
        match = re.fullmatch(
            r"\s*DECLARE\s+found INTEGER DEFAULT 0;\s+BEGIN\s+"
            r"SELECT COUNT\(\*\) INTO :found FROM ANALYTICS\.INFORMATION_SCHEMA\.TABLES "
            r"WHERE TABLE_SCHEMA = 'REVIEWS' AND TABLE_NAME = '\w+';\s+"
            r"IF \(found > 0\) THEN\s+(?P<protect>.*?)\s+ELSE\s+(?P<create>CREATE TABLE .*?);\s+END IF;\s+END;\s*",
            inner, flags=re.S)
        assert match, block[:300]
        tree = sqlglot.parse_one(match["create"], read="snowflake")
        assert isinstance(tree, exp.Create), match["create"][:120]
        assert "WITH ROW ACCESS POLICY ANALYTICS.REVIEWS.PE_ROWS_" in match["create"]
        protect = [p.strip() for p in match["protect"].split(";\n") if p.strip()]
        assert protect and all(any(re.fullmatch(shape, p.rstrip(";"), flags=re.S) for shape in SHAPES)
                               for p in protect), protect
        assert protect[-1].startswith("ALTER TABLE") and "ADD ROW ACCESS POLICY" in protect[-1]
    users = next(b for b in blocks if ".user_demographics (" in b)
    assert "NationalID VARCHAR WITH MASKING POLICY ANALYTICS.REVIEWS.PE_MASK_USER_DEMOGRAPHICS_NATIONALID " \
           "WITH PROJECTION POLICY ANALYTICS.REVIEWS.PE_DENY_USER_DEMOGRAPHICS_NATIONALID" in users
    assert "PRIMARY KEY (UserID)" in users


def test_no_key_in_printed_ddl_and_the_handler_matches_crypto(policy_set, tmp_path, monkeypatch):
    """The printed DDL holds no key material at all, and the handler, given only the derived keys in
    the staged file (read from the import directory, as Snowflake documents for inline handlers),
    computes what the engine computes."""
    text = render(plan(policy_set, "prod", database="ANALYTICS", schema="REVIEWS"), fingerprint=KEY.fingerprint())
    derived = crypto.warehouse_key_file(KEY)
    assert KEY.master.hex() not in text and KEY.master.hex() not in derived
    for purpose in crypto.PURPOSES:
        assert KEY.purpose_key(purpose).hex() not in text
    assert f"key fingerprint {KEY.fingerprint()}" in text
    assert "IMPORTS = ('@ANALYTICS.REVIEWS.PE_KEYS/policyengine_keys.json')" in text
    assert "PUT 'file://policyengine_keys.json' @ANALYTICS.REVIEWS.PE_KEYS AUTO_COMPRESS = FALSE OVERWRITE = TRUE" \
        in text
    assert "policyengine warehouse-keys --out policyengine_keys.json" in text
    (tmp_path / "policyengine_keys.json").write_text(derived)
    monkeypatch.setitem(sys._xoptions, "snowflake_import_directory", str(tmp_path) + "/")
    namespace: dict = {}
    exec(compile(handler_source(), "handler", "exec"), namespace)  # noqa: S102 - our own source
    text_udf, int_udf = namespace["pe_keyed_text"], namespace["pe_keyed_int"]
    for value in ["alice@example.com", "", "Ünïcödé 12", "x" * 90]:
        assert text_udf("hash", value) == crypto.hash_text(KEY, value)
        assert text_udf("tokenize", value) == crypto.tokenize_text(KEY, value)
        assert text_udf("encrypt", value) == crypto.encrypt_text(KEY, value)
    for value in [0, 7, -42, 2147483647]:
        assert int_udf("hash", value, 7) == crypto.hash_integer(KEY, value, "INTEGER")
        assert int_udf("tokenize", value, 2**31 - 1) == crypto.tokenize_integer(KEY, value, "INTEGER")
    assert text_udf("hash", None) is None


# --- equivalence -----------------------------------------------------------------------------------

def to_duckdb(body: exp.Expression, held: set[str], user: str | None, tags: dict[str, str] | None = None) -> str:
    """A Snowflake body as DuckDB SQL, with the session's roles and user bound and the keyed UDFs inlined."""
    snowflake_text = body.sql(dialect="snowflake")
    tree = sqlglot.parse_one(snowflake_text, read="snowflake")

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous):
            name = node.name.upper().rsplit(".", 1)[-1]
            if name == "IS_ROLE_IN_SESSION":
                return exp.true() if name_key(node.expressions[0].name) in held else exp.false()
            if name == "SYSTEM$GET_TAG_ON_CURRENT_COLUMN":
                value = (tags or {}).get(node.expressions[0].name.rsplit(".", 1)[-1])
                return exp.Literal.string(value) if value is not None else exp.null()
            if name == "PROJECTION_CONSTRAINT":
                return node.expressions[0].expression
            if name in ("PE_KEYED_TEXT", "PE_KEYED_INT"):
                kind, value, *parameter = node.expressions
                return keyed_sql(kind.name, value, parameter[0] if parameter else None)
        if isinstance(node, exp.CurrentUser):
            return exp.Literal.string(user) if user else exp.null()
        return node

    return tree.transform(bind).sql(dialect="duckdb")


@pytest.fixture(scope="module")
def world(tmp_path_factory, policy_set):
    root = tmp_path_factory.mktemp("snowflake")
    raw = root / "raw.duckdb"
    build_demo_database(raw, users=150, reviews=400)
    with duckdb.connect(str(raw)) as con:
        con.execute(f"CREATE TABLE {ATTRIBUTES_TABLE} (PRINCIPAL VARCHAR, NAME VARCHAR, VALUE VARCHAR)")
        for principal in policy_set.principals.values():
            for name, value in principal.attributes.items():
                con.execute(f"INSERT INTO {ATTRIBUTES_TABLE} VALUES (?, ?, ?)",
                            [principal.name.upper(), name, str(value)])
    served = root / "served.duckdb"
    shutil.copyfile(raw, served)
    engine = Engine.load(EXAMPLE, served, keys=KEY)
    simulated = duckdb.connect(str(raw), read_only=True)
    for purpose in crypto.PURPOSES:
        inner, outer = KEY.pads(purpose)
        simulated.execute(f"SET VARIABLE {keyed.variable_name(purpose, 'i')} = ?::BLOB", [inner])
        simulated.execute(f"SET VARIABLE {keyed.variable_name(purpose, 'o')} = ?::BLOB", [outer])
    yield engine, simulated
    simulated.close()
    engine.close()


SUBJECTS = [("principal", p) for p in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan")] + \
           [("role", r) for r in ("reader", "marketing_analyst", "bi_analyst")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize(("how", "who"), SUBJECTS, ids=[f"{h}-{w}" for h, w in SUBJECTS])
def test_snowflake_bodies_equal_the_duckdb_rewrite(world, policy_set, env, how, who, mode):
    engine, simulated = world
    subject = subject_for(policy_set, principal=who) if how == "principal" else subject_for(policy_set, roles=[who])
    snowflake = plan(policy_set, env, mode=mode)
    masks = {(m.table.key, m.column.key): m for m in snowflake.masking}
    tagged = {(t.key, c.key): value for t, c, value in snowflake.protection_tags}
    by_family = {p.type: p for p in snowflake.tag_masking}
    projections = {(p.table.key, p.column.key): p for p in snowflake.projection}
    held = set(decide(policy_set, subject, env, "reviews").grant.roles)
    user = subject.name.upper() if subject.name else None
    compared = 0
    for rap in snowflake.row_access:
        table = rap.table
        where = to_duckdb(rap.body, held, user)
        for column in table.columns:
            quoted_column = '"' + column.name + '"'
            try:
                expected = engine.query_for(subject, f"SELECT {quoted_column} FROM {table.name}", env=env).fetchall()
            except Refused as refusal:
                if "is denied" in refusal.reason:
                    projection = to_duckdb(projections[(table.key, column.key)].body, held, user)
                    assert simulated.execute(f"SELECT {projection}").fetchone()[0] is False
                else:
                    assert "no access" in refusal.reason
                    assert simulated.execute(f"SELECT count(*) FROM {table.name} WHERE {where}").fetchone()[0] == 0
                continue
            mask = masks.get((table.key, column.key))
            tags = {"PE_SENSITIVITY": column.sensitivity}
            if mask is None and (table.key, column.key) in tagged:
                # Snowflake applies the protection tag's policy for the column's data type
                from policyengine.ddl.snowflake_plan import snowflake_family

                mask = by_family[snowflake_family(column)]
                tags["PE_PROTECTION"] = tagged[(table.key, column.key)]
            value = quoted_column
            if mask is not None:
                body = sqlglot.parse_one(to_duckdb(mask.body, held, user, tags), read="duckdb")
                body = body.transform(lambda n, name=column.name: exp.column(name, quoted=True)
                                      if isinstance(n, exp.Column) and n.name.lower() == "val" else n)
                value = body.sql(dialect="duckdb")
            got = simulated.execute(f"SELECT {value} FROM {table.name} WHERE {where}").fetchall()
            assert normalize_rows(got, False) == normalize_rows(expected, False), (table.name, column.name)
            compared += 1
    assert compared > 0 or not decide(policy_set, subject, env, "reviews").allowed


if __name__ == "__main__":  # regenerate the golden files, by hand, after a deliberate change
    loaded = load_policy_set(EXAMPLE)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for environment, how in GOLDENS:
        golden_path(environment, how).write_text(generate(loaded, environment, how))
    for how in MODES:
        golden_path("prod", f"{how}-create").write_text(
            render(plan(loaded, "prod", database="ANALYTICS", schema="REVIEWS", mode=how), create_tables=True))
