"""``policyengine import dbt``: a dbt project's column meta becomes table contracts of a policy set.

The fixture (tests/fixtures/dbt) is a small shop project as dbt 1.x lays it out: dbt_project.yml
with dbt_snow_mask's vars and policyengine's masking policy map, models/*.sql, models/schema.yml
with meta on some columns (dbt_snow_mask's ``masking_policy``, ``sensitivity``, ``protection``,
``contains_pii``, the ``policyengine:`` namespace, dbt 1.10's ``config.meta``, a ``pii`` tag), and
target/manifest.json as ``dbt parse`` writes it (schema v12). Contracts are imported into a copy of
the example policy set, whose roles then decide.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from policyengine.cli import main
from policyengine.dbt import MARKER, plan_import, write_plan
from policyengine.dbt.project import model_parents
from policyengine.decision import decide, subject_for
from policyengine.loading import load_policy_set
from policyengine.model import PolicySet
from tests.conftest import EXAMPLE, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "dbt"
IMPORTED = {"stg_users", "stg_orders", "dim_customers", "users"}


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A copy of the example policy set to import into."""
    target = tmp_path / "policies"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the dbt fixture that a test may change."""
    target = tmp_path / "shop"
    shutil.copytree(FIXTURE, target)
    return target


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., tuple[int, str, str]]:
    """Run the command line in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLICYENGINE_POLICIES", raising=False)
    monkeypatch.setenv("COLUMNS", "250")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err, out + err
        return int(exited.value.code or 0), out, err

    return run


def generated(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((folder / "tables").glob("*.yaml"))
            if p.read_text().startswith(MARKER)}


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of ``path`` that contains ``text``."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


# --- the happy paths ---------------------------------------------------------------------------------

def test_imported_contracts_load_with_the_project_loader(cli, policies):
    code, out, err = cli("-p", str(policies), "import", "dbt", str(FIXTURE))
    assert code == 0, err
    assert "wrote 4 of 4 contracts" in out
    assert "note: models/schema.yml:43: sources[0].tables[1]: source.shop.raw.orders documents no columns" in err
    policy_set = load_policy_set(policies)
    assert IMPORTED <= set(policy_set.tables)
    labels = {(t, c.name): (c.sensitivity, c.protection.kind, c.type.sql)
              for t in IMPORTED for c in policy_set.tables[t].columns}
    assert labels[("dim_customers", "email")] == ("restricted", "email", "VARCHAR")  # config.meta, PII level
    assert labels[("dim_customers", "customer_id")] == ("confidential", "hash", "VARCHAR")  # mapped in vars
    assert labels[("dim_customers", "lifetime_value")] == ("internal", "generalize", "DECIMAL(12,2)")
    assert labels[("dim_customers", "order_count")] == ("public", "none", "INTEGER")  # no meta: the default
    assert labels[("stg_users", "phone")] == ("restricted", "partial", "VARCHAR")
    assert labels[("stg_users", "birth_year")] == ("confidential", "generalize", "INTEGER")  # namespace
    assert labels[("stg_orders", "user_id")] == ("confidential", "tokenize", "VARCHAR")
    assert labels[("stg_orders", "card_number")] == ("restricted", "partial", "VARCHAR")  # pii tag
    assert labels[("users", "national_id")] == ("restricted", "deny", "VARCHAR")  # contains_pii
    phone = policy_set.tables["stg_users"].column("phone").protection
    assert (phone.show_last, phone.char) == (4, "#")
    customer_id = policy_set.tables["dim_customers"].column("customer_id")
    assert customer_id.mode == "required" and customer_id.primary_key  # dbt constraints
    assert customer_id.originating_source == "warehouse:stg_users.user_id"
    assert policy_set.tables["dim_customers"].meta["derived_from"] == ["stg_users", "stg_orders"]  # ref() in SQL
    assert policy_set.tables["stg_users"].meta["derived_from"] == ["users"]  # source() in SQL
    assert policy_set.tables["dim_customers"].meta["dbt"] == {"unique_id": "model.shop.customers",
                                                              "resource_type": "model"}


@pytest.mark.parametrize(("role", "env", "table", "column", "sees"), [
    ("marketing_analyst", "prod", "dim_customers", "email", "email"),
    ("marketing_analyst", "prod", "dim_customers", "customer_id", "hash"),
    ("marketing_analyst", "prod", "dim_customers", "lifetime_value", "generalize(bucket=100)"),
    ("marketing_analyst", "prod", "dim_customers", "country", "raw"),
    ("marketing_analyst", "dev", "stg_users", "phone", "partial(show_last=4, char='#')"),
    ("data_scientist", "prod", "dim_customers", "lifetime_value", "raw"),  # internal >= internal
    ("data_scientist", "prod", "dim_customers", "customer_id", "hash"),
    ("support", "prod", "dim_customers", "email", "email"),  # its unmask is for user_demographics only
    ("support", "prod", "users", "national_id", "denied"),
    ("prod_database_reader", "prod", "stg_orders", "ordered_at", "raw"),
    ("prod_database_reader", "prod", "stg_orders", "card_number", "partial(show_last=4)"),
    ("developer", "dev", "dim_customers", "email", "raw"),  # restricted in dev
    ("developer", "staging", "dim_customers", "email", "email"),
    ("admin", "prod", "users", "national_id", "raw"),
])
def test_decisions_follow_the_meta(cli, policies, role, env, table, column, sees):
    assert cli("-p", str(policies), "import", "dbt", str(FIXTURE))[0] == 0
    policy_set = load_policy_set(policies)
    decision = decide(policy_set, subject_for(policy_set, roles=[role]), env, table)
    assert decision.allowed
    assert decision.column(column).shows == sees


def test_roles_without_access_stay_without_access(cli, policies):
    assert cli("-p", str(policies), "import", "dbt", str(FIXTURE))[0] == 0
    policy_set = load_policy_set(policies)
    decision = decide(policy_set, subject_for(policy_set, roles=["developer"]), "prod", "dim_customers")
    assert not decision.allowed and "no access in prod" in (decision.refused or "")


def test_manifest_gives_relation_names_and_parents(cli, policies):
    code, _, err = cli("-p", str(policies), "import", "dbt", str(FIXTURE), "--manifest", "target/manifest.json")
    assert code == 0, err
    policy_set = load_policy_set(policies)
    assert {"main.stg_users", "main.stg_orders", "main_marts.dim_customers", "raw.users"} <= set(policy_set.tables)
    customers = policy_set.tables["main_marts.dim_customers"]
    assert customers.meta["derived_from"] == ["main.stg_users", "main.stg_orders"]  # depends_on.nodes
    assert policy_set.tables["main.stg_orders"].meta["derived_from"] == ["raw.orders"]
    # the test node of the manifest is not a table
    assert not any("not_null" in name for name in policy_set.tables)
    # queries name the relation as they like: the bare alias still finds the contract
    assert policy_set.find_table("dim_customers") is customers


def test_qualify_database_and_none(policies):
    policy_set = load_policy_set(policies)
    plan = plan_import(FIXTURE, policy_set, manifest=FIXTURE / "target" / "manifest.json", qualify="database")
    assert plan.ok, plan.problems
    assert {g.table for g in plan.generated} == {"shop.main.stg_users", "shop.main.stg_orders",
                                                 "shop.main_marts.dim_customers", "shop.raw.users"}
    with pytest.raises(ValueError, match="needs --manifest"):
        plan_import(FIXTURE, policy_set, qualify="schema")


def test_manifest_and_schema_yml_agree(tmp_path):
    """The same labels from either source: with the same names, the files are identical."""
    texts = []
    for name, manifest in (("from_yml", None), ("from_manifest", FIXTURE / "target" / "manifest.json")):
        target = tmp_path / name
        shutil.copytree(EXAMPLE, target)
        plan = plan_import(FIXTURE, load_policy_set(target), manifest=manifest, qualify="none")
        assert plan.ok, plan.problems
        write_plan(plan)
        texts.append(generated(target))
    assert set(texts[0]) == {f"{t}.yaml" for t in IMPORTED}
    assert texts[0] == texts[1]


def test_a_manifest_older_than_the_project_is_refused(cli, policies, project):
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("masking_policy: mp_card", "masking_policy: mp_redact"))
    code, _, err = cli("-p", str(policies), "import", "dbt", str(project), "--manifest", "target/manifest.json")
    assert code == 1
    line = line_of(schema, "name: card_number")
    assert (f"models/schema.yml:{line}: models[1].columns[3]: the manifest says otherwise about column card_number "
            '(target/manifest.json: nodes["model.shop.stg_orders"].columns.card_number); the manifest is older '
            "than the project: run `dbt parse` and import again") in err
    assert generated(policies) == {}


# --- importing again -----------------------------------------------------------------------------------

def test_import_again_changes_nothing(cli, policies):
    assert cli("-p", str(policies), "import", "dbt", str(FIXTURE))[0] == 0
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (policies / "tables").glob("*.yaml")}
    code, out, _ = cli("-p", str(policies), "import", "dbt", str(FIXTURE), "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert {f["status"] for f in result["files"]} == {"unchanged"}
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (policies / "tables").glob("*.yaml")} == before
    code, out, _ = cli("-p", str(policies), "import", "dbt", str(FIXTURE))
    assert "wrote 0 of 4 contracts" in out and "4 unchanged" in out


def test_a_changed_label_rewrites_only_its_contract(cli, policies, project):
    assert cli("-p", str(policies), "import", "dbt", str(project))[0] == 0
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("protection: {kind: generalize, bucket: 100}", "protection: nullify"))
    code, out, _ = cli("-p", str(policies), "import", "dbt", str(project), "--format", "json")
    assert code == 0
    assert {f["table"]: f["status"] for f in json.loads(out)["files"]} == {
        "stg_users": "unchanged", "stg_orders": "unchanged", "dim_customers": "changed", "users": "unchanged"}
    assert load_policy_set(policies).tables["dim_customers"].column("lifetime_value").protection.kind == "nullify"


def test_dry_run_writes_nothing(cli, policies):
    before = sorted(p.name for p in (policies / "tables").iterdir())
    code, out, _ = cli("-p", str(policies), "import", "dbt", str(FIXTURE), "--dry-run")
    assert code == 0 and "would write 4 of 4 contracts" in out
    assert sorted(p.name for p in (policies / "tables").iterdir()) == before


def test_prune_removes_what_the_project_no_longer_has(cli, policies):
    assert cli("-p", str(policies), "import", "dbt", str(FIXTURE), "-m", "target/manifest.json")[0] == 0
    code, _, err = cli("-p", str(policies), "import", "dbt", str(FIXTURE))
    assert code == 0
    assert "main_marts.dim_customers.yaml: generated from dbt project 'shop' for a relation it no longer has" in err
    assert "main_marts.dim_customers.yaml" in generated(policies)
    code, _, err = cli("-p", str(policies), "import", "dbt", str(FIXTURE), "--prune")
    assert code == 0 and "removed (--prune)" in err
    assert set(generated(policies)) == {f"{t}.yaml" for t in IMPORTED}


def test_a_hand_written_contract_is_never_overwritten(cli, policies):
    mine = policies / "tables" / "users.yaml"
    mine.write_text("columns:\n  - {name: id, type: STRING}\n")
    code, _, err = cli("-p", str(policies), "import", "dbt", str(FIXTURE))
    assert code == 1
    assert "users.yaml: exists and was not written by `policyengine import dbt`" in err
    assert mine.read_text() == "columns:\n  - {name: id, type: STRING}\n"
    assert generated(policies) == {}


def test_a_table_defined_elsewhere_is_reported_at_the_dbt_relation(cli, policies):
    (policies / "tables" / "people.yaml").write_text("table: users\ncolumns:\n  - {name: id, type: STRING}\n")
    code, _, err = cli("-p", str(policies), "import", "dbt", str(FIXTURE))
    assert code == 1
    line = line_of(FIXTURE / "models" / "schema.yml", "- name: users")
    assert f"models/schema.yml:{line}: sources[0].tables[0]: table users is defined twice" in err


# --- mistakes, located in the dbt project -------------------------------------------------------------------

MISTAKES = [
    # (text replaced in models/schema.yml, its replacement, the line to find, the expected problem after 'path: ')
    ("masking_policy: mp_phone\n          originating_source", "masking_policy: mp_fancy\n          originating_source",
     "mp_fancy", "models[0].columns[2].meta.masking_policy: unknown masking policy 'mp_fancy': say what it does in "
     "dbt_project.yml, vars: {policyengine: {masking_policies: {mp_fancy: <protection>}}}, or import with "
     "--unknown-masking-policy KIND"),
    ("sensitivity: regular\n          originating_source", "sensitivity: secret\n          originating_source",
     "sensitivity: secret", "models[0].columns[4].meta.sensitivity: unknown level 'secret' "
     "(levels: public, regular, internal, confidential, restricted)"),
    ("protection: tokenize", "protection: tokenise", "tokenise",
     "models[1].columns[1].meta.policyengine.protection: unknown protection kind 'tokenise' (expected one of: none, "
     "custom, email, partial, generalize, round, encrypt, tokenize, hash, redact, nullify, deny)"),
    ("          masking_policy: mp_card", "          masking_policy: mp_card\n          pii: yes", "pii: yes",
     "models[1].columns[3].meta.pii: expected true or false, got 'yes'"),
    ("          masking_policy: mp_card", "          masking_policy: mp_card\n          protection: redact",
     "protection: redact", "models[1].columns[3].meta.protection: give either protection or masking_policy, not both "
     "(masking_policy at models[1].columns[3].meta.masking_policy)"),
    ("            sensitivity: confidential\n            protection: tokenize",
     "            sensitivty: confidential\n            protection: tokenize", "sensitivty",
     "models[1].columns[1].meta.policyengine.sensitivty: unknown key 'sensitivty' "
     "(known: sensitivity, protection, originating_source)"),
    ("      - name: signed_up_at\n        data_type: timestamp", "      - name: signed_up_at", "name: signed_up_at",
     "models[0].columns[5]: has no data_type: a contract needs each column's type "
     "(add data_type: to the column, as dbt model contracts do)"),
    ("      - name: order_count\n        data_type: integer",
     "      - name: order_count\n        data_type: integer\n        meta: pii", "meta: pii",
     "models[2].columns[5].meta: expected a mapping of meta keys (meta: {sensitivity: ..., masking_policy: ...})"),
    # found by the policy loader, reported at the meta key that caused it
    ("      - name: order_count\n        data_type: integer",
     "      - name: order_count\n        data_type: integer\n        meta: {protection: email}", "protection: email",
     "models[2].columns[5].meta.protection: protection.kind: protection 'email' does not fit column type integer: "
     "it applies to string columns"),
    ('originating_source: "raw:users.country"', 'originating_source: "raw:users.countryy"', "raw:users.countryy",
     "models[0].columns[4].meta.originating_source: 'raw:users.countryy' "
     "names unknown column 'countryy' of table users"),
    ("        config:\n          meta:\n            masking_policy: mp_email",
     "        meta:\n          masking_policy: mp_hash\n"
     "        config:\n          meta:\n            masking_policy: mp_email  # 1.10",
     "# 1.10", "models[2].columns[1].config.meta.masking_policy: 'masking_policy' is also given at "
     "models/schema.yml:{other} models[2].columns[1].meta.masking_policy with another value"),
]


@pytest.mark.parametrize(("old", "new", "find", "expected"), MISTAKES, ids=[m[2] for m in MISTAKES])
def test_malformed_meta_is_reported_where_it_is_written(cli, policies, project, old, new, find, expected):
    schema = project / "models" / "schema.yml"
    text = schema.read_text()
    assert old in text
    schema.write_text(text.replace(old, new, 1))
    code, _, err = cli("-p", str(policies), "import", "dbt", str(project))
    assert code == 1
    if "{other}" in expected:
        expected = expected.replace("{other}", str(line_of(schema, "masking_policy: mp_hash")))
    assert f"models/schema.yml:{line_of(schema, find)}: {expected}" in err.splitlines()
    assert "nothing was written" in err
    assert generated(policies) == {}


def test_unreadable_property_files_are_located(cli, policies, project):
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("            description: User key\n",
                                                 "            description: User key\n            description: again\n"))
    code, _, err = cli("-p", str(policies), "import", "dbt", str(project))
    assert code == 1
    line = line_of(schema, "description: again")
    assert f"models/schema.yml: line {line}, column 13: key 'description' is given twice in one mapping" in err


def test_masking_policy_map_mistakes_are_located_in_dbt_project_yml(cli, policies, project):
    settings = project / "dbt_project.yml"
    settings.write_text(settings.read_text().replace("mp_card: {kind: partial, show_last: 4}",
                                                     "mp_card: {kind: partial, show_lats: 4}")
                        .replace("pii_sensitivity: restricted", "pii_sensitivity: top"))
    code, _, err = cli("-p", str(policies), "import", "dbt", str(project))
    assert code == 1
    assert (f"dbt_project.yml:{line_of(settings, 'mp_card')}: vars.policyengine.masking_policies.mp_card: "
            "unknown key 'show_lats' (did you mean 'show_last'?)") in err
    assert (f"dbt_project.yml:{line_of(settings, 'pii_sensitivity')}: vars.policyengine.pii_sensitivity: unknown level "
            "'top' (levels: public, regular, internal, confidential, restricted)") in err
    assert "2 problems" in err  # the columns using mp_card say nothing more: the mistake is in the map


def test_unknown_masking_policies_may_map_to_a_documented_default(cli, policies, project):
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("masking_policy: mp_card", "masking_policy: mp_legacy_card"))
    assert cli("-p", str(policies), "import", "dbt", str(project))[0] == 1
    code, _, err = cli("-p", str(policies), "import", "dbt", str(project), "--unknown-masking-policy", "redact")
    assert code == 0, err
    column = load_policy_set(policies).tables["stg_orders"].column("card_number")
    assert (column.sensitivity, column.protection.kind) == ("restricted", "redact")
    code, _, err = cli("-p", str(policies), "import", "dbt", str(project), "--unknown-masking-policy", "none")
    assert code == 1 and "--unknown-masking-policy must be a protection kind" in err


def test_not_a_dbt_project(cli, policies, tmp_path):
    code, _, err = cli("-p", str(policies), "import", "dbt", str(tmp_path))
    assert code == 1 and "is not a dbt project: it has no dbt_project.yml" in err


def test_an_invalid_policy_set_is_refused_before_anything_is_read(cli, policies):
    (policies / "roles.yaml").write_text("roles:\n  a: {clearance: secret}\n")
    code, _, err = cli("-p", str(policies), "import", "dbt", str(FIXTURE))
    assert code == 1 and "roles.yaml: roles.a.clearance: unknown level 'secret'" in err


def test_model_parents_are_read_from_ref_and_source():
    sql = """
        select * from {{ ref('a') }} join {{ ref("pkg", "b") }} using (id)
        join {{ ref('c', v=2) }} using (id) join {{ source('raw', "events") }} using (id)
        join {{ ref('a') }} again using (id)
    """
    assert model_parents(sql, "shop") == ("model.shop.a", "model.shop.b", "model.shop.c", "source.shop.raw.events")


def test_the_written_yaml_reads_back_as_written(policies, project):
    """Strings that a strict YAML reader would take for numbers stay strings."""
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("description: Decade of birth", 'description: "1e3"'))
    plan = plan_import(project, load_policy_set(policies))
    assert plan.ok, plan.problems
    write_plan(plan)
    assert load_policy_set(policies).tables["stg_users"].column("birth_year").description == "1e3"


def test_import_writes_nothing_when_any_problem_is_found(policies, project):
    schema = project / "models" / "schema.yml"
    protection = "\n          protection: {kind: generalize, to: month}"
    schema.write_text(schema.read_text().replace("sensitivity: internal" + protection,
                                                 "sensitivity: nope" + protection))
    plan = plan_import(project, load_policy_set(policies))
    assert not plan.ok
    with pytest.raises(ValueError):
        write_plan(plan)


def test_example_set_is_untouched(example: PolicySet):
    """The example policy set in the repository never contains generated contracts."""
    assert not generated(EXAMPLE)
    assert example.find_table("dim_customers") is None


def test_relation_names_never_write_outside_out(policies, project):
    """An alias or identifier is a name, not a path: ``../`` must not leave --out."""
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("      - name: users\n",
                                                 "      - name: users\n        identifier: ../../escape\n", 1))
    plan = plan_import(project, load_policy_set(policies))
    out = policies / "tables"
    assert any(g.table == "../../escape" for g in plan.generated)
    assert all(g.path.parent == out and not g.path.name.startswith(".") for g in plan.generated)


def test_a_label_below_its_lineage_source_is_reported_at_the_meta_key(cli, policies, project):
    """The policy loader refuses a column less sensitive than the column it comes from; the import says
    where in the dbt project that label is written."""
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace(
        'sensitivity: regular\n          originating_source: "raw:users.country"',
        'sensitivity: public\n          originating_source: "raw:users.country"', 1))
    code, _, err = cli("-p", str(policies), "import", "dbt", str(project))
    assert code == 1
    prefix = f"models/schema.yml:{line_of(schema, 'sensitivity: public')}: models[0].columns[4].meta.sensitivity: "
    assert any(line.startswith(prefix) and "below regular" in line for line in err.splitlines()), err
    assert generated(policies) == {}
