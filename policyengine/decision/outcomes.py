"""What the decision answers: per column raw / protected / denied, and which rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from policyengine.decision.grant import Grant
from policyengine.model import Column, RowRule, Table
from policyengine.model.protections import Protection, describe_protection


class Outcome(str, Enum):
    RAW = "raw"
    PROTECTED = "protected"
    DENIED = "denied"


@dataclass(frozen=True)
class ColumnDecision:
    column: Column
    outcome: Outcome
    reason: str
    protection: Protection | None = None

    @property
    def shows(self) -> str:
        """What the reader sees, in a word or two: ``raw``, ``denied``, ``partial(show_last=4)``."""
        if self.outcome is Outcome.PROTECTED and self.protection is not None:
            return describe_protection(self.protection)
        return self.outcome.value


class RowScope(str, Enum):
    ALL = "all"  # the table has no row access rules
    RULES = "rules"  # the rows for which any of ``rules`` is true
    NONE = "none"  # rules exist and none is the reader's: no rows (fail closed)


@dataclass(frozen=True)
class RowFilter:
    scope: RowScope
    rules: tuple[RowRule, ...] = ()

    def describe(self) -> str:
        if self.scope is RowScope.ALL:
            return "all rows"
        if self.scope is RowScope.NONE:
            return "no rows (no row access rule names these roles)"
        return " OR ".join(f"({rule.where_sql})" for rule in self.rules)


@dataclass(frozen=True)
class Subject:
    """Who is asking: a principal from ``roles.yaml``, or just a list of roles (``--role``)."""

    roles: tuple[str, ...]
    name: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TableDecision:
    table_name: str
    subject: Subject
    grant: Grant
    table: Table | None = None
    #: why the table cannot be read at all; None when it can
    refused: str | None = None
    columns: tuple[ColumnDecision, ...] = ()
    rows: RowFilter = RowFilter(RowScope.ALL)

    @property
    def allowed(self) -> bool:
        return self.refused is None

    def column(self, name: str) -> ColumnDecision | None:
        wanted = name.strip().lower()
        return next((c for c in self.columns if c.column.key == wanted), None)


def decision_rows(decision: TableDecision) -> list[dict[str, Any]]:
    """One flat row per column: what ``explain`` prints and what the audit log records."""
    return [
        {
            "table": decision.table_name,
            "column": c.column.name,
            "type": c.column.type.sql,
            "sensitivity": c.column.sensitivity,
            "sees": c.shows,
            "reason": c.reason,
        }
        for c in decision.columns
    ]


def decision_dict(decision: TableDecision) -> dict[str, Any]:
    return {
        "table": decision.table_name,
        "environment": decision.grant.environment,
        "principal": decision.subject.name,
        "roles": list(decision.grant.roles),
        "allowed": decision.allowed,
        "refused": decision.refused,
        "rows": decision.rows.describe() if decision.allowed else None,
        "columns": [
            {k: v for k, v in row.items() if k != "table"}
            | ({"protection": c.protection.model_dump(mode="json")} if c.protection is not None else {})
            for row, c in zip(decision_rows(decision), decision.columns)
        ],
    }
