"""One function per Snowflake statement the engine writes; the DDL template and the planner share them.

Names arrive through :func:`identifier` or the plan's qualified names; bodies are generated from
syntax trees; text from policy files arrives only as string literals.
"""

from __future__ import annotations

from sqlglot import exp

from policyengine.ddl.keyed_handler import KEY_FILE, KEY_STAGE, UDFS, fingerprint_comment, handler_source
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


def create_udf(plan: SnowflakePlan, name: str, fingerprint: str | None) -> str:
    """A keyed UDF: no key in its text; it reads the derived keys from the staged file it imports."""
    sql_signature, returns, handler = UDFS[name]
    return (f"CREATE OR REPLACE SECURE FUNCTION {plan.qualified(name)}({sql_signature}) RETURNS {returns}\n"
            f"  LANGUAGE PYTHON RUNTIME_VERSION = '3.11' HANDLER = '{handler}'\n"
            f"  IMPORTS = ('@{plan.qualified(KEY_STAGE)}/{KEY_FILE}')\n"
            f"  COMMENT = {string(fingerprint_comment(fingerprint))}\n"
            f"AS $$\n{handler_source().strip(chr(10))}\n$$")


def create_key_stage(plan: SnowflakePlan) -> str:
    return (f"CREATE STAGE IF NOT EXISTS {plan.qualified(KEY_STAGE)} ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE') "
            f"COMMENT = 'policyengine: the derived keys its secure functions read; grant nothing on it'")


def put_keys(plan: SnowflakePlan, local_file: str) -> str:
    """Upload the derived keys (``policyengine warehouse-keys`` writes the file; ``apply`` a temporary one)."""
    return f"PUT {string('file://' + local_file)} @{plan.qualified(KEY_STAGE)} AUTO_COMPRESS = FALSE OVERWRITE = TRUE"


def create_masking(plan: SnowflakePlan, policy: MaskingPolicy | TagMaskingPolicy, name: str | None = None) -> str:
    exempt = "\n  EXEMPT_OTHER_POLICIES = TRUE" if policy.exempt_other_policies else ""
    if isinstance(policy, TagMaskingPolicy):
        return (f"CREATE OR REPLACE MASKING POLICY {plan.qualified(name or policy.name)} AS (val {policy.type}) "
                f"RETURNS {policy.type} ->\n  {body(policy.body)}\n"
                f"  COMMENT = 'policyengine tag-based masking for {policy.type} columns'{exempt}")
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


def unset_tag(plan: SnowflakePlan, table: str, column: str, tag: str) -> str:
    return f"ALTER TABLE {table} MODIFY COLUMN {identifier(column)} UNSET TAG {plan.qualified(tag)}"


def add_allowed_values(plan: SnowflakePlan, tag: str, values: list[str]) -> str:
    return f"ALTER TAG {plan.qualified(tag)} ADD ALLOWED_VALUES {', '.join(string(v) for v in values)}"


def set_tag_policies(plan: SnowflakePlan, names: list[str], force: bool = False) -> str:
    """``force``: a policy for the same data type is on the tag already, replaced in this statement."""
    policies = ", ".join(f"MASKING POLICY {plan.qualified(n)}" for n in names)
    return f"ALTER TAG {plan.qualified(PROTECTION_TAG)} SET {policies}" + (" FORCE" if force else "")


def unset_tag_policy(plan: SnowflakePlan, name: str) -> str:
    return f"ALTER TAG {plan.qualified(PROTECTION_TAG)} UNSET MASKING POLICY {plan.qualified(name)}"


def drop_row_access(table: str, policy: str) -> str:
    return f"ALTER TABLE {table} DROP ROW ACCESS POLICY {policy}"


def drop_policy(plan: SnowflakePlan, noun: str, name: str) -> str:
    return f"DROP {noun} {plan.qualified(name)}"


def create_table(plan: SnowflakePlan, table) -> str:  # type: ignore[no-untyped-def]
    """A new table with its policies and tags inline: no moment exists in which it is unprotected."""
    lines = []
    for column in table.columns:
        mask = plan.masking_for(table, column)
        projection = plan.projection_for(table, column)
        protection = plan.protection_tag_for(table, column)
        required = " NOT NULL" if column.mode == "required" else ""
        text = f"{identifier(column.name)} {snowflake_type(column)}{required}"
        if mask:
            text += f" WITH MASKING POLICY {plan.qualified(mask.name)}{using(mask)}"
        if projection:
            text += f" WITH PROJECTION POLICY {plan.qualified(projection.name)}"
        tags = f"{plan.qualified(SENSITIVITY_TAG)} = {string(column.sensitivity)}"
        if protection:
            tags += f", {plan.qualified(PROTECTION_TAG)} = {string(protection)}"
        lines.append(f"{text} WITH TAG ({tags})")
    key = plan.primary_key(table)
    if key:
        lines.append(f"PRIMARY KEY ({column_list(key)})")
    rap = plan.row_access_for(table)
    rows = f" WITH ROW ACCESS POLICY {plan.qualified(rap.name)} ON ({on_columns(rap)})" if rap else ""
    body = ",\n  ".join(lines)
    return f"CREATE TABLE IF NOT EXISTS {plan.table_name(table)} (\n  {body}\n){rows}"


def protect_table(plan: SnowflakePlan, table) -> list[str]:  # type: ignore[no-untyped-def]
    """The statements that protect a table that exists already and carries none of the policies yet:
    tags first (in tag mode the protection tag's policies are on the tag already, so a tagged column
    is masked from the moment it is tagged), then the column policies, then the row access policy."""
    name = plan.table_name(table)
    out = [set_tag(plan, name, c.name, SENSITIVITY_TAG, level) for t, c, level in plan.tags if t.key == table.key]
    out += [set_tag(plan, name, c.name, PROTECTION_TAG, value)
            for t, c, value in plan.protection_tags if t.key == table.key]
    out += [attach_masking(plan, m) for m in plan.masking if m.table.key == table.key]
    out += [attach_projection(plan, p) for p in plan.projection if p.table.key == table.key]
    rap = plan.row_access_for(table)
    if rap:
        out.append(add_row_access(plan, rap))
    return out


def table_exists_query(plan: SnowflakePlan, table) -> str:  # type: ignore[no-untyped-def]
    """Counts the table in INFORMATION_SCHEMA.TABLES, with the names as Snowflake stores them."""
    parts = plan.table_name(table).split(".")
    stored = [p.strip('"') if p.startswith('"') else p.upper() for p in parts]
    database = [p for p in parts[:-2]]
    schema = string(stored[-2]) if len(stored) >= 2 else "CURRENT_SCHEMA()"
    source = ".".join(database + ["INFORMATION_SCHEMA", "TABLES"])
    return (f"SELECT COUNT(*) INTO :found FROM {source} "
            f"WHERE TABLE_SCHEMA = {schema} AND TABLE_NAME = {string(stored[-1])}")


def create_or_protect_table(plan: SnowflakePlan, table) -> str:  # type: ignore[no-untyped-def]
    """``--create-tables``: one Snowflake Scripting block per table (EXECUTE IMMEDIATE, documented for
    anonymous blocks in SnowSQL and Snowsight). A new table is created with its policies inline; one
    that exists already gets them attached, instead of ``CREATE TABLE IF NOT EXISTS`` skipping it and
    leaving it unprotected without a word."""
    protect = "".join(f"    {statement};\n" for statement in protect_table(plan, table))
    create = "    " + create_table(plan, table).replace("\n", "\n    ") + ";\n"
    return ("EXECUTE IMMEDIATE $$\nDECLARE\n  found INTEGER DEFAULT 0;\nBEGIN\n"
            f"  {table_exists_query(plan, table)};\n"
            f"  IF (found > 0) THEN\n{protect}  ELSE\n{create}  END IF;\nEND;\n$$")
