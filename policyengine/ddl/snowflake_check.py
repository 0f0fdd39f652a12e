"""A whole apply plan, checked before its first statement reaches Snowflake.

Snowflake DDL is not transactional: a plan that fails halfway leaves the schema half changed, and one
that Snowflake accepts can still leave a column unmasked (a tag policy of the wrong data type, a
policy unset before its replacement is set). So the plan is run, statement by statement, on a copy of
the schema's state in :mod:`policyengine.ddl.snowflake_model`, which enforces Snowflake's documented
rules; after every statement each column that was protected and is meant to stay protected must
still be, and each table that had a row access policy must still have one; at the end every column
the policy set protects must be.
"""

from __future__ import annotations

from collections.abc import Sequence

from policyengine.ddl.snowflake_apply import Action, PlanRefused
from policyengine.ddl.snowflake_model import RuleViolation, SnowflakeModel
from policyengine.ddl.snowflake_plan import SnowflakePlan, identifier


def _stored(name: str) -> str:
    written = identifier(name)
    return written.upper() if not written.startswith('"') else written.strip('"')


def meant_protected(plan: SnowflakePlan) -> set[tuple[str, str]]:
    """(table, column) that the plan masks, by a policy of their own or through the protection tag."""
    columns = {(plan.table_name(m.table).lower(), _stored(m.column.name)) for m in plan.masking}
    columns |= {(plan.table_name(t).lower(), _stored(c.name)) for t, c, _ in plan.protection_tags}
    return columns


def _masked(state: SnowflakeModel, columns: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(table, column) for table, column in columns if state.masking_of(table, column) is not None}


def _with_rows(state: SnowflakeModel, tables: set[str]) -> set[str]:
    return {table for table in tables if state.row_access_of(table) is not None}


def check_plan(plan: SnowflakePlan, existing: SnowflakeModel, actions: Sequence[Action]) -> SnowflakeModel:
    """The state after ``actions``, or :class:`PlanRefused` naming the statement and rule that fail."""
    state = existing.copy()
    wanted = meant_protected(plan)
    tables = {plan.table_name(t).lower() for t in plan.tables()}
    keep = _masked(state, wanted)
    keep_rows = _with_rows(state, tables)
    for index, action in enumerate(actions, 1):
        try:
            state.execute(action.statement, put_content=action.upload)
        except RuleViolation as violation:
            raise PlanRefused(f"step {index} ({action.summary}) would fail in Snowflake: {violation}") from None
        lost = keep - _masked(state, keep)
        if lost:
            names = ", ".join(f"{t}.{c}" for t, c in sorted(lost))
            raise PlanRefused(f"step {index} ({action.summary}) would leave {names} unmasked")
        lost_rows = keep_rows - _with_rows(state, keep_rows)
        if lost_rows:
            raise PlanRefused(f"step {index} ({action.summary}) would leave {', '.join(sorted(lost_rows))} "
                              "without a row access policy")
    missing = wanted - _masked(state, wanted)
    if missing:
        names = ", ".join(f"{t}.{c}" for t, c in sorted(missing))
        raise PlanRefused(f"after the plan, {names} would still be unmasked")
    return state
