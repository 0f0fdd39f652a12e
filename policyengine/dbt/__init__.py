"""Importing a dbt project's column labels (``meta``) as table contracts of a policy set.

A team that labels its dbt columns (``meta: {masking_policy: mp_email}`` for dbt_snow_mask,
``sensitivity``, ``pii``) should not copy those labels into a second place by hand, where they would
drift. ``policyengine import dbt`` reads them from the project's property files or from
``target/manifest.json`` and writes contracts in the policy set's own format, checked by its loader.
The convention is documented in :mod:`policyengine.dbt.conventions` and ``docs/dbt.md``.
"""

from policyengine.dbt.importer import (
    MARKER,
    QUALIFY_CHOICES,
    UNKNOWN_POLICY_KINDS,
    Generated,
    ImportPlan,
    plan_import,
    write_plan,
)

__all__ = ["MARKER", "QUALIFY_CHOICES", "UNKNOWN_POLICY_KINDS", "Generated", "ImportPlan", "plan_import", "write_plan"]
