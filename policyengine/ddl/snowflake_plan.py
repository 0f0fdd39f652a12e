"""What Snowflake needs to enforce a policy set in one environment, derived from the decision.

For each protected column, a masking policy whose body shows the raw value to exactly the roles
the decision shows it raw to (tested with ``IS_ROLE_IN_SESSION``, so Snowflake's role hierarchy
counts as ``inherits`` does) and the column's protection to everyone else; for each denied column
also a projection policy; for every table a row access policy that admits only roles with access in
the environment and applies the ``row_access`` rules. Bodies are built as syntax trees from the same
protection builders the DuckDB rewrite uses, then written in Snowflake's dialect: never pasted
policy text. A kind that declares a Snowflake template (``round``: Snowflake's own ROUND) has its
template rendered with the numbers its module computes, and parsed.

The keyed kinds call secure UDFs (``PE_KEYED_TEXT``, ``PE_KEYED_INT``) that hold the key, so no key is ever in a
policy body; see :mod:`policyengine.ddl.keyed_handler`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import jinja2
import sqlglot
from sqlglot import exp

from policyengine.decision import Outcome, Subject, decide
from policyengine.model import Column, PolicySet, Table, name_key
from policyengine.model.expressions import outer_columns
from policyengine.protections import KINDS, Kind
from policyengine.rewrite.keyed import udf_call as keyed_udf_call
from policyengine.rewrite.protections import protect

DIALECT = "snowflake"

SNOWFLAKE_TYPES = {
    "VARCHAR": "VARCHAR", "BIGINT": "NUMBER(38,0)", "INTEGER": "NUMBER(38,0)", "SMALLINT": "NUMBER(38,0)",
    "TINYINT": "NUMBER(38,0)", "DOUBLE": "FLOAT", "REAL": "FLOAT", "BOOLEAN": "BOOLEAN", "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP_NTZ", "TIMESTAMPTZ": "TIMESTAMP_TZ", "TIME": "TIME", "BLOB": "BINARY",
}

ATTRIBUTES_TABLE = "PE_PRINCIPAL_ATTRIBUTES"
SENSITIVITY_TAG = "PE_SENSITIVITY"
PROTECTION_TAG = "PE_PROTECTION"

#: the data type a tag-based policy is written for: Snowflake allows one policy per type on a tag
FAMILIES = {"VARCHAR": "VARCHAR", "FLOAT": "FLOAT", "BOOLEAN": "BOOLEAN", "DATE": "DATE", "TIME": "TIME",
            "TIMESTAMP_NTZ": "TIMESTAMP_NTZ", "TIMESTAMP_TZ": "TIMESTAMP_TZ", "BINARY": "BINARY"}


def snowflake_family(column: Column) -> str:
    kind = snowflake_type(column)
    return "NUMBER" if kind.startswith("NUMBER") else FAMILIES[kind]


def protection_tag(column: Column) -> str:
    """The protection tag's value: the column's type, kind and parameters, as plain text without quotes."""
    protection = column.protection
    params = [f"{name}={value}" for name, value in protection.model_dump(exclude={"kind"}).items()
              if value is not None and value != type(protection).model_fields[name].default]
    text = f"{column.type.sql}:{protection.kind}" + (f"({','.join(params)})" if params else "")
    return re.sub(r"[^A-Za-z0-9_:(),=.#*@ -]", "_", text)[:256]


def snowflake_type(column: Column) -> str:
    sql = column.type.sql
    if sql.startswith("DECIMAL("):
        return "NUMBER" + sql[len("DECIMAL"):]
    return SNOWFLAKE_TYPES[sql]


def identifier(name: str) -> str:
    """Simple names unquoted, so Snowflake matches them case-insensitively as DuckDB does; others quoted."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name):
        return name
    return exp.to_identifier(name, quoted=True).sql(DIALECT)


def object_name(*parts: str) -> str:
    """A policy object's name: upper case, safe characters, a short digest where names were changed."""
    raw = "_".join(parts)
    clean = re.sub(r"[^A-Za-z0-9_]", "_", raw).upper()
    if clean != raw.upper():
        clean += "_" + hashlib.sha256(raw.encode()).hexdigest()[:6].upper()
    return clean[:255]


@dataclass(frozen=True)
class Argument:
    name: str
    type: str
    #: the table column the argument is bound to, for a row access policy's ON list and exemptions
    column: str = ""


@dataclass(frozen=True)
class MaskingPolicy:
    name: str
    table: Table
    column: Column
    signature: tuple[Argument, ...]  # the masked column first, then conditional columns
    body: exp.Expression
    exempt_other_policies: bool
    comment: str


@dataclass(frozen=True)
class TagMaskingPolicy:
    """One policy per Snowflake data type, set on the protection tag (Snowflake allows one per type).

    Set on the protection tag, not the sensitivity tag, so that it reaches only the columns this
    plan tags for it: every column carries a sensitivity, and unprotected ones must stay untouched.
    """

    name: str
    type: str
    body: exp.Expression
    #: a row access policy reads one of the columns this policy masks (Snowflake refuses that otherwise)
    exempt_other_policies: bool = False


@dataclass(frozen=True)
class ProjectionPolicy:
    name: str
    table: Table
    column: Column
    body: exp.Expression


@dataclass(frozen=True)
class RowAccessPolicy:
    name: str
    table: Table
    signature: tuple[Argument, ...]
    body: exp.Expression


@dataclass
class SnowflakePlan:
    environment: str
    database: str | None
    schema: str | None
    masking: list[MaskingPolicy] = field(default_factory=list)
    projection: list[ProjectionPolicy] = field(default_factory=list)
    row_access: list[RowAccessPolicy] = field(default_factory=list)
    #: (table, column, level) for the sensitivity tag
    tags: list[tuple[Table, Column, str]] = field(default_factory=list)
    levels: tuple[str, ...] = ()
    #: (principal in upper case, attribute, value as text) for row filters that read attributes
    attributes: list[tuple[str, str, str]] = field(default_factory=list)
    keyed_udfs: set[str] = field(default_factory=set)
    mode: str = "column"
    #: tag mode: (table, column, protection tag value) of the columns the tag policies mask
    protection_tags: list[tuple[Table, Column, str]] = field(default_factory=list)
    tag_masking: list[TagMaskingPolicy] = field(default_factory=list)

    def qualified(self, name: str) -> str:
        prefix = ".".join(identifier(p) for p in (self.database, self.schema) if p)
        return prefix + ("." if self.database or self.schema else "") + name

    def tables(self) -> list[Table]:
        return [policy.table for policy in self.row_access]

    def masking_for(self, table: Table, column: Column) -> MaskingPolicy | None:
        return next((m for m in self.masking if m.table.key == table.key and m.column.key == column.key), None)

    def projection_for(self, table: Table, column: Column) -> ProjectionPolicy | None:
        return next((p for p in self.projection if p.table.key == table.key and p.column.key == column.key), None)

    def protection_tag_for(self, table: Table, column: Column) -> str | None:
        return next((v for t, c, v in self.protection_tags if t.key == table.key and c.key == column.key), None)

    def row_access_for(self, table: Table) -> RowAccessPolicy | None:
        return next((r for r in self.row_access if r.table.key == table.key), None)

    @staticmethod
    def primary_key(table: Table) -> list[str]:
        return [c.name for c in table.columns if c.primary_key]

    def table_name(self, table: Table) -> str:
        parts = table.name.split(".")
        if len(parts) == 1:
            parts = [p for p in (self.database, self.schema) if p] + parts
        elif len(parts) == 2 and self.database:
            parts = [self.database] + parts
        return ".".join(identifier(p) for p in parts)


def _role_literal(role_key: str, policy_set: PolicySet) -> str:
    return policy_set.roles[role_key].name.upper()


def _in_session(roles: list[str]) -> exp.Expression:
    checks = [exp.Anonymous(this="IS_ROLE_IN_SESSION", expressions=[exp.Literal.string(r)]) for r in roles]
    return exp.or_(*checks) if checks else exp.false()


class _Udfs:
    """Keyed protections as calls of the plan's secure UDFs, marking which ones the plan needs."""

    def __init__(self, plan: SnowflakePlan):
        self.plan = plan

    def qualify(self, name: str) -> str:
        self.plan.keyed_udfs.add(name)
        return self.plan.qualified(name)


def _keyed(kind: str, value: exp.Expression, column: Column, udfs: _Udfs) -> exp.Expression:
    return keyed_udf_call(kind, value, column.type.sql, udfs.qualify)


def _masked_value(column: Column, argument: exp.Expression, udfs: _Udfs, bind_context) -> exp.Expression:
    """The column's protection in the policy body: the keyed kinds as calls of the secure UDFs, a kind
    with a Snowflake template as Snowflake's own SQL, every other kind as the rewrite's builder."""
    name = column.protection.kind
    kind = KINDS[name]
    to = exp.DataType.build(snowflake_type(column), dialect=DIALECT)
    if kind.keyed:
        return exp.Cast(this=_keyed(name, argument, column, udfs), to=to)
    if name == "deny":
        return exp.Cast(this=exp.null(), to=to)  # its projection policy refuses the column itself
    if kind.snowflake is not None:
        return exp.Cast(this=kind_template(kind, column, argument), to=to)
    return protect(argument, column, column.protection, bind=bind_context)


def kind_template(kind: Kind, column: Column, argument: exp.Expression) -> exp.Expression:
    """A kind's Snowflake template (``sql/snowflake/protection_<kind>.sql.j2``) rendered with the
    values its module gives (numbers and names it computed, never policy text) and parsed, with
    ``val`` standing for the masked argument."""
    assert kind.snowflake is not None and kind.snowflake_values is not None, "a kind with a template"
    text = _kind_templates().get_template(kind.snowflake).render(**kind.snowflake_values(column, column.protection))
    tree = sqlglot.parse_one(text, read=DIALECT)
    return tree.transform(lambda node: argument.copy() if isinstance(node, exp.Column) and not node.table
                          and node.name.lower() == "val" else node)


@lru_cache(maxsize=1)
def _kind_templates() -> jinja2.Environment:
    folder = Path(__file__).resolve().parent.parent / "sql_templates" / "snowflake"
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), undefined=jinja2.StrictUndefined,
                              autoescape=False)


def plan(policy_set: PolicySet, environment: str, *, database: str | None = None,
         schema: str | None = None, mode: str = "column") -> SnowflakePlan:
    """The Snowflake objects that enforce ``policy_set`` in ``environment``.

    ``mode="tag"``: columns whose protection depends only on their sensitivity and protection tags
    are masked by one policy per data type set on the protection tag; columns with ``unmask``
    exceptions, custom masks or ``deny`` keep a policy of their own, which Snowflake applies in
    preference to the tag's.
    """
    if mode not in ("column", "tag"):
        raise ValueError(f"unknown mode '{mode}' (column or tag)")
    env = name_key(environment)
    result = SnowflakePlan(env, database, schema, levels=policy_set.settings.sensitivity_levels, mode=mode)
    tagged: dict[str, list[tuple[Column, list[str]]]] = {}
    udfs = _Udfs(result)
    roles = list(policy_set.roles)
    for table in policy_set.tables.values():
        decisions = {role: decide(policy_set, Subject((role,)), env, table) for role in roles}
        with_access = [r for r, d in decisions.items() if d.allowed]
        for column in table.columns:
            result.tags.append((table, column, column.sensitivity))
            raw_roles = [_role_literal(r, policy_set) for r in with_access
                         if decisions[r].column(column.name).outcome is Outcome.RAW]
            uncleared = [r for r in with_access if decisions[r].column(column.name).outcome is not Outcome.RAW]
            if not uncleared and column.protection.kind == "none":
                continue
            if column.protection.kind == "none":
                continue  # validation makes this unreachable for sensitive columns
            if mode == "tag" and _tag_maskable(policy_set, table, column):
                result.protection_tags.append((table, column, protection_tag(column)))
                tagged.setdefault(snowflake_family(column), []).append((column, raw_roles))
                continue
            _add_column_policies(result, policy_set, table, column, raw_roles, udfs)
        result.row_access.append(_row_access(result, policy_set, table, with_access))
    in_row_access = {(rap.table.key, name_key(argument.column)) for rap in result.row_access
                     for argument in rap.signature}
    result.masking = [replace(m, exempt_other_policies=True)
                      if (m.table.key, m.column.key) in in_row_access and not m.exempt_other_policies else m
                      for m in result.masking]
    exempt_families = {snowflake_family(column) for table, column, _ in result.protection_tags
                       if (table.key, column.key) in in_row_access}
    for family, columns in sorted(tagged.items()):
        result.tag_masking.append(replace(_tag_policy(result, family, columns, udfs),
                                          exempt_other_policies=family in exempt_families))
    for principal in policy_set.principals.values():
        for attribute, value in sorted(principal.attributes.items()):
            result.attributes.append((principal.name.upper(), attribute, str(value)))
    return result


def _add_column_policies(result: SnowflakePlan, policy_set: PolicySet, table: Table, column: Column,
                         raw_roles: list[str], udfs: _Udfs) -> None:
    value = exp.column("val")
    conditional: list[Column] = []
    if column.protection.kind == "custom" and column.custom_expr is not None:
        for reference in outer_columns(column.custom_expr):
            other = table.column(reference.name)
            if other is not None and other.key != column.key and other not in conditional:
                conditional.append(other)

    def bind_context(tree: exp.Expression) -> exp.Expression:
        # conditional columns are the policy's extra arguments, named as the columns
        return tree

    masked = _masked_value(column, value, udfs, bind_context)
    body = (exp.Case(ifs=[exp.If(this=_in_session(raw_roles), true=value.copy())], default=masked)
            if raw_roles else masked)
    signature = (Argument("val", snowflake_type(column)),) + tuple(
        Argument(identifier(c.name), snowflake_type(c)) for c in conditional)
    used_as_condition = any(
        other.protection.kind == "custom" and other.custom_expr is not None and
        any(name_key(r.name) == column.key for r in outer_columns(other.custom_expr))
        for other in table.columns if other.key != column.key)
    result.masking.append(MaskingPolicy(
        name=object_name("PE_MASK", table.name, column.name), table=table, column=column, signature=signature,
        body=body, exempt_other_policies=used_as_condition,  # and if a row access policy reads it: plan()
        comment=f"policyengine: {table.name}.{column.name} ({column.sensitivity}, {column.protection.kind}) in "
                f"{result.environment}"))
    if column.protection.kind == "deny":
        allow = exp.Anonymous(this="PROJECTION_CONSTRAINT", expressions=[
            exp.Kwarg(this=exp.var("ALLOW"), expression=exp.true())])
        forbid = exp.Anonymous(this="PROJECTION_CONSTRAINT", expressions=[
            exp.Kwarg(this=exp.var("ALLOW"), expression=exp.false())])
        projection = (exp.Case(ifs=[exp.If(this=_in_session(raw_roles), true=allow)], default=forbid)
                      if raw_roles else forbid)
        result.projection.append(ProjectionPolicy(object_name("PE_DENY", table.name, column.name), table, column,
                                                  projection))


def _row_access(result: SnowflakePlan, policy_set: PolicySet, table: Table, with_access: list[str]) -> RowAccessPolicy:
    """Rows for roles with access in the environment, through the rules of those roles."""
    if not table.row_access:
        body: exp.Expression = _in_session([_role_literal(r, policy_set) for r in with_access])
        referenced: list[Column] = []
    else:
        terms = []
        referenced = []
        for rule in table.row_access:
            holders = [r for r in rule.roles if r in with_access]
            if not holders:
                continue
            where = _snowflake_row_condition(result, policy_set, table, rule.where)
            terms.append(exp.and_(exp.paren(_in_session([_role_literal(r, policy_set) for r in holders])),
                                  exp.paren(where)))
            for column in outer_columns(rule.where):
                found = table.column(column.name)
                if found is not None and found not in referenced:
                    referenced.append(found)
        body = exp.or_(*terms) if terms else exp.false()
    if not referenced:
        referenced = [_unmasked_column(result, table)]  # a row access policy takes at least one column
    signature = tuple(Argument(identifier(c.name), snowflake_type(c), c.name) for c in referenced)
    return RowAccessPolicy(object_name("PE_ROWS", table.name), table, signature, body)


def _unmasked_column(result: SnowflakePlan, table: Table) -> Column:
    """The column a row access policy without row rules is bound to: its body reads no column, but
    Snowflake wants one, and refuses a column that a masking policy also covers unless that policy is
    exempt. So the first column nothing masks; if every column is masked, the first, whose masking
    policy ``plan`` then makes exempt (harmless: the row access body never reads it)."""
    masked = {m.column.key for m in result.masking if m.table.key == table.key} | {
        c.key for t, c, _ in result.protection_tags if t.key == table.key}
    return next((c for c in table.columns if c.key not in masked), table.columns[0])


def _snowflake_row_condition(result: SnowflakePlan, policy_set: PolicySet, table: Table,
                             where: exp.Expression) -> exp.Expression:
    """A row rule in Snowflake: attributes read from the attributes table, mapping tables qualified."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.upper() == "PRINCIPAL_ATTRIBUTE":
            attribute = node.expressions[0].this
            lookup = exp.select("VALUE").from_(result.qualified(ATTRIBUTES_TABLE)).where(
                exp.and_(exp.EQ(this=exp.column("PRINCIPAL"), expression=exp.CurrentUser()),
                         exp.EQ(this=exp.column("NAME"), expression=exp.Literal.string(attribute))))
            return exp.Subquery(this=lookup)
        if isinstance(node, exp.Table):
            mapped = policy_set.find_table(".".join(part.name for part in node.parts))
            if mapped is not None:
                new = exp.to_table(result.table_name(mapped), dialect=DIALECT)
                if node.alias:
                    new.set("alias", exp.TableAlias(this=exp.to_identifier(node.alias)))
                return new
        return node

    return where.copy().transform(rewrite)


def _tag_maskable(policy_set: PolicySet, table: Table, column: Column) -> bool:
    """Whether a column's masking depends only on what its two tags say.

    Decimals with a scale keep a policy of their own: one NUMBER policy returns NUMBER(38,0) and
    would round them.
    """
    if column.protection.kind in ("custom", "deny"):  # conditional columns; a projection policy
        return False
    if snowflake_type(column).startswith("NUMBER(") and not snowflake_type(column).endswith(",0)"):
        return False
    return not any((table.key, column.key) in role.unmask for role in policy_set.roles.values())


def _get_tag(result: SnowflakePlan, tag: str) -> exp.Expression:
    return exp.Anonymous(this="SYSTEM$GET_TAG_ON_CURRENT_COLUMN",
                         expressions=[exp.Literal.string(result.qualified(tag))])


def _tag_policy(result: SnowflakePlan, family: str, columns: list[tuple[Column, list[str]]],
                udfs: _Udfs) -> TagMaskingPolicy:
    """CASE over the (sensitivity, protection) pairs present: raw for the roles cleared for that
    sensitivity, the protection for everyone else. A column with no protection tag is one the
    policy set leaves raw; a pair this policy does not know shows NULL (fail closed)."""
    value = exp.column("val")
    ifs = []
    seen: set[tuple[str, str]] = set()
    for column, raw_roles in columns:
        pair = (column.sensitivity, protection_tag(column))
        if pair in seen:
            continue
        seen.add(pair)
        masked = _masked_value(column, value, udfs, lambda tree: tree)
        shown = (exp.Case(ifs=[exp.If(this=_in_session(raw_roles), true=value.copy())], default=masked)
                 if raw_roles else masked)
        condition = exp.and_(
            exp.EQ(this=_get_tag(result, SENSITIVITY_TAG), expression=exp.Literal.string(pair[0])),
            exp.EQ(this=_get_tag(result, PROTECTION_TAG), expression=exp.Literal.string(pair[1])))
        ifs.append(exp.If(this=condition, true=shown))
    ifs.append(exp.If(this=exp.Is(this=_get_tag(result, PROTECTION_TAG), expression=exp.null()), true=value.copy()))
    type_name = "NUMBER" if family == "NUMBER" else family
    body = exp.Case(ifs=ifs, default=exp.Cast(this=exp.null(), to=exp.DataType.build(type_name, dialect=DIALECT)))
    return TagMaskingPolicy(object_name("PE_TAG_MASK", family), type_name, body)
