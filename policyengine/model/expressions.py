"""Policy expressions: row access conditions and custom masks, parsed as Snowflake SQL at load time.

They are parsed once, here, so that a syntax error is a validation error with its position, and so
that enforcement (the rewriter, the DDL generator) builds SQL from the syntax tree and never pastes
policy text into a statement. Only expressions are accepted: a statement, several statements, or a
data-changing construct anywhere inside is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

DIALECT = "snowflake"

#: functions that read who is asking; bound per principal by the enforcement layers
CONTEXT_FUNCTIONS = frozenset({"CURRENT_ROLE", "IS_ROLE_IN_SESSION", "CURRENT_USER", "PRINCIPAL_ATTRIBUTE"})

_STATEMENTS: tuple[type[exp.Expression], ...] = (
    exp.DDL, exp.DML, exp.Command, exp.Block, exp.Set, exp.Use, exp.Pragma, exp.Transaction,
    exp.Commit, exp.Rollback, exp.Describe, exp.Copy, exp.Attach, exp.Detach, exp.Install,
)


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class ContextCall:
    """A call of a context function, e.g. ``IS_ROLE_IN_SESSION('admin')``: name and literal argument."""

    name: str
    argument: str | None


def parse_policy_expression(text: str, *, allow_subqueries: bool) -> exp.Expression:
    try:
        trees = sqlglot.parse(text, read=DIALECT)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        line, col = first.get("line"), first.get("col")
        description = first.get("description") or "cannot be parsed"
        where = f" at line {line}, column {col}" if line else ""
        raise ExpressionError(f"syntax error{where}: {description}") from None
    except TokenError as error:
        raise ExpressionError(f"syntax error: {str(error).split(' at ')[0].split(chr(39))[0].strip() or 'bad token'}"
                              " (an unterminated string or quoted name?)") from None
    except RecursionError:
        raise ExpressionError("nested too deeply to analyse") from None
    trees = [tree for tree in trees if tree is not None]
    if len(trees) != 1:
        raise ExpressionError("must be a single expression, not several statements")
    root = trees[0]
    if isinstance(root, exp.Query) or not isinstance(root, exp.Condition):
        raise ExpressionError(f"must be an expression, not a statement ({root.key.upper()})")
    for node in root.walk():
        if isinstance(node, _STATEMENTS):
            raise ExpressionError(f"must not contain a {node.key.upper()} statement")
        if isinstance(node, exp.Query) and not allow_subqueries:
            raise ExpressionError("must not contain a subquery")
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            raise ExpressionError(f"must not contain a parameter ({node.sql(DIALECT)})")
    return root


def outer_columns(root: exp.Expression) -> list[exp.Column]:
    """Column references that belong to the protected table itself, not to a subquery's tables."""
    return [column for column in root.find_all(exp.Column) if column.find_ancestor(exp.Query) is None]


def referenced_tables(root: exp.Expression) -> list[exp.Table]:
    return list(root.find_all(exp.Table))


def context_calls(root: exp.Expression) -> list[ContextCall]:
    calls = []
    for node in root.find_all(exp.Func):
        name = node.name.upper() if isinstance(node, exp.Anonymous) else type(node).__name__.upper()
        if isinstance(node, exp.CurrentRole):
            name = "CURRENT_ROLE"
        elif isinstance(node, exp.CurrentUser):
            name = "CURRENT_USER"
        if name not in CONTEXT_FUNCTIONS:
            continue
        args = node.expressions if isinstance(node, exp.Anonymous) else []
        argument = None
        if args:
            literal = args[0]
            argument = literal.this if isinstance(literal, exp.Literal) and literal.is_string else None
            if argument is None or len(args) != 1:
                raise ExpressionError(f"{name} takes one quoted name, as in {name}('x')")
        elif name in ("IS_ROLE_IN_SESSION", "PRINCIPAL_ATTRIBUTE"):
            raise ExpressionError(f"{name} takes one quoted name, as in {name}('x')")
        calls.append(ContextCall(name, argument))
    return calls
