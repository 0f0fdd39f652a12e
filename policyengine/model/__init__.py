"""Loading and validating policy sets: the files people write, checked and resolved.

The bottom of the pipeline (docs/architecture.md): nothing here imports the decision, lineage or
anything above. The loader itself is :func:`policyengine.model.loader.load_policy_set`, which takes the
checks that need those layers from its caller; :func:`policyengine.loading.load_policy_set` is the
one every caller uses, with every check in force.
"""

from policyengine.model.policyset import (
    Column,
    PolicySet,
    Principal,
    Role,
    RowRule,
    Settings,
    Table,
    name_key,
)
from policyengine.model.problems import PolicySetInvalid, Problem
from policyengine.model.types import ColumnType, TypeFamily

__all__ = [
    "Column", "ColumnType", "PolicySet", "PolicySetInvalid", "Principal", "Problem", "Role",
    "RowRule", "Settings", "Table", "TypeFamily", "name_key",
]
