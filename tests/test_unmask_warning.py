"""What opens a ``deny`` column is valid but warned about: an ``unmask`` exception (the spec lets
``unmask`` win) and a custom mask that reads the column. ``policyengine validate`` lists each warning,
located and naming the role(s), the table and the columns, and still exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from policyengine.decision.checks import custom_mask_deny_warnings, policy_warnings, unmask_deny_warnings
from policyengine.decision.decide import decide, subject_for
from policyengine.decision.outcomes import Outcome
from policyengine.loading import load_policy_set
from policyengine.model import PolicySetInvalid
from policyengine.model.problems import PolicyWarning
from tests.conftest import EXAMPLE, ROOT

TABLE = """
columns:
  - {name: Email, type: STRING, sensitivity: confidential, protection: email}
  - {name: NationalID, type: STRING, sensitivity: restricted, protection: deny}
  - {name: Country, type: STRING}
"""

ROLES = """
roles:
  reader: {clearance: regular}
  support:
    inherits: [reader]
    clearance: {dev: restricted, staging: none, prod: internal}
    unmask: [users.Email, Users.nationalid]
  auditor:
    clearance: restricted
    unmask: [users.NationalID]
  child: {inherits: [support]}
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "policyengine", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def test_unmask_of_a_deny_column_is_a_warning_naming_file_role_table_and_column(write_set: Callable[..., Path]):
    folder = write_set({"roles.yaml": ROLES, "tables/users.yaml": TABLE})
    policy_set = load_policy_set(folder)  # a warning never makes the set invalid
    warnings = unmask_deny_warnings(policy_set)
    # support: not cleared in prod (internal < restricted), cleared in dev, no access in staging;
    # auditor: cleared everywhere, so its exception changes nothing; Email is masked, not denied
    assert len(warnings) == 1
    warning = warnings[0]
    assert isinstance(warning, PolicyWarning)
    assert (warning.file, warning.path) == ("roles.yaml", "roles.support.unmask[1]")
    assert "role support" in warning.message and "column NationalID of table users" in warning.message
    assert "tables/users.yaml" in warning.message and "prod (clearance internal)" in warning.message
    assert "dev" not in warning.message and "staging" not in warning.message
    assert str(warning).startswith("roles.yaml: roles.support.unmask[1]: warning: unmask exception overrides deny")
    # what it warns about is what the decision does: the deny column is read raw in prod
    decision = decide(policy_set, subject_for(policy_set, roles=["support"]), "prod", "users")
    assert decision.column("NationalID").outcome is Outcome.RAW  # type: ignore[union-attr]


def test_no_warning_for_the_example_set_or_an_unmask_of_a_masked_column(write_set: Callable[..., Path]):
    assert unmask_deny_warnings(load_policy_set(EXAMPLE)) == []
    folder = write_set({"roles.yaml": "roles:\n  support: {clearance: internal, unmask: [users.Email]}\n",
                        "tables/users.yaml": TABLE})
    assert unmask_deny_warnings(load_policy_set(folder)) == []


def test_the_roles_file_is_named_as_written(write_set: Callable[..., Path]):
    folder = write_set({"roles.json": json.dumps({"roles": {"ops": {"clearance": "regular",
                                                                   "unmask": ["users.NationalID"]}}}),
                        "tables/users.yaml": TABLE})
    [warning] = unmask_deny_warnings(load_policy_set(folder))
    assert (warning.file, warning.path) == ("roles.json", "roles.ops.unmask[0]")
    assert "dev (clearance regular), staging (clearance regular), prod (clearance regular)" in warning.message


def test_validate_shows_the_warning_and_exits_0(write_set: Callable[..., Path]):
    folder = write_set({"roles.yaml": ROLES, "tables/users.yaml": TABLE})
    table = run("-p", str(folder), "validate")
    assert table.returncode == 0, table.stderr
    assert "valid" in table.stdout
    assert table.stderr.splitlines() == [str(w) for w in unmask_deny_warnings(load_policy_set(folder))]
    assert table.stderr.startswith("roles.yaml: roles.support.unmask[1]: warning: ")

    as_json = run("-p", str(folder), "validate", "--format", "json")
    assert as_json.returncode == 0
    summary = json.loads(as_json.stdout)
    assert summary["valid"] is True
    assert [(w["file"], w["path"]) for w in summary["warnings"]] == [("roles.yaml", "roles.support.unmask[1]")]
    assert "column NationalID of table users" in summary["warnings"][0]["message"]


def test_validate_json_has_an_empty_warning_list_when_there_is_none():
    result = run("-p", str(EXAMPLE), "validate", "--format", "json")
    assert result.returncode == 0 and json.loads(result.stdout)["warnings"] == []
    assert "warning" not in run("-p", str(EXAMPLE), "validate").stderr


# --- a custom mask that reads a deny column -------------------------------------------------------

CUSTOM_ROLES = """
roles:
  reader: {clearance: regular}
  analyst: {clearance: {dev: restricted, prod: regular}}
  admin: {clearance: restricted}
  support: {clearance: regular, unmask: [users.NationalID]}
"""

HINT = '{name: Hint, type: STRING, sensitivity: internal, protection: {kind: custom, expr: "%s"}}'
DENIED = "{name: NationalID, type: STRING, sensitivity: restricted, protection: deny}"

#: one table ``users`` (Hint masked by the expression, NationalID denied) in each layout a table file may have
LAYOUTS = {
    "one contract": ("tables/users.yaml", "columns:\n  - {name: Id, type: STRING}\n  - %s\n  - %s\n",
                     "columns[1].protection.expr"),
    "list of one": ("tables/users.yaml", "- columns:\n    - {name: Id, type: STRING}\n    - %s\n    - %s\n",
                    "columns[1].protection.expr"),
    "list of two": ("tables/all.yaml", "- {table: other, columns: [{name: Id, type: STRING}]}\n"
                                       "- table: users\n  Columns:\n    - {name: Id, type: STRING}\n"
                                       "    - %s\n    - %s\n",
                    "[1].columns[1].protection.expr"),
    "tables key": ("tables/all.yaml", "tables:\n  - {table: other, columns: [{name: Id, type: STRING}]}\n"
                                      "  - table: users\n    columns:\n      - {name: Id, type: STRING}\n"
                                      "      - %s\n      - %s\n", "tables[1].columns[1].protection.expr"),
    "BigQuery list": ("tables/users.yaml", "- {name: Id, type: STRING}\n- %s\n- %s\n", "[1].protection.expr"),
}


def test_a_custom_mask_reading_a_deny_column_is_a_warning(write_set: Callable[..., Path]):
    folder = write_set({"roles.yaml": CUSTOM_ROLES,
                        "tables/users.yaml": f"columns:\n  - {HINT % 'NationalID'}\n  - {DENIED}\n"})
    policy_set = load_policy_set(folder)
    [warning] = custom_mask_deny_warnings(policy_set)
    assert (warning.file, warning.path) == ("tables/users.yaml", "columns[0].protection.expr")
    assert "the mask of column Hint of table users reads column NationalID" in warning.message
    # reader everywhere; analyst only in prod (in dev it is cleared for Hint: no mask); admin is cleared
    # for both; support unmasks NationalID (that is the other warning's business, if any)
    assert warning.message.endswith("hides from roles reader (dev, staging, prod), analyst (prod)")
    # what it warns about is real: the deny column's value comes out through the mask
    decision = decide(policy_set, subject_for(policy_set, roles=["reader"]), "prod", "users")
    assert decision.column("NationalID").outcome is Outcome.DENIED  # type: ignore[union-attr]
    assert decision.column("Hint").outcome is Outcome.PROTECTED  # type: ignore[union-attr]


@pytest.mark.parametrize("expr", ["CASE WHEN nationalid IS NULL THEN val END", "val || users.NationalID"])
def test_any_read_of_the_deny_column_counts(write_set: Callable[..., Path], expr: str):
    folder = write_set({"roles.yaml": CUSTOM_ROLES,
                        "tables/users.yaml": f"columns:\n  - {HINT % expr}\n  - {DENIED}\n"})
    assert len(custom_mask_deny_warnings(load_policy_set(folder))) == 1


def test_no_warning_for_a_custom_mask_over_other_columns(write_set: Callable[..., Path]):
    folder = write_set({"roles.yaml": CUSTOM_ROLES, "tables/users.yaml": (
        "columns:\n  - {name: Id, type: STRING}\n  - "
        + HINT % "CASE WHEN Id IS NULL THEN val END"
        + f"\n  - {DENIED}\n")})
    assert custom_mask_deny_warnings(load_policy_set(folder)) == []


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
def test_the_warning_is_located_where_validation_locates_a_problem(write_set: Callable[..., Path], tmp_path: Path,
                                                                  layout: str):
    """The same field as an error there would have: the checker's path, not a guess of its own."""
    rel, text, expected = LAYOUTS[layout]
    folder = write_set({"roles.yaml": CUSTOM_ROLES, rel: text % (HINT % "NationalID", DENIED)})
    [warning] = custom_mask_deny_warnings(load_policy_set(folder))
    assert (warning.file, warning.path) == (rel, expected)
    (folder / rel).write_text(text % (HINT % "no_such_column", DENIED))
    with pytest.raises(PolicySetInvalid) as invalid:
        load_policy_set(folder)
    assert [(p.file, p.path) for p in invalid.value.problems] == [(rel, expected)]


def test_validate_lists_every_warning_in_file_order(write_set: Callable[..., Path]):
    folder = write_set({"roles.yaml": ROLES, "tables/users.yaml": (
        "columns:\n  - {name: Email, type: STRING, sensitivity: confidential, protection: email}\n"
        f"  - {DENIED}\n  - {HINT % 'NationalID'}\n")})
    result = run("-p", str(folder), "validate")
    assert result.returncode == 0
    assert [line.split(": warning: ")[0] for line in result.stderr.splitlines()] == [
        "roles.yaml: roles.support.unmask[1]", "tables/users.yaml: columns[2].protection.expr"]
    assert result.stderr.splitlines() == [str(w) for w in policy_warnings(load_policy_set(folder))]
    summary = json.loads(run("-p", str(folder), "validate", "-f", "json").stdout)
    assert [w["path"] for w in summary["warnings"]] == ["roles.support.unmask[1]", "columns[2].protection.expr"]
