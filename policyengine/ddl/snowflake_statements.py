"""One function per Snowflake statement the engine writes; the DDL template and the planner share them.

Names arrive through :func:`identifier` or the plan's qualified names; bodies are generated from
syntax trees; text from policy files arrives only as string literals.
"""

from __future__ import annotations

from sqlglot import exp

from policyengine.ddl.keyed_handler import UDFS, handler_source
from policyengine.ddl.snowflake_plan import (
    DIALECT,
    PROTECTION_TAG,
    SENSITIVITY_TAG,
    MaskingPolicy,
    ProjectionPolicy,
    RowAccessPolicy,
    SnowflakePlan,
    TagMaskingPolicy,
    identifier,
    snowflake_type,
)

__all__ = ["identifier", "snowflake_type"]  # used by the DDL template through this module


def string(text: str) -> str:
    return exp.Literal.string(str(text)).sql(DIALECT)


def body(tree: exp.Expression) -> str:
    return tree.sql(dialect=DIALECT, comments=False)


def signature(arguments) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(f"{a.name} {a.type}" for a in arguments)


def create_udf(plan: SnowflakePlan, name: str, key_hex: str | None) -> str:
    sql_signature, returns, handler = UDFS[name]
    return (f"CREATE OR REPLACE SECURE FUNCTION {plan.qualified(name)}({sql_signature}) RETURNS {returns}\n"
            f"  LANGUAGE PYTHON RUNTIME_VERSION = '3.11' HANDLER = '{handler}'\n"
            f"  COMMENT = 'policyengine keyed protection; the key is in this secure definition'\n"
            f"AS $$\n{handler_source(key_hex).strip(chr(10))}\n$$")


def create_masking(plan: SnowflakePlan, policy: MaskingPolicy | TagMaskingPolicy, name: str | None = None) -> str:
    if isinstance(policy, TagMaskingPolicy):
        return (f"CREATE OR REPLACE MASKING POLICY {plan.qualified(name or policy.name)} AS (val {policy.type}) "
                f"RETURNS {policy.type} ->\n  {body(policy.body)}\n"
                f"  COMMENT = 'policyengine tag-based masking for {policy.type} columns'")
    exempt = "\n  EXEMPT_OTHER_POLICIES = TRUE" if policy.exempt_other_policies else ""
    return (f"CREATE OR REPLACE MASKING POLICY {plan.qualified(name or policy.name)} "
            f"AS ({signature(policy.signature)}) "
            f"RETURNS {policy.signature[0].type} ->\n  {body(policy.body)}\n"
            f"  COMMENT = {string(policy.comment)}{exempt}")


def create_projection(plan: SnowflakePlan, policy: ProjectionPolicy, name: str | None = None) -> str:
    return (f"CREATE OR REPLACE PROJECTION POLICY {plan.qualified(name or policy.name)} AS () "
            f"RETURNS PROJECTION_CONSTRAINT ->\n  {body(policy.body)}")


def create_row_access(plan: SnowflakePlan, policy: RowAccessPolicy, name: str | None = None) -> str:
    return (f"CREATE OR REPLACE ROW ACCESS POLICY {plan.qualified(name or policy.name)} "
            f"AS ({signature(policy.signature)}) "
            f"RETURNS BOOLEAN ->\n  {body(policy.body)}")


def set_body(plan: SnowflakePlan, noun: str, name: str, tree: exp.Expression) -> str:
    return f"ALTER {noun} {plan.qualified(name)} SET BODY -> {body(tree)}"


def using(policy: MaskingPolicy) -> str:
    if len(policy.signature) == 1:
        return ""
    return f" USING ({identifier(policy.column.name)}" + "".join(f", {a.name}" for a in policy.signature[1:]) + ")"


def attach_masking(plan: SnowflakePlan, policy: MaskingPolicy, name: str | None = None) -> str:
    return (f"ALTER TABLE {plan.table_name(policy.table)} MODIFY COLUMN {identifier(policy.column.name)} "
            f"SET MASKING POLICY {plan.qualified(name or policy.name)}{using(policy)} FORCE")


def unset_masking(table: str, column: str) -> str:
    return f"ALTER TABLE {table} MODIFY COLUMN {identifier(column)} UNSET MASKING POLICY"


def attach_projection(plan: SnowflakePlan, policy: ProjectionPolicy, name: str | None = None) -> str:
    return (f"ALTER TABLE {plan.table_name(policy.table)} MODIFY COLUMN {identifier(policy.column.name)} "
            f"SET PROJECTION POLICY {plan.qualified(name or policy.name)} FORCE")


def unset_projection(table: str, column: str) -> str:
    return f"ALTER TABLE {table} MODIFY COLUMN {identifier(column)} UNSET PROJECTION POLICY"


def column_list(names: list[str]) -> str:
    return ", ".join(identifier(name) for name in names)


def on_columns(policy: RowAccessPolicy) -> str:
    return ", ".join(a.name for a in policy.signature)


def add_row_access(plan: SnowflakePlan, policy: RowAccessPolicy, name: str | None = None,
                   replacing: str | None = None) -> str:
    """``replacing``: the policy now on the table, swapped out in the same statement."""
    drop = f"DROP ROW ACCESS POLICY {plan.qualified(replacing)}, " if replacing else ""
    return (f"ALTER TABLE {plan.table_name(policy.table)} {drop}ADD ROW ACCESS POLICY "
            f"{plan.qualified(name or policy.name)} ON ({on_columns(policy)})")


def create_sensitivity_tag(plan: SnowflakePlan) -> str:
    values = ", ".join(string(level) for level in plan.levels)
    return (f"CREATE TAG IF NOT EXISTS {plan.qualified(SENSITIVITY_TAG)} ALLOWED_VALUES {values} "
            f"COMMENT = 'policyengine sensitivity levels'")


def create_protection_tag(plan: SnowflakePlan) -> str:
    return (f"CREATE TAG IF NOT EXISTS {plan.qualified(PROTECTION_TAG)} "
            f"COMMENT = 'policyengine protection of a column, read by the tag-based masking policies'")


def set_tag(plan: SnowflakePlan, table: str, column: str, tag: str, value: str) -> str:
    return f"ALTER TABLE {table} MODIFY COLUMN {identifier(column)} SET TAG {plan.qualified(tag)} = {string(value)}"


def set_tag_policies(plan: SnowflakePlan, names: list[str]) -> str:
    policies = ", ".join(f"MASKING POLICY {plan.qualified(n)}" for n in names)
    return f"ALTER TAG {plan.qualified(PROTECTION_TAG)} SET {policies}"


def drop_policy(plan: SnowflakePlan, noun: str, name: str) -> str:
    return f"DROP {noun} {plan.qualified(name)}"
