"""Policy expressions: row access conditions and custom masks, parsed as Snowflake SQL at load time.

They are parsed once, here, so that a syntax error is a validation error with its position, and so
that enforcement (the rewriter, the DDL generator) builds SQL from the syntax tree and never pastes
policy text into a statement. Only expressions are accepted: a statement, several statements, or a
data-changing construct anywhere inside is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.annotate_types import annotate_types

DIALECT = "snowflake"

#: functions that read who is asking; bound per principal by the enforcement layers
CONTEXT_FUNCTIONS = frozenset({"CURRENT_ROLE", "IS_ROLE_IN_SESSION", "CURRENT_USER", "PRINCIPAL_ATTRIBUTE"})

_STATEMENTS: tuple[type[exp.Expression], ...] = (
    exp.DDL, exp.DML, exp.Command, exp.Block, exp.Set, exp.Use, exp.Pragma, exp.Transaction,
    exp.Commit, exp.Rollback, exp.Describe, exp.Copy, exp.Attach, exp.Detach, exp.Install,
)


class ExpressionError(ValueError):
    pass


#: The deepest syntax tree a policy expression may have. A real condition is a few levels deep, but
#: ``a OR b OR c ...`` nests one level per term and validation, the rewriter and SQL generation all
#: walk the tree recursively: a filter of a thousand ORs used to end the loader with a RecursionError
#: (a traceback, not a located problem) and one of 20,000 took minutes before it did. Deeper trees are
#: refused here, where the problem can still be reported at the field that holds it.
MAX_DEPTH = 256


def _deeper_than(root: exp.Expression, limit: int) -> bool:
    """Whether the tree has a path longer than ``limit`` nodes (iterative: the tree may be deep)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return False


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
        where = f" at line {line}, column {col}" if line else ""
        raise ExpressionError(f"syntax error{where}: {_describe_parse_error(first.get('description'))}") from None
    except TokenError:
        raise ExpressionError(_describe_token_error(text)) from None
    except RecursionError:
        raise ExpressionError("nested too deeply to analyse") from None
    trees = [tree for tree in trees if tree is not None]
    if len(trees) != 1:
        raise ExpressionError("must be a single expression, not several statements")
    root = trees[0]
    if _deeper_than(root, MAX_DEPTH):
        raise ExpressionError(f"nested too deeply to analyse (more than {MAX_DEPTH} levels)")
    if isinstance(root, exp.Subquery):  # '(SELECT ...)': an expression, but of a kind a mask cannot hold
        if not allow_subqueries:
            raise ExpressionError("must not contain a subquery")
    elif isinstance(root, exp.Query) or not isinstance(root, exp.Condition):
        raise ExpressionError(f"must be an expression, not a statement ({root.key.upper()})")
    for node in root.walk():
        if isinstance(node, _STATEMENTS):
            raise ExpressionError(f"must not contain a {node.key.upper()} statement")
        if isinstance(node, exp.Query) and not allow_subqueries:
            raise ExpressionError("must not contain a subquery")
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            raise ExpressionError(f"must not contain a parameter ({node.sql(DIALECT, comments=False)})")
    return root


def _describe_parse_error(description: str | None) -> str:
    """The parser's description, without its internals: "Required keyword: 'expression' missing
    for <class 'sqlglot.expressions.core.EQ'>" is an operator or keyword with nothing after it."""
    if not description:
        return "cannot be parsed"
    if description.startswith("Required keyword:") or "<class '" in description:
        return "incomplete expression"
    return description


def _describe_token_error(text: str) -> str:
    """Where the quote or comment that is never closed opens; the tokenizer does not say."""
    opened = _unclosed(text)
    if opened is None:
        return "syntax error: the text cannot be split into SQL tokens"
    offset, what = opened
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"syntax error at line {line}, column {column}: {what} is never closed"


def _unclosed(text: str) -> tuple[int, str] | None:
    """The offset and description of a string, quoted name or comment that runs to the end of the text."""
    index = 0
    while index < len(text):
        char = text[index]
        if text.startswith("--", index) or text.startswith("//", index):
            end = text.find("\n", index)
            if end < 0:
                return None
            index = end + 1
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            if end < 0:
                return index, "the comment opened with /*"
            index = end + 2
        elif text.startswith("$$", index):
            end = text.find("$$", index + 2)
            if end < 0:
                return index, "the string opened with $$"
            index = end + 2
        elif char in "'\"":
            scan = index + 1
            while True:
                if scan >= len(text):
                    kind = "string" if char == "'" else "quoted name"
                    return index, f"the {kind} opened with {char}"
                if char == "'" and text[scan] == "\\":
                    scan += 2
                elif text[scan] == char:
                    if text.startswith(char * 2, scan):
                        scan += 2
                    else:
                        break
                else:
                    scan += 1
            index = scan + 1
        else:
            index += 1
    return None


def outer_columns(root: exp.Expression) -> list[exp.Column]:
    """Column references that belong to the protected table itself, not to a subquery's tables."""
    return [column for column in root.find_all(exp.Column) if column.find_ancestor(exp.Query) is None]


def _cte_names(root: exp.Expression) -> set[str]:
    return {cte.alias.lower() for cte in root.find_all(exp.CTE) if cte.alias}


def _table_name(table: exp.Table) -> str | None:
    """``db.schema.t`` as written, or None for a table function (``TABLE(FLATTEN(...))``)."""
    if not isinstance(table.this, exp.Identifier):
        return None
    return ".".join(part.name for part in table.parts)


def referenced_tables(root: exp.Expression) -> list[exp.Table]:
    """The tables a subquery reads: not the names of the expression's own CTEs, not table functions."""
    ctes = _cte_names(root)
    return [table for table in root.find_all(exp.Table)
            if _table_name(table) is not None and not (not table.db and table.name.lower() in ctes)]


@dataclass(frozen=True)
class Source:
    """Something a subquery reads FROM: a table by name, or a derived table, CTE or table function
    (``name`` None), whose columns are not known here."""

    name: str | None
    #: what its columns are qualified with: its alias, else the table's own (last) name
    qualifier: str | None


@dataclass(frozen=True)
class ScopedColumn:
    """A column reference inside a subquery, with the sources it may belong to."""

    column: exp.Column
    #: the sources of each enclosing SELECT, nearest first (the protected table is not among them)
    scopes: tuple[tuple[Source, ...], ...]
    #: the output names of the nearest SELECT (ORDER BY and QUALIFY may use them)
    aliases: frozenset[str]


def _sources(select: exp.Select, ctes: set[str]) -> tuple[Source, ...]:
    items: list[exp.Expression] = []
    if select.args.get("from_") is not None:
        items.append(select.args["from_"].this)
    items.extend(join.this for join in select.args.get("joins") or [])
    out = []
    for item in items:
        alias = item.alias or None
        if isinstance(item, exp.Table):
            name = _table_name(item)
            if name is not None and not item.db and item.name.lower() in ctes:
                name = None
            out.append(Source(name, alias or item.name))
        else:
            out.append(Source(None, alias))
    return tuple(out)


def subquery_columns(root: exp.Expression) -> list[ScopedColumn]:
    """Every column reference inside a subquery of ``root`` (``*`` excluded), with its scopes."""
    ctes = _cte_names(root)
    out = []
    for column in root.find_all(exp.Column):
        if isinstance(column.this, exp.Star):
            continue
        select = column.find_ancestor(exp.Select)
        if select is None:
            continue
        scopes = []
        scope: exp.Select | None = select
        while scope is not None:
            scopes.append(_sources(scope, ctes))
            scope = scope.find_ancestor(exp.Select)
        aliases = frozenset(e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias))
        out.append(ScopedColumn(column, tuple(scopes), aliases))
    return out


#: context functions that may stand alone as a condition (PRINCIPAL_ATTRIBUTE for a true/false attribute)
_BOOLEAN_CONTEXT = frozenset({"IS_ROLE_IN_SESSION", "PRINCIPAL_ATTRIBUTE"})

#: operators whose result is a number or text, never true or false
_VALUE_OPERATORS: tuple[type[exp.Expression], ...] = (
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.DPipe, exp.Neg,
    exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift, exp.BitwiseRightShift,
)

_NOT_A_CONDITION = "must be a condition (true or false for each row)"


def condition_problem(root: exp.Expression, column_type: Callable[[exp.Column], str | None]) -> str | None:
    """Why ``root`` is not a condition (true or false for each row), or None when it is one.

    A row filter such as ``id`` or ``1`` is a value, not a condition: Snowflake refuses it, DuckDB
    may read it as true. ``column_type`` gives the type of a column of the protected table as
    ``BOOLEAN``, ``STRING``, ... (None when that cannot be told, which is not reported here). A
    function is judged by the type sqlglot knows it to return; one whose type is not known (a
    function sqlglot does not know) is not refused on a guess: the database judges it.
    """
    node = root
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, (exp.Predicate, exp.Boolean, exp.Null, exp.Exists)):
        return None
    if isinstance(node, exp.Connector):
        return condition_problem(node.this, column_type) or condition_problem(node.expression, column_type)
    if isinstance(node, exp.Not):
        return condition_problem(node.this, column_type)
    branches: list[exp.Expression | None] | None = None
    if isinstance(node, exp.Case):
        branches = [branch.args.get("true") for branch in node.args.get("ifs") or []] + [node.args.get("default")]
    elif isinstance(node, exp.If):
        branches = [node.args.get("true"), node.args.get("false")]
    elif isinstance(node, exp.Coalesce):
        branches = [node.this, *node.expressions]
    if branches is not None:
        return next((p for b in branches if b is not None for p in [condition_problem(b, column_type)] if p), None)
    if isinstance(node, exp.Anonymous) and node.name.upper() in _BOOLEAN_CONTEXT:
        return None
    if isinstance(node, exp.Column):
        written = column_type(node)
        if written is None or written == "BOOLEAN":
            return None
        return f"{_NOT_A_CONDITION}, but '{node.sql(DIALECT, comments=False)}' is a {written} column"
    if isinstance(node, exp.Subquery):
        return f"{_NOT_A_CONDITION}, not a subquery (compare its result, or use EXISTS or IN)"
    if isinstance(node, _VALUE_OPERATORS):
        return f"{_NOT_A_CONDITION}, not the calculation '{node.sql(DIALECT, comments=False)}'"
    returns = _known_type(node)
    if returns is None or returns == "BOOLEAN":
        return None
    if isinstance(node, exp.Literal):
        return f"{_NOT_A_CONDITION}, not the value {node.sql(DIALECT, comments=False)}"
    if isinstance(node, exp.Func) and not isinstance(node, exp.Cast):
        name = node.name.upper() if isinstance(node, exp.Anonymous) else node.sql_name()
        return f"{_NOT_A_CONDITION}, not a call of {name}, which returns {returns}"
    return f"{_NOT_A_CONDITION}, not '{node.sql(DIALECT, comments=False)}' ({returns})"


def _known_type(node: exp.Expression) -> str | None:
    """The SQL type sqlglot knows ``node`` to have (``BOOLEAN``, ``VARCHAR``, ...), or None."""
    try:
        annotated = annotate_types(node.copy(), dialect=DIALECT)
    except Exception:  # noqa: BLE001 - the annotator is a hint only; no answer is "not known"
        return None
    if annotated.type is None or annotated.type.is_type(exp.DataType.Type.UNKNOWN):
        return None
    return annotated.type.sql(DIALECT)


def row_wise_problem(root: exp.Expression) -> str | None:
    """An aggregate or window function outside a subquery: a row filter and a mask are evaluated
    one row at a time, so ``COUNT(*) > 1`` has no meaning there (inside a subquery over a mapping
    table, an aggregate is fine)."""
    for node in root.walk():
        if node.find_ancestor(exp.Query) is not None or isinstance(node, exp.Query):
            continue
        if isinstance(node, exp.Window):
            return "must not contain a window function (OVER): it is evaluated one row at a time"
        if isinstance(node, exp.AggFunc) and node.find_ancestor(exp.Window) is None:
            name = node.name.upper() if isinstance(node, exp.Anonymous) else node.sql_name()
            return f"must not contain an aggregate function ({name}): it is evaluated one row at a time"
    return None


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
