"""An ``unmask`` exception that opens a ``deny`` column: valid (the spec lets ``unmask`` win), but
``policyengine validate`` warns, naming the file, the role, the table and the column, and exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

from policyengine.decision.decide import decide, subject_for
from policyengine.decision.outcomes import Outcome
from policyengine.model import load_policy_set
from policyengine.model.checks import unmask_deny_warnings
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
