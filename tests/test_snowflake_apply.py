"""Plan and apply against a recording fake of a Snowflake schema (no account can be reached here)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from policyengine import crypto, load_policy_set
from policyengine.ddl.snowflake_apply import apply, normalize_body, plan_changes, read_existing
from policyengine.ddl.snowflake_plan import plan
from tests.conftest import EXAMPLE
from tests.snowflake_fake import FakeSnowflake, FakeSnowflakeError

KEY_HEX = "00112233445566778899aabbccddeeff"
KEY = crypto.parse_key(KEY_HEX)


@pytest.fixture(scope="module")
def policy_set():
    return load_policy_set(EXAMPLE)


def desired(policy_set, env="prod", mode="column", **changes):
    return plan(policy_set, env, database="ANALYTICS", schema="REVIEWS", mode=mode)


def new_fake(policy_set):
    """A schema holding the example's tables (the strict model refuses statements on tables it lacks)."""
    return FakeSnowflake.for_policy_set(policy_set, "ANALYTICS", "REVIEWS")


def converge(connection, target):
    actions = plan_changes(target, read_existing(connection, target), keys=KEY)
    apply(connection, actions)
    return actions


@pytest.mark.parametrize("mode", ["column", "tag"])
def test_first_apply_creates_everything_and_a_second_plan_is_empty(policy_set, mode):
    fake = new_fake(policy_set)
    target = desired(policy_set, mode=mode)
    actions = converge(fake, target)
    assert {a.symbol for a in actions} == {"+", ">"}
    assert len(fake.model.policies) == len(target.masking) + len(target.projection) + len(target.row_access) + \
        len(target.tag_masking)
    assert plan_changes(target, read_existing(fake, target), keys=KEY) == []


def test_no_key_material_in_any_statement_and_only_derived_keys_are_uploaded(policy_set):
    fake = new_fake(policy_set)
    target = desired(policy_set)
    actions = plan_changes(target, read_existing(fake, target), keys=KEY)
    assert not any(KEY_HEX in a.statement for a in actions)
    [upload] = [a for a in actions if a.upload is not None]
    assert KEY_HEX not in upload.upload and upload.upload == crypto.warehouse_key_file(KEY)
    apply(fake, actions)
    assert not any(KEY_HEX in s for s in fake.executed)
    [staged] = fake.model.stages["PE_KEYS"].values()
    assert staged == crypto.warehouse_key_file(KEY)
    assert all(f"key fingerprint {KEY.fingerprint()}" in fake.model.functions[name].comment
               for name in target.keyed_udfs)


def test_a_changed_environment_alters_bodies_in_place_and_swaps_nothing(policy_set):
    fake = new_fake(policy_set)
    converge(fake, desired(policy_set, env="prod"))
    before = len(fake.model.attachments)
    staging = desired(policy_set, env="staging")
    actions = converge(fake, staging)
    assert actions and all(a.symbol == "~" for a in actions), [a.summary for a in actions]
    assert all("SET BODY" in a.statement for a in actions)
    assert len(fake.model.attachments) == before  # still attached throughout
    assert plan_changes(staging, read_existing(fake, staging)) == []


def test_a_replaced_policy_is_swapped_with_force_and_the_old_one_is_not_dropped_while_attached(policy_set):
    fake = new_fake(policy_set)
    target = desired(policy_set)
    converge(fake, target)
    # someone attached a hand-made policy to a column policyengine protects
    fake.run("CREATE OR REPLACE MASKING POLICY ANALYTICS.REVIEWS.HANDMADE AS (val VARCHAR) RETURNS VARCHAR -> val")
    fake.run("ALTER TABLE analytics.reviews.user_demographics MODIFY COLUMN Email SET MASKING POLICY "
             "ANALYTICS.REVIEWS.HANDMADE FORCE")
    actions = converge(fake, target)
    assert [a.symbol for a in actions] == [">"]
    assert actions[0].statement.endswith("SET MASKING POLICY ANALYTICS.REVIEWS.PE_MASK_USER_DEMOGRAPHICS_EMAIL FORCE")
    assert "HANDMADE" in fake.model.policies  # never dropped by apply


def test_prune_drops_only_unreferenced_engine_policies(policy_set):
    fake = new_fake(policy_set)
    target = desired(policy_set)
    converge(fake, target)
    fake.run("CREATE OR REPLACE MASKING POLICY ANALYTICS.REVIEWS.PE_MASK_OLD_THING "
             "AS (val VARCHAR) RETURNS VARCHAR -> val")
    pruned = plan_changes(target, read_existing(fake, target), prune=True)
    assert [a.summary for a in pruned] == ["drop unused masking policy PE_MASK_OLD_THING"]
    apply(fake, pruned)
    assert "PE_MASK_OLD_THING" not in fake.model.policies
    assert plan_changes(target, read_existing(fake, target), prune=True) == []


def test_a_changed_signature_gets_a_new_policy_swapped_in(policy_set):
    fake = new_fake(policy_set)
    target = desired(policy_set)
    converge(fake, target)
    city = fake.model.policies["PE_MASK_USER_DEMOGRAPHICS_CITY"]
    fake.model.policies[city.name] = replace(city, signature=(("VAL", "VARCHAR"),))  # an older, one-argument version
    actions = converge(fake, target)
    created = [a for a in actions if a.symbol == "+"]
    assert len(created) == 1 and "PE_MASK_USER_DEMOGRAPHICS_CITY_" in created[0].statement
    swap = [a for a in actions if a.symbol == ">"]
    assert len(swap) == 1 and swap[0].statement.endswith("USING (City, MarketingConsent) FORCE")
    assert "PE_MASK_USER_DEMOGRAPHICS_CITY" in fake.model.policies  # the old one stays until pruned
    assert plan_changes(target, read_existing(fake, target)) == []


def test_row_access_is_swapped_in_one_statement(policy_set):
    fake = new_fake(policy_set)
    target = desired(policy_set)
    converge(fake, target)
    fake.run("CREATE OR REPLACE ROW ACCESS POLICY ANALYTICS.REVIEWS.OTHER AS (x VARCHAR) RETURNS BOOLEAN -> TRUE")
    fake.run("ALTER TABLE analytics.reviews.reviews DROP ROW ACCESS POLICY ANALYTICS.REVIEWS.PE_ROWS_REVIEWS, "
             "ADD ROW ACCESS POLICY ANALYTICS.REVIEWS.OTHER ON (ReviewID)")
    [action] = converge(fake, target)
    assert "DROP ROW ACCESS POLICY ANALYTICS.REVIEWS.OTHER, ADD ROW ACCESS POLICY ANALYTICS.REVIEWS.PE_ROWS_REVIEWS" \
        in action.statement


def test_the_fake_enforces_snowflake_rules():
    fake = FakeSnowflake()
    fake.run("CREATE TABLE IF NOT EXISTS a.b.t (c VARCHAR)")
    fake.run("CREATE OR REPLACE MASKING POLICY A.B.P AS (val VARCHAR) RETURNS VARCHAR -> val")
    fake.run("ALTER TABLE a.b.t MODIFY COLUMN c SET MASKING POLICY A.B.P FORCE")
    with pytest.raises(FakeSnowflakeError, match="cannot be dropped"):
        fake.run("DROP MASKING POLICY A.B.P")
    with pytest.raises(FakeSnowflakeError, match="cannot be replaced"):
        fake.run("CREATE OR REPLACE MASKING POLICY A.B.P AS (val VARCHAR) RETURNS VARCHAR -> NULL")
    with pytest.raises(FakeSnowflakeError, match="use FORCE"):
        fake.run("ALTER TABLE a.b.t MODIFY COLUMN c SET MASKING POLICY A.B.P")


def test_body_normalization_ignores_formatting():
    assert normalize_body("CASE WHEN x THEN val ELSE '*' END") == normalize_body(
        "case\n   when X\n then VAL else '*'   end")
    assert normalize_body("CASE WHEN x THEN val ELSE '*' END") != normalize_body("CASE WHEN x THEN val ELSE '#' END")


def test_cli_shows_the_plan_applies_it_and_then_has_nothing_to_do(monkeypatch, capsys):
    from policyengine.backends import snowflake_connection
    from policyengine.cli import main

    fake = new_fake(load_policy_set(EXAMPLE))
    monkeypatch.setattr(snowflake_connection, "connect", lambda name: fake)
    monkeypatch.setenv("POLICYENGINE_KEY", KEY_HEX)
    base = ["-p", str(EXAMPLE), "apply", "snowflake", "-c", "dev", "--database", "ANALYTICS", "--schema", "REVIEWS"]

    with pytest.raises(SystemExit) as dry:
        main(base + ["--dry-run"])
    shown = capsys.readouterr().out
    assert dry.value.code == 0 and "+ create masking policy PE_MASK_USER_DEMOGRAPHICS_EMAIL" in shown
    assert fake.executed and not any(s.startswith(("CREATE", "ALTER")) for s in fake.executed)  # only reads

    with pytest.raises(SystemExit) as unconfirmed:
        main(base)
    assert unconfirmed.value.code == 1 and "confirm interactively or pass --yes" in capsys.readouterr().err

    with pytest.raises(SystemExit) as applied:
        main(base + ["--yes"])
    out = capsys.readouterr().out
    assert applied.value.code == 0 and "applied" in out and KEY_HEX not in out
    assert not any(KEY_HEX in s for s in fake.executed)  # the master key never reaches Snowflake
    [staged] = fake.model.stages["PE_KEYS"].values()
    assert staged == crypto.warehouse_key_file(KEY)  # its derived keys do, on the stage only

    with pytest.raises(SystemExit) as again:
        main(base + ["--format", "json"])
    assert again.value.code == 0 and json.loads(capsys.readouterr().out) == {"drift": [], "plan": []}
