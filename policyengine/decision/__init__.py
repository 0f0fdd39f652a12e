"""The decision: what a subject sees of each table in an environment. Pure: no I/O."""

from policyengine.decision.decide import (
    DecisionError,
    decide,
    decide_all,
    environment_for,
    subject_for,
    subject_grant,
)
from policyengine.decision.outcomes import (
    ColumnDecision,
    Outcome,
    RowFilter,
    RowScope,
    Subject,
    TableDecision,
)

__all__ = [
    "ColumnDecision", "DecisionError", "Outcome", "RowFilter", "RowScope", "Subject", "TableDecision",
    "decide", "decide_all", "environment_for", "subject_for", "subject_grant",
]
