"""A stand-in for a Snowflake account that enforces a plan's native policies, for testing
``policyengine verify snowflake`` without an account.

fakesnow cannot run masking policies, row access policies or ``EXECUTE USING POLICY_CONTEXT``
(/work/shared/research/snowflake-testing.md), so this is a small DB-API-like connection
(``cursor().execute / fetchall / description / close``) over DuckDB holding the same data as the
engine's database. It understands one statement shape::

    EXECUTE USING POLICY_CONTEXT(CURRENT_ROLE => 'R', CURRENT_USER => 'U'
                                 [, SNOWFLAKE$SESSION_ACTIVATED_ROLES => ('R1', 'R2')]) AS <query>

and answers it by evaluating the plan's *own* Snowflake policy bodies
(:func:`policyengine.ddl.snowflake_plan.plan`), transpiled with sqlglot to DuckDB, with
``IS_ROLE_IN_SESSION`` bound to the simulated role's hierarchy, ``CURRENT_USER()`` to the simulated
user and the keyed UDFs to the DuckDB SQL of the same algorithms (as tests/test_snowflake_ddl.py
does). It never asks the engine, so a plan that differs from the engine's decision shows up as a
difference, which is what the verify tests need.

Rules implemented, each from Snowflake's documentation:

- POLICY_CONTEXT simulates the context functions CURRENT_ROLE and CURRENT_USER and the
  SYS_CONTEXT list key SNOWFLAKE$SESSION_ACTIVATED_ROLES, and "evaluates masking, row access and
  projection policies" for the query (https://docs.snowflake.com/en/sql-reference/functions/policy_context).
- IS_ROLE_IN_SESSION is true for the active roles "or any role lower in the role hierarchy"
  (https://docs.snowflake.com/en/sql-reference/functions/is_role_in_session); the simulated account's
  grants mirror ``inherits`` (docs/snowflake.md asks for that), without ``clearance: none``, which
  Snowflake's hierarchy cannot express.
- The row access policy is evaluated first, then masking: "Snowflake evaluates the row access policy
  first" and a masked column in its signature is seen masked unless the masking policy has
  EXEMPT_OTHER_POLICIES (https://docs.snowflake.com/en/user-guide/security-row-intro,
  https://docs.snowflake.com/en/sql-reference/sql/create-masking-policy). Conditional masking
  arguments follow the same rule.
- Masking applies "regardless of where in a SQL expression the column is referenced": projections,
  joins, WHERE, ORDER BY and GROUP BY (https://docs.snowflake.com/en/user-guide/security-column-intro),
  so every reference of the table reads the masked column: each table is replaced by a subquery of
  its masked columns over the rows its row policy admits.
- A projection policy whose constraint is ALLOW => FALSE fails a query that projects the column in
  the outermost query (ENFORCEMENT defaults to FAIL;
  https://docs.snowflake.com/en/sql-reference/sql/create-projection-policy); filtering on it works.

Limits: the projection check looks at the outermost SELECT's own expressions (``*`` and column
references), not through CTEs or derived tables; tables a row policy reads (mapping tables, the
attributes table) are read raw, without policies of their own; only the statement shape above runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from policyengine import crypto
from policyengine.ddl.snowflake_plan import (
    ATTRIBUTES_TABLE,
    PROTECTION_TAG,
    SENSITIVITY_TAG,
    SnowflakePlan,
    snowflake_family,
)
from policyengine.model import Column, PolicySet, Table, name_key
from policyengine.rewrite import keyed
from policyengine.rewrite.templates import cast

INTEGER_TYPES = {("hash", 1): "TINYINT", ("hash", 3): "SMALLINT", ("hash", 7): "INTEGER", ("hash", 15): "BIGINT",
                 ("tokenize", 2**7 - 1): "TINYINT", ("tokenize", 2**15 - 1): "SMALLINT",
                 ("tokenize", 2**31 - 1): "INTEGER", ("tokenize", 2**63 - 1): "BIGINT"}

_HEAD = re.compile(r"\s*EXECUTE\s+USING\s+POLICY_CONTEXT\s*\(", re.I)
_ARGUMENT = re.compile(r"([A-Za-z_$][\w$]*)\s*=>\s*('(?:[^']|'')*'|\([^)]*\))")
_STRING = re.compile(r"'((?:[^']|'')*)'")
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
RAW = "__sim_raw"


class ProgrammingError(Exception):
    """Named as the connector's class for SQL the account refuses."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


def keyed_sql(kind: str, value: exp.Expression, parameter: exp.Expression | None) -> exp.Expression:
    """The DuckDB SQL of the algorithm the secure UDF runs (the simulator and the DDL equivalence test share it)."""
    if parameter is None:
        return {"hash": lambda v: keyed.hash_value(v, "VARCHAR"),
                "tokenize": lambda v: keyed.tokenize_value(v, "VARCHAR"),
                "encrypt": keyed.encrypt_value}[kind](value)
    sql_type = INTEGER_TYPES[(kind, int(parameter.name))]
    builder = keyed.hash_value if kind == "hash" else keyed.tokenize_value
    return builder(cast(value, sql_type), sql_type)


def split_statement(sql: str) -> tuple[dict[str, str | list[str]], str]:
    """``EXECUTE USING POLICY_CONTEXT(args) AS query`` -> ({argument: value or list}, query)."""
    head = _HEAD.match(sql)
    if head is None:
        raise ProgrammingError("the simulator runs only EXECUTE USING POLICY_CONTEXT(...) AS SELECT ...")
    depth, quoted, position = 1, False, head.end()
    while position < len(sql) and depth:
        char = sql[position]
        if char == "'":
            quoted = not quoted
        elif not quoted:
            depth += {"(": 1, ")": -1}.get(char, 0)
        position += 1
    if depth:
        raise ProgrammingError("unbalanced POLICY_CONTEXT(...)")
    inside, rest = sql[head.end():position - 1], sql[position:]
    tail = re.match(r"\s*AS\s+(.*)$", rest, re.I | re.S)
    if tail is None:
        raise ProgrammingError("POLICY_CONTEXT(...) must be followed by AS <query>")
    arguments: dict[str, str | list[str]] = {}
    for name, value in _ARGUMENT.findall(inside):
        texts = [t.replace("''", "'") for t in _STRING.findall(value)]
        arguments[name.upper()] = texts if value.startswith("(") else texts[0]
    if not arguments:
        raise ProgrammingError("POLICY_CONTEXT needs at least one argument")
    return arguments, tail.group(1)


class Cursor:
    def __init__(self, connection: PolicySimulator):
        self.connection = connection
        self.description: list[tuple[Any, ...]] | None = None
        self._rows: list[tuple[Any, ...]] = []
        self.executed: list[str] = []

    def execute(self, sql: str, parameters: Any = None) -> Cursor:
        self.executed.append(sql)
        self.connection.executed.append(sql)
        translated = self.connection.translate(sql)
        try:
            result = self.connection.duck.execute(translated)
        except duckdb.Error as error:
            raise ProgrammingError(f"{type(error).__name__}: {error}") from None
        self._rows = result.fetchall()
        # Snowflake stores unquoted names in upper case, and so returns them
        self.description = [((d[0].upper() if _SIMPLE.fullmatch(d[0]) else d[0]),) + tuple(d[1:])
                            for d in result.description or []]
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def close(self) -> None:
        pass


class PolicySimulator:
    """A connection that answers POLICY_CONTEXT statements by the plan's policies over ``database``."""

    def __init__(self, database: str | Path, plan: SnowflakePlan, policy_set: PolicySet,
                 keys: crypto.KeyMaterial | None = None, grants: Mapping[str, Sequence[str]] | None = None):
        self.plan = plan
        self.policy_set = policy_set
        self.duck = duckdb.connect(str(database), read_only=True)
        self.executed: list[str] = []
        #: (table, roles in session, user) -> the table as that session sees it; built once each
        self.protected_tables: dict[tuple[Any, ...], exp.Select] = {}
        #: role -> the roles granted to it (upper case): Snowflake's hierarchy, by default ``inherits``
        self.grants = {k.upper(): [r.upper() for r in v] for k, v in (grants or {
            role.name: [policy_set.roles[p].name for p in role.inherits if p in policy_set.roles]
            for role in policy_set.roles.values()}).items()}
        if keys is not None:
            for purpose in crypto.PURPOSES:
                inner, outer = keys.pads(purpose)
                self.duck.execute(f"SET VARIABLE {keyed.variable_name(purpose, 'i')} = ?::BLOB", [inner])
                self.duck.execute(f"SET VARIABLE {keyed.variable_name(purpose, 'o')} = ?::BLOB", [outer])

    def cursor(self) -> Cursor:
        return Cursor(self)

    def close(self) -> None:
        self.duck.close()

    # --- the simulation --------------------------------------------------------------------------

    def held(self, roles: Sequence[str]) -> set[str]:
        out: set[str] = set()
        stack = [r.upper() for r in roles]
        while stack:
            role = stack.pop()
            if role not in out:
                out.add(role)
                stack.extend(self.grants.get(role, []))
        return out

    def translate(self, sql: str) -> str:
        """The DuckDB statement that answers the POLICY_CONTEXT statement as the plan's policies would."""
        arguments, query = split_statement(sql)
        role = arguments.get("CURRENT_ROLE")
        activated = arguments.get("SNOWFLAKE$SESSION_ACTIVATED_ROLES", [])
        roles = ([role] if isinstance(role, str) else []) + (
            [activated] if isinstance(activated, str) else list(activated))
        user = arguments.get("CURRENT_USER")
        tree = sqlglot.parse_one(query, read="snowflake")
        # only the columns the query names are built (a column it never names cannot be read), all with *
        named = None if any(isinstance(n, exp.Star) for n in tree.find_all(exp.Star)) else frozenset(
            c.name.lower() for c in tree.find_all(exp.Column))
        context = _Context(self, self.held(roles), user if isinstance(user, str) else None, named)
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for node in tree.find_all(exp.Table):
            # only the account's tables exist here: no files, no table functions, no other objects
            if not isinstance(node.this, exp.Identifier) or (
                    node.name.lower() not in ctes and self.table(node) is None):
                raise ProgrammingError(f"Object '{node.sql(dialect='snowflake')}' does not exist or not authorized.",
                                       errno=2003)
        context.check_projection(tree)

        def protect(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) \
                    and node.name.lower() not in ctes:
                table = self.table(node)
                if table is not None:
                    alias = node.alias or table.name.rsplit(".", 1)[-1]
                    return exp.Subquery(this=context.protected(table),
                                        alias=exp.TableAlias(this=exp.to_identifier(alias)))
            return node

        return tree.transform(protect).sql(dialect="duckdb")

    def table(self, node: exp.Table) -> Table | None:
        """The plan's table a (qualified) Snowflake name refers to: database and schema name the account."""
        return self.policy_set.find_table(node.name)


class _Context:
    """One statement's simulated session: the roles in session, the user."""

    def __init__(self, simulator: PolicySimulator, held: set[str], user: str | None, named: frozenset[str] | None):
        self.simulator, self.plan, self.held, self.user, self.named = simulator, simulator.plan, held, user, named

    def bind(self, body: exp.Expression, tags: dict[str, str] | None = None) -> exp.Expression:
        """A Snowflake body as a DuckDB-ready tree: context functions bound, UDFs inlined, tables read raw."""
        tree = sqlglot.parse_one(body.sql(dialect="snowflake"), read="snowflake")

        def function(node: exp.Expression) -> exp.Expression | None:
            name = node.name.upper()
            if name == "IS_ROLE_IN_SESSION":
                return exp.true() if node.expressions[0].name.upper() in self.held else exp.false()
            if name == "SYSTEM$GET_TAG_ON_CURRENT_COLUMN":
                value = (tags or {}).get(node.expressions[0].name.rsplit(".", 1)[-1])
                return exp.Literal.string(value) if value is not None else exp.null()
            if name == "PROJECTION_CONSTRAINT":
                return node.expressions[0].expression
            if name in ("PE_KEYED_TEXT", "PE_KEYED_INT"):
                kind, value, *parameter = node.expressions
                return keyed_sql(kind.name, value, parameter[0] if parameter else None)
            return None

        def visit(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Anonymous):
                bound = function(node.expression)  # a qualified UDF: ANALYTICS.REVIEWS.PE_KEYED_TEXT(...)
                return bound if bound is not None else node
            if isinstance(node, exp.Anonymous):
                bound = function(node)
                return bound if bound is not None else node
            if isinstance(node, exp.CurrentUser):
                return exp.Literal.string(self.user) if self.user else exp.null()
            if isinstance(node, exp.Table) and node.name.upper() == ATTRIBUTES_TABLE:
                return self._attributes(node.alias)
            if isinstance(node, exp.Table) and node.args.get("db"):
                bare = exp.to_table(node.name)  # a mapping table, read raw as the policy's owner does
                if node.args.get("alias") is not None:
                    bare.set("alias", node.args["alias"].copy())
                return bare
            return node

        return tree.transform(visit)

    def _attributes(self, alias: str) -> exp.Expression:
        rows = self.plan.attributes
        if rows:
            values = ", ".join("(" + ", ".join(exp.Literal.string(v).sql() for v in row) + ")" for row in rows)
            inner = f"SELECT * FROM (VALUES {values}) AS a(PRINCIPAL, NAME, VALUE)"
        else:
            inner = "SELECT NULL::VARCHAR AS PRINCIPAL, NULL::VARCHAR AS NAME, NULL::VARCHAR AS VALUE WHERE FALSE"
        return exp.Subquery(this=sqlglot.parse_one(inner, read="duckdb"),
                            alias=exp.TableAlias(this=exp.to_identifier(alias or ATTRIBUTES_TABLE)))

    @staticmethod
    def raw(column: Column) -> exp.Expression:
        return exp.column(column.name, table=RAW, quoted=True)

    def seen_by_others(self, table: Table, column: Column) -> exp.Expression:
        """What another policy on the table (row access, a conditional argument) reads of the column:
        raw when its masking policy is exempt (EXEMPT_OTHER_POLICIES) or it has none, else masked."""
        policy: Any = self.plan.masking_for(table, column)
        if policy is None:
            if self.plan.protection_tag_for(table, column) is None:
                return self.raw(column)
            family = snowflake_family(column)
            policy = next(p for p in self.plan.tag_masking if p.type == family)
        if getattr(policy, "exempt_other_policies", False):
            return self.raw(column)
        return self.masked(table, column, conditional_raw=True)

    def masked(self, table: Table, column: Column, conditional_raw: bool = False) -> exp.Expression:
        """The column as every reference of the table reads it: its masking policy applied to the raw value."""
        policy = self.plan.masking_for(table, column)
        tags = {SENSITIVITY_TAG: column.sensitivity}
        if policy is None:
            tag = self.plan.protection_tag_for(table, column)
            if tag is None:
                return self.raw(column)
            tags[PROTECTION_TAG] = tag
            family = snowflake_family(column)
            body = next(p.body for p in self.plan.tag_masking if p.type == family)
            arguments: dict[str, exp.Expression] = {}
        else:
            body = policy.body
            arguments = {}
            for argument in policy.signature[1:]:
                other = table.column(argument.name.strip('"'))
                if other is not None:
                    arguments[name_key(argument.name.strip('"'))] = (
                        self.raw(other) if conditional_raw else self.seen_by_others(table, other))
        value = self.raw(column)

        def substitute(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column) and not node.table:
                if node.name.lower() == "val":
                    return value.copy()
                if name_key(node.name) in arguments:
                    return arguments[name_key(node.name)].copy()
            return node

        return self.bind(body, tags).transform(substitute)

    def protected(self, table: Table) -> exp.Select:
        """The table as the session sees it: its row access policy first, then masking on every column."""
        key = (table.key, frozenset(self.held), self.user, self.named)
        if key not in self.simulator.protected_tables:
            self.simulator.protected_tables[key] = self._protected(table)
        return self.simulator.protected_tables[key].copy()

    def _protected(self, table: Table) -> exp.Select:
        policy = self.plan.row_access_for(table)
        columns = [c for c in table.columns if self.named is None or c.name.lower() in self.named] or table.columns[:1]
        select = exp.select(*[exp.alias_(self.masked(table, c), c.name, quoted=True) for c in columns])
        select = select.from_(exp.alias_(exp.to_table(table.name), RAW, table=True))
        if policy is None:
            return select
        body = self.bind(policy.body)

        def substitute(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column) and not node.table and node.find_ancestor(exp.Select) is None:
                column = table.column(node.name)
                if column is not None:
                    return self.seen_by_others(table, column)
            return node

        return select.where(body.transform(substitute))

    def check_projection(self, tree: exp.Expression) -> None:
        """Fail like Snowflake when the outermost SELECT projects a column whose projection policy
        does not allow it for this session."""
        outer = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
        if outer is None:
            return
        sources: dict[str, Table] = {}
        for node in [outer.args.get("from_") or outer.args.get("from"), *(outer.args.get("joins") or [])]:
            if node is None:
                continue
            found = node.this if isinstance(node.this, exp.Table) else None
            table = self.simulator.table(found) if found is not None else None
            if table is not None:
                sources[(found.alias or found.name).lower()] = table
        for projection in self.plan.projection:
            readers = [alias for alias, table in sources.items() if table.key == projection.table.key]
            if not readers:
                continue
            if not self._projects(outer, projection.column.name, readers):
                continue
            allowed = self.bind(projection.body)
            if not self.simulator.duck.execute(f"SELECT {allowed.sql(dialect='duckdb')}").fetchone()[0]:
                raise ProgrammingError(f"column {projection.column.name} is protected by projection policy "
                                       f"{projection.name} and cannot be projected", errno=3400)

    @staticmethod
    def _projects(outer: exp.Select, column: str, readers: list[str]) -> bool:
        for expression in outer.expressions:
            if isinstance(expression, exp.Star):
                return True
            for node in expression.find_all(exp.Column, exp.Star):
                if isinstance(node, exp.Star):
                    parent = node.parent
                    if isinstance(parent, exp.Column) and (not parent.table or parent.table.lower() in readers):
                        return True
                    continue
                if node.find_ancestor(exp.Select) is not outer:
                    continue
                if isinstance(node.this, exp.Star) and (not node.table or node.table.lower() in readers):
                    return True
                if node.name.lower() == column.lower() and (not node.table or node.table.lower() in readers):
                    return True
        return False
