"""The model's loader runs the checks its caller passes; policyengine.loading passes every one.

The model may not import the decision or lineage (docs/architecture.md), so the checks that need them
are a hook list of :func:`policyengine.model.loader.load_policy_set`, with no default: forgetting them
is a TypeError, not a set loaded without them. What every caller uses,
:func:`policyengine.loading.load_policy_set` (``policyengine.load_policy_set``), finds what both find.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import policyengine
from policyengine.loading import CHECKS, lineage_check, load_policy_set, unprotected_sensitive_check
from policyengine.model import PolicySetInvalid
from policyengine.model.loader import Resolved
from policyengine.model.loader import load_policy_set as load_with
from tests.conftest import EXAMPLE

UNPROTECTED = """\
table: open_notes
columns:
  - {name: id, type: INTEGER, sensitivity: public}
  - {name: secret, type: STRING, sensitivity: restricted, protection: none}
"""
UNANALYSABLE = """\
table: derived_notes
derivation: {sql: "SELECT FROM WHERE"}
columns:
  - {name: id, type: INTEGER, sensitivity: public}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The example set with one table no role may read raw but that has no protection, and one
    derived table whose derivation cannot be analysed: one problem for each check from above."""
    root = tmp_path / "policies"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    (root / "tables" / "open_notes.yaml").write_text(UNPROTECTED)
    (root / "tables" / "derived_notes.yaml").write_text(UNANALYSABLE)
    return root


def problems(load) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicySetInvalid) as invalid:
        load()
    return [str(p) for p in invalid.value.problems]


def test_the_model_loader_has_no_default_for_the_checks(folder: Path) -> None:
    with pytest.raises(TypeError):
        load_with(folder)  # type: ignore[call-arg]
    load_with(folder, checks=())  # the files themselves are valid: only the checks from above object


def test_every_caller_gets_both_checks_and_derive_leaves_out_only_lineage(folder: Path) -> None:
    found = problems(lambda: load_policy_set(folder))
    assert any("open_notes.yaml" in p and "sensitive column without protection" in p for p in found), found
    assert any("derived_notes.yaml" in p and "derivation.sql" in p for p in found), found
    assert problems(lambda: policyengine.load_policy_set(folder)) == found  # the package's name is this one
    without_lineage = problems(lambda: load_policy_set(folder, lineage=False))
    assert without_lineage == [p for p in found if "derived_notes.yaml" not in p]
    assert CHECKS == (unprotected_sensitive_check, lineage_check)


def test_a_check_sees_the_resolved_set_and_reports_into_its_files(folder: Path) -> None:
    seen: list[Resolved] = []
    load_with(folder, checks=(seen.append,))
    (resolved,) = seen
    assert "open_notes" in resolved.tables.drafts and "bi_analyst" in resolved.roles
    assert resolved.incomplete_roles == set() and resolved.settings.sensitivity_levels[0] == "public"
