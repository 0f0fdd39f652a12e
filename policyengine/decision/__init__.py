"""The decision: what a subject sees of each table in an environment. Pure: no I/O."""

from policyengine.decision.decide import (
    DecisionError,
    decide,
    decide_all,
    environment_for,
    subject_for,
    subject_grant,
)
from policyengine.decision.grant import Grant, expand_roles, grant
from policyengine.decision.outcomes import (
    ColumnDecision,
    Outcome,
    RowFilter,
    RowScope,
    Subject,
    TableDecision,
    decision_dict,
    decision_rows,
)

__all__ = [
    "ColumnDecision", "DecisionError", "Grant", "Outcome", "RowFilter", "RowScope", "Subject", "TableDecision",
    "decision_dict", "decision_rows",
    "decide", "decide_all", "environment_for", "expand_roles", "grant", "subject_for", "subject_grant",
]
