"""Loading a policy set with every check in force: the model's loader plus the checks from above it.

The model is the bottom layer and imports nothing above it (docs/architecture.md), but two checks
of a policy set need higher layers: "would some role read this sensitive column raw?" asks the
decision (:func:`policyengine.decision.checks.check_unprotected_sensitive`), and "is this derived
column below what its lineage implies?" needs the lineage analysis
(:func:`policyengine.lineage.checks.check_lineage`). :func:`policyengine.model.loader.load_policy_set`
takes them from its caller; this module is the one place that composes them, so ``validate``,
``Engine.load``, the server's reload and the tests all load a set the same way.
"""

from __future__ import annotations

from pathlib import Path

from policyengine.decision.checks import check_unprotected_sensitive
from policyengine.lineage.checks import check_lineage
from policyengine.model.loader import Resolved, SetCheck
from policyengine.model.loader import load_policy_set as load_with
from policyengine.model.policyset import PolicySet


def unprotected_sensitive_check(resolved: Resolved) -> None:
    """A sensitive column with protection ``none`` that some role not cleared for it would read raw."""
    check_unprotected_sensitive(resolved.tables, resolved.roles, resolved.incomplete_roles, resolved.settings,
                                resolved.known)


def lineage_check(resolved: Resolved) -> None:
    """A derived column whose sensitivity or protection is below what its sources imply."""
    check_lineage(resolved.tables, resolved.settings, resolved.known)


#: every check of a policy set from above the model, in the order their problems are listed
CHECKS: tuple[SetCheck, ...] = (unprotected_sensitive_check, lineage_check)


def load_policy_set(root: str | Path, *, lineage: bool = True) -> PolicySet:
    """Load and validate a policy folder with every check; raises :class:`PolicySetInvalid` listing every problem.

    ``lineage=False`` leaves out the lineage checks: only for ``policyengine derive``, which repairs
    what they report and then validates the whole set with them before it writes anything.
    Enforcement never loads a set that way.
    """
    checks = CHECKS if lineage else tuple(check for check in CHECKS if check is not lineage_check)
    return load_with(root, checks=checks)

