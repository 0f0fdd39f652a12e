"""Binding a policy expression to the reader: who is asking, and which row's columns it reads.

Row access rules and custom masks are Snowflake SQL that may ask ``CURRENT_ROLE()``,
``IS_ROLE_IN_SESSION('x')``, ``CURRENT_USER()`` or ``PRINCIPAL_ATTRIBUTE('x')``. Locally the
answers are known when the query is rewritten, so they become literals. Role and user names are
compared in upper case, as Snowflake stores unquoted names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from policyengine.decision import RowScope, TableDecision
from policyengine.model import Table, name_key
from policyengine.rewrite.templates import column_of, literal, quoted


@dataclass(frozen=True)
class Binding:
    decision: TableDecision
    #: the alias of the raw table inside the wrapper
    alias: str
    #: how a mapping table read by a row access subquery is referenced (raw, canonical name)
    table_reference: Callable[[Table], exp.Table]


def _function_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.CurrentRole):
        return "CURRENT_ROLE"
    if isinstance(node, exp.CurrentUser):
        return "CURRENT_USER"
    if isinstance(node, exp.Anonymous):
        return node.name.upper()
    return None


def bind(tree: exp.Expression, binding: Binding, policy_tables: Callable[[str], Table | None]) -> exp.Expression:
    """The expression with context functions answered and the row's columns qualified."""
    decision = binding.decision
    subject, grant = decision.subject, decision.grant
    active = set(grant.active)
    first_role = subject.roles[0] if subject.roles else None

    def answer(node: exp.Expression) -> exp.Expression:
        name = _function_name(node)
        if name == "CURRENT_ROLE":
            return literal(first_role.upper() if first_role else None)
        if name == "CURRENT_USER":
            return literal(subject.name.upper() if subject.name else None)
        if name in ("IS_ROLE_IN_SESSION", "PRINCIPAL_ATTRIBUTE"):
            argument = node.expressions[0].this  # validated at load: one string literal
            if name == "IS_ROLE_IN_SESSION":
                return literal(name_key(argument) in active)
            value = subject.attributes.get(argument)
            return literal(value) if value is not None else exp.Cast(this=exp.null(), to=exp.DataType.build("VARCHAR"))
        if isinstance(node, exp.Column) and node.find_ancestor(exp.Query) is None:
            return column_of(binding.alias, decision.table.column(node.name).name)  # type: ignore[union-attr]
        if isinstance(node, exp.Table):
            table = policy_tables(".".join(part.name for part in node.parts))
            assert table is not None, "validated at load: mapping tables have contracts"
            reference = binding.table_reference(table)
            renamed[name_key(node.alias_or_name)] = reference.alias
            return reference
        return node

    renamed: dict[str, str] = {}
    bound = tree.copy().transform(answer, copy=False)
    # columns qualified by a mapping table's own name or alias now name its new alias
    for column in bound.find_all(exp.Column):
        if column.table and name_key(column.table) in renamed:
            column.set("table", quoted(renamed[name_key(column.table)]))
    return bound


def missing_attributes(decision: TableDecision) -> list[tuple[str, bool]]:
    """The principal attributes the decision's row filter reads and the reader does not have, each
    with whether every rule of the filter reads one (then the filter shows no rows at all).

    :func:`bind` answers such an attribute NULL, so the rule that reads it shows no row: fail closed,
    but silently unless the reader is told (a bare role has no attributes at all).
    """
    rows = decision.rows
    if rows.scope is not RowScope.RULES:
        return []
    if any(isinstance(rule.where, exp.Boolean) and rule.where.this is True for rule in rows.rules):
        return []  # a rule that shows every row: the filter is dropped whatever the others read
    attributes = decision.subject.attributes
    missing: dict[str, int] = {}
    rules_missing = 0
    for rule in rows.rules:
        names = [call.expressions[0].this for call in rule.where.find_all(exp.Anonymous)
                 if call.name.upper() == "PRINCIPAL_ATTRIBUTE" and call.expressions
                 and isinstance(call.expressions[0], exp.Literal)]
        absent = [name for name in names if attributes.get(name) is None]
        if absent:
            rules_missing += 1
        for name in absent:
            missing.setdefault(name, 0)
    every = rules_missing == len(rows.rules)
    return [(name, every) for name in missing]


def attribute_notices(decisions: tuple[TableDecision, ...] | list[TableDecision]) -> tuple[str, ...]:
    """What the reader is told about row filters that read attributes it does not have."""
    notices: list[str] = []
    for decision in decisions:
        subject = decision.subject
        if subject.name:
            who = f"principal {subject.name} does"
        elif len(subject.roles) == 1:
            who = f"role {subject.roles[0]} alone does"
        else:
            who = "roles " + ", ".join(subject.roles) + " alone do"
        for name, every in missing_attributes(decision):
            outcome = "0 rows" if every else "the rule that reads it shows no rows"
            notice = (f"row filter of {decision.table_name} reads principal attribute '{name}', "
                      f"which {who} not have: {outcome}")
            if notice not in notices:
                notices.append(notice)
    return tuple(notices)
