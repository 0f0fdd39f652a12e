"""Regressions for each way the Snowflake path broke Snowflake's documented rules (issue #15).

Every test runs the generated DDL or apply plan on the strict model of Snowflake
(policyengine/ddl/snowflake_model.py, every rule citing its docs.snowflake.com page) through the fake
connection, and asserts what a data engineer would check afterwards: that the statements ran, and
that every column the policy set protects is masked in Snowflake.
"""

from __future__ import annotations

import json

import pytest

from policyengine import crypto, load_policy_set
from policyengine.ddl.snowflake import render, statements
from policyengine.ddl.snowflake_apply import PlanRefused, apply, plan_changes
from policyengine.ddl.snowflake_check import check_plan, meant_protected
from policyengine.ddl.snowflake_drift import record_actions
from policyengine.ddl.snowflake_model import RuleViolation
from policyengine.ddl.snowflake_plan import plan
from policyengine.ddl.snowflake_read import read_existing
from tests.conftest import EXAMPLE
from tests.harness.cli import Cli
from tests.snowflake_fake import FakeSnowflake

KEY = crypto.parse_key("00112233445566778899aabbccddeeff")
KEY2 = crypto.parse_key("ffeeddccbbaa99887766554433221100")
DB, SCHEMA = "ANALYTICS", "REVIEWS"

SETTINGS = "sensitivity_levels: [public, secret]\nenvironments: [prod]\nunknown_table: deny\n"
ROLES = """
roles:
  analyst:
    clearance: public
  owner:
    clearance: secret
"""


def table_yaml(columns: str, rows: str = "") -> str:
    return f"table: accounts\ncolumns:\n{columns}" + (f"row_access:\n{rows}" if rows else "")


FIRST_MASKED = """\
  - {name: AccountID, type: STRING, sensitivity: secret, protection: tokenize}
  - {name: Owner, type: STRING, sensitivity: secret, protection: redact}
  - {name: Region, type: STRING, sensitivity: public, protection: none}
"""
ALL_MASKED = """\
  - {name: AccountID, type: STRING, sensitivity: secret, protection: tokenize}
  - {name: Owner, type: STRING, sensitivity: secret, protection: redact}
"""
ROW_RULE_ON_MASKED = "  - roles: [analyst]\n    where: \"Owner <> 'nobody'\"\n"


def small_set(write_set, columns: str, rows: str = "", settings: str = SETTINGS, roles: str = ROLES):
    return load_policy_set(write_set({"policyengine.yaml": settings, "roles.yaml": roles,
                                      "tables/accounts.yaml": table_yaml(columns, rows)}))


@pytest.fixture
def cli(capsys, monkeypatch) -> Cli:
    return Cli(capsys, monkeypatch)


def write_warehouse_keys(cli: Cli, monkeypatch, folder) -> None:
    """The documented key step, in the folder the DDL runs from."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("POLICYENGINE_KEY", KEY.master.hex())
    code, _, err = cli("-p", str(EXAMPLE), "warehouse-keys", "--out", "policyengine_keys.json")
    assert code == 0, err


def converge(fake: FakeSnowflake, target, keys=KEY) -> list:
    """What `policyengine apply snowflake --yes` does: read, plan, check whole, record, apply."""
    existing = read_existing(fake, target)
    actions = plan_changes(target, existing, keys=keys)
    final = check_plan(target, existing, actions)
    if actions:
        actions += record_actions(target, final)
    apply(fake, actions)
    return actions


def assert_protected(fake: FakeSnowflake, target) -> None:
    unmasked = {c for c in meant_protected(target) if fake.model.masking_of(*c) is None}
    assert not unmasked, f"left unmasked in Snowflake: {sorted(unmasked)}"
    for table in target.tables():
        assert fake.model.row_access_of(target.table_name(table).lower()), table.name


def second_plan(fake: FakeSnowflake, target, keys=KEY) -> list[str]:
    return [a.summary for a in plan_changes(target, read_existing(fake, target), keys=keys)]


# --- a row access policy on a masked column --------------------------------------------------------------

@pytest.mark.parametrize("mode", ["column", "tag"])
def test_a_table_without_row_rules_binds_its_row_access_policy_to_an_unmasked_column(write_set, mode):
    """The first column is tokenized; Snowflake refuses a column in a row access signature and a masking
    policy at once, so the policy binds Region, the column nothing masks."""
    target = plan(small_set(write_set, FIRST_MASKED), "prod", database=DB, schema=SCHEMA, mode=mode)
    [rap] = target.row_access
    assert [a.name for a in rap.signature] == ["Region"]
    fake = FakeSnowflake.for_policy_set(small_set(write_set, FIRST_MASKED), DB, SCHEMA)
    converge(fake, target)
    assert_protected(fake, target)
    assert second_plan(fake, target) == []


@pytest.mark.parametrize("mode", ["column", "tag"])
def test_when_every_column_is_masked_the_bound_one_has_an_exempt_policy(write_set, mode):
    policy_set = small_set(write_set, ALL_MASKED)
    target = plan(policy_set, "prod", database=DB, schema=SCHEMA, mode=mode)
    fake = FakeSnowflake.for_policy_set(policy_set, DB, SCHEMA)
    converge(fake, target)
    assert_protected(fake, target)
    policy = fake.model.policies[fake.model.masking_of("analytics.reviews.accounts", "ACCOUNTID")]
    assert policy.exempt, "Snowflake refuses the row access policy on a column masked by a non-exempt policy"


def test_tag_mode_exempts_the_tag_policy_a_row_rule_reads(write_set):
    """A row rule on a tag-masked column: the tag's VARCHAR policy must be EXEMPT_OTHER_POLICIES."""
    policy_set = small_set(write_set, FIRST_MASKED, ROW_RULE_ON_MASKED)
    target = plan(policy_set, "prod", database=DB, schema=SCHEMA, mode="tag")
    assert [p.exempt_other_policies for p in target.tag_masking] == [True]
    fake = FakeSnowflake.for_policy_set(policy_set, DB, SCHEMA)
    converge(fake, target)
    assert_protected(fake, target)
    assert fake.model.policies["PE_TAG_MASK_VARCHAR"].exempt


def test_the_strict_model_refuses_what_the_old_plan_did():
    """The rule these tests rely on, as Snowflake documents it."""
    fake = FakeSnowflake()
    fake.run("CREATE TABLE IF NOT EXISTS a.b.t (c VARCHAR, d VARCHAR)")
    fake.run("CREATE OR REPLACE MASKING POLICY a.b.m AS (val VARCHAR) RETURNS VARCHAR -> val")
    fake.run("CREATE OR REPLACE ROW ACCESS POLICY a.b.r AS (c VARCHAR) RETURNS BOOLEAN -> TRUE")
    fake.run("ALTER TABLE a.b.t MODIFY COLUMN c SET MASKING POLICY a.b.m")
    with pytest.raises(RuleViolation) as refused:
        fake.run("ALTER TABLE a.b.t ADD ROW ACCESS POLICY a.b.r ON (c)")
    assert refused.value.rule.doc.startswith("https://docs.snowflake.com/")


# --- the printed DDL runs as printed -----------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["column", "tag"])
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("create_tables", [False, True], ids=["attach", "create-tables"])
def test_printed_ddl_runs_as_printed_after_the_documented_key_step(tmp_path, monkeypatch, cli, mode, env,
                                                                   create_tables):
    """The example set's DDL, every statement in order, after `policyengine warehouse-keys --out
    policyengine_keys.json` in the folder it runs from (the step the DDL's own comment gives)."""
    policy_set = load_policy_set(EXAMPLE)
    target = plan(policy_set, env, database=DB, schema=SCHEMA, mode=mode)
    text = render(target, fingerprint=KEY.fingerprint(), create_tables=create_tables)
    assert "policyengine warehouse-keys --out policyengine_keys.json" in text
    write_warehouse_keys(cli, monkeypatch, tmp_path)
    fake = FakeSnowflake.for_policy_set(policy_set, DB, SCHEMA)
    for statement in statements(text):
        fake.run(statement)
    assert_protected(fake, target)
    [staged] = fake.model.stages["PE_KEYS"].values()
    assert json.loads(staged)["keys"] == {p: KEY.purpose_key(p).hex() for p in crypto.PURPOSES}
    assert KEY.master.hex() not in text and KEY.master.hex() not in staged
    # apply then finds nothing to change, the key included (the fingerprint the DDL recorded)
    assert second_plan(fake, target) == []


@pytest.mark.parametrize("mode", ["column", "tag"])
def test_create_tables_protects_tables_that_already_exist(tmp_path, monkeypatch, cli, mode):
    """`--create-tables` used to emit CREATE TABLE IF NOT EXISTS and skip an existing table unprotected."""
    policy_set = load_policy_set(EXAMPLE)
    target = plan(policy_set, "prod", database=DB, schema=SCHEMA, mode=mode)
    text = render(target, fingerprint=KEY.fingerprint(), create_tables=True)
    existing = FakeSnowflake.for_policy_set(policy_set, DB, SCHEMA)  # the tables are there, unprotected
    empty = FakeSnowflake()  # no table yet
    write_warehouse_keys(cli, monkeypatch, tmp_path)
    for fake in (existing, empty):
        for statement in statements(text):
            fake.run(statement)
        assert_protected(fake, target)


# --- tag mode reads the real column types ----------------------------------------------------------------

def test_tag_mode_refuses_a_column_whose_real_type_the_tag_policy_would_not_mask():
    policy_set = load_policy_set(EXAMPLE)
    target = plan(policy_set, "prod", database=DB, schema=SCHEMA, mode="tag")
    fake = FakeSnowflake.for_policy_set(policy_set, DB, SCHEMA, types={("reviews", "CreatedAt"): "TIMESTAMP_LTZ"})
    with pytest.raises(PlanRefused, match=r"reviews\.CreatedAt is TIMESTAMP_LTZ in Snowflake but TIMESTAMP"):
        plan_changes(target, read_existing(fake, target), keys=KEY)
    # the same column in column mode gets a policy of its own for the type the contract says
    column_mode = plan(policy_set, "prod", database=DB, schema=SCHEMA, mode="column")
    existing = read_existing(fake, column_mode)
    with pytest.raises(PlanRefused, match="would fail in Snowflake"):
        check_plan(column_mode, existing, plan_changes(column_mode, existing, keys=KEY))


# --- apply notices what it used to miss --------------------------------------------------------------------

def test_exemption_change_gets_a_new_policy_swapped_in_with_force(write_set):
    """EXEMPT_OTHER_POLICIES cannot change on an attached policy: a row rule now reads a masked column."""
    before = small_set(write_set, FIRST_MASKED)
    fake = FakeSnowflake.for_policy_set(before, DB, SCHEMA)
    converge(fake, plan(before, "prod", database=DB, schema=SCHEMA))
    assert not fake.model.policies[fake.model.masking_of("analytics.reviews.accounts", "OWNER")].exempt
    after = plan(small_set(write_set, FIRST_MASKED, ROW_RULE_ON_MASKED), "prod", database=DB, schema=SCHEMA)
    actions = converge(fake, after)
    assert any(a.statement.endswith("FORCE") and "MODIFY COLUMN Owner SET MASKING POLICY" in a.statement
               for a in actions)
    assert fake.model.policies[fake.model.masking_of("analytics.reviews.accounts", "OWNER")].exempt
    assert_protected(fake, after)
    assert second_plan(fake, after) == []


def test_a_column_set_to_none_loses_its_stale_protection_tag(write_set):
    """Tag mode: the PE_PROTECTION value stayed, and the tag policy's fallback showed NULL to everyone."""
    before = small_set(write_set, FIRST_MASKED)
    fake = FakeSnowflake.for_policy_set(before, DB, SCHEMA)
    converge(fake, plan(before, "prod", database=DB, schema=SCHEMA, mode="tag"))
    assert fake.model.masking_of("analytics.reviews.accounts", "OWNER") == "PE_TAG_MASK_VARCHAR"
    unprotected = FIRST_MASKED.replace("sensitivity: secret, protection: redact",
                                       "sensitivity: public, protection: none")
    after = plan(small_set(write_set, unprotected), "prod", database=DB, schema=SCHEMA, mode="tag")
    actions = converge(fake, after)
    assert any(a.summary.startswith("unset tag PE_PROTECTION") for a in actions)
    assert fake.model.masking_of("analytics.reviews.accounts", "OWNER") is None
    assert ("analytics.reviews.accounts", "OWNER", "PE_PROTECTION") not in fake.model.tag_values
    assert second_plan(fake, after) == []


def test_a_rotated_key_re_creates_the_functions_and_uploads_the_new_derived_keys():
    policy_set = load_policy_set(EXAMPLE)
    target = plan(policy_set, "prod", database=DB, schema=SCHEMA)
    fake = FakeSnowflake.for_policy_set(policy_set, DB, SCHEMA)
    converge(fake, target, keys=KEY)
    assert second_plan(fake, target, keys=KEY) == []
    rotated = converge(fake, target, keys=KEY2)
    assert {a.summary for a in rotated if "secure function" in a.summary} == {
        f"re-create, for the current key, secure function {name}" for name in target.keyed_udfs}
    [staged] = fake.model.stages["PE_KEYS"].values()
    assert staged == crypto.warehouse_key_file(KEY2)
    assert all(KEY2.fingerprint() in fake.model.functions[n].comment for n in target.keyed_udfs)
    assert not any(k.master.hex() in s for s in fake.executed for k in (KEY, KEY2))
    assert second_plan(fake, target, keys=KEY2) == []


def test_a_new_sensitivity_level_is_allowed_on_the_tag_before_a_column_uses_it(write_set):
    before = small_set(write_set, FIRST_MASKED)
    fake = FakeSnowflake.for_policy_set(before, DB, SCHEMA)
    converge(fake, plan(before, "prod", database=DB, schema=SCHEMA))
    settings = SETTINGS.replace("[public, secret]", "[public, secret, top_secret]")
    roles = ROLES + "  director:\n    clearance: top_secret\n"
    columns = FIRST_MASKED.replace("{name: Owner, type: STRING, sensitivity: secret",
                                   "{name: Owner, type: STRING, sensitivity: top_secret")
    after = plan(small_set(write_set, columns, settings=settings, roles=roles), "prod", database=DB, schema=SCHEMA)
    actions = converge(fake, after)
    summaries = [a.summary for a in actions]
    allow = summaries.index("allow top_secret on tag PE_SENSITIVITY")
    tag = next(i for i, s in enumerate(summaries) if s.endswith("PE_SENSITIVITY = top_secret"))
    assert allow < tag
    assert second_plan(fake, after) == []


TIME_COLUMNS = "  - {name: OpensAt, type: TIME, sensitivity: secret, protection: nullify}\n" \
               "  - {name: Region, type: STRING, sensitivity: public, protection: none}\n"


def test_time_9_as_describe_spells_it_is_the_same_signature_as_time(write_set):
    """Snowflake allows one masking policy per data type on a tag; TIME(9) and TIME are one type, so the
    tag's policy read back as TIME(9) is changed in place, never doubled under a new name."""
    policy_set = small_set(write_set, TIME_COLUMNS)
    target = plan(policy_set, "prod", database=DB, schema=SCHEMA, mode="tag")
    fake = FakeSnowflake.for_policy_set(policy_set, DB, SCHEMA)
    fake.run("CREATE TAG IF NOT EXISTS ANALYTICS.REVIEWS.PE_PROTECTION COMMENT = 'x'")
    fake.run("CREATE OR REPLACE MASKING POLICY ANALYTICS.REVIEWS.PE_TAG_MASK_TIME AS (val TIME(9)) "
             "RETURNS TIME(9) -> NULL")
    fake.run("ALTER TAG ANALYTICS.REVIEWS.PE_PROTECTION SET MASKING POLICY ANALYTICS.REVIEWS.PE_TAG_MASK_TIME")
    actions = converge(fake, target)
    assert "change the body of masking policy PE_TAG_MASK_TIME" in [a.summary for a in actions]
    assert not any(a.summary.startswith("create masking policy") for a in actions)
    assert fake.model.tag_policies["PE_PROTECTION"] == {"TIME": "PE_TAG_MASK_TIME"}
    assert_protected(fake, target)
    assert second_plan(fake, target) == []


def test_another_policy_for_the_type_on_the_tag_is_swapped_with_force(write_set):
    policy_set = small_set(write_set, TIME_COLUMNS)
    target = plan(policy_set, "prod", database=DB, schema=SCHEMA, mode="tag")
    fake = FakeSnowflake.for_policy_set(policy_set, DB, SCHEMA)
    fake.run("CREATE TAG IF NOT EXISTS ANALYTICS.REVIEWS.PE_PROTECTION COMMENT = 'x'")
    fake.run("CREATE OR REPLACE MASKING POLICY ANALYTICS.REVIEWS.OLD_TIME_MASK AS (val TIME(9)) "
             "RETURNS TIME(9) -> NULL")
    fake.run("ALTER TAG ANALYTICS.REVIEWS.PE_PROTECTION SET MASKING POLICY ANALYTICS.REVIEWS.OLD_TIME_MASK")
    actions = converge(fake, target)
    assert any(a.statement.startswith("ALTER TAG") and a.statement.endswith("FORCE") for a in actions)
    assert fake.model.tag_policies["PE_PROTECTION"] == {"TIME": "PE_TAG_MASK_TIME"}
    assert_protected(fake, target)
    assert second_plan(fake, target) == []


# --- whole-plan check, drift, failure midway ---------------------------------------------------------------

def test_a_plan_snowflake_would_refuse_is_refused_before_its_first_statement(write_set):
    policy_set = small_set(write_set, FIRST_MASKED)
    target = plan(policy_set, "prod", database=DB, schema=SCHEMA)
    fake = FakeSnowflake.for_policy_set(policy_set, DB, SCHEMA)
    # by hand, a non-exempt policy on the column the row access policy binds
    fake.run("CREATE OR REPLACE MASKING POLICY ANALYTICS.REVIEWS.HANDMADE AS (val VARCHAR) RETURNS VARCHAR -> val")
    fake.run("ALTER TABLE ANALYTICS.REVIEWS.accounts MODIFY COLUMN Region SET MASKING POLICY "
             "ANALYTICS.REVIEWS.HANDMADE")
    existing = read_existing(fake, target)
    ran = len(fake.executed)
    with pytest.raises(PlanRefused, match="column-in-masking-and-row-access-signature"):
        check_plan(target, existing, plan_changes(target, existing, keys=KEY))
    assert len(fake.executed) == ran


def cli_apply(cli: Cli, fake, monkeypatch, *extra: str) -> tuple[int, str, str]:
    from policyengine.backends import snowflake_connection

    monkeypatch.setattr(snowflake_connection, "connect", lambda name: fake)
    monkeypatch.setenv("POLICYENGINE_KEY", KEY.master.hex())
    return cli("-p", str(EXAMPLE), "apply", "snowflake", "-c", "dev", "--database", DB, "--schema", SCHEMA, *extra)


def test_dry_run_reports_drift_apart_from_planned_changes(monkeypatch, cli):
    fake = FakeSnowflake.for_policy_set(load_policy_set(EXAMPLE), DB, SCHEMA)
    assert cli_apply(cli, fake, monkeypatch, "--yes")[0] == 0
    clean = cli_apply(cli, fake, monkeypatch, "--dry-run", "--format", "json")[1]
    assert json.loads(clean) == {"drift": [], "plan": []}
    # by hand: a body edited, a policy detached, a tag value changed
    fake.run("ALTER MASKING POLICY ANALYTICS.REVIEWS.PE_MASK_USER_DEMOGRAPHICS_GENDER SET BODY -> val")
    fake.run("ALTER TABLE ANALYTICS.REVIEWS.user_demographics MODIFY COLUMN PostalCode UNSET MASKING POLICY")
    fake.run("ALTER TABLE ANALYTICS.REVIEWS.reviews MODIFY COLUMN Rating SET TAG ANALYTICS.REVIEWS.PE_SENSITIVITY "
             "= 'public'")
    report = json.loads(cli_apply(cli, fake, monkeypatch, "--dry-run", "--format", "json")[1])
    assert [d["change"] for d in report["drift"]] == [
        "masking policy on analytics.reviews.user_demographics.POSTALCODE: removed outside policyengine",
        "policy PE_MASK_USER_DEMOGRAPHICS_GENDER: changed outside policyengine",
        "tag PE_SENSITIVITY on analytics.reviews.reviews.RATING: changed outside policyengine",
    ]
    assert {p["summary"] for p in report["plan"] if p["action"] != "="} == {
        "change the body of masking policy PE_MASK_USER_DEMOGRAPHICS_GENDER",
        "attach PE_MASK_USER_DEMOGRAPHICS_POSTALCODE on ANALYTICS.REVIEWS.user_demographics.PostalCode",
        "tag ANALYTICS.REVIEWS.reviews.Rating PE_SENSITIVITY = regular",
    }
    table = cli_apply(cli, fake, monkeypatch, "--dry-run")[1]
    assert "drift" in table and "changed outside policyengine" in table
    assert cli_apply(cli, fake, monkeypatch, "--yes")[0] == 0
    assert json.loads(cli_apply(cli, fake, monkeypatch, "--dry-run", "--format", "json")[1]) == \
        {"drift": [], "plan": []}


class FailsOnce(FakeSnowflake):
    """Snowflake failing one statement midway (a lost connection, a privilege missing)."""

    fail_at: str = "ADD ROW ACCESS POLICY"

    def run(self, sql: str):  # type: ignore[no-untyped-def]
        if self.fail_at and self.fail_at in sql:
            self.fail_at = ""
            raise RuntimeError("000603 (XX000): SQL execution internal error")
        return super().run(sql)


def test_a_failure_midway_says_what_ran_and_a_rerun_converges(monkeypatch, cli):
    policy_set = load_policy_set(EXAMPLE)
    fake = FailsOnce.for_policy_set(policy_set, DB, SCHEMA)
    code, _, err = cli_apply(cli, fake, monkeypatch, "--yes")
    assert code == 1
    assert "stopped at step" in err and "ran: create" in err and "not run:" in err and "run apply again" in err
    assert cli_apply(cli, fake, monkeypatch, "--yes")[0] == 0
    assert json.loads(cli_apply(cli, fake, monkeypatch, "--dry-run", "--format", "json")[1])["plan"] == []
    assert_protected(fake, plan(policy_set, "prod", database=DB, schema=SCHEMA))


def test_warehouse_keys_writes_only_derived_keys_for_its_owner(tmp_path, monkeypatch, cli):
    write_warehouse_keys(cli, monkeypatch, tmp_path)
    written = tmp_path / "policyengine_keys.json"
    assert written.stat().st_mode & 0o777 == 0o600
    stored = json.loads(written.read_text())
    assert stored == json.loads(crypto.warehouse_key_file(KEY)) and stored["fingerprint"] == KEY.fingerprint()
    assert KEY.master.hex() not in written.read_text()
    code, _, err = cli("-p", str(EXAMPLE), "warehouse-keys", "--out", str(written))
    assert code == 1 and "exists" in err  # never overwritten: it may hold another key's derived keys
    monkeypatch.delenv("POLICYENGINE_KEY")
    copy = tmp_path / "set"
    import shutil

    shutil.copytree(EXAMPLE, copy / "policies")
    code, _, err = cli("-p", str(copy / "policies"), "warehouse-keys", "--out", str(tmp_path / "other.json"))
    assert code == 1 and "no key" in err and not (tmp_path / "other.json").exists()
