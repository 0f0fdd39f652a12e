"""Conformance of the Snowflake plan with Snowflake's rules, over variants of the example policy set.

The acceptance criterion: for variants of the example set (every table with and without row rules,
first column masked, every protection kind as first column, a row rule on a masked column) and for
transitions between them (a level added, a kind changed to none, a key rotated, a column moved
from the protection tag to a policy of its own and back, a row rule on a masked column added and
removed), in both modes and every environment, the generated plan passes the strict model
(:func:`policyengine.ddl.snowflake_check.check_plan`), applies on the fake connection, leaves every
column it protects masked, every table with its row access policy and every ``deny`` column with a
projection policy, and a second plan is empty.

Each variant is the example folder copied and its YAML/JSON files edited as data, then loaded with
every check: a variant that the loader refuses is a broken variant, never a pass.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from policyengine import PolicySet, load_policy_set
from policyengine.crypto import KeyMaterial, parse_key, warehouse_key_file
from policyengine.ddl.keyed_handler import KEY_FILE, KEY_STAGE, recorded_fingerprint
from policyengine.ddl.snowflake_apply import Action, apply, plan_changes, stored
from policyengine.ddl.snowflake_check import check_plan
from policyengine.ddl.snowflake_drift import drift, record_actions
from policyengine.ddl.snowflake_plan import PROTECTION_TAG, SENSITIVITY_TAG, SnowflakePlan, plan
from policyengine.ddl.snowflake_read import read_existing
from policyengine.model.types import TypeFamily
from policyengine.protections import KINDS
from tests.conftest import EXAMPLE
from tests.snowflake_fake import FakeSnowflake

DATABASE, SCHEMA = "ANALYTICS", "REVIEWS"
MODES = ("column", "tag")
ENVIRONMENTS = ("dev", "staging", "prod")
KEY = parse_key("00112233445566778899aabbccddeeff")
KEY2 = parse_key("f0e1d2c3b4a5968778695a4b3c2d1e0f")

# --- editing a copy of the example set ---------------------------------------------------------------


class PolicyFiles:
    """The YAML and JSON files of a copied policy set, loaded as data for editing and written back."""

    def __init__(self, root: Path):
        self.root = root
        self.data: dict[Path, Any] = {}

    def _load(self, path: Path) -> Any:
        if path not in self.data:
            text = path.read_text()
            self.data[path] = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return self.data[path]

    def settings(self) -> dict[str, Any]:
        return self._load(self.root / "policyengine.yaml")

    def roles(self) -> dict[str, Any]:
        return self._load(self.root / "roles.yaml")["roles"]

    def tables(self) -> dict[str, dict[str, Any]]:
        """Every contract by its lower-case table name, as mutable dicts of the loaded files. A BigQuery-style
        column list is wrapped in a dict whose ``columns`` is the file's own list (edits of columns persist)."""
        out: dict[str, dict[str, Any]] = {}
        for path in sorted((self.root / "tables").iterdir()):
            if path.suffix not in (".yaml", ".yml", ".json"):
                continue
            data = self._load(path)
            if isinstance(data, dict):
                contracts = data["tables"] if "tables" in data else [data]
            elif data and isinstance(data[0], dict) and "columns" in data[0]:
                contracts = data
            else:
                contracts = [{"table": path.stem, "columns": data}]
            for contract in contracts:
                out[str(contract.get("table") or path.stem).lower()] = contract
        return out

    def table(self, name: str) -> dict[str, Any]:
        return self.tables()[name.lower()]

    def column(self, table: str, name: str) -> dict[str, Any]:
        return next(c for c in self.table(table)["columns"] if c["name"].lower() == name.lower())

    def add_table(self, contract: dict[str, Any]) -> None:
        path = self.root / "tables" / f"{contract['table']}.yaml"
        assert not path.exists()
        self.data[path] = contract

    def save(self) -> None:
        for path, data in self.data.items():
            path.write_text(json.dumps(data, indent=2) if path.suffix == ".json"
                            else yaml.safe_dump(data, sort_keys=False))


def kind_of(column: dict[str, Any]) -> str:
    protection = column.get("protection", "none")
    return str(protection["kind"] if isinstance(protection, dict) else protection).lower()


# --- variants ---------------------------------------------------------------------------------------


def no_row_rules(files: PolicyFiles) -> None:
    for contract in files.tables().values():
        contract.pop("row_access", None)


def first_column_masked(files: PolicyFiles) -> None:
    """Every table's first column protected (tokenize: the first columns are all strings), keys kept."""
    for contract in files.tables().values():
        first = contract["columns"][0]
        if kind_of(first) == "none":
            assert str(first["type"]).upper() in ("STRING", "VARCHAR"), first
            first["sensitivity"] = "confidential"
            first["protection"] = "tokenize"


def row_rules_everywhere(files: PolicyFiles) -> None:
    """Row rules on the tables that have none (the BigQuery-style column list rewritten as a contract)."""
    path = files.root / "tables" / "region_countries.json"
    columns = files._load(path)
    assert isinstance(columns, list)
    files.data[path] = {"table": "region_countries", "columns": columns}
    rules = {"reviews": "Rating >= 1", "region_countries": "Region IS NOT NULL"}
    for name, where in rules.items():
        assert "row_access" not in files.table(name)
        files.table(name)["row_access"] = [{"roles": ["reader", *ALL_OTHERS], "where": where}]
    assert all(contract.get("row_access") for contract in files.tables().values())


def every_column_masked(files: PolicyFiles) -> None:
    """A table without row rules whose every column is masked: its row access policy binds the first one,
    whose masking policy must then be exempt."""
    for column in files.table("region_countries")["columns"]:
        column["sensitivity"] = "confidential"
        column["protection"] = {"kind": "partial", "show_first": 1}


#: a column type of each family, for the kinds that fit a family
FAMILY_TYPES = {TypeFamily.STRING: "VARCHAR", TypeFamily.INTEGER: "INTEGER", TypeFamily.DECIMAL: "DECIMAL(10,2)",
                TypeFamily.FLOAT: "DOUBLE", TypeFamily.DATE: "DATE", TypeFamily.TIMESTAMP: "TIMESTAMP",
                TypeFamily.BOOLEAN: "BOOLEAN"}
#: kinds that fit every type are tried on one, spread over the types
ANY_TYPE = {"generalize": "DATE", "redact": "INTEGER", "nullify": "TIMESTAMP"}


def kind_types(name: str) -> list[str]:
    families = KINDS[name].families
    if families is None:
        return [ANY_TYPE.get(name, "VARCHAR")]
    return [FAMILY_TYPES[f] for f in TypeFamily if f in families and f in FAMILY_TYPES]


def kind_protection(name: str, column_type: str) -> dict[str, Any]:
    """The kind with the parameters it needs on ``column_type``."""
    if name == "partial":
        return {"kind": name, "show_first": 1}
    if name == "generalize":
        family = {"DATE": "to", "TIMESTAMP": "to", "VARCHAR": "keep"}.get(column_type, "bucket")
        return {"kind": name, family: {"to": "year", "keep": 3, "bucket": 10}[family]}
    if name == "round":  # below the type's scale: otherwise it would show every digit
        return {"kind": name, "digits": {"INTEGER": -1, "DECIMAL(10,2)": 1, "DOUBLE": 0}[column_type]}
    if name == "custom":  # conditional masking: reads another column of the row
        return {"kind": name, "expr": "CASE WHEN Flag THEN val ELSE NULL END"}
    return {"kind": name}


def kind_first(name: str, column_type: str) -> Callable[[PolicyFiles], None]:
    """A table whose first column is protected by kind ``name`` (public and unprotected for ``none``)."""

    def edit(files: PolicyFiles) -> None:
        sensitive = name != "none"
        files.add_table({"table": "kind_probe", "columns": [
            {"name": "Probe", "type": column_type, "sensitivity": "confidential" if sensitive else "public",
             "protection": kind_protection(name, column_type)},
            {"name": "Id", "type": "VARCHAR", "sensitivity": "public", "protection": "none", "primary_key": True},
            {"name": "Flag", "type": "BOOLEAN", "sensitivity": "regular", "protection": "none"},
        ]})

    return edit


#: every role with access anywhere but the two the rules below treat specially
ALL_OTHERS = ["data_scientist", "support", "developer", "non_prod_data_reader", "prod_database_reader", "admin"]


def row_rule_on_masked_column(files: PolicyFiles) -> None:
    """Row rules that read masked columns: a tag-maskable string and timestamp of reviews, and a column of
    user_demographics that has a policy of its own in both modes (Phone: support's unmask)."""
    files.table("reviews")["row_access"] = [
        {"roles": ["marketing_analyst", "bi_analyst"],
         "where": "ReviewText IS NOT NULL AND CreatedAt >= '2020-01-01'"},
        {"roles": ALL_OTHERS, "where": "TRUE"},
    ]
    files.table("user_demographics")["row_access"].append(
        {"roles": ["support"], "where": "Phone IS NOT NULL"})


def level_added(files: PolicyFiles) -> None:
    """A new, highest level, and one column at it."""
    files.settings()["sensitivity_levels"].append("secret")
    files.column("user_demographics", "Iban")["sensitivity"] = "secret"


#: (table, column) whose protection ``kind_to_none`` removes: a tag-maskable one and one that has a
#: policy of its own in tag mode too (support's unmask)
TO_NONE = (("user_demographics", "Gender"), ("user_demographics", "Phone"))


def kind_to_none(files: PolicyFiles) -> None:
    for table, name in TO_NONE:
        column = files.column(table, name)
        column["sensitivity"] = "regular"  # every role with access is cleared for it, in every environment
        column["protection"] = "none"
    files.roles()["support"]["unmask"] = [u for u in files.roles()["support"]["unmask"]
                                          if u != "user_demographics.Phone"]


#: a tag-maskable column that an unmask exception moves to a policy of its own
UNMASKED = ("user_demographics", "Gender")


def unmask_added(files: PolicyFiles) -> None:
    files.roles()["marketing_analyst"]["unmask"] = [".".join(UNMASKED)]


VARIANTS: dict[str, Callable[[PolicyFiles], None]] = {
    "example": lambda files: None,
    "no-row-rules": no_row_rules,
    "row-rules-everywhere": row_rules_everywhere,
    "first-column-masked": first_column_masked,
    "every-column-masked": every_column_masked,
    **{f"first-column-{name}-{kind_type.lower().replace('(', '').replace(',', '-').replace(')', '')}":
       kind_first(name, kind_type) for name in KINDS for kind_type in kind_types(name)},
    "row-rule-on-masked-column": row_rule_on_masked_column,
    "level-added": level_added,
    "kind-to-none": kind_to_none,
    "unmask-added": unmask_added,
}
CONVERGED = [name for name in VARIANTS if name not in ("level-added", "kind-to-none", "unmask-added")]


@pytest.fixture(scope="module")
def variant(tmp_path_factory) -> Callable[[str], PolicySet]:  # type: ignore[no-untyped-def]
    """The policy set of a variant, built and loaded once per module."""
    built: dict[str, PolicySet] = {}

    def get(name: str) -> PolicySet:
        if name not in built:
            root = tmp_path_factory.mktemp(name) / "policies"
            shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("policyengine.key", "__pycache__"))
            files = PolicyFiles(root)
            VARIANTS[name](files)
            files.save()
            built[name] = load_policy_set(root)  # a refusal here is a broken variant
        return built[name]

    return get


def test_every_kind_has_a_variant():
    covered = {name.split("-")[2] for name in VARIANTS if name.startswith("first-column-") and name.count("-") >= 3}
    assert covered == set(KINDS)


# --- plan, check, apply, check what Snowflake then enforces -------------------------------------------


def new_fake(policy_set: PolicySet) -> FakeSnowflake:
    return FakeSnowflake.for_policy_set(policy_set, DATABASE, SCHEMA)


def desired(policy_set: PolicySet, env: str, mode: str) -> SnowflakePlan:
    return plan(policy_set, env, database=DATABASE, schema=SCHEMA, mode=mode)


def key(target: SnowflakePlan, table) -> str:  # type: ignore[no-untyped-def]
    return target.table_name(table).lower()


def protected_by_plan(target: SnowflakePlan) -> set[tuple[str, str]]:
    columns = {(key(target, m.table), stored(m.column.name)) for m in target.masking}
    return columns | {(key(target, t), stored(c.name)) for t, c, _ in target.protection_tags}


def converge(fake: FakeSnowflake, policy_set: PolicySet, env: str, mode: str,
             keys: KeyMaterial = KEY) -> tuple[SnowflakePlan, list[Action]]:
    """Plan, check on the strict model, record, apply; then what must hold, and an empty second plan."""
    target = desired(policy_set, env, mode)
    existing = read_existing(fake, target)
    actions = plan_changes(target, existing, keys=keys)
    final = check_plan(target, existing, actions)  # PlanRefused names the statement and the rule
    actions = actions + record_actions(target, final)
    apply(fake, actions)
    assert_enforced(fake, target)
    again = plan_changes(target, read_existing(fake, target), keys=keys)
    assert again == [], [a.summary for a in again]
    assert drift(read_existing(fake, target), target) == []
    for master in (KEY.master.hex(), KEY2.master.hex()):
        assert not any(master in s.lower() for s in fake.executed), "a master key reached Snowflake"
    return target, actions


def assert_enforced(fake: FakeSnowflake, target: SnowflakePlan) -> None:
    model = fake.model
    unmasked = sorted(c for c in protected_by_plan(target) if model.masking_of(*c) is None)
    assert not unmasked, f"protected by the plan but unmasked in Snowflake: {unmasked}"
    for table in target.tables():
        assert model.row_access_of(key(target, table)) is not None, f"{table.name} has no row access policy"
    for projection in target.projection:
        column = (key(target, projection.table), stored(projection.column.name))
        assert model.projection_of(*column) is not None, f"deny column {column} has no projection policy"
        assert model.masking_of(*column) is not None


def test_the_example_protects_what_it_should():
    """Guards the assertions above against a plan that protects nothing: the example's sensitive columns
    and deny column are in every plan."""
    example = load_policy_set(EXAMPLE)
    for mode in MODES:
        for env in ENVIRONMENTS:
            target = desired(example, env, mode)
            protected = protected_by_plan(target)
            assert ("analytics.reviews.user_demographics", "EMAIL") in protected
            assert ("analytics.reviews.user_demographics", "NATIONALID") in protected
            assert [p.column.name for p in target.projection] == ["NationalID"]
            assert len(target.row_access) == len(example.tables)


CASES = [pytest.param(name, mode, env, id=f"{name}-{mode}-{env}")
         for name in CONVERGED for mode in MODES for env in ENVIRONMENTS]


@pytest.mark.parametrize(("name", "mode", "env"), CASES)
def test_a_variant_converges_on_a_fresh_schema(variant, name, mode, env):
    policy_set = variant(name)
    fake = new_fake(policy_set)
    target, _ = converge(fake, policy_set, env, mode)
    if name == "first-column-masked":
        for table in policy_set.tables.values():
            first = (key(target, table), stored(table.columns[0].name))
            assert fake.model.masking_of(*first) is not None, f"first column {first} is unmasked"
    if name.startswith("first-column-") and name != "first-column-masked":
        probe = ("analytics.reviews.kind_probe", "PROBE")
        kind = policy_set.find_table("kind_probe").columns[0].protection.kind
        if kind == "none":
            assert fake.model.masking_of(*probe) is None
        else:
            assert fake.model.masking_of(*probe) is not None, f"the {kind} column is unmasked"
        assert (fake.model.projection_of(*probe) is not None) == (kind == "deny")
    if name == "every-column-masked":
        table = "analytics.reviews.region_countries"
        for column in ("REGION", "COUNTRY"):
            assert fake.model.masking_of(table, column) is not None
        [bound] = fake.model.attachment("ROW_ACCESS_POLICY", table).arguments
        assert fake.model.policies[fake.model.masking_of(table, bound)].exempt
    if name == "row-rule-on-masked-column":
        rows = fake.model.policies[fake.model.row_access_of("analytics.reviews.reviews")]
        assert {n for n, _ in rows.signature} == {"REVIEWTEXT", "CREATEDAT"}
        for column in ("REVIEWTEXT", "CREATEDAT"):
            policy = fake.model.masking_of("analytics.reviews.reviews", column)
            assert policy is not None and fake.model.policies[policy].exempt


# --- transitions --------------------------------------------------------------------------------------

PARAMS = [pytest.param(mode, env, id=f"{mode}-{env}") for mode in MODES for env in ENVIRONMENTS]


@pytest.mark.parametrize(("mode", "env"), PARAMS)
def test_a_level_added_is_allowed_on_the_tag_before_a_column_uses_it(variant, mode, env):
    fake = new_fake(variant("example"))
    converge(fake, variant("example"), env, mode)
    _, actions = converge(fake, variant("level-added"), env, mode)
    allow = [i for i, a in enumerate(actions) if "ALLOWED_VALUES" in a.statement]
    uses = [i for i, a in enumerate(actions) if a.statement.startswith("ALTER TABLE") and "'secret'" in a.statement]
    assert allow and uses and allow[0] < uses[0], [a.summary for a in actions]
    assert fake.model.tags[SENSITIVITY_TAG].allowed_values[-1] == "secret"
    assert fake.model.tag_values[("analytics.reviews.user_demographics", "IBAN", SENSITIVITY_TAG)] == "secret"


@pytest.mark.parametrize(("mode", "env"), PARAMS)
def test_a_kind_changed_to_none_leaves_no_masking_in_effect(variant, mode, env):
    fake = new_fake(variant("example"))
    before, _ = converge(fake, variant("example"), env, mode)
    columns = [(f"analytics.reviews.{t}", stored(c)) for t, c in TO_NONE]
    assert set(columns) <= protected_by_plan(before)
    after, _ = converge(fake, variant("kind-to-none"), env, mode)
    for table, column in columns:
        assert (table, column) not in protected_by_plan(after)
        assert fake.model.masking_of(table, column) is None, f"{table}.{column} is still masked"
        assert fake.model.attachment("MASKING_POLICY", table, column) is None
        assert (table, column, PROTECTION_TAG) not in fake.model.tag_values, "a stale protection tag value"


@pytest.mark.parametrize(("mode", "env"), PARAMS)
def test_a_rotated_key_recreates_the_functions_and_uploads_new_derived_keys(variant, mode, env):
    policy_set = variant("example")
    fake = new_fake(policy_set)
    target, _ = converge(fake, policy_set, env, mode, keys=KEY)
    assert target.keyed_udfs
    assert fake.model.stages[KEY_STAGE][KEY_FILE] == warehouse_key_file(KEY)
    _, actions = converge(fake, policy_set, env, mode, keys=KEY2)
    recreated = {a.summary.rsplit(" ", 1)[-1] for a in actions if "SECURE FUNCTION" in a.statement}
    assert recreated == target.keyed_udfs
    assert sum(a.upload is not None for a in actions) == 1
    assert fake.model.stages[KEY_STAGE] == {KEY_FILE: warehouse_key_file(KEY2)}
    for name in target.keyed_udfs:
        assert recorded_fingerprint(fake.model.functions[name].comment) == KEY2.fingerprint()
    staged = json.dumps(fake.model.stages).lower()
    for master in (KEY.master.hex(), KEY2.master.hex()):
        assert master not in staged
        assert not any(master in s.lower() for s in fake.executed)
        assert not any(master in a.statement.lower() or master in (a.upload or "").lower() for a in actions)


@pytest.mark.parametrize(("mode", "env"), PARAMS)
def test_a_column_moves_from_the_tag_to_its_own_policy_and_back(variant, mode, env):
    table, column = f"analytics.reviews.{UNMASKED[0]}", stored(UNMASKED[1])
    fake = new_fake(variant("example"))
    converge(fake, variant("example"), env, mode)
    tagged = mode == "tag"
    assert ((table, column, PROTECTION_TAG) in fake.model.tag_values) == tagged
    converge(fake, variant("unmask-added"), env, mode)  # check_plan: masked at every step
    assert fake.model.attachment("MASKING_POLICY", table, column) is not None
    assert (table, column, PROTECTION_TAG) not in fake.model.tag_values
    converge(fake, variant("example"), env, mode)
    assert fake.model.masking_of(table, column) is not None
    assert ((table, column, PROTECTION_TAG) in fake.model.tag_values) == tagged
    assert (fake.model.attachment("MASKING_POLICY", table, column) is None) == tagged


@pytest.mark.parametrize(("mode", "env"), PARAMS)
def test_a_row_rule_on_a_masked_column_is_added_and_removed(variant, mode, env):
    fake = new_fake(variant("example"))
    converge(fake, variant("example"), env, mode)
    _, added = converge(fake, variant("row-rule-on-masked-column"), env, mode)
    assert any(a.statement.startswith("ALTER TABLE") and "ADD ROW ACCESS POLICY" in a.statement and
               "ReviewText" in a.statement for a in added), [a.summary for a in added]
    for name in ("REVIEWTEXT", "CREATEDAT", "PHONE"):
        owner = "user_demographics" if name == "PHONE" else "reviews"
        policy = fake.model.masking_of(f"analytics.reviews.{owner}", name)
        assert policy is not None and fake.model.policies[policy].exempt, (name, policy)
    converge(fake, variant("example"), env, mode)
