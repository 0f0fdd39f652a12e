"""The strict Snowflake model: each documented rule refuses what Snowflake refuses and accepts the allowed
variant; the fake connection built on it answers apply's reads in Snowflake's shapes."""

from __future__ import annotations

import json
import re

import pytest

from policyengine import load_policy_set
from policyengine.ddl import snowflake_model as sm
from policyengine.ddl.snowflake_model import (
    RULES,
    NotFound,
    NotUnderstood,
    RuleViolation,
    SnowflakeModel,
    UnknownColumnType,
    info_type,
    type_family,
)
from tests.conftest import EXAMPLE
from tests.snowflake_fake import FakeSnowflake

T = "db.s.t"
TABLE = ("CREATE TABLE IF NOT EXISTS db.s.t (ID NUMBER(38,0) NOT NULL, EMAIL VARCHAR, CITY VARCHAR, CONSENT BOOLEAN, "
         "AMOUNT NUMBER(10,2), SEEN TIMESTAMP_LTZ, AT TIME(9), PRIMARY KEY (ID))")


def mask(name: str, kind: str = "VARCHAR", extra: str = "", exempt: bool = False, body: str = "val") -> str:
    return (f"CREATE OR REPLACE MASKING POLICY db.s.{name} AS (val {kind}{extra}) RETURNS {kind} -> {body}"
            + (" EXEMPT_OTHER_POLICIES = TRUE" if exempt else ""))


def rows_policy(name: str, arguments: str = "x VARCHAR", body: str = "TRUE") -> str:
    return f"CREATE OR REPLACE ROW ACCESS POLICY db.s.{name} AS ({arguments}) RETURNS BOOLEAN -> {body}"


@pytest.fixture
def model() -> SnowflakeModel:
    m = SnowflakeModel()
    m.execute(TABLE)
    m.execute("CREATE TAG IF NOT EXISTS db.s.PE_SENSITIVITY ALLOWED_VALUES 'public', 'restricted' COMMENT = 'levels'")
    m.execute("CREATE TAG IF NOT EXISTS db.s.PE_PROTECTION COMMENT = 'protection'")
    return m


def refused(model: SnowflakeModel, statement: str, rule: sm.Rule) -> RuleViolation:
    before = model.copy()
    with pytest.raises(RuleViolation) as caught:
        model.execute(statement)
    assert caught.value.rule is rule, str(caught.value)
    assert model == before  # a refused statement changes nothing
    return caught.value


# --- the rules themselves ------------------------------------------------------------------------


def test_every_rule_names_its_page_and_the_sentence_it_enforces():
    assert len({r.name for r in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.doc.startswith("https://docs.snowflake.com/"), rule
        assert len(rule.says) > 20 and rule.says.strip() == rule.says, rule


def test_a_table_has_one_row_access_policy_and_a_swap_drops_the_current_one(model):
    model.execute(rows_policy("R1", "x NUMBER"))
    model.execute(rows_policy("R2", "x NUMBER"))
    model.execute(f"ALTER TABLE {T} ADD ROW ACCESS POLICY db.s.R1 ON (ID)")
    refused(model, f"ALTER TABLE {T} ADD ROW ACCESS POLICY db.s.R2 ON (ID)", sm.ONE_ROW_ACCESS_POLICY)
    refused(model, f"ALTER TABLE {T} DROP ROW ACCESS POLICY db.s.R2, ADD ROW ACCESS POLICY db.s.R2 ON (ID)",
            sm.SWAP_NEEDS_CURRENT)
    model.execute(f"ALTER TABLE {T} DROP ROW ACCESS POLICY db.s.R1, ADD ROW ACCESS POLICY db.s.R2 ON (ID)")
    assert model.row_access_of(T) == "R2"
    model.execute(f"ALTER TABLE {T} DROP ROW ACCESS POLICY db.s.R2")
    assert model.row_access_of(T) is None


def test_a_column_is_not_in_a_masking_and_a_row_access_signature_unless_the_mask_is_exempt(model):
    model.execute(mask("M"))
    model.execute(mask("MX", exempt=True))
    model.execute(rows_policy("R"))
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.M")
    error = refused(model, f"ALTER TABLE {T} ADD ROW ACCESS POLICY db.s.R ON (EMAIL)", sm.MASK_AND_ROW_ACCESS)
    assert "EMAIL" in str(error) and "val" not in str(error)  # names objects, never the body
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.MX FORCE")
    model.execute(f"ALTER TABLE {T} ADD ROW ACCESS POLICY db.s.R ON (EMAIL)")  # exempt: accepted
    # the other direction: the row access policy is there first
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.M FORCE", sm.MASK_AND_ROW_ACCESS)
    model.execute(mask("MC", extra=", CITY VARCHAR"))
    # a conditional column counts as being in the masking policy's signature
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN CITY SET MASKING POLICY db.s.MC USING (CITY, EMAIL)",
            sm.MASK_AND_ROW_ACCESS)


def test_a_tag_based_mask_counts_for_the_row_access_rule_in_both_directions(model):
    model.execute(mask("TAGMASK"))
    model.execute(rows_policy("R"))
    model.execute(f"ALTER TABLE {T} ADD ROW ACCESS POLICY db.s.R ON (EMAIL)")
    model.execute("ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.TAGMASK")
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET TAG db.s.PE_PROTECTION = 'x'", sm.MASK_AND_ROW_ACCESS)
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN CITY SET TAG db.s.PE_PROTECTION = 'x'")  # not in the row policy
    model.execute("ALTER TAG db.s.PE_PROTECTION UNSET MASKING POLICY db.s.TAGMASK")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET TAG db.s.PE_PROTECTION = 'x'")
    refused(model, "ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.TAGMASK", sm.MASK_AND_ROW_ACCESS)


def test_create_table_checks_its_inline_policies_together():
    m = SnowflakeModel()
    m.execute(mask("M"))
    m.execute(mask("MX", exempt=True))
    m.execute(rows_policy("R"))
    with pytest.raises(RuleViolation) as caught:
        m.execute("CREATE TABLE IF NOT EXISTS db.s.n (EMAIL VARCHAR WITH MASKING POLICY db.s.M) "
                  "WITH ROW ACCESS POLICY db.s.R ON (EMAIL)")
    assert caught.value.rule is sm.MASK_AND_ROW_ACCESS and "db.s.n" not in m.columns
    m.execute("CREATE TABLE IF NOT EXISTS db.s.n (EMAIL VARCHAR WITH MASKING POLICY db.s.MX) "
              "WITH ROW ACCESS POLICY db.s.R ON (EMAIL)")
    assert (m.masking_of("db.s.n", "EMAIL"), m.row_access_of("db.s.n")) == ("MX", "R")


def test_a_masked_column_is_not_a_conditional_column_of_another_mask_unless_exempt(model):
    model.execute(mask("M"))
    model.execute(mask("MX", exempt=True))
    model.execute(mask("MC", extra=", CITY VARCHAR"))
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN CITY SET MASKING POLICY db.s.M")
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.MC USING (EMAIL, CITY)",
            sm.MASKED_AS_CONDITIONAL)
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN CITY SET MASKING POLICY db.s.MX FORCE")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.MC USING (EMAIL, CITY)")
    # the other direction: masking the conditional column afterwards
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN CITY SET MASKING POLICY db.s.M FORCE", sm.MASKED_AS_CONDITIONAL)
    assert model.attachment("MASKING_POLICY", T, "EMAIL").arguments == ("CITY",)


def test_a_second_policy_on_a_column_needs_force_and_force_needs_the_same_type(model):
    model.execute(mask("A"))
    model.execute(mask("B"))
    model.execute(mask("N", "NUMBER"))
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.A")
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.B", sm.FORCE_TO_REPLACE)
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.B FORCE")
    assert model.masking_of(T, "EMAIL") == "B"
    model.execute("CREATE OR REPLACE MASKING POLICY db.s.N2 AS (val NUMBER) RETURNS NUMBER -> 0")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN AMOUNT SET MASKING POLICY db.s.N")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN AMOUNT SET MASKING POLICY db.s.N2 FORCE")
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN AMOUNT SET MASKING POLICY db.s.B FORCE", sm.FORCE_SAME_TYPE)
    model.execute("CREATE OR REPLACE PROJECTION POLICY db.s.P1 AS () RETURNS PROJECTION_CONSTRAINT -> "
                  "PROJECTION_CONSTRAINT(ALLOW => FALSE)")
    model.execute("CREATE OR REPLACE PROJECTION POLICY db.s.P2 AS () RETURNS PROJECTION_CONSTRAINT -> "
                  "PROJECTION_CONSTRAINT(ALLOW => TRUE)")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET PROJECTION POLICY db.s.P1")
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET PROJECTION POLICY db.s.P2", sm.FORCE_TO_REPLACE)
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET PROJECTION POLICY db.s.P2 FORCE")
    assert model.projection_of(T, "EMAIL") == "P2"


def test_a_directly_set_mask_takes_the_columns_data_type(model):
    model.execute(mask("V"))
    model.execute(mask("N", "NUMBER(38,0)"))
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN ID SET MASKING POLICY db.s.V", sm.SIGNATURE_MATCHES_COLUMNS)
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN AMOUNT SET MASKING POLICY db.s.N")  # NUMBER(10,2): one family
    model.execute(mask("MC", extra=", CONSENT BOOLEAN"))
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.MC USING (EMAIL, CITY)",
            sm.SIGNATURE_MATCHES_COLUMNS)
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.MC USING (CITY, CONSENT)",
            sm.USING_FIRST_COLUMN)
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.MC USING (EMAIL, CONSENT)")
    model.execute(rows_policy("R"))
    refused(model, f"ALTER TABLE {T} ADD ROW ACCESS POLICY db.s.R ON (ID)", sm.SIGNATURE_MATCHES_COLUMNS)


def test_policy_shapes(model):
    refused(model, "CREATE OR REPLACE MASKING POLICY db.s.X AS (val VARCHAR) RETURNS NUMBER -> 0",
            sm.RETURNS_MATCHES_INPUT)
    model.execute("CREATE OR REPLACE MASKING POLICY db.s.X AS (val VARCHAR) RETURNS VARCHAR(16777216) -> val")
    refused(model, "CREATE OR REPLACE ROW ACCESS POLICY db.s.R AS (x VARCHAR) RETURNS VARCHAR -> 'a'",
            sm.ROW_ACCESS_RETURNS_BOOLEAN)
    refused(model, "CREATE OR REPLACE PROJECTION POLICY db.s.P AS (x VARCHAR) RETURNS PROJECTION_CONSTRAINT -> 1",
            sm.PROJECTION_SHAPE)


def test_an_attached_policy_is_neither_dropped_nor_replaced(model):
    model.execute(mask("M"))
    model.execute(mask("MX", exempt=True))
    model.execute(mask("FREE"))
    model.execute(rows_policy("R", "x NUMBER"))
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.M")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN CITY SET MASKING POLICY db.s.MX")
    model.execute(f"ALTER TABLE {T} ADD ROW ACCESS POLICY db.s.R ON (ID)")
    model.execute("ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.FREE")
    assert "cannot be dropped" in str(refused(model, "DROP MASKING POLICY db.s.M", sm.DROP_ATTACHED))
    refused(model, "DROP ROW ACCESS POLICY db.s.R", sm.DROP_ATTACHED_ROW_ACCESS)
    refused(model, "DROP MASKING POLICY db.s.FREE", sm.DROP_ON_TAG)
    assert "cannot be replaced" in str(refused(model, mask("M", body="NULL"), sm.REPLACE_ATTACHED))
    refused(model, mask("M", exempt=True), sm.EXEMPT_FIXED)
    refused(model, mask("MX"), sm.EXEMPT_FIXED)
    refused(model, mask("M", extra=", CITY VARCHAR"), sm.SIGNATURE_FIXED)
    model.execute("ALTER MASKING POLICY db.s.M SET BODY -> NULL")  # a body changes in place
    assert model.policies["M"].body == "NULL"
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL UNSET MASKING POLICY")
    model.execute(mask("M", extra=", CITY VARCHAR"))  # unattached: replaced, new signature and all
    model.execute("DROP MASKING POLICY db.s.M")
    assert "M" not in model.policies


def test_a_tag_has_one_masking_policy_per_data_type_and_force_replaces_it(model):
    model.execute(mask("V1"))
    model.execute(mask("V2", "STRING"))
    model.execute(mask("N", "NUMBER"))
    refused(model, "ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.V1, MASKING POLICY db.s.V2",
            sm.TAG_ONE_POLICY_PER_TYPE)
    model.execute("ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.V1, MASKING POLICY db.s.N")
    refused(model, "ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.V2", sm.TAG_ONE_POLICY_PER_TYPE)
    model.execute("ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.V2 FORCE")
    assert model.tag_policies["PE_PROTECTION"] == {"VARCHAR": "V2", "NUMBER": "N"}


def test_a_tag_value_is_one_of_its_allowed_values(model):
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET TAG db.s.PE_SENSITIVITY = 'secret'",
            sm.TAG_ALLOWED_VALUES)
    model.execute("ALTER TAG db.s.PE_SENSITIVITY ADD ALLOWED_VALUES 'secret'")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET TAG db.s.PE_SENSITIVITY = 'secret'")
    # removing an allowed value does not affect values already assigned (ALTER TAG)
    model.execute("ALTER TAG db.s.PE_SENSITIVITY DROP ALLOWED_VALUES 'secret'")
    assert model.tag_values[(T, "EMAIL", "PE_SENSITIVITY")] == "secret"
    assert model.tags["PE_SENSITIVITY"].allowed_values == ("public", "restricted")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN CITY SET TAG db.s.PE_PROTECTION = 'it''s anything'")
    assert model.tag_values[(T, "CITY", "PE_PROTECTION")] == "it's anything"


def test_a_tag_value_has_at_most_256_characters_and_a_column_at_most_20_tags(model):
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN CITY SET TAG db.s.PE_PROTECTION = '{'x' * 257}'",
            sm.TAG_VALUE_LENGTH)
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN CITY SET TAG db.s.PE_PROTECTION = '{'x' * 256}'")
    for index in range(19):
        model.execute(f"CREATE TAG IF NOT EXISTS db.s.T{index}")
        model.execute(f"ALTER TABLE {T} MODIFY COLUMN CITY SET TAG db.s.T{index} = 'v'")
    model.execute("CREATE TAG IF NOT EXISTS db.s.ONE_TOO_MANY")
    refused(model, f"ALTER TABLE {T} MODIFY COLUMN CITY SET TAG db.s.ONE_TOO_MANY = 'v'", sm.TAGS_PER_COLUMN)
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN CITY SET TAG db.s.T0 = 'w'")  # changing a value is no new tag


def test_a_tag_policy_masks_only_columns_of_its_data_type(model):
    model.execute(mask("NTZ", "TIMESTAMP_NTZ"))
    model.execute(mask("LTZ", "TIMESTAMP_LTZ"))
    model.execute("ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.NTZ")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN SEEN SET TAG db.s.PE_PROTECTION = 'x'")  # a TIMESTAMP_LTZ column
    assert model.masking_of(T, "SEEN") is None  # not an error: the NTZ policy does not apply
    assert (T, "SEEN") not in model.protected_columns()
    model.execute("ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.LTZ")
    assert model.masking_of(T, "SEEN") == "LTZ"
    # a policy set on the column directly takes precedence over the tag's
    model.execute(mask("DIRECT", "TIMESTAMP_LTZ"))
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN SEEN SET MASKING POLICY db.s.DIRECT")
    assert model.masking_of(T, "SEEN") == "DIRECT"
    assert model.protected_columns() == {(T, "SEEN")}


def test_time_and_time_9_are_one_data_type_and_the_timestamps_three(model):
    assert type_family("TIME") == type_family("TIME(9)") == type_family("time(3)") == "TIME"
    assert len({type_family("TIMESTAMP_NTZ"), type_family("TIMESTAMP_LTZ"), type_family("TIMESTAMP_TZ")}) == 3
    assert type_family("TIMESTAMP") == type_family("TIMESTAMP_NTZ(9)") == "TIMESTAMP_NTZ"
    assert {type_family(t) for t in ("VARCHAR", "TEXT", "STRING", "CHAR(3)", "VARCHAR(16777216)")} == {"VARCHAR"}
    assert {type_family(t) for t in ("NUMBER(38, 0)", "INT", "BIGINT", "DECIMAL(10,2)", "NUMBER")} == {"NUMBER"}
    assert {type_family(t) for t in ("FLOAT", "DOUBLE", "REAL", "DOUBLE PRECISION")} == {"FLOAT"}
    assert [info_type(t) for t in ("VARCHAR(16777216)", "INTEGER", "NUMBER(10, 2)", "DOUBLE", "TIME(9)", "TIMESTAMP")] \
        == ["TEXT", "NUMBER(38,0)", "NUMBER(10,2)", "FLOAT", "TIME", "TIMESTAMP_NTZ"]
    model.execute(mask("CLOCK", "TIME"))
    model.execute("ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.CLOCK")
    model.execute(f"ALTER TABLE {T} MODIFY COLUMN AT SET TAG db.s.PE_PROTECTION = 'x'")  # a TIME(9) column
    assert model.masking_of(T, "AT") == "CLOCK"


def test_a_tag_policy_on_a_column_of_unknown_type_is_not_guessed():
    m = SnowflakeModel()
    m.tags["PE_PROTECTION"] = sm.Tag("PE_PROTECTION")
    m.tag_policies["PE_PROTECTION"] = {"VARCHAR": "V"}
    m.tag_values[("db.s.elsewhere", "C", "PE_PROTECTION")] = "x"
    with pytest.raises(UnknownColumnType, match="db.s.elsewhere.C"):
        m.masking_of("db.s.elsewhere", "C")
    assert m.masking_of("db.s.elsewhere", "UNTAGGED") is None


def test_get_tag_on_current_column_is_refused_in_a_row_access_policy(model):
    call = "SYSTEM$GET_TAG_ON_CURRENT_COLUMN('db.s.PE_PROTECTION') = 'x'"
    refused(model, rows_policy("R", body=call), sm.GET_TAG_NOT_IN_ROW_ACCESS)
    model.execute(rows_policy("R"))
    refused(model, f"ALTER ROW ACCESS POLICY db.s.R SET BODY -> {call}", sm.GET_TAG_NOT_IN_ROW_ACCESS)
    model.execute(mask("M", body=f"CASE WHEN {call} THEN NULL ELSE val END"))  # in a masking policy: fine


# --- statements ----------------------------------------------------------------------------------


def test_an_unknown_statement_is_never_accepted(model):
    with pytest.raises(NotUnderstood, match="does not understand"):
        model.execute("GRANT APPLY MASKING POLICY ON ACCOUNT TO ROLE x")
    with pytest.raises(NotUnderstood):
        model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET DEFAULT 'x'")
    with pytest.raises(NotFound):
        model.execute("ALTER TABLE db.s.missing MODIFY COLUMN C UNSET MASKING POLICY")
    with pytest.raises(NotFound):
        model.execute(f"ALTER TABLE {T} MODIFY COLUMN NOPE UNSET MASKING POLICY")
    with pytest.raises(NotFound):
        model.execute(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.NOPE")


def test_create_table_if_not_exists_leaves_an_existing_table_alone(model):
    model.execute(mask("M"))
    model.execute("CREATE TABLE IF NOT EXISTS db.s.t (EMAIL VARCHAR WITH MASKING POLICY db.s.M)")
    assert model.masking_of(T, "EMAIL") is None and "ID" in model.columns[T]
    model.execute('CREATE TABLE IF NOT EXISTS db.s."Mixed" ("Quoted Col" VARCHAR WITH MASKING POLICY db.s.M '
                  "WITH TAG (db.s.PE_SENSITIVITY = 'public', db.s.PE_PROTECTION = 'p'), plain NUMBER(10, 2))")
    assert model.columns['db.s."mixed"'] == {"Quoted Col": "TEXT", "PLAIN": "NUMBER(10,2)"}
    assert model.masking_of('db.s."mixed"', "Quoted Col") == "M"
    assert model.tag_values[('db.s."mixed"', "Quoted Col", "PE_PROTECTION")] == "p"


def test_plain_data_tables(model):
    model.execute("CREATE TABLE IF NOT EXISTS db.s.PE_PRINCIPAL_ATTRIBUTES (PRINCIPAL VARCHAR, NAME VARCHAR, "
                  "VALUE VARCHAR)")
    model.execute("INSERT INTO db.s.PE_PRINCIPAL_ATTRIBUTES (PRINCIPAL, NAME, VALUE) VALUES ('ALICE', 'region', "
                  "'EU'), ('BOB', 'note', 'it''s (here), ok')")
    assert model.execute("SELECT NAME, VALUE FROM db.s.PE_PRINCIPAL_ATTRIBUTES") == [
        ("region", "EU"), ("note", "it's (here), ok")]
    model.execute("DELETE FROM db.s.PE_PRINCIPAL_ATTRIBUTES")
    assert model.execute("SELECT * FROM db.s.PE_PRINCIPAL_ATTRIBUTES") == []
    with pytest.raises(NotFound):
        model.execute("SELECT ITEM, VALUE FROM db.s.PE_APPLIED")


SCRIPT = """EXECUTE IMMEDIATE $$
DECLARE
  found INTEGER DEFAULT 0;
BEGIN
  SELECT COUNT(*) INTO :found FROM DB.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'S' AND TABLE_NAME = '{table}';
  IF (found > 0) THEN
    ALTER TABLE db.s.{table} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.M FORCE;
    ALTER TABLE db.s.{table} MODIFY COLUMN EMAIL SET TAG db.s.PE_SENSITIVITY = 'restricted';
  ELSE
    CREATE TABLE IF NOT EXISTS db.s.{table} (EMAIL VARCHAR WITH MASKING POLICY db.s.M);
  END IF;
END;
$$"""


def test_a_scripting_block_runs_the_branch_its_condition_picks(model):
    model.execute(mask("M"))
    model.execute(SCRIPT.format(table="T"))  # exists: the THEN branch
    assert model.masking_of(T, "EMAIL") == "M" and model.tag_values[(T, "EMAIL", "PE_SENSITIVITY")] == "restricted"
    model.execute(SCRIPT.format(table="NEW"))  # does not exist: the ELSE branch creates it, protected
    assert model.columns["db.s.new"] == {"EMAIL": "TEXT"} and model.masking_of("db.s.new", "EMAIL") == "M"
    with pytest.raises(RuleViolation):  # a branch's statements are checked like any other
        model.execute(SCRIPT.format(table="T").replace("db.s.M FORCE", "db.s.M"))


def test_functions_stages_and_put(model):
    with pytest.raises(NotFound):
        model.execute("PUT 'file:///tmp/h.py' @db.s.PE_STAGE AUTO_COMPRESS = FALSE OVERWRITE = TRUE", put_content="")
    model.execute("CREATE STAGE IF NOT EXISTS db.s.PE_STAGE ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE') COMMENT = 'code'")
    model.execute("PUT 'file:///tmp/x/keyed_core.py' @db.s.PE_STAGE AUTO_COMPRESS = FALSE OVERWRITE = TRUE",
                  put_content="print(1)\n")
    assert model.stages["PE_STAGE"] == {"keyed_core.py": "print(1)\n"}
    model.execute("CREATE OR REPLACE SECURE FUNCTION db.s.PE_KEYED_INT(KIND VARCHAR, V NUMBER(38,0), "
                  "PARAMETER NUMBER(38,0)) RETURNS NUMBER(38,0)\n  LANGUAGE PYTHON RUNTIME_VERSION = '3.11' "
                  "HANDLER = 'pe_keyed_int' IMPORTS = ('@db.s.PE_STAGE/keyed_core.py')\n  COMMENT = 'it''s keyed'\n"
                  "AS $$\ndef pe_keyed_int(kind, v, parameter):\n    return v\n$$")
    function = model.functions["PE_KEYED_INT"]
    assert function.imports == ("@db.s.PE_STAGE/keyed_core.py",) and function.comment == "it's keyed"
    assert function.arguments == ("VARCHAR", "NUMBER(38,0)", "NUMBER(38,0)")


def test_the_model_copies_deeply(model):
    other = model.copy()
    other.execute(mask("M"))
    other.columns[T]["EMAIL"] = "NUMBER(38,0)"
    assert "M" not in model.policies and model.columns[T]["EMAIL"] == "TEXT"


# --- the fake connection's answers ---------------------------------------------------------------


def query(fake: FakeSnowflake, sql: str) -> list[dict]:
    cursor = fake.cursor().execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


@pytest.fixture
def fake() -> FakeSnowflake:
    f = FakeSnowflake(database="DB", schema="S")
    f.run(TABLE)
    f.run("CREATE TAG IF NOT EXISTS db.s.PE_SENSITIVITY ALLOWED_VALUES 'public', 'restricted' COMMENT = 'levels'")
    f.run("CREATE TAG IF NOT EXISTS db.s.PE_PROTECTION COMMENT = 'protection'")
    f.run(mask("M", exempt=True))
    f.run("CREATE OR REPLACE MASKING POLICY db.s.MC AS (val VARCHAR, consent BOOLEAN) RETURNS VARCHAR -> "
          "CASE WHEN consent THEN val ELSE NULL END COMMENT = 'conditional'")
    f.run(mask("TAGMASK"))
    f.run(rows_policy("R", "x NUMBER, y VARCHAR"))
    f.run(f"ALTER TABLE {T} MODIFY COLUMN CITY SET MASKING POLICY db.s.M")
    f.run(f"ALTER TABLE {T} MODIFY COLUMN EMAIL SET MASKING POLICY db.s.MC USING (EMAIL, CONSENT)")
    f.run(f"ALTER TABLE {T} ADD ROW ACCESS POLICY db.s.R ON (ID, CITY)")
    f.run("ALTER TAG db.s.PE_PROTECTION SET MASKING POLICY db.s.TAGMASK")
    f.run("CREATE TABLE IF NOT EXISTS db.s.u (NOTE VARCHAR, N NUMBER)")
    f.run("ALTER TABLE db.s.u MODIFY COLUMN NOTE SET TAG db.s.PE_PROTECTION = 'p'")
    return f


def test_the_fake_shows_policies_with_their_options(fake):
    rows = query(fake, "SHOW MASKING POLICIES IN SCHEMA DB.S")
    assert [r["name"] for r in rows] == ["M", "MC", "TAGMASK"]
    by_name = {r["name"]: r for r in rows}
    assert json.loads(by_name["M"]["options"]) == {"EXEMPT_OTHER_POLICIES": "TRUE"} and by_name["MC"]["options"] == ""
    assert by_name["MC"]["comment"] == "conditional" and by_name["MC"]["kind"] == "MASKING_POLICY"
    assert {r["database_name"] for r in rows} == {"DB"} and {r["schema_name"] for r in rows} == {"S"}
    assert [r["name"] for r in query(fake, "SHOW ROW ACCESS POLICIES IN SCHEMA DB.S")] == ["R"]
    assert query(fake, "SHOW PROJECTION POLICIES") == []


def test_the_fake_describes_a_policy_as_snowflake_reformats_it(fake):
    [row] = query(fake, "DESCRIBE MASKING POLICY db.s.MC")
    assert row["signature"] == "(VAL VARCHAR(16777216), CONSENT BOOLEAN)"
    assert row["return_type"] == "VARCHAR(16777216)" and "\n" in row["body"]
    with pytest.raises(NotFound):
        query(fake, "DESCRIBE ROW ACCESS POLICY db.s.MC")


def test_the_fake_lists_policy_references_of_a_table_and_a_tag(fake):
    rows = query(fake, "SELECT * FROM TABLE(DB.INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => 'db.s.t', "
                       "REF_ENTITY_DOMAIN => 'table'))")
    found = {(r["policy_name"], r["policy_kind"], r["ref_column_name"], r["ref_arg_column_names"]) for r in rows}
    assert found == {("M", "MASKING_POLICY", "CITY", None), ("MC", "MASKING_POLICY", "EMAIL", '[ "CONSENT" ]'),
                     ("R", "ROW_ACCESS_POLICY", None, '[ "ID", "CITY" ]')}
    assert {r["ref_entity_name"] for r in rows} == {"T"} and {r["policy_status"] for r in rows} == {"ACTIVE"}
    [tagged] = query(fake, "SELECT * FROM TABLE(DB.INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => "
                           "'db.s.u', REF_ENTITY_DOMAIN => 'table'))")
    assert (tagged["policy_name"], tagged["ref_column_name"], tagged["tag_name"]) == ("TAGMASK", "NOTE",
                                                                                       "PE_PROTECTION")
    [on_tag] = query(fake, "SELECT * FROM TABLE(DB.INFORMATION_SCHEMA.POLICY_REFERENCES(REF_ENTITY_NAME => "
                           "'DB.S.PE_PROTECTION', REF_ENTITY_DOMAIN => 'tag'))")
    assert (on_tag["policy_name"], on_tag["policy_kind"], on_tag["ref_entity_domain"]) == ("TAGMASK",
                                                                                           "MASKING_POLICY", "TAG")


def test_the_fake_lists_tag_values_tags_and_functions(fake):
    [row] = query(fake, "SELECT * FROM TABLE(DB.INFORMATION_SCHEMA.TAG_REFERENCES_ALL_COLUMNS('db.s.u', 'table'))")
    assert (row["tag_name"], row["tag_value"], row["column_name"]) == ("PE_PROTECTION", "p", "NOTE")
    tags = {r["name"]: r for r in query(fake, "SHOW TAGS IN SCHEMA DB.S")}
    assert tags["PE_SENSITIVITY"]["allowed_values"] == '["public","restricted"]'
    assert tags["PE_PROTECTION"]["allowed_values"] is None and tags["PE_PROTECTION"]["comment"] == "protection"
    fake.run("CREATE OR REPLACE SECURE FUNCTION DB.S.PE_KEYED_TEXT(KIND VARCHAR, V VARCHAR) RETURNS VARCHAR\n"
             "  LANGUAGE PYTHON RUNTIME_VERSION = '3.11' HANDLER = 'pe_keyed_text'\n  COMMENT = 'keyed'\n"
             "AS $$\ndef pe_keyed_text(kind, v):\n    return v\n$$")
    [function] = query(fake, "SHOW USER FUNCTIONS IN SCHEMA DB.S")
    assert (function["name"], function["arguments"], function["description"]) == (
        "PE_KEYED_TEXT", "PE_KEYED_TEXT(VARCHAR, VARCHAR) RETURN VARCHAR", "keyed")


def test_the_fake_reports_column_types_as_information_schema_does(fake):
    rows = query(fake, "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE FROM "
                       "DB.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = 'S'")
    by_column = {(r["TABLE_NAME"], r["COLUMN_NAME"]): (r["DATA_TYPE"], r["NUMERIC_PRECISION"], r["NUMERIC_SCALE"])
                 for r in rows}
    assert by_column[("T", "EMAIL")] == ("TEXT", None, None)
    assert by_column[("T", "ID")] == ("NUMBER", 38, 0) and by_column[("T", "AMOUNT")] == ("NUMBER", 10, 2)
    assert by_column[("T", "SEEN")][0] == "TIMESTAMP_LTZ" and by_column[("T", "AT")][0] == "TIME"
    assert by_column[("U", "N")] == ("NUMBER", 38, 0)


def test_the_fake_puts_a_local_file_and_lists_the_stage(fake, tmp_path):
    local = tmp_path / "keyed_core.py"
    local.write_text("X = 1\n")
    fake.run("CREATE STAGE IF NOT EXISTS DB.S.PE_CODE")
    fake.run(f"PUT 'file://{local}' @DB.S.PE_CODE AUTO_COMPRESS = FALSE OVERWRITE = TRUE")
    assert fake.model.stages["PE_CODE"] == {"keyed_core.py": "X = 1\n"}
    assert [(r["name"], r["size"]) for r in query(fake, "LIST @DB.S.PE_CODE")] == [("pe_code/keyed_core.py", 6)]


def test_a_refusal_reaches_the_caller_as_the_connectors_error_would(fake):
    with pytest.raises(RuleViolation) as caught:
        fake.cursor().execute("DROP MASKING POLICY db.s.M")
    assert caught.value.rule is sm.DROP_ATTACHED
    assert fake.executed[-1] == "DROP MASKING POLICY db.s.M"


def test_for_policy_set_types_the_contracts_columns_and_takes_overrides():
    policy_set = load_policy_set(EXAMPLE)
    fake = FakeSnowflake.for_policy_set(policy_set, "ANALYTICS", "REVIEWS",
                                        types={("reviews", "CreatedAt"): "TIMESTAMP_LTZ"})
    reviews = fake.model.columns["analytics.reviews.reviews"]
    assert reviews["CREATEDAT"] == "TIMESTAMP_LTZ" and reviews["REVIEWID"] == "TEXT"
    assert reviews["RATING"] == "NUMBER(38,0)"
    # a tag policy written for the contract's TIMESTAMP_NTZ leaves the real TIMESTAMP_LTZ column unmasked
    fake.run("CREATE TAG IF NOT EXISTS ANALYTICS.REVIEWS.PE_PROTECTION COMMENT = 'p'")
    fake.run("CREATE OR REPLACE MASKING POLICY ANALYTICS.REVIEWS.PE_TAG_MASK_TIMESTAMP_NTZ AS (val TIMESTAMP_NTZ) "
             "RETURNS TIMESTAMP_NTZ -> val")
    fake.run("ALTER TAG ANALYTICS.REVIEWS.PE_PROTECTION SET MASKING POLICY ANALYTICS.REVIEWS.PE_TAG_MASK_TIMESTAMP_NTZ")
    fake.run("ALTER TABLE ANALYTICS.REVIEWS.reviews MODIFY COLUMN CreatedAt SET TAG ANALYTICS.REVIEWS.PE_PROTECTION "
             "= 'TIMESTAMP:generalize'")
    assert fake.model.masking_of("analytics.reviews.reviews", "CREATEDAT") is None


def test_docs_list_every_rule_with_its_page():
    """docs/snowflake.md's table of rules is the model's RULES, in order, each with its page."""
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "snowflake.md").read_text()
    table = text.split("<!-- rules: policyengine.ddl.snowflake_model.RULES -->", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^\| `([^`]+)` \| \[[^\]]+\]\((https://docs\.snowflake\.com/[^)]+)\) \|$", table, re.M)
    assert listed == [(rule.name, rule.doc) for rule in RULES]
