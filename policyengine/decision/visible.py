"""The tables a subject may read, as every catalog shows them (SQLAlchemy's inspector, the front door's
pg_catalog): one answer, so no two catalogs can list different things."""

from __future__ import annotations

from collections.abc import Collection

from policyengine.decision.decide import decide
from policyengine.decision.outcomes import Subject, TableDecision
from policyengine.model import PolicySet


def visible_tables(policy_set: PolicySet, subject: Subject, environment: str | None,
                   present: Collection[tuple[str, str]] | None = None) -> list[TableDecision]:
    """Decisions for the tables this subject may read; ``present`` ((schema, table) keys the database
    has, lower case) leaves out contract tables the database lacks."""
    out = []
    for table in policy_set.tables.values():
        decision = decide(policy_set, subject, environment, table)
        if not decision.allowed:
            continue
        parts = table.parts
        key = (parts[-2] if len(parts) >= 2 else "main", parts[-1])
        if present is not None and key not in present:
            continue
        out.append(decision)
    return out
