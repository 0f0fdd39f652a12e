"""The decision (spec section 5): a pure function of policy set, subject, environment and table.

No database, no SQL text, no I/O: the rewriter, the DDL generator, the server's catalog and
``explain`` all consume this one answer, so they cannot disagree about what a role sees.
"""

from __future__ import annotations

from collections.abc import Sequence

from policyengine.decision.grant import Grant, grant
from policyengine.decision.outcomes import (
    ColumnDecision,
    Outcome,
    RowFilter,
    RowScope,
    Subject,
    TableDecision,
)
from policyengine.model import Column, PolicySet, Table, name_key


class DecisionError(ValueError):
    """The question itself is wrong (an undefined role, principal or environment): a usage error."""


def subject_for(policy_set: PolicySet, *, principal: str | None = None, roles: Sequence[str] = ()) -> Subject:
    """The subject for a principal of ``roles.yaml``, or for a plain list of roles."""
    if principal is not None:
        found = policy_set.principal(principal)
        if found is None:
            raise DecisionError(f"unknown principal '{principal}'")
        extra = tuple(_role_keys(policy_set, roles))
        return Subject(found.roles + tuple(r for r in extra if r not in found.roles), found.name, found.attributes)
    if not roles:
        raise DecisionError("name a role or a principal")
    return Subject(tuple(_role_keys(policy_set, roles)))


def _role_keys(policy_set: PolicySet, roles: Sequence[str]) -> list[str]:
    keys = []
    for role in roles:
        if policy_set.role(role) is None:
            known = ", ".join(sorted(r.name for r in policy_set.roles.values())) or "none defined"
            raise DecisionError(f"unknown role '{role}' (roles: {known})")
        keys.append(name_key(role))
    return keys


def environment_for(policy_set: PolicySet, environment: str | None) -> str:
    env = (environment or policy_set.settings.default_environment).strip().lower()
    if env not in policy_set.settings.environments:
        raise DecisionError(f"unknown environment '{environment}' "
                            f"(environments: {', '.join(policy_set.settings.environments)})")
    return env


def subject_grant(policy_set: PolicySet, subject: Subject, environment: str | None) -> Grant:
    env = environment_for(policy_set, environment)
    return grant(policy_set.settings, policy_set.roles, subject.roles, env)


def decide(policy_set: PolicySet, subject: Subject, environment: str | None, table: str | Table) -> TableDecision:
    """What ``subject`` sees of ``table`` in ``environment``: each column's outcome and the row filter."""
    held = subject_grant(policy_set, subject, environment)
    name = table.name if isinstance(table, Table) else table
    if held.level is None:
        roles = ", ".join(policy_set.roles[k].name for k in subject.roles)
        return TableDecision(name, subject, held, refused=f"role {roles} has no access in {held.environment}"
                             if len(subject.roles) == 1 else f"roles {roles} have no access in {held.environment}")
    found = table if isinstance(table, Table) else policy_set.find_table(table)
    if found is None:
        return TableDecision(name, subject, held, refused=f"unknown table '{name}': no contract describes it")
    columns = tuple(_decide_column(policy_set, held, found, column) for column in found.columns)
    return TableDecision(found.name, subject, held, table=found, columns=columns, rows=_row_filter(held, found))


def decide_all(policy_set: PolicySet, subject: Subject, environment: str | None) -> list[TableDecision]:
    return [decide(policy_set, subject, environment, table) for table in policy_set.tables.values()]


def _decide_column(policy_set: PolicySet, held: Grant, table: Table, column: Column) -> ColumnDecision:
    settings = policy_set.settings
    if (table.key, column.key) in held.unmask:
        role = next(policy_set.roles[k] for k in held.active
                    if (table.key, column.key) in policy_set.roles[k].unmask)
        return ColumnDecision(column, Outcome.RAW, f"unmask exception (role {role.name})")
    assert held.level is not None
    if settings.rank(held.level) >= settings.rank(column.sensitivity):
        return ColumnDecision(column, Outcome.RAW, f"cleared ({held.level} >= {column.sensitivity})")
    uncleared = f"not cleared ({held.level} < {column.sensitivity})"
    kind = column.protection.kind
    if kind == "deny":
        return ColumnDecision(column, Outcome.DENIED, uncleared, column.protection)
    if kind == "none":
        # validation makes this unreachable; if it is ever reached, nothing may be shown
        return ColumnDecision(column, Outcome.DENIED, uncleared + ", and no protection to apply")
    return ColumnDecision(column, Outcome.PROTECTED, uncleared, column.protection)


def _row_filter(held: Grant, table: Table) -> RowFilter:
    if not table.row_access:
        return RowFilter(RowScope.ALL)
    active = set(held.active)
    rules = tuple(rule for rule in table.row_access if active.intersection(rule.roles))
    return RowFilter(RowScope.RULES, rules) if rules else RowFilter(RowScope.NONE)
