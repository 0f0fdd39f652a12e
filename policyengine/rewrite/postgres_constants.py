"""Constant expressions PostgreSQL evaluates while planning: their errors, even over no rows.

PostgreSQL's planner folds every constant subexpression of immutable operators and functions
(``eval_const_expressions`` in optimizer/util/clauses.c) before a single row is read, so ``SELECT 1/0
FROM t WHERE false`` fails with 22012, and so do ``(-2147483648) * 4`` (22003) and ``date '2024-01-15' +
2147483647`` (22008) in a WHERE clause that no row reaches. DuckDB evaluates them per row, so over
no rows it answers. This stage finds the same constant subexpressions in the statement (after the
semantics stages, so they are DuckDB's spelling of PostgreSQL's meaning) and gives them as one
``SELECT e1, e2, ...`` that the backend runs first (:attr:`Rewritten.preflight`): an error there is
PostgreSQL's planning error; otherwise the statement runs as usual. The check reads no table and no
column; it is SQL generated from the statement's own tree.

Folding is copied from clauses.c where it stops early, so that no error is raised that PostgreSQL
would not raise: a CASE branch whose condition is a constant (the planner drops it when false, and
the rest when true), COALESCE arguments after a constant, AND after a constant false and OR after a
constant true, and CTEs no one reads (never planned) are left out, unless the constant is a literal
this stage can read. Only operators and functions that are immutable in PostgreSQL are folded
(arithmetic, comparisons, numeric and date casts, abs/sqrt/ln/exp/round/trunc/floor/ceil/sign/mod/div,
make_date); anything else is not constant, and only its constant parts are checked.
"""

from __future__ import annotations

import datetime
import decimal
import re
from typing import NamedTuple

from sqlglot import exp

#: nodes folded when every argument is constant (immutable in PostgreSQL)
_FOLDED = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Pow, exp.Neg, exp.BitwiseAnd,
           exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift, exp.BitwiseRightShift, exp.EQ,
           exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.And, exp.Or, exp.Not, exp.Is, exp.Paren, exp.Case,
           exp.NullSafeEQ, exp.NullSafeNEQ,
           exp.If, exp.Coalesce, exp.Nullif, exp.Greatest, exp.Least, exp.Abs, exp.Sqrt, exp.Ln, exp.Log,
           exp.Exp, exp.Round, exp.Trunc, exp.Floor, exp.Ceil, exp.Sign, exp.Between, exp.In, exp.Interval)
#: DuckDB functions (the semantics stages' spelling) and PostgreSQL ones sqlglot keeps by name
_FOLDED_NAMES = frozenset({"make_date", "div", "mod", "round_even", "error", "to_days", "to_months",
                           "to_microseconds", "gcd", "lcm"})
_CAST_TARGETS = frozenset({exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT,
                           exp.DataType.Type.INT128, exp.DataType.Type.DECIMAL, exp.DataType.Type.FLOAT,
                           exp.DataType.Type.DOUBLE, exp.DataType.Type.DATE, exp.DataType.Type.BOOLEAN,
                           exp.DataType.Type.TIMESTAMP, exp.DataType.Type.INTERVAL,
                           exp.DataType.Type.TINYINT})
_LEAVES = (exp.Literal, exp.Null, exp.Boolean, exp.Var, exp.DataType, exp.Identifier)


def postgres_constants(tree: exp.Expression, read: str, write: str) -> tuple[str, ...] | None:
    """A ``SELECT`` of each constant subexpression PostgreSQL would fold while planning, in the order
    it folds them (so the first error is PostgreSQL's first), in ``write``'s SQL; None when there are
    none (or the reader is not PostgreSQL). One statement each: DuckDB folds a statement's constants
    while planning it, in an order of its own.

    >>> import sqlglot
    >>> tree = sqlglot.parse_one("SELECT a, 1 // 0 FROM t WHERE FALSE AND b = 2 * 1e400", read="duckdb")
    >>> postgres_constants(tree, "postgres", "duckdb")
    ('SELECT 1 // 0',)
    >>> postgres_constants(sqlglot.parse_one("SELECT a + 1 FROM t"), "postgres", "duckdb") is None
    True
    """
    if read != "postgres" or write != "duckdb":
        return None
    found: list[exp.Expression] = []
    _collect(tree, {}, found, _Reads(_read_ctes(tree), _read_columns(tree)))
    if not found:
        return None
    return tuple(dict.fromkeys(exp.select(node.copy()).sql(dialect=write) for node in found))


class _Reads(NamedTuple):
    """What the statement reads: CTE (and table) names, and column names ("*" for every column)."""

    ctes: set[str]
    columns: set[str]


def _read_ctes(tree: exp.Expression) -> set[str]:
    return {table.name.lower() for table in tree.find_all(exp.Table)}


def _read_columns(tree: exp.Expression) -> set[str]:
    """The column names the statement reads anywhere, lower case ("*" when it reads all of some source)."""
    names = {column.name.lower() for column in tree.find_all(exp.Column)}
    if any(True for _ in tree.find_all(exp.Star)):
        names.add("*")
    return names


def _constant(node: exp.Expression, memo: dict[int, bool]) -> bool:
    kept = memo.get(id(node))
    if kept is not None:
        return kept
    if isinstance(node, _LEAVES):
        result = True
    elif isinstance(node, exp.Cast) and not isinstance(node, exp.TryCast):
        result = node.to.this in _CAST_TARGETS and _constant(node.this, memo)
    elif isinstance(node, _FOLDED) or isinstance(node, exp.Anonymous) and node.name.lower() in _FOLDED_NAMES:
        if isinstance(node, exp.In) and node.args.get("query") is not None:
            result = False
        else:
            result = all(_constant(child, memo) for child in node.iter_expressions())
    else:
        result = False
    memo[id(node)] = result
    return result


def _fits_decimal(text: str, to: exp.DataType) -> bool:
    """Whether a number's text fits DECIMAL(p, s) (DuckDB's default: 18, 3) with its whole digits."""
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        return False
    if not value.is_finite():
        return False
    params = [int(param.this.this) if isinstance(param.this, exp.Literal) else None for param in to.expressions]
    precision, scale = (params + [18, 3][len(params):])[:2] if params else (18, 3)
    if precision is None or scale is None:
        return False
    whole = len(str(abs(int(value)))) if int(value) != 0 else 0
    return whole <= precision - scale


_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Pow, exp.BitwiseLeftShift)
_LAZY = (exp.Case, exp.If, exp.Coalesce, exp.And, exp.Or)


def _arithmetic_parts(node: exp.Expression) -> list[exp.Expression]:
    """The arithmetic inside a constant, each on its own: PostgreSQL types an operator from its
    operands alone (int4 * int4 overflows), where DuckDB may widen one to fit what it is compared
    with. Parts under a CASE, COALESCE, AND or OR are left to the whole, which evaluates them lazily."""
    parts = []
    for sub in node.walk(prune=lambda n: isinstance(n, _LAZY)):
        if sub is not node and isinstance(sub, _ARITHMETIC):
            parts.append(sub)
    return parts


def _raises(node: exp.Expression) -> bool:
    """Whether ``node`` holds the semantics stages' ERROR(), which only its whole CASE may evaluate."""
    return any(isinstance(sub, exp.Anonymous) and sub.name.lower() == "error" for sub in node.walk())


def _literal_truth(node: exp.Expression) -> bool | None:
    """True or False for a literal boolean (NULL counts as False, as a CASE condition or an AND
    argument), None for anything else."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return False
    return None


def _collect(node: exp.Expression, memo: dict[int, bool], found: list[exp.Expression], reads: _Reads) -> None:
    """Add the maximal constant subexpressions under ``node`` that PostgreSQL would fold."""
    if isinstance(node, (exp.DataType, exp.Var, exp.Identifier)):
        return  # a type or a keyword: nothing to evaluate
    if _constant(node, memo):
        # the semantics stages' ERROR() stands for PostgreSQL's error when its CASE reaches it: only
        # the whole CASE is evaluated
        if not _can_fail(node):
            return
        if not _raises(node):
            found.extend(_arithmetic_parts(node))
            found.append(node)
            return
        for sub in node.walk(prune=lambda n: isinstance(n, (exp.Case, exp.If)) and _raises(n)):
            if isinstance(sub, (exp.Case, exp.If)) and _raises(sub):
                found.append(sub)
        return
    for child in _folded_children(node, memo, reads):
        _collect(child, memo, found, reads)


#: what cannot fail: comparing and combining values (an error comes only from what they compare)
_SAFE = (*_LEAVES, exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.And,
         exp.Or, exp.Not, exp.Is, exp.Paren,
         exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Greatest, exp.Least, exp.Between, exp.In)


def _can_fail(node: exp.Expression) -> bool:
    """Whether evaluating a constant expression can raise: arithmetic, functions, a negated negative, a
    cast of anything but a literal its type reads (``DATE '2024-01-15'``, ``'12'::int``: both fine)."""
    for sub in node.walk():
        if isinstance(sub, exp.Cast):
            operand = sub.this.this if isinstance(sub.this, exp.Neg) else sub.this
            if not (isinstance(sub.this, exp.Null)
                    or isinstance(operand, exp.Literal) and _reads_as(sub.this, sub.to)):
                return True
        elif isinstance(sub, exp.Neg):
            if not isinstance(sub.this, exp.Literal):
                return True
        elif isinstance(sub, exp.Interval):
            if not isinstance(sub.this, exp.Literal):
                return True
        elif not isinstance(sub, _SAFE) and not isinstance(sub.parent, (exp.Cast, exp.Interval, exp.DataType)) \
                and not isinstance(sub, exp.DataTypeParam):
            return True
    return False


_PLAIN_INTERVAL = re.compile(r"(?:[-+]?\d+(?:\.\d+)?\s*[a-z]+\s*)+|[-+]?\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?")


def _reads_as(literal: exp.Expression, to: exp.DataType) -> bool:
    """Whether a literal's text (or a negative number) is a value of the type ``to`` (so casting it
    cannot fail)."""
    kind = to.this
    text = str(literal.this.this if isinstance(literal, exp.Neg) else literal.this).strip()
    if isinstance(literal, exp.Neg):
        text = "-" + text
    if kind in (exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.TINYINT):
        bits = {exp.DataType.Type.TINYINT: 8, exp.DataType.Type.SMALLINT: 16, exp.DataType.Type.INT: 32}.get(kind, 64)
        return bool(re.fullmatch(r"[-+]?\d+", text)) and -(2 ** (bits - 1)) <= int(text) < 2 ** (bits - 1)
    if kind in (exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP):
        try:  # the bounds the semantics stages write are BC dates: DuckDB reads them
            read = datetime.date.fromisoformat if kind == exp.DataType.Type.DATE else datetime.datetime.fromisoformat
            return read(text.replace(" (BC)", "")) is not None
        except ValueError:
            return False
    if kind == exp.DataType.Type.DECIMAL:
        return _fits_decimal(text, to)
    if kind in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT):
        try:
            return bool(float(text)) or True
        except ValueError:
            return False
    if kind == exp.DataType.Type.INTERVAL:  # amounts and units, or a time: what both databases read alike
        return bool(_PLAIN_INTERVAL.fullmatch(text.lower()))
    if kind == exp.DataType.Type.BOOLEAN:
        return text.lower() in ("t", "f", "true", "false", "yes", "no", "on", "off", "1", "0")
    return False


def _folded_children(node: exp.Expression, memo: dict[int, bool], reads: _Reads) -> list[exp.Expression]:
    """The children the planner goes on to fold, in clauses.c's order, stopping where it stops."""
    if isinstance(node, exp.CTE) and node.alias.lower() not in reads.ctes:
        return []  # a CTE no one reads is never planned
    if isinstance(node, exp.Select) and isinstance(node.parent, (exp.Subquery, exp.CTE)) \
            and isinstance(node.parent.parent, (exp.From, exp.Join, exp.With)) and "*" not in reads.columns:
        # a derived table's column no one reads is dropped before its expressions are folded
        kept = [projection for projection in node.expressions
                if projection.alias_or_name.lower() in reads.columns]
        return kept + [child for key, child in _args(node) if key != "expressions"]
    if isinstance(node, exp.Case):
        children: list[exp.Expression] = [node.this] if node.this is not None else []
        for when in node.args.get("ifs") or []:
            condition, result = when.this, when.args.get("true")
            children.append(condition)
            truth = _literal_truth(condition)
            if truth is False:
                continue
            if truth is None and _constant(condition, memo):
                return children  # its value decides what is folded next: stop, raising nothing more
            children.append(result)
            if truth is True:
                return children
        if node.args.get("default") is not None:
            children.append(node.args["default"])
        return children
    if isinstance(node, exp.If):
        truth = _literal_truth(node.this)
        if truth is None:
            return [node.this] if _constant(node.this, memo) else [node.this, node.args.get("true"),
                                                                    node.args.get("false")]
        return [node.args.get("true") if truth else node.args.get("false")]
    if isinstance(node, exp.Coalesce):
        children = []
        for argument in [node.this, *(node.expressions or [])]:
            children.append(argument)
            if _constant(argument, memo) and not isinstance(argument, exp.Null):
                break
        return children
    if isinstance(node, (exp.And, exp.Or)):
        children = []
        stop = isinstance(node, exp.Or)  # AND stops at a constant false, OR at a constant true
        for argument in _flattened(node):
            children.append(argument)
            truth = _literal_truth(argument)
            if truth is stop or truth is None and _constant(argument, memo):
                break
        return children
    return list(node.iter_expressions())


def _args(node: exp.Expression) -> list[tuple[str, exp.Expression]]:
    out = []
    for key, value in node.args.items():
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, exp.Expression):
                out.append((key, child))
    return out


def _flattened(node: exp.Connector) -> list[exp.Expression]:
    """The arguments of nested ANDs (or ORs) in order, as the planner flattens them."""
    kind = type(node)
    out: list[exp.Expression] = []
    for side in (node.this, node.expression):
        out.extend(_flattened(side) if type(side) is kind else [side])
    return out
