"""Loading and validating policy sets: the files people write, checked and resolved."""

from policyengine.model.loader import load_policy_set
from policyengine.model.policyset import (
    Column,
    Grant,
    PolicySet,
    Principal,
    Role,
    RowRule,
    Settings,
    Table,
    expand_roles,
    grant,
    name_key,
)
from policyengine.model.problems import PolicySetInvalid, Problem
from policyengine.model.types import ColumnType, TypeFamily

__all__ = [
    "Column", "ColumnType", "Grant", "PolicySet", "PolicySetInvalid", "Principal", "Problem", "Role",
    "RowRule", "Settings", "Table", "TypeFamily", "expand_roles", "grant", "load_policy_set", "name_key",
]
