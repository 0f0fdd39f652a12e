"""The PostgreSQL-semantics stage: a statement read as PostgreSQL answers as PostgreSQL would, on DuckDB.

The front door parses PostgreSQL, and sqlglot's transpilation to DuckDB keeps the syntax, not the
meaning: ``7/2`` is 3.5 on DuckDB (3 on PostgreSQL), ``1.23456::numeric`` is DuckDB's DECIMAL(18,3)
(1.235), ``to_char(d, 'Mon DD')`` keeps ``Mon`` as text, ``public.orders`` names no DuckDB schema. Each
rule below is one small function from tree to tree (:data:`RULES`, in order), applied only when the
reader's dialect is PostgreSQL and before any protection stage ("transpile first, then protect": the
masking rewrite sees the tree these rules leave, and is unchanged).

A construct whose PostgreSQL meaning the engine cannot give exactly on DuckDB is refused (SQLSTATE
0A000 at the front door) with the construct named and how to say it so that it can, never answered
differently: numeric division and ``avg`` of exact numbers (PostgreSQL's result scale depends on the
values), ``^`` of a numeric, an operand whose type the engine cannot tell (a column of a derived table),
and date formats with patterns it does not translate. The interval rules are in postgres_intervals.py.

Types come from the literals and casts of the statement and from the contracts of the tables it reads
(a column's declared type); expected values were each checked against a real PostgreSQL 15
(tests/test_postgres_semantics.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.tokens import TokenType

from policyengine.model import Column
from policyengine.rewrite.postgres_case import ascii_case
from policyengine.rewrite.postgres_functions import inline_functions
from policyengine.rewrite.refusal import Refused
from policyengine.rewrite.resolve import TableResolver

#: PostgreSQL's default schema, DuckDB's
PG_SCHEMA, DUCKDB_SCHEMA = "public", "main"

_INT = ("int2", "int4", "int8")
_FLOAT = ("float4", "float8")
_NUMBERS = (*_INT, "numeric", *_FLOAT)

#: sqlglot's data types as PostgreSQL names them (pg_type.typname); the ones a rule reasons about
PG_TYPE_NAMES: dict[exp.DataType.Type, str] = {
    exp.DataType.Type.SMALLINT: "int2", exp.DataType.Type.INT: "int4", exp.DataType.Type.BIGINT: "int8",
    exp.DataType.Type.DECIMAL: "numeric", exp.DataType.Type.FLOAT: "float4",
    exp.DataType.Type.DOUBLE: "float8", exp.DataType.Type.BOOLEAN: "bool", exp.DataType.Type.TEXT: "text",
    exp.DataType.Type.VARCHAR: "varchar", exp.DataType.Type.CHAR: "bpchar", exp.DataType.Type.DATE: "date",
    exp.DataType.Type.TIMESTAMP: "timestamp", exp.DataType.Type.TIMESTAMPTZ: "timestamptz",
    exp.DataType.Type.TIME: "time", exp.DataType.Type.TIMETZ: "timetz", exp.DataType.Type.INTERVAL: "interval",
    exp.DataType.Type.JSON: "json", exp.DataType.Type.JSONB: "jsonb", exp.DataType.Type.UUID: "uuid",
    exp.DataType.Type.VARBINARY: "bytea", exp.DataType.Type.NAME: "name",
}

#: a contract's canonical SQL type (policyengine.model.types) as PostgreSQL names it
_CONTRACT_TYPES = {
    "TINYINT": "int2", "SMALLINT": "int2", "INTEGER": "int4", "INT": "int4", "BIGINT": "int8", "HUGEINT": "numeric",
    "FLOAT": "float4", "REAL": "float4", "DOUBLE": "float8", "BOOLEAN": "bool", "VARCHAR": "text", "DATE": "date",
    "TIMESTAMP": "timestamp", "TIMESTAMPTZ": "timestamptz", "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIME": "time", "BLOB": "bytea", "UUID": "uuid",
}

#: DuckDB's widest exact number
MAX_PRECISION = 38

#: functions whose result is an interval (PostgreSQL's, and the DuckDB ones the interval rules write)
_INTERVAL_FUNCTIONS = frozenset({"age", "justify_hours", "justify_days", "justify_interval", "to_years",
                                 "to_months", "to_days", "to_hours", "to_minutes", "to_seconds",
                                 "to_microseconds"})


def unsupported(what: str, hint: str = "") -> Refused:
    """A refusal naming the construct (and how to write it so that it can run), never a value."""
    return Refused(f"{what} cannot be given PostgreSQL's exact meaning here" + (f": {hint}" if hint else ""),
                   kind="unsupported")


@dataclass
class Context:
    """What the rules share: the reader's text, and the contract column each column reference reads."""

    sql: str
    #: the contracts' tables, as the rewrite resolves them
    resolver: TableResolver | None = None
    #: id of a column reference -> the contract column it reads, where its scope says so unambiguously
    columns: dict[int, Column] = field(default_factory=dict)
    #: id of a column reference of a derived table or CTE -> the projection it reads
    derived: dict[int, exp.Expression] = field(default_factory=dict)
    #: the reader's text, tokenized as PostgreSQL, on first use
    _tokens: list | None = None
    #: projections whose type is being worked out (a recursive CTE's column reads itself)
    _typing: set[int] = field(default_factory=set)

    def tokens(self) -> list:
        if self._tokens is None:
            self._tokens = list(sqlglot.Dialect.get_or_raise("postgres").tokenize(self.sql))
        return self._tokens

    def bind(self, tree: exp.Expression, resolver: TableResolver) -> None:
        """Find the contract column each column reference reads, scope by scope: a reference qualified
        with a base table's name or alias reads that table; an unqualified one the only base table of
        its scope that has the column, and nothing when its scope also reads a derived table or a CTE
        (whose columns have types of their own) or no table has it (an outer query's column)."""
        try:
            scopes = traverse_scope(tree)
        except (OptimizeError, RecursionError):
            return
        for scope in scopes:
            sources = {name.lower(): source for name, source in scope.sources.items()}
            for column in scope.columns:
                qualifier = column.table.lower()
                if qualifier:
                    chosen = [sources.get(qualifier)]
                else:
                    chosen = list(sources.values())
                if not chosen or any(source is None for source in chosen):
                    continue
                if not all(isinstance(source, exp.Table) for source in chosen):
                    self._bind_derived(column, chosen)
                    continue
                found = []
                for source in chosen:
                    contract = resolver.resolve(tuple(part.name for part in source.parts)) \
                        if isinstance(source.this, exp.Identifier) else None
                    if contract is None:
                        found = []
                        break
                    described = contract.column(column.name)
                    if described is not None:
                        found.append(described)
                if len(found) == 1:
                    self.columns[id(column)] = found[0]

    def _bind_derived(self, column: exp.Column, sources: list) -> None:
        """A column of a derived table or CTE has the type of the projection it reads: the one source
        among ``sources`` that is a SELECT with a projection of the column's name (a base table, a set
        operation or two candidates: none)."""
        found = []
        for source in sources:
            select = getattr(source, "expression", None)
            if isinstance(source, exp.Table) or not isinstance(select, exp.Select):
                return
            found += [projection for projection in select.expressions
                      if projection.alias_or_name.lower() == column.name.lower()]
        if len(found) == 1 and not isinstance(found[0], exp.Star):
            self.derived[id(column)] = found[0]

    # --- types ------------------------------------------------------------------------------------

    def column_type(self, column: exp.Column) -> str | None:
        """The PostgreSQL type of a column of a base table (its contract's type), or of a derived
        table's or CTE's (its projection's type), or None."""
        described = self.columns.get(id(column))
        if described is not None:
            return _contract_type(described.type.sql)
        projection = self.derived.get(id(column))
        if projection is None or id(projection) in self._typing:
            return None
        self._typing.add(id(projection))  # a recursive CTE reads itself
        try:
            return self.type_of(projection)
        finally:
            self._typing.discard(id(projection))

    def type_of(self, node: exp.Expression | None) -> str | None:
        """The PostgreSQL type of an expression where the statement and the contracts tell it, else None."""
        if node is None:
            return None
        value = signed_constant(node)
        if value is not None:
            return "int4" if -2**31 <= value < 2**31 else "int8" if -2**63 <= value < 2**63 else "numeric"
        if isinstance(node, (exp.Paren, exp.Neg, exp.Alias)):
            return self.type_of(node.this)
        if isinstance(node, exp.Sign):  # sign(numeric) is a numeric; of an integer or a float a float8
            inner = self.type_of(node.this)
            return "numeric" if inner == "numeric" else "float8" if inner in (*_INT, *_FLOAT) else None
        if isinstance(node, (exp.Floor, exp.Ceil, exp.Round, exp.Trunc)):
            inner = self.type_of(node.this)
            return "float8" if inner in _FLOAT else "numeric" if inner in (*_INT, "numeric") else None
        if isinstance(node, exp.Literal):
            if node.is_string:
                return "unknown"
            text = str(node.this)
            if re.fullmatch(r"\d+", text):
                value = int(text)
                return "int4" if value < 2**31 else "int8" if value < 2**63 else "numeric"
            return "numeric" if re.fullmatch(r"\d*\.?\d*(?:[eE][-+]?\d+)?", text) else None
        if isinstance(node, exp.Array) or isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.ARRAY:
            return "array"
        if isinstance(node, exp.DPipe) and self.type_of(node.this) == self.type_of(node.expression) == "array":
            return "array"
        if isinstance(node, exp.Cast):
            return PG_TYPE_NAMES.get(node.to.this)
        if isinstance(node, exp.Column):
            return self.column_type(node)
        if isinstance(node, exp.Count):
            return "int8"
        if isinstance(node, exp.Sum):
            inner = self.type_of(node.this)
            return {"int2": "int8", "int4": "int8", "int8": "numeric", "numeric": "numeric", "float4": "float4",
                    "float8": "float8", "interval": "interval"}.get(inner or "")
        if isinstance(node, (exp.Max, exp.Min, exp.Abs, exp.BitwiseLeftShift, exp.BitwiseRightShift)):
            return self.type_of(node.this)
        if isinstance(node, (exp.Length, exp.StrPosition, exp.ArraySize, exp.Ntile, exp.Ascii)) or (
                isinstance(node, exp.Anonymous) and node.name.lower() == "cardinality"):
            return "int4"
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.IntDiv)):
            return _arithmetic(type(node), self.type_of(node.this), self.type_of(node.expression))
        if isinstance(node, (exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor)):
            kind = _arithmetic(exp.Add, self.type_of(node.this), self.type_of(node.expression))
            return kind if kind in _INT else None
        if isinstance(node, exp.Anonymous) and node.name.lower() == "make_date":
            return "date"
        if isinstance(node, exp.Anonymous) and node.name.upper() == "ROUND_EVEN":  # float_rounding's round()
            return self.type_of(node.expressions[0]) if node.expressions else None
        if isinstance(node, exp.Anonymous) and node.name.lower() in _INTERVAL_FUNCTIONS or isinstance(
                node, (exp.JustifyHours, exp.JustifyDays, exp.JustifyInterval)):
            return "interval"
        if isinstance(node, exp.Div):
            left, right = self.type_of(node.this), self.type_of(node.expression)
            return _arithmetic(exp.Mul, left, right)
        if isinstance(node, exp.Pow):
            return "float8"
        if isinstance(node, exp.Case):  # one type for every branch (NULL and untyped constants take it)
            branches = [*(when.args.get("true") for when in node.args.get("ifs") or []), node.args.get("default")]
            kinds = {self.type_of(branch) for branch in branches
                     if branch is not None and not isinstance(branch, exp.Null)} - {"unknown"}
            return kinds.pop() if len(kinds) == 1 else None
        if isinstance(node, exp.Nullif):  # resolved as its = is: integers (or floats) of two widths have
            first, second = self.type_of(node.this), self.type_of(node.expression)  # an = of their own,
            if {first, second} <= set(_INT) or {first, second} <= set(_FLOAT):  # other numbers meet in a
                return first  # common type
            common = _arithmetic(exp.Add, first, second) if first in _NUMBERS and second in _NUMBERS else None
            return common or first
        if isinstance(node, (exp.Coalesce, exp.Greatest, exp.Least)):
            kinds = {self.type_of(argument) for argument in [node.this, *(node.expressions or [])]
                     if argument is not None and not isinstance(argument, exp.Null)} - {"unknown"}
            return kinds.pop() if len(kinds) == 1 else None
        if isinstance(node, exp.Extract):  # as the extracts rule casts it: numeric, or date_part's float8
            words = {token.text.lower() for token in self.tokens()} & {"extract", "date_part"}
            return ("numeric" if words == {"extract"} else "float8") if len(words) == 1 else None
        if isinstance(node, (exp.Interval, exp.MakeInterval)):
            return "interval"
        if isinstance(node, exp.Anonymous) and node.name.lower() == "octet_length":
            return "int4"
        if isinstance(node, (exp.Boolean, exp.Predicate, exp.Connector, exp.Not)):
            return "bool"
        if isinstance(node, (exp.CurrentDate,)):
            return "date"
        return None


def signed_constant(node: exp.Expression) -> int | None:
    """The value of an integer constant with its signs, as PostgreSQL's grammar folds them (doNegate:
    a minus before a constant, through parentheses, negates the constant itself, so ``-(-2147483648)``
    is the int8 constant 2147483648, typed by its value); None for anything else. A bare literal
    without a sign is not one (its type is the literal's)."""
    signs = 0
    while isinstance(node, (exp.Paren, exp.Neg)):
        signs += isinstance(node, exp.Neg)
        node = node.this
    if not signs or not (isinstance(node, exp.Literal) and node.is_int):
        return None
    return int(node.this) * (-1) ** signs


def _contract_type(sql: str) -> str | None:
    upper = sql.upper()
    if upper.startswith(("DECIMAL", "NUMERIC")):
        return "numeric"
    return _CONTRACT_TYPES.get(upper)


def _arithmetic(kind: type, left: str | None, right: str | None) -> str | None:
    """The result type of a PostgreSQL arithmetic operator on two numbers (or dates), or None."""
    if left == "unknown":
        left = right
    if right == "unknown":
        right = left
    if left in _INT and right in _INT:
        return max(left, right, key=_INT.index)  # type: ignore[arg-type]
    if left in _NUMBERS and right in _NUMBERS:
        if "float8" in (left, right) or "float4" in (left, right):
            return "float8" if "float8" in (left, right) or left != right else "float4"
        return "numeric"
    if kind is exp.Sub and left == right == "date":
        return "int4"
    if kind is exp.Mul and "interval" in (left, right) and {left, right} - {"interval"} <= {*_NUMBERS}:
        return "interval"  # a numeric factor is a float8 in PostgreSQL's interval_mul
    if kind in (exp.Add, exp.Sub) and left == right == "interval":
        return "interval"
    if kind is exp.Sub and left == right and left in ("timestamp", "timestamptz", "time"):
        return "interval"
    if kind in (exp.Add, exp.Sub) and left == "date" and right in _INT:
        return "date"
    if kind in (exp.Add, exp.Sub) and right == "interval" and left in ("date", "timestamp", "timestamptz") \
            or kind is exp.Add and left == "interval" and right in ("date", "timestamp", "timestamptz"):
        return "timestamptz" if "timestamptz" in (left, right) else "timestamp"
    return None


# --- the rules --------------------------------------------------------------------------------------

def public_schema(tree: exp.Expression, context: Context) -> exp.Expression:
    """``public`` is PostgreSQL's default schema, DuckDB's is ``main``: ``public.orders`` (and
    ``db.public.orders``) reads ``main.orders``, and a column written ``public.orders.col`` is
    ``orders.col``, as PostgreSQL binds it. A table a contract places in a schema really named
    ``public`` keeps its name."""
    for table in tree.find_all(exp.Table):
        db = table.args.get("db")
        if isinstance(db, exp.Identifier) and db.name.lower() == PG_SCHEMA and (
                context.resolver is None or context.resolver.resolve(tuple(p.name for p in table.parts)) is None):
            db.replace(exp.to_identifier(DUCKDB_SCHEMA))
    for column in tree.find_all(exp.Column):
        db = column.args.get("db")
        if isinstance(db, exp.Identifier) and db.name.lower() in (PG_SCHEMA, DUCKDB_SCHEMA) \
                and not column.args.get("catalog"):
            column.set("db", None)
    return tree


def session_schema(tree: exp.Expression, context: Context) -> exp.Expression:
    """``current_schema()`` is ``public``; ``current_schemas(false)`` is ``{public}``, with true also
    the implicit ``pg_catalog`` first, as PostgreSQL's search path says."""
    for node in list(tree.find_all(exp.CurrentSchema, exp.CurrentSchemas)):
        if isinstance(node, exp.CurrentSchema):
            node.replace(exp.Literal.string(PG_SCHEMA))
            continue
        implicit = node.this
        if not isinstance(implicit, exp.Boolean):
            raise unsupported("current_schemas() of a value that is not a constant true or false")
        names = ["pg_catalog", PG_SCHEMA] if implicit.this else [PG_SCHEMA]
        node.replace(exp.Array(expressions=[exp.Literal.string(name) for name in names]))
    return tree


def integer_division(tree: exp.Expression, context: Context) -> exp.Expression:
    """``/`` of two integers truncates toward zero (PostgreSQL: -7/2 = -3), which DuckDB's ``//`` does
    for integers; of two floats (or a float and a number) it is the float division DuckDB's ``/`` is.
    Division with a numeric operand is refused: PostgreSQL chooses the result's scale from the values
    (``7.0/2`` is 3.5000000000000000), which no fixed DuckDB type holds; so is an operand whose type
    the engine cannot tell."""
    for node in list(tree.find_all(exp.Div)):
        left, right = context.type_of(node.this), context.type_of(node.expression)
        if left == "unknown":
            left = right
        if right == "unknown":
            right = left
        if left in _INT and right in _INT:
            node.replace(exp.IntDiv(this=node.this, expression=node.expression))
        elif left == "interval":
            raise unsupported(f"division of an interval ({_text(node)})",
                              "PostgreSQL keeps whole months (interval '1 year' / 2 is 6 mons), DuckDB counts days")
        elif left in _FLOAT and right in _NUMBERS or right in _FLOAT and left in _NUMBERS:
            if left != right:  # real with anything else is double precision in PostgreSQL, real in DuckDB
                for operand, kind in ((node.this, left), (node.expression, right)):
                    if kind == "float4":
                        _cast_in_place(operand, "DOUBLE")
        elif left in _NUMBERS and right in _NUMBERS:
            raise unsupported(f"numeric division ({_text(node)})", "cast an operand to float8, or both to an integer")
        else:
            raise unsupported(f"division of operands whose types the engine cannot tell ({_text(node)})",
                              "cast each operand (::int8, ::float8)")
    return tree


def power(tree: exp.Expression, context: Context) -> exp.Expression:
    """``^`` (and ``power()``) of integers and floats is double precision on both; of a numeric,
    PostgreSQL computes a numeric with a scale of its own choosing: refused."""
    for node in tree.find_all(exp.Pow):
        kinds = {context.type_of(node.this), context.type_of(node.expression)}
        if not kinds <= {*_INT, *_FLOAT, "unknown"}:
            raise unsupported(f"power of a numeric or of an operand whose type the engine cannot tell ({_text(node)})",
                              "cast the operands to float8")
    return tree


def average(tree: exp.Expression, context: Context) -> exp.Expression:
    """``avg`` (and ``stddev``, ``variance``) of integers or numerics is a numeric whose scale
    PostgreSQL chooses from the values: refused; of floats it is double precision on both."""
    for node in tree.find_all(exp.Avg, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance, exp.VariancePop):
        if isinstance(node, exp.Avg) and context.type_of(node.this) == "interval":
            continue  # interval_aggregates says why
        if context.type_of(node.this) not in _FLOAT:
            word = _text(node).split("(")[0].lower()
            raise unsupported(f"{word}() of an exact number ({_text(node)})", f"write {word}(x::float8)")
    return tree


def float_rounding(tree: exp.Expression, context: Context) -> exp.Expression:
    """``round()`` of a double precision rounds half to even in PostgreSQL (round(2.5::float8) is 2),
    half away from zero in DuckDB: DuckDB's ``round_even`` is PostgreSQL's."""
    for node in list(tree.find_all(exp.Round)):
        if context.type_of(node.this) in _FLOAT and not node.args.get("decimals"):
            node.replace(exp.Anonymous(this="ROUND_EVEN", expressions=[node.this, exp.Literal.number(0)]))
    return tree


def numeric_round_scales(tree: exp.Expression, context: Context) -> exp.Expression:
    """``round(x, n)`` and ``trunc(x, n)`` of a numeric (or an integer) have scale n in PostgreSQL
    (``round(-2.5, 3)`` is -2.500, ``round(round(x), 2)`` 1.00); DuckDB keeps the argument's scale. A
    constant n makes the result DECIMAL(38, n) (a negative n: 0)."""
    for node in list(tree.find_all(exp.Round, exp.Trunc)):
        decimals = node.args.get("decimals")
        if decimals is None:
            continue
        while isinstance(decimals, exp.Paren):
            decimals = decimals.this
        negative = isinstance(decimals, exp.Neg)
        if negative:
            decimals = decimals.this
        while isinstance(decimals, exp.Paren):
            decimals = decimals.this
        kind = context.type_of(node.this)
        word = "round" if isinstance(node, exp.Round) else "trunc"
        if kind in _FLOAT:  # PostgreSQL has round(numeric, int) and no round(double precision, int)
            raise Refused(f"function {word}(double precision, integer) does not exist", kind="undefined")
        if not (isinstance(decimals, exp.Literal) and decimals.is_int):
            raise unsupported(f"{word}() to a number of places that is not a constant ({_text(node)})",
                              "the result's scale is the value of the places in PostgreSQL")
        if kind not in (*_INT, "numeric"):
            raise unsupported(f"{word}(x, n) of an operand whose type the engine cannot tell ({_text(node)})",
                              "cast it to numeric")
        scale = 0 if negative else min(int(decimals.this), MAX_PRECISION)
        _cast_in_place(node, f"DECIMAL({MAX_PRECISION}, {scale})")
    return tree


def exponent_literals(tree: exp.Expression, context: Context) -> exp.Expression:
    """A literal with an exponent (``1e3``, ``1.5e-3``) is a numeric in PostgreSQL, a double in DuckDB:
    it becomes the decimal it is (``1e3`` is 1000, ``1.5e-3`` 0.0015)."""
    for literal in list(tree.find_all(exp.Literal)):
        text = str(literal.this)
        match = None if literal.is_string else re.fullmatch(r"(\d*)(?:\.(\d*))?[eE]([-+]?\d+)", text)
        if match is None:
            continue
        digits, fraction, exponent = match.group(1), match.group(2) or "", int(match.group(3))
        scale = max(0, len(fraction) - exponent)
        whole = len((digits + fraction).lstrip("0")) - len(fraction) + exponent
        if whole + scale > MAX_PRECISION:
            raise unsupported(f"the numeric literal {text}", "it has more digits than DuckDB's decimals hold")
        plain = f"{Decimal(text):f}"  # the digits as written: a double would round a long mantissa first
        cast = exp.Cast(this=exp.Literal.number(plain), to=exp.DataType.build(f"DECIMAL({MAX_PRECISION}, {scale})"))
        literal.replace(cast)
    return tree


def signs(tree: exp.Expression, context: Context) -> exp.Expression:
    """``sign()`` of an integer or a float is double precision in PostgreSQL, of a numeric a numeric
    (DuckDB: a TINYINT); of an operand whose type the engine cannot tell (a column of a derived table)
    it is refused."""
    for node in list(tree.find_all(exp.Sign)):
        kind = context.type_of(node.this)
        if kind in (*_INT, *_FLOAT):
            _cast_in_place(node, "DOUBLE")
        elif kind == "numeric":
            _cast_in_place(node, f"DECIMAL({MAX_PRECISION}, 0)")
        elif kind is None and not isinstance(node.this, exp.Null):
            raise unsupported(f"sign() of an operand whose type the engine cannot tell ({_text(node)})",
                              "cast it (::numeric, ::float8)")
    return tree


def numeric_modulo(tree: exp.Expression, context: Context) -> exp.Expression:
    """``mod()`` and ``%`` of a numeric are a numeric of the larger scale of the two in PostgreSQL
    (``mod(1, 3.0)`` is 1.0); DuckDB brings both to one scale within 38 digits, and where that does
    not fit (a DECIMAL(38, 0) and a 3.0) computes a double instead. Operands of different scales are
    cast to DECIMAL(38, the larger scale) first."""
    for node in list(tree.find_all(exp.Mod)):
        kinds = (context.type_of(node.this), context.type_of(node.expression))
        if "numeric" not in kinds or not set(kinds) <= {*_INT, "numeric"}:
            continue
        scales = (_value_scale(node.this, context), _value_scale(node.expression, context))
        if None in scales or scales[0] == scales[1]:
            continue
        for operand in (node.this, node.expression):
            _cast_in_place(operand, f"DECIMAL({MAX_PRECISION}, {max(scales)})")  # type: ignore[type-var]
    return tree


#: fields whose PostgreSQL extract() is a whole number, as DuckDB's (the rest have fractions or zones)
_WHOLE_FIELDS = frozenset({"year", "month", "day", "hour", "minute", "quarter", "dow", "doy", "isodow", "isoyear",
                           "week", "decade", "century", "millennium"})


def extracts(tree: exp.Expression, context: Context) -> exp.Expression:
    """``extract(field FROM x)`` is a numeric in PostgreSQL 15 and ``date_part('field', x)`` a double
    precision; DuckDB's are integers. Whole-number fields are cast to PostgreSQL's type; fields with a
    fraction (second, epoch, milliseconds...) are refused, and so is a statement that uses both spellings
    (sqlglot reads both as one node, so which is which cannot be told)."""
    nodes = list(tree.find_all(exp.Extract))
    if not nodes:
        return tree
    words = {token.text.lower() for token in context.tokens()} & {"extract", "date_part"}
    if len(words) != 1:
        raise unsupported("a statement with both extract() and date_part()", "use one of them")
    to = "DECIMAL(38, 0)" if words == {"extract"} else "DOUBLE"
    for node in nodes:
        field = node.this.name.lower() if isinstance(node.this, (exp.Var, exp.Literal, exp.Identifier)) else ""
        if field not in _WHOLE_FIELDS:
            raise unsupported(f"{words.pop() if len(words) == 1 else 'extract'}() of the field '{field or '?'}'",
                              "fields with fractions or time zones are not translated")
        _cast_in_place(node, to)
    return tree


def date_truncation(tree: exp.Expression, context: Context) -> exp.Expression:
    """``date_trunc`` of a date is a timestamp with time zone in PostgreSQL (the date is taken as
    midnight in the session's zone); DuckDB's is a timestamp: cast to TIMESTAMPTZ."""
    for node in list(tree.find_all(exp.DateTrunc, exp.TimestampTrunc)):
        if context.type_of(node.this) == "date":
            _cast_in_place(node, "TIMESTAMPTZ")
    return tree


def integer_widths(tree: exp.Expression, context: Context) -> exp.Expression:
    """Arithmetic of two integers of different widths is done in the wider one in PostgreSQL
    (``32767::int2 + 1`` is an int4, 32768); DuckDB fits an integer literal to the other operand and
    stays in SMALLINT (and overflows): the narrower operand is cast to the wider type."""
    names = {"int2": "SMALLINT", "int4": "INT", "int8": "BIGINT"}
    for node in list(tree.find_all(exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.Div)):
        left, right = context.type_of(node.this), context.type_of(node.expression)
        if left in _INT and right in _INT and left != right:
            wider = max(left, right, key=_INT.index)
            _cast_in_place(node.this if left != wider else node.expression, names[wider])
    return tree


def text_of_floats_and_intervals(tree: exp.Expression, context: Context) -> exp.Expression:
    """PostgreSQL writes ``10::float8`` as ``10`` and ``1e15::float8`` as ``1e+15`` (DuckDB: ``10.0``,
    ``1000000000000000.0``), and ``interval '1 month'`` as ``1 mon`` (DuckDB: ``1 month``): a cast of a
    float or an interval to text, or one concatenated to text, is refused. (Values sent to the client
    are written by the server, as PostgreSQL writes them; this is about text made inside the query.)"""
    texts = (exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.NAME)
    for node in tree.find_all(exp.Cast, exp.DPipe, exp.Concat):
        if isinstance(node, exp.Cast):
            operands = [node.this] if node.to.this in texts else []
        else:
            operands = list(node.expressions) if isinstance(node, exp.Concat) else [node.this, node.expression]
        for operand in operands:
            kind = context.type_of(operand)
            if kind in (*_FLOAT, "interval"):
                what = "an interval" if kind == "interval" else "a floating-point number"
                raise unsupported(f"text of {what} ({_text(operand)})",
                                  "PostgreSQL and DuckDB write it differently: cast it to numeric(p, s) first"
                                  if kind != "interval" else "PostgreSQL writes 1 mon where DuckDB writes 1 month")
    return tree


def numeric_branches(tree: exp.Expression, context: Context) -> exp.Expression:
    """A numeric keeps each value's own scale in PostgreSQL: ``CASE WHEN c THEN 1 ELSE 1.5 END`` is
    ``1`` or ``1.5``; DuckDB gives the whole column one scale (``1.0``). CASE, COALESCE, GREATEST,
    LEAST and NULLIF whose numeric branches have different (or unknown) scales are refused, and so are
    the columns of UNION, INTERSECT and EXCEPT (where DuckDB may even round to the smaller scale)."""
    for node in tree.find_all(exp.Case, exp.Coalesce, exp.Greatest, exp.Least, exp.Nullif, exp.If):
        if isinstance(node, exp.Case):
            branches = [when.args.get("true") for when in node.args.get("ifs") or []] + [node.args.get("default")]
        elif isinstance(node, exp.If):
            branches = [node.args.get("true"), node.args.get("false")]
        elif isinstance(node, exp.Nullif):
            continue  # its value is its first argument's (or NULL): one scale
        else:
            branches = [node.this, *(node.expressions or [])]
        _one_scale(node, [b for b in branches if b is not None], context)
    for operation in tree.find_all(exp.SetOperation):
        selects = _leaf_selects(operation)
        if len(selects) < 2 or any(len(select.expressions) != len(selects[0].expressions) for select in selects):
            continue
        for column in zip(*(select.expressions for select in selects)):
            _one_scale(operation, list(column), context)
    return tree


def _one_scale(node: exp.Expression, branches: list[exp.Expression], context: Context) -> None:
    """Refuse ``node`` when its numeric ``branches`` (the values one result column takes) have different
    or unknown scales."""
    branches = [b for b in branches if not isinstance(b, exp.Null)]
    kinds = [context.type_of(b) for b in branches]
    if "numeric" not in kinds or not set(kinds) <= {*_INT, "numeric", "unknown", None}:
        return
    # a branch of unknown type may be a numeric of any scale
    scales = {_value_scale(b, context) if kind is not None else None for b, kind in zip(branches, kinds)
              if kind != "unknown"}
    if len(scales) > 1 or None in scales:
        where = f"one column of a {node.key.upper()}" if isinstance(node, exp.SetOperation) else f"{_text(node)}"
        raise unsupported(f"numeric values of different scales in one result ({where})",
                          "write constants with the column's scale (ELSE 0.00), or cast the branches to one "
                          "numeric(p, s)")


def _leaf_selects(node: exp.Expression) -> list[exp.Select]:
    """The SELECTs whose rows a set operation combines (through nested operations and parentheses)."""
    while isinstance(node, exp.Subquery):
        node = node.this
    if isinstance(node, exp.SetOperation):
        return _leaf_selects(node.this) + _leaf_selects(node.expression)
    return [node] if isinstance(node, exp.Select) else []


def _value_scale(node: exp.Expression, context: Context) -> int | None:
    """The scale of every numeric value ``node`` gives, where its types tell it (PostgreSQL's rules,
    which DuckDB's decimals follow for these operators), else None."""
    kind = context.type_of(node)
    if kind in _INT:
        return 0
    if isinstance(node, (exp.Paren, exp.Neg, exp.Sum, exp.Min, exp.Max, exp.Abs, exp.Alias)):
        return _value_scale(node.this, context)
    if isinstance(node, exp.Literal):
        return _exact_scale(node, context)
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DECIMAL and node.to.expressions:
        return int(node.to.expressions[-1].name) if len(node.to.expressions) == 2 else 0
    if isinstance(node, exp.Column):
        return _exact_scale(node, context)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod)):
        left, right = _value_scale(node.this, context), _value_scale(node.expression, context)
        if left is None or right is None:
            return None
        return left + right if isinstance(node, exp.Mul) else max(left, right)
    if isinstance(node, (exp.Floor, exp.Ceil)) and not node.args.get("decimals"):
        return 0
    if isinstance(node, (exp.Sign, exp.Extract)) and kind == "numeric":  # sign() and extract() are whole
        return 0
    if isinstance(node, (exp.Round, exp.Trunc)):
        decimals = node.args.get("decimals")
        if decimals is None:
            return 0
        return int(decimals.this) if isinstance(decimals, exp.Literal) and decimals.is_int else None
    return None


def substrings(tree: exp.Expression, context: Context) -> exp.Expression:
    """``substr(s, start[, n])`` counts from the first character whatever ``start`` is in PostgreSQL
    (``substr('abc', -1)`` is ``abc``, ``substr('abc', 0, 2)`` is ``a``); DuckDB counts a negative start
    from the end. A start that is not a constant of at least 1 is clamped as PostgreSQL does, and a
    negative length is PostgreSQL's error."""
    for node in reversed(list(tree.find_all(exp.Substring))):  # the innermost first: copies keep it done
        start, length = node.args.get("start"), node.args.get("length")
        if start is not None and context.type_of(start) in ("unknown", "text", "varchar"):
            node.replace(_regex_substring(node, start, length))
            continue
        if start is None or (isinstance(start, exp.Literal) and start.is_int and int(start.this) >= 1):
            if length is not None and not (isinstance(length, exp.Literal) and length.is_int):
                node.set("length", _non_negative_length(length))
            continue
        first = exp.func("GREATEST", start.copy(), exp.Literal.number(1))
        if length is not None:
            count = exp.func("GREATEST", exp.Sub(this=exp.Add(this=exp.Paren(this=start.copy()),
                                                             expression=exp.Paren(this=_non_negative_length(length))),
                                                  expression=first.copy()), exp.Literal.number(0))
            node.set("length", count)
        node.set("start", first)
    return tree


def _regex_substring(node: exp.Substring, pattern: exp.Expression, escape: exp.Expression | None) -> exp.Expression:
    """``substring(s FROM 'regex')`` is the first match of a POSIX regular expression in PostgreSQL (the
    part its first parenthesized group matched, if it has one), NULL when nothing matches; DuckDB's
    substring takes the text as a start position. A constant pattern without back references or
    look-arounds becomes regexp_extract (guarded: DuckDB gives '' for no match); the SQL-regex form
    ``substring(s FROM pat FOR esc)``, and any other pattern, are refused."""
    if escape is not None or not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise unsupported(f"substring() with a pattern that is not one constant regular expression ({_text(node)})")
    regex = str(pattern.this)
    if re.search(r"\\\d|\(\?[=!<]|\\[mMyYZA]|\[\[[:.=]", regex):
        raise unsupported(f"substring() with the regular expression '{regex}'",
                          "back references, look-arounds and PostgreSQL's own escapes are not translated")
    group = 1 if re.search(r"(?<!\\)\((?!\?)", regex) else 0
    subject = node.this
    return exp.Case(ifs=[exp.If(this=exp.RegexpLike(this=subject.copy(), expression=exp.Literal.string(regex)),
                                true=exp.Anonymous(this="REGEXP_EXTRACT", expressions=[
                                    subject, exp.Literal.string(regex), exp.Literal.number(group)]))])


def _non_negative_length(length: exp.Expression) -> exp.Expression:
    """``length``, or PostgreSQL's error when it is negative."""
    if isinstance(length, exp.Literal) and length.is_int and int(length.this) >= 0:
        return length
    return exp.Case(ifs=[exp.If(this=exp.LT(this=length.copy(), expression=exp.Literal.number(0)),
                                true=exp.Anonymous(this="ERROR", expressions=[
                                    exp.Literal.string("negative substring length not allowed")]))],
                    default=length)


def similar_to(tree: exp.Expression, context: Context) -> exp.Expression:
    """``SIMILAR TO`` takes an SQL pattern (``%`` any text, ``_`` one character, ``.`` itself, and
    regular-expression alternation, repetition and groups); DuckDB's takes a regular expression, where
    ``%`` is itself and ``.`` any character. A constant pattern is translated as PostgreSQL's
    ``similar_escape`` does; any other is refused."""
    for node in list(tree.find_all(exp.SimilarTo)):
        escape = None
        holder: exp.Expression = node
        if isinstance(node.parent, exp.Escape) and node.parent.this is node:
            holder = node.parent
            escape = node.parent.expression
            if not (isinstance(escape, exp.Literal) and escape.is_string and len(str(escape.this)) <= 1):
                raise unsupported("SIMILAR TO with an ESCAPE that is not one constant character")
            escape = str(escape.this) or None
        else:
            escape = "\\"
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise unsupported("SIMILAR TO a pattern that is not a constant string")
        regex = similar_to_regex(str(pattern.this), escape)
        holder.replace(exp.RegexpFullMatch(this=node.this, expression=exp.Literal.string(regex)))
    return tree


def similar_to_regex(pattern: str, escape: str | None = "\\") -> str:
    """PostgreSQL's translation of a SIMILAR TO pattern to a regular expression (``similar_escape``).

    >>> print(similar_to_regex("%(a|b)_.c%"))
    ^(?:.*(a|b).\\.c.*)$
    """
    out: list[str] = []
    in_brackets = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if escape is not None and char == escape:
            if i + 1 >= len(pattern):
                raise unsupported(f"SIMILAR TO pattern '{pattern}' ending with its escape character")
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if in_brackets:
            out.append(char)
            if char == "]":
                in_brackets = False
        elif char == "[":
            in_brackets = True
            out.append(char)
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif char in ".^$\\":
            out.append("\\" + char)
        else:
            out.append(char)
        i += 1
    return "^(?:" + "".join(out) + ")$"


#: what PostgreSQL's output functions write that DuckDB's text casts do not: booleans are t and f
def _output_text(node: exp.Expression, context: Context, where: str) -> exp.Expression:
    """``node`` as PostgreSQL's output function writes it inside concat(), concat_ws() and format()."""
    kind = context.type_of(node)
    if kind == "bool":
        return exp.Case(ifs=[exp.If(this=node.copy(), true=exp.Literal.string("t")),
                             exp.If(this=exp.Not(this=exp.Paren(this=node.copy())), true=exp.Literal.string("f"))])
    if kind in (*_FLOAT, "interval") or kind is None and not isinstance(node, exp.Null):
        raise unsupported(f"{where} of a value whose text the engine cannot tell is PostgreSQL's ({_text(node)})",
                          "cast it to text, or to numeric(p, s)")
    return node


def output_texts(tree: exp.Expression, context: Context) -> exp.Expression:
    """``concat()``, ``concat_ws()`` and ``format()`` write each argument with its type's output
    function in PostgreSQL: a boolean is ``t`` or ``f`` there (``true`` in DuckDB). ``format()`` with
    ``%s`` and ``%%`` becomes concat (DuckDB's format takes ``{}``, and would print ``%s`` itself);
    other specifiers (``%I``, ``%L``, positions, widths) are refused."""
    for node in list(tree.find_all(exp.Concat, exp.ConcatWs)):
        for argument in list(node.expressions[1:] if isinstance(node, exp.ConcatWs) else node.expressions):
            if context.type_of(argument) == "bool":
                argument.replace(_output_text(argument, context, "concat()"))
    for node in list(tree.find_all(exp.Format)):
        template = node.this
        if not (isinstance(template, exp.Literal) and template.is_string):
            raise unsupported("format() whose format is not a constant string")
        arguments = list(node.expressions)
        pieces: list[exp.Expression] = []
        text = str(template.this)
        for part in re.split(r"(%.)", text):
            if part == "%%":
                pieces.append(exp.Literal.string("%"))
            elif part == "%s":
                if not arguments:
                    raise unsupported("format() with more %s than arguments")
                argument = arguments.pop(0)
                pieces.append(exp.Coalesce(this=exp.Cast(this=_output_text(argument, context, "format()"),
                                                         to=exp.DataType.build("VARCHAR")),
                                           expressions=[exp.Literal.string("")]))
            elif part.startswith("%"):
                raise unsupported(f"format() specifier {part!r}", "only %s and %% are translated")
            elif part:
                pieces.append(exp.Literal.string(part))
        node.replace(exp.Concat(expressions=pieces or [exp.Literal.string("")]))
    return tree


def negative_literals(tree: exp.Expression, context: Context) -> exp.Expression:
    """``-2147483648`` is an int4 in PostgreSQL (its grammar folds the minus into the constant);
    DuckDB reads 2147483648 as a BIGINT and negates it: cast to INT. A minus before a signed constant
    negates the constant too (``-(-2147483648)`` is the int8 2147483648, where DuckDB would negate an
    INT and overflow): such a constant becomes its value, of the type its value gives it."""
    for node in list(tree.find_all(exp.Neg)):
        value = signed_constant(node)
        up = node.parent
        while isinstance(up, exp.Paren):
            up = up.parent
        if value is None or isinstance(up, exp.Neg):
            continue  # not a constant, or the inner part of one
        nested = isinstance(node.this, (exp.Paren, exp.Neg))
        kind = context.type_of(node)
        if kind in ("int4", "int8") and (nested or value == -2**31):
            constant = exp.Cast(this=exp.Literal.number(value), to=exp.DataType.build("INT" if kind == "int4"
                                                                                       else "BIGINT"))
            constant.meta["pe_float_constant"] = abs(value) >= 2**31  # what the lexer read: see _bare_constant
            node.replace(constant)
    return tree


def integer_sums(tree: exp.Expression, context: Context) -> exp.Expression:
    """``sum`` of int2/int4 is a bigint in PostgreSQL (DuckDB's HUGEINT, sent as numeric), and
    ``length``, ``position``, ``array_length``, ``cardinality`` and ``ntile`` an int4 (DuckDB's
    BIGINT): each cast to PostgreSQL's type."""
    for node in list(tree.find_all(exp.Sum, exp.Length, exp.StrPosition, exp.ArraySize, exp.Ntile, exp.Anonymous)):
        if isinstance(node, exp.Sum):
            if context.type_of(node.this) in ("int2", "int4"):
                _cast_in_place(node, "BIGINT")
        elif context.type_of(node) == "int4":
            _cast_in_place(node, "INT")
    return tree


def date_difference(tree: exp.Expression, context: Context) -> exp.Expression:
    """``date - date`` is an int4 number of days in PostgreSQL (DuckDB's BIGINT)."""
    for node in list(tree.find_all(exp.Sub)):
        if context.type_of(node.this) == context.type_of(node.expression) == "date":
            _cast_in_place(node, "INT")
    return tree


def numeric_casts(tree: exp.Expression, context: Context) -> exp.Expression:
    """``numeric`` without a precision keeps every digit in PostgreSQL: a literal gets its own scale
    (``1.23456::numeric`` is DECIMAL(38,5)), an integer DECIMAL(38,0), a contract's decimal column its
    declared scale; anything else is refused (DuckDB's default, DECIMAL(18,3), would round it).

    A float cast to ``numeric(p, s)`` is, in PostgreSQL, its shortest decimal text (15 significant
    digits for double precision, 6 for real) rounded to ``s``: ``1.005::float8::numeric(10,2)`` is 1.01
    there, 1.00 from DuckDB's binary value. The float is written with those digits first, as there."""
    for cast in list(tree.find_all(exp.Cast)):
        to = cast.to
        if to.this != exp.DataType.Type.DECIMAL:
            continue
        if to.expressions:
            kind = context.type_of(cast.this)
            if kind in _FLOAT:
                digits = exp.Literal.string("%.15g" if kind == "float8" else "%.6g")
                written = exp.Anonymous(this="PRINTF", expressions=[digits])
                operand = cast.this
                operand.replace(written)
                written.append("expressions", operand)
            continue
        scale = _exact_scale(cast.this, context)
        if scale is None:
            raise unsupported(f"a cast to numeric without a precision ({_text(cast)})", "write numeric(p, s)")
        cast.set("to", exp.DataType.build(f"DECIMAL({MAX_PRECISION}, {scale})"))
    return tree


def _exact_scale(node: exp.Expression, context: Context) -> int | None:
    """The scale that keeps every digit of ``node`` in a DECIMAL(38, s), or None."""
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    if isinstance(node, exp.Literal):
        match = re.fullmatch(r"\s*[-+]?(\d*)(?:\.(\d*))?\s*", str(node.this))
        if match is None or not (match.group(1) or match.group(2)):
            return None
        digits, scale = len(match.group(1).lstrip("0")), len(match.group(2) or "")
        return scale if digits + scale <= MAX_PRECISION else None
    kind = context.type_of(node)
    if kind in _INT:
        return 0
    if isinstance(node, exp.Column) and kind == "numeric":
        described = context.columns.get(id(node))
        return _declared_scale(described.type.sql) if described is not None else None
    return None


def _declared_scale(sql: str) -> int | None:
    match = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", sql)
    return int(match.group(1)) if match else None


def datetime_formats(tree: exp.Expression, context: Context) -> exp.Expression:
    """``to_char``, ``to_date`` and ``to_timestamp`` with PostgreSQL's patterns (``Mon``, ``FMDD``,
    ``HH24``...) become DuckDB's strftime / strptime with the equivalent specifiers; a pattern without
    an exact equivalent, or a format that is not a constant, is refused, naming it."""
    for node in list(tree.find_all(exp.TimeToStr, exp.StrToDate, exp.StrToTime)):
        written = _written_format(node, context)
        if written is None:
            raise unsupported(f"{_function_word(node)}() whose format is not a constant string")
        if isinstance(node, exp.TimeToStr) and context.type_of(node.this) in _NUMBERS:
            raise unsupported(f"to_char() of a number (format '{written}')")
        if isinstance(node, exp.TimeToStr) and context.type_of(node.this) == "interval":
            raise unsupported(f"to_char() of an interval (format '{written}')",
                              "DuckDB's strftime formats only dates and timestamps")
        node.set("format", exp.Literal.string(translate_format(written, parsing=not isinstance(node, exp.TimeToStr))))
        if isinstance(node, exp.StrToTime):
            _cast_in_place(node, "TIMESTAMPTZ")
    return tree


def _function_word(node: exp.Expression) -> str:
    return {exp.TimeToStr: "to_char", exp.StrToDate: "to_date", exp.StrToTime: "to_timestamp"}[type(node)]


def _written_format(node: exp.Expression, context: Context) -> str | None:
    """The format string as the reader wrote it (sqlglot has already turned it into its own), found
    from the function's position in the reader's text; None if it is not one string constant."""
    start = node.meta.get("start")
    if start is None:
        return None
    tokens = context.tokens()
    at = next((i for i, token in enumerate(tokens) if token.start == start), None)
    if at is None or at + 1 >= len(tokens) or tokens[at + 1].token_type is not TokenType.L_PAREN:
        return None
    depth, commas = 0, 0
    for i in range(at + 1, len(tokens)):
        kind = tokens[i].token_type
        if kind in (TokenType.L_PAREN, TokenType.L_BRACKET):
            depth += 1
        elif kind in (TokenType.R_PAREN, TokenType.R_BRACKET):
            depth -= 1
            if depth == 0:
                return None
        elif kind is TokenType.COMMA and depth == 1:
            commas += 1
            if commas == 1 and i + 2 < len(tokens) and tokens[i + 1].token_type is TokenType.STRING \
                    and tokens[i + 2].token_type is TokenType.R_PAREN:
                return tokens[i + 1].text
    return None


#: PostgreSQL's date/time patterns (formatting.c) with an exact strftime/strptime equivalent; longest
#: first. With FM (no padding) the second form.
_PATTERNS: tuple[tuple[str, str, str | None], ...] = (
    ("YYYY", "%Y", "%Y"), ("HH24", "%H", "%-H"), ("HH12", "%I", "%-I"), ("Month", "", "%B"), ("Day", "", "%A"),
    ("DDD", "%j", "%-j"), ("Mon", "%b", "%b"), ("Dy", "%a", "%a"), ("YY", "%y", "%-y"), ("MM", "%m", "%-m"),
    ("DD", "%d", "%-d"), ("HH", "%I", "%-I"), ("MI", "%M", "%-M"), ("SS", "%S", "%-S"), ("MS", "%g", None),
    ("US", "%f", None), ("AM", "%p", "%p"), ("PM", "%p", "%p"),
    # PostgreSQL reads the numeric fields in lower case too
    ("yyyy", "%Y", "%Y"), ("hh24", "%H", "%-H"), ("hh12", "%I", "%-I"), ("ddd", "%j", "%-j"), ("yy", "%y", "%-y"),
    ("mm", "%m", "%-m"), ("dd", "%d", "%-d"), ("hh", "%I", "%-I"), ("mi", "%M", "%-M"), ("ss", "%S", "%-S"),
    ("ms", "%g", None), ("us", "%f", None),
)

#: patterns that would otherwise read as two of the ones above (SSSS is seconds past midnight)
_UNTRANSLATED = ("SSSSS", "SSSS", "sssss", "ssss")


def translate_format(pattern: str, *, parsing: bool = False) -> str:
    """A PostgreSQL to_char/to_date/to_timestamp format as DuckDB's strftime/strptime format;
    :class:`Refused` naming the first pattern without an exact equivalent.

    >>> translate_format('FMMonth FMDD, YYYY "at" HH24:MI')
    '%B %-d, %Y at %H:%M'
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                raise unsupported(f"date format '{pattern}' with an unterminated quoted text")
            out.append(pattern[i + 1:end].replace("%", "%%"))
            i = end + 1
            continue
        fill = pattern.startswith(("FM", "fm"), i)
        at = i + 2 if fill else i
        if pattern.startswith(_UNTRANSLATED, at):
            word = next(w for w in _UNTRANSLATED if pattern.startswith(w, at))
            raise unsupported(f"date format pattern {word!r} in '{pattern}'")
        for name, padded, bare in _PATTERNS:
            if pattern.startswith(name, at):
                specifier = bare if fill else padded
                if not specifier or (parsing and specifier.startswith("%-")):
                    specifier = None
                if specifier is None:
                    raise unsupported(f"date format pattern {pattern[i:at + len(name)]!r} in '{pattern}'")
                out.append(specifier)
                i = at + len(name)
                break
        else:
            char = pattern[i]
            if char.isalnum():
                word = re.match(r"[A-Za-z]+|\d+", pattern[i:])
                raise unsupported(f"date format pattern {word.group(0) if word else char!r} in '{pattern}'")
            out.append("%%" if char == "%" else char)
            i += 1
    return "".join(out)


def octet_lengths(tree: exp.Expression, context: Context) -> exp.Expression:
    """``octet_length(text)`` is the int4 number of bytes of its UTF-8 text; DuckDB's octet_length takes
    only blobs and bits (its ``strlen`` counts the bytes of a text): ``CAST(strlen(x) AS INT)``. Of a
    bytea it stays DuckDB's octet_length, cast to int4."""
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.lower() != "octet_length" or len(node.expressions) != 1:
            continue
        argument = node.expressions[0]
        if context.type_of(argument) == "bytea":
            _cast_in_place(node, "INT")
            continue
        text = exp.Cast(this=argument.copy(), to=exp.DataType.build("VARCHAR")) \
            if context.type_of(argument) not in ("text", "varchar", "bpchar", "name") else argument.copy()
        node.replace(exp.Cast(this=exp.Anonymous(this="STRLEN", expressions=[text]), to=exp.DataType.build("INT")))
    return tree


#: PostgreSQL's boolean input words (boolin: case-insensitive, any unique prefix of true/false/yes/no, on, off)
_TRUE_WORDS = frozenset({"t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"})
_INT_RANGES = {exp.DataType.Type.SMALLINT: 2**15, exp.DataType.Type.INT: 2**31, exp.DataType.Type.BIGINT: 2**63}
_TEXT_TYPES = (exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR)


def parse_array_literal(text: str) -> list[tuple[str, bool]] | None:
    """The elements of a one-dimensional PostgreSQL array literal (array_in's syntax) as (text, quoted),
    with a NULL element as ("NULL", False); None when ``text`` is not one (dimensions, nested arrays,
    stray characters), for the caller to refuse.

    >>> parse_array_literal('{5, "a,b", NULL, "NULL", x\\\\,y}')
    [('5', False), ('a,b', True), ('NULL', False), ('NULL', True), ('x,y', False)]
    """
    i, n = 0, len(text)
    while i < n and text[i].isspace():
        i += 1
    if i >= n or text[i] != "{":
        return None
    i += 1
    elements: list[tuple[str, bool]] = []
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return None
        if text[i] == "}" and not elements:
            i += 1
            break
        if text[i] in "{}":
            return None
        chars: list[str] = []
        quoted = escaped = False
        if text[i] == '"':
            quoted = True
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                    if i >= n:
                        return None
                chars.append(text[i])
                i += 1
            if i >= n:
                return None
            i += 1
            while i < n and text[i].isspace():
                i += 1
        else:
            end_plain = 0  # unquoted: surrounding white space is dropped, escaped characters kept
            while i < n and text[i] not in ',}{"':
                if text[i] == "\\":
                    i += 1
                    if i >= n:
                        return None
                    escaped = True
                    chars.append(text[i])
                    end_plain = len(chars)
                elif text[i].isspace() and not chars:
                    pass
                else:
                    chars.append(text[i])
                    if not text[i].isspace():
                        end_plain = len(chars)
                i += 1
            chars = chars[:end_plain]
            if not chars:
                return None
        if i >= n or text[i] not in ",}":
            return None
        value = "".join(chars)
        elements.append(("NULL", False) if not quoted and not escaped and value.upper() == "NULL" else (value, quoted))
        i += 1
        if text[i - 1] == "}":
            break
    return elements if not text[i:].strip() else None


def array_literals(tree: exp.Expression, context: Context) -> exp.Expression:
    """``'{5,4}'::int[]`` and ``'{x,"y z",NULL}'::text[]`` are PostgreSQL's array literals (array_in's
    syntax: braces, double-quoted elements with backslash escapes, NULL); DuckDB reads its own list
    text and fails. A constant one-dimensional literal of integers, texts or booleans becomes the list
    of its elements; anything else (dimensions, nested arrays, other element types, a value PostgreSQL
    would reject) is refused, naming it."""
    for cast in list(tree.find_all(exp.Cast)):
        to = cast.to
        if to.this != exp.DataType.Type.ARRAY or not (isinstance(cast.this, exp.Literal) and cast.this.is_string):
            continue
        element = to.expressions[0] if to.expressions else None
        written = str(cast.this.this)
        parsed = parse_array_literal(written)
        kind = element.this if isinstance(element, exp.DataType) else None
        if parsed is None or kind not in (*_INT_RANGES, *_TEXT_TYPES, exp.DataType.Type.BOOLEAN) \
                or (element is not None and element.expressions):
            raise unsupported(f"the array literal {_text(cast)}",
                              "write ARRAY[...] of one-dimensional integers, texts or booleans")
        values: list[exp.Expression] = []
        for value, quoted in parsed:
            if value == "NULL" and not quoted:
                values.append(exp.Null())
            elif kind in _INT_RANGES:
                number = value.strip()
                if not re.fullmatch(r"[-+]?\d+", number) or not -_INT_RANGES[kind] <= int(number) < _INT_RANGES[kind]:
                    raise unsupported(f"the array literal {_text(cast)}", "an element is not an integer of its type")
                values.append(exp.Literal.number(int(number)))
            elif kind == exp.DataType.Type.BOOLEAN:
                word = value.strip().lower()
                if word not in _TRUE_WORDS | _FALSE_WORDS:
                    raise unsupported(f"the array literal {_text(cast)}", "an element is not a boolean")
                values.append(exp.Boolean(this=word in _TRUE_WORDS))
            else:
                values.append(exp.Literal.string(value))
        cast.set("this", exp.Array(expressions=values))
    return tree


#: make_interval's parameters (PostgreSQL's names and order) and DuckDB's function for each
_INTERVAL_PARTS = (("year", "TO_YEARS"), ("month", "TO_MONTHS"), ("week", "TO_WEEKS"), ("day", "TO_DAYS"),
                   ("hour", "TO_HOURS"), ("minute", "TO_MINUTES"), ("second", None))


def make_intervals(tree: exp.Expression, context: Context) -> exp.Expression:
    """``make_interval(years, months, weeks, days, hours, mins, secs)`` (positional or named): sqlglot
    writes DuckDB's INTERVAL literal of the argument's text, which fails for a column or a negative
    value. It becomes the sum of DuckDB's to_years ... to_minutes of the int4 arguments and the
    seconds rounded to microseconds (half to even, as PostgreSQL's rint). Arguments that are not
    integers (the seconds: numbers) are refused."""
    for node in list(tree.find_all(exp.MakeInterval)):
        parts: list[exp.Expression] = []
        for name, function in _INTERVAL_PARTS:
            argument = node.args.get(name)
            if argument is None:
                continue
            if isinstance(argument, exp.Kwarg):
                argument = argument.expression
            kind = context.type_of(argument)
            if isinstance(argument, exp.Null):
                parts.append(exp.Cast(this=exp.Null(), to=exp.DataType.build("INTERVAL")))
                continue
            if function is None:
                if kind not in (*_NUMBERS, None):
                    raise unsupported(f"make_interval() of secs that are not a number ({_text(argument)})")
                micros = exp.Anonymous(this="ROUND_EVEN", expressions=[
                    exp.Mul(this=exp.Cast(this=argument.copy(), to=exp.DataType.build("DOUBLE")),
                            expression=exp.Literal.number(1000000)), exp.Literal.number(0)])
                parts.append(exp.Anonymous(this="TO_MICROSECONDS", expressions=[
                    exp.Cast(this=micros, to=exp.DataType.build("BIGINT"))]))
                continue
            if kind not in (*_INT, None):
                raise unsupported(f"make_interval() of {name}s that are not integers ({_text(argument)})",
                                  "cast them to int")
            width = "BIGINT" if function in ("TO_HOURS", "TO_MINUTES") else "INT"
            parts.append(exp.Anonymous(this=function, expressions=[
                exp.Cast(this=exp.Cast(this=argument.copy(), to=exp.DataType.build("INT")),
                         to=exp.DataType.build(width)) if width == "BIGINT" else
                exp.Cast(this=argument.copy(), to=exp.DataType.build("INT"))]))
        result: exp.Expression = parts[0] if parts else exp.Anonymous(this="TO_DAYS", expressions=[
            exp.Cast(this=exp.Literal.number(0), to=exp.DataType.build("INT"))])
        for part in parts[1:]:
            result = exp.Add(this=result, expression=part)
        node.replace(exp.Paren(this=result))
    return tree


def _interval_fields(value: exp.Expression) -> tuple[exp.Expression, exp.Expression, exp.Expression]:
    """The months, days and microseconds DuckDB keeps of an interval, as three BIGINT expressions."""
    def part(field: str) -> exp.Expression:
        return exp.Anonymous(this="DATE_PART", expressions=[exp.Literal.string(field), value.copy()])

    months = exp.Add(this=exp.Mul(this=part("year"), expression=exp.Literal.number(12)), expression=part("month"))
    micros = exp.Add(this=exp.Add(this=exp.Mul(this=part("hour"), expression=exp.Literal.number(3600000000)),
                                  expression=exp.Mul(this=part("minute"), expression=exp.Literal.number(60000000))),
                     expression=part("microseconds"))
    return months, part("day"), micros


def interval_aggregates(tree: exp.Expression, context: Context) -> exp.Expression:
    """``sum(interval)`` adds months, days and microseconds apart in PostgreSQL (no justification:
    ``1 day`` + ``-36 hours`` stays both); DuckDB has no sum of intervals. It becomes the sums of the
    three fields made an interval again. In a window or with FILTER or DISTINCT it is refused, and so
    is ``avg(interval)`` (PostgreSQL divides months into days of 30 and days into hours of 24)."""
    for node in list(tree.find_all(exp.Sum, exp.Avg)):
        if context.type_of(node.this) != "interval":
            continue
        if isinstance(node, exp.Avg):
            raise unsupported(f"avg() of an interval ({_text(node)})",
                              "PostgreSQL carries fractions of months into days of 30: sum() and count() it")
        if isinstance(node.parent, (exp.Window, exp.Filter)) or isinstance(node.this, exp.Distinct):
            raise unsupported(f"sum() of an interval in a window, with FILTER or DISTINCT ({_text(node)})")
        months, days, micros = _interval_fields(node.this)
        total = exp.Add(this=exp.Add(
            this=exp.Anonymous(this="TO_MONTHS", expressions=[exp.Cast(this=exp.Sum(this=months),
                                                                       to=exp.DataType.build("INT"))]),
            expression=exp.Anonymous(this="TO_DAYS", expressions=[exp.Cast(this=exp.Sum(this=days),
                                                                           to=exp.DataType.build("INT"))])),
            expression=exp.Anonymous(this="TO_MICROSECONDS", expressions=[
                exp.Cast(this=exp.Sum(this=micros), to=exp.DataType.build("BIGINT"))]))
        node.replace(exp.Paren(this=total))
    return tree


def _bare_constant(node: exp.Expression) -> bool:
    """A constant PostgreSQL's grammar keeps as one A_Const that is not an integer (a string, a
    number with a fraction or an exponent, NULL, true/false), through parentheses."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        node = node.this
    if isinstance(node, (exp.Null, exp.Boolean)) or node.meta.get("pe_float_constant"):
        return True
    # an integer beyond int4 is a Float constant to PostgreSQL's lexer (-2147483648 too: the minus is
    # folded into it), so not a position
    return isinstance(node, exp.Literal) and (node.is_string or not node.is_int or abs(int(node.this)) >= 2**31)


def constant_sort_keys(tree: exp.Expression, context: Context) -> exp.Expression:
    """``ORDER BY 'a'`` and ``GROUP BY 'a'`` (any constant that is not a column position) are errors in
    PostgreSQL (42601 "non-integer constant in ORDER BY"); DuckDB ignores or groups by them. And
    ``array_agg('x')`` of an untyped literal is ambiguous there (42725: array_agg(unknown) is not unique):
    refused, naming it. (ORDER BY inside an aggregate or a window follows SQL:1999 and takes constants.)"""
    for select in tree.find_all(exp.Select, exp.SetOperation):
        order = select.args.get("order")
        for ordered in (order.expressions if isinstance(order, exp.Order) else []):
            if isinstance(ordered, exp.Ordered) and _bare_constant(ordered.this):
                raise Refused("non-integer constant in ORDER BY", kind="syntax")
        group = select.args.get("group") if isinstance(select, exp.Select) else None
        for key in (group.expressions if isinstance(group, exp.Group) else []):
            if _bare_constant(key):
                raise Refused("non-integer constant in GROUP BY", kind="syntax")
    for node in tree.find_all(exp.ArrayAgg):
        argument = node.this.this if isinstance(node.this, exp.Order) else node.this
        if isinstance(argument, exp.Literal) and argument.is_string:
            raise unsupported("array_agg() of an untyped string constant",
                              "PostgreSQL itself rejects it (function array_agg(unknown) is not unique): cast it")
    return tree


def _position(node: exp.Expression) -> int | None:
    """The integer constant (with its sign) PostgreSQL reads as a select-list position, or None."""
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return signed_constant(node)


def sort_positions(tree: exp.Expression, context: Context) -> exp.Expression:
    """``GROUP BY 13`` and ``ORDER BY 4`` name a column of the select list by its position; one that is
    not there is PostgreSQL's error 42P10 ("position 13 is not in select list"), a binder error in
    DuckDB. Refused with PostgreSQL's code where the list has no star (whose width the rewrite would
    have to count)."""
    for select in tree.find_all(exp.Select, exp.SetOperation):
        leaf = _leaf_selects(select)[0] if isinstance(select, exp.SetOperation) and _leaf_selects(select) \
            else select
        if not isinstance(leaf, exp.Select) or any(isinstance(p, exp.Star) or isinstance(p, exp.Column)
                                                   and isinstance(p.this, exp.Star) for p in leaf.expressions):
            continue
        width = len(leaf.expressions)
        order = select.args.get("order")
        group = select.args.get("group") if isinstance(select, exp.Select) else None
        for clause, keys in (("ORDER BY", [o.this for o in order.expressions if isinstance(o, exp.Ordered)]
                              if isinstance(order, exp.Order) else []),
                             ("GROUP BY", list(group.expressions) if isinstance(group, exp.Group) else [])):
            for key in keys:
                position = _position(key)
                if position is not None and not 1 <= position <= width:
                    raise Refused(f"{clause} position {position} is not in select list", kind="position")
                if position is not None and clause == "GROUP BY":
                    _groupable(leaf.expressions[position - 1])
    return tree


def _groupable(projection: exp.Expression) -> None:
    """PostgreSQL's errors for grouping by an aggregate (42803) or a window function (42P20)."""
    for node in projection.walk(prune=lambda n: isinstance(n, (exp.Subquery, exp.Select))):
        if isinstance(node, exp.Window):
            raise Refused("window functions are not allowed in GROUP BY", kind="windowing")
    for node in projection.walk(prune=lambda n: isinstance(n, (exp.Subquery, exp.Select, exp.Window))):
        if isinstance(node, exp.AggFunc):
            raise Refused("aggregate functions are not allowed in GROUP BY", kind="grouping")


def aggregate_constant_orders(tree: exp.Expression, context: Context) -> exp.Expression:
    """``string_agg(x, ',' ORDER BY 'a')``: a constant sort key inside an aggregate orders nothing in
    PostgreSQL (SQL:1999 takes any expression there); DuckDB's binder rejects a non-integer constant
    ("ORDER BY non-integer literal has no effect"). Constant keys are dropped, and an ORDER BY left with
    none is removed."""
    for order in list(tree.find_all(exp.Order)):
        if isinstance(order.parent, (exp.Select, exp.SetOperation, exp.Subquery, exp.Window)) \
                or order.arg_key != "this" or order.this is None:
            continue
        kept = [o for o in order.expressions if not (isinstance(o, exp.Ordered) and (
            _bare_constant(o.this) or _position(o.this) is not None))]
        if len(kept) == len(order.expressions):
            continue
        if kept:
            order.set("expressions", kept)
        else:
            order.replace(order.this)
    return tree


def like_escapes(tree: exp.Expression, context: Context) -> exp.Expression:
    """``LIKE`` and ``ILIKE`` (and their NOT forms) take backslash as the escape character in
    PostgreSQL when no ESCAPE is written (``'a%b' LIKE '%\\%%'`` is true); DuckDB's have none: ESCAPE
    '\\' is added. A constant pattern ending with its escape character alone is PostgreSQL's error
    22025 only when matching gets that far (DuckDB fails at once): refused. ``LIKE ANY (array)`` is
    refused (sqlglot drops the ANY)."""
    for node in reversed(list(tree.find_all(exp.Like, exp.ILike))):  # the innermost first: copies keep it done
        word = "ILIKE" if isinstance(node, exp.ILike) else "LIKE"
        if isinstance(node.expression, (exp.Any, exp.All)):
            raise unsupported(f"{word} ANY or ALL ({_text(node)})", "write one LIKE per pattern, joined by OR")
        written = isinstance(node.parent, exp.Escape) and node.arg_key == "this"
        escape: str | None = "\\"
        if written:
            given = node.parent.expression
            escape = str(given.this) if isinstance(given, exp.Literal) and given.is_string else None
        pattern = node.expression
        if escape and len(escape) == 1 and isinstance(pattern, exp.Literal) and pattern.is_string \
                and _ends_with_escape(str(pattern.this), escape):
            raise unsupported(f"a {word} pattern ending with its escape character ({_text(pattern)})",
                              "PostgreSQL fails (22025) only when matching reaches it")
        if not written:
            holder = exp.Escape(expression=exp.Literal.string("\\"))
            node.replace(holder)
            holder.set("this", node)
    return tree


def _ends_with_escape(pattern: str, escape: str) -> bool:
    i = 0
    while i < len(pattern):
        if pattern[i] == escape:
            if i + 1 == len(pattern):
                return True
            i += 1
        i += 1
    return False


def left_shifts(tree: exp.Expression, context: Context) -> exp.Expression:
    """``a << n`` of an int4 or int8 is C's shift in PostgreSQL: the count taken modulo the width, the
    bits shifted out dropped (``-1 << 2`` is -4, ``1 << 31`` is -2147483648); DuckDB refuses negative
    numbers and overflows. It is computed on the unsigned bits in a wider type and read back signed."""
    for node in reversed(list(tree.find_all(exp.BitwiseLeftShift))):  # the innermost first: copies keep it done
        kind = context.type_of(node.this)
        if kind is None:
            raise unsupported(f"a shift of an operand whose type the engine cannot tell ({_text(node)})",
                              "PostgreSQL wraps it in its own width: cast it (::int4, ::int8)")
        if kind not in ("int4", "int8"):
            continue
        bits, wide, narrow = (32, "BIGINT", "INT") if kind == "int4" else (64, "HUGEINT", "BIGINT")
        mask = exp.Cast(this=exp.Literal.number(2**bits - 1), to=exp.DataType.build(wide))
        count = exp.BitwiseAnd(this=exp.Paren(this=node.expression.copy()), expression=exp.Literal.number(bits - 1))
        unsigned = exp.Paren(this=exp.BitwiseAnd(this=exp.Paren(this=exp.BitwiseLeftShift(
            this=exp.Paren(this=exp.BitwiseAnd(this=exp.Cast(this=node.this.copy(), to=exp.DataType.build(wide)),
                                               expression=mask.copy())),
            expression=exp.Cast(this=count, to=exp.DataType.build("INT")))), expression=mask))
        half = exp.Cast(this=exp.Literal.number(2**(bits - 1)), to=exp.DataType.build(wide))
        signed = exp.Case(ifs=[exp.If(this=exp.GTE(this=unsigned.copy(), expression=half),
                                      true=exp.Sub(this=unsigned.copy(), expression=exp.Mul(
                                          this=half.copy(), expression=exp.Literal.number(2))))],
                          default=unsigned)
        node.replace(exp.Cast(this=signed, to=exp.DataType.build(narrow)))
    return tree


def null_arrays(tree: exp.Expression, context: Context) -> exp.Expression:
    """A NULL array: ``NULL::int[] || ARRAY[1]`` is ``{1}`` in PostgreSQL (array_cat skips it), NULL in
    DuckDB, and ``x = ANY(NULL::int[])`` is NULL there, false in DuckDB. Array concatenation becomes
    ``list_concat`` (NULL only when both are), and a comparison with ANY of an array is NULL when the
    array is."""
    concatenations = [node for node in tree.find_all(exp.DPipe)
                      if context.type_of(node.this) == context.type_of(node.expression) == "array"]
    for node in reversed(concatenations):  # the innermost first: the outer ones copy them done
        left, right = node.this, node.expression
        node.replace(exp.Case(ifs=[exp.If(this=exp.And(this=exp.Is(this=left.copy(), expression=exp.Null()),
                                                       expression=exp.Is(this=right.copy(), expression=exp.Null())),
                                          true=exp.Null())],
                              default=exp.Anonymous(this="LIST_CONCAT", expressions=[left, right])))
    for node in list(tree.find_all(exp.Any)):
        comparison = node.parent
        if isinstance(node.this, (exp.Subquery, exp.Select)) or not isinstance(comparison, exp.Binary) \
                or node.arg_key != "expression":
            continue
        guarded = exp.Case(ifs=[exp.If(this=exp.Is(this=node.this.copy(), expression=exp.Null()),
                                       true=exp.Cast(this=exp.Null(), to=exp.DataType.build("BOOLEAN")))])
        comparison.replace(guarded)
        guarded.set("default", comparison)
    return tree


#: elements equal to ``pe_null_text`` made NULL (string_to_array's third argument)
_NULL_ELEMENTS = sqlglot.parse_one("LIST_TRANSFORM(pe_list, LAMBDA pe_element : CASE WHEN pe_element = pe_null_text "
                                   "THEN NULL ELSE pe_element END)", read="duckdb")


def string_to_arrays(tree: exp.Expression, context: Context) -> exp.Expression:
    """``string_to_array(s, d)`` of an empty string is an empty array in PostgreSQL (DuckDB: ``{""}``);
    a NULL delimiter splits it into characters and an empty one keeps it whole (DuckDB: the other way
    round); the third argument, the text read as NULL, DuckDB's does not take: its elements equal to it
    become NULL after the split."""
    for node in reversed(list(tree.find_all(exp.StringToArray))):  # the innermost first: copies keep it done
        text, delimiter, null = node.this, node.expression, node.args.get("null")
        ifs = [exp.If(this=exp.EQ(this=text.copy(), expression=exp.Literal.string("")),
                      true=exp.Cast(this=exp.Array(expressions=[]), to=exp.DataType.build("VARCHAR[]")))]
        if not (isinstance(delimiter, exp.Literal) and delimiter.is_string and str(delimiter.this)):
            ifs.append(exp.If(this=exp.Is(this=delimiter.copy(), expression=exp.Null()),
                              true=exp.Anonymous(this="STRING_SPLIT", expressions=[text.copy(),
                                                                                   exp.Literal.string("")])))
            ifs.append(exp.If(this=exp.EQ(this=delimiter.copy(), expression=exp.Literal.string("")),
                              true=exp.Array(expressions=[text.copy()])))
        result: exp.Expression = exp.Case(ifs=ifs, default=exp.Anonymous(this="STRING_SPLIT",
                                                                          expressions=[text, delimiter]))
        if null is not None:
            made = _NULL_ELEMENTS.copy()
            for column in list(made.find_all(exp.Column)):
                column.replace(result if column.name == "pe_list" else null.copy())
            result = made
        node.replace(result)
    return tree


def nullif_types(tree: exp.Expression, context: Context) -> exp.Expression:
    """``NULLIF(a, b)`` of two numbers of different types has their common type in PostgreSQL
    (``NULLIF(3, 1.5)`` is a numeric), the first one's in DuckDB: the first is cast to it."""
    names = {"int2": "SMALLINT", "int4": "INT", "int8": "BIGINT", "float4": "REAL", "float8": "DOUBLE"}
    for node in list(tree.find_all(exp.Nullif)):
        first, common = context.type_of(node.this), context.type_of(node)
        if common == first or common not in _NUMBERS:
            continue
        scale = _value_scale(node.this, context) if common == "numeric" else None
        if common == "numeric" and scale is None:
            raise unsupported(f"NULLIF() of an integer and a numeric of unknown scale ({_text(node)})")
        _cast_in_place(node.this, names.get(common) or f"DECIMAL({MAX_PRECISION}, {scale})")
    return tree


def array_to_strings(tree: exp.Expression, context: Context) -> exp.Expression:
    """``array_to_string(a, d)`` of an array whose elements are all NULL is ``''`` in PostgreSQL (NULL
    elements are skipped), NULL in DuckDB; it is NULL only when ``a`` or ``d`` is. Elements that are
    booleans or floats are refused: PostgreSQL writes them ``t`` and ``1``, DuckDB ``true`` and ``1.0``."""
    for node in reversed(list(tree.find_all(exp.ArrayToString))):
        array, delimiter = node.this, node.expression
        elements = array.expressions if isinstance(array, exp.Array) else [array.this] \
            if isinstance(array, exp.ArrayAgg) else []
        if any(context.type_of(element) in (*_FLOAT, "bool") for element in elements):
            raise unsupported(f"array_to_string() of booleans or floats ({_text(node)})",
                              "PostgreSQL writes them t and 1, DuckDB true and 1.0: cast the elements to text")
        if node.args.get("null") is not None:
            continue
        either_null = exp.Or(this=exp.Is(this=array.copy(), expression=exp.Null()),
                             expression=exp.Is(this=delimiter.copy(), expression=exp.Null()))
        node.replace(exp.Case(ifs=[exp.If(this=either_null, true=exp.Null())],
                              default=exp.Coalesce(this=node.copy(), expressions=[exp.Literal.string("")])))
    return tree


def regex_replacements(tree: exp.Expression, context: Context) -> exp.Expression:
    """regexp_replace's replacement text: PostgreSQL's ``\\&`` is the whole match and a backslash before
    any other character (``\\0`` too) is itself; DuckDB's RE2 writes the whole match ``\\0`` and
    fails on other escapes. A constant replacement is translated; a reference to a group the pattern
    has not, or a replacement that is not a constant, is refused."""
    for node in tree.find_all(exp.RegexpReplace):
        replacement, pattern = node.args.get("replacement"), node.expression
        if replacement is None or "\\" not in str(getattr(replacement, "this", "\\")):
            continue
        if not (isinstance(replacement, exp.Literal) and replacement.is_string):
            raise unsupported("regexp_replace() with a replacement that is not a constant string")
        text, out, i = str(replacement.this), [], 0
        groups = len(re.findall(r"(?<!\\)\((?!\?)", str(pattern.this))) \
            if isinstance(pattern, exp.Literal) and pattern.is_string else None
        while i < len(text):
            char = text[i]
            following = text[i + 1] if i + 1 < len(text) else ""
            if char != "\\":
                out.append(char)
            elif following == "&":
                out.append("\\0")
                i += 1
            elif following in "123456789" and following:
                if groups is None or int(following) > groups:
                    raise unsupported(f"regexp_replace() with the replacement '{text}'",
                                      "it names a group the pattern does not have")
                out.append("\\" + following)
                i += 1
            elif following == "\\":
                out.append("\\\\")
                i += 1
            else:
                out.append("\\\\")  # itself; the next character is read as usual
            i += 1
        replacement.replace(exp.Literal.string("".join(out)))
    return tree


#: PostgreSQL's dates: 4714-11-24 BC to 5874897-12-31 (DuckDB's reach further)
_DATE_RANGE = ("4714-11-24 (BC)", "5874897-12-31")


def date_ranges(tree: exp.Expression, context: Context) -> exp.Expression:
    """``date + integer`` and ``date - integer`` beyond PostgreSQL's dates is its error 22008 "date out of
    range"; DuckDB answers (5877612-06-21 BC). The result is checked against PostgreSQL's range."""
    for node in reversed(list(tree.find_all(exp.Add, exp.Sub))):  # the innermost first
        left, right = context.type_of(node.this), context.type_of(node.expression)
        if not ((left == "date" and right in _INT) or (isinstance(node, exp.Add) and right == "date" and left in _INT)):
            continue
        if isinstance(node.parent, exp.Case) and node.parent.meta.get("pe_date_range"):
            continue
        low, high = (exp.Cast(this=exp.Literal.string(v), to=exp.DataType.build("DATE")) for v in _DATE_RANGE)
        checked = exp.Case(ifs=[exp.If(
            this=exp.Or(this=exp.LT(this=node.copy(), expression=low), expression=exp.GT(this=node.copy(),
                                                                                           expression=high)),
            true=exp.Cast(this=exp.Anonymous(this="ERROR", expressions=[exp.Literal.string("date out of range")]),
                          to=exp.DataType.build("DATE")))])
        checked.meta["pe_date_range"] = True
        # in place of the parentheses around it, if any (a CASE needs none): a constant one is then what
        # postgres_constants evaluates before the statement, as PostgreSQL's planner raises 22008
        (node.parent if isinstance(node.parent, exp.Paren) else node).replace(checked)
        checked.set("default", node)
    return tree


#: PostgreSQL's earliest timestamp (its latest, 294276 AD, is past DuckDB's, which fails by itself)
_EARLIEST_TIMESTAMP = "4714-11-24 (BC) 00:00:00"


def timestamp_ranges(tree: exp.Expression, context: Context) -> exp.Expression:
    """A date or timestamp plus or minus an interval before PostgreSQL's first timestamp (4714 BC) is
    its error 22008 "timestamp out of range"; DuckDB's timestamps reach 290309 BC and it answers. The
    result is checked (the latest end is DuckDB's own error: its timestamps end before PostgreSQL's)."""
    for node in reversed(list(tree.find_all(exp.Add, exp.Sub))):  # the innermost first
        if context.type_of(node) != "timestamp" or isinstance(node.parent, exp.Case) \
                and node.parent.meta.get("pe_timestamp_range"):
            continue
        earliest = exp.Cast(this=exp.Literal.string(_EARLIEST_TIMESTAMP), to=exp.DataType.build("TIMESTAMP"))
        checked = exp.Case(ifs=[exp.If(
            this=exp.LT(this=node.copy(), expression=earliest),
            true=exp.Cast(this=exp.Anonymous(this="ERROR", expressions=[exp.Literal.string("timestamp out of range")]),
                          to=exp.DataType.build("TIMESTAMP")))])
        checked.meta["pe_timestamp_range"] = True
        (node.parent if isinstance(node.parent, exp.Paren) else node).replace(checked)
        checked.set("default", node)
    return tree


# --- helpers ------------------------------------------------------------------------------------------

def _text(node: exp.Expression) -> str:
    text = node.sql(dialect="postgres", comments=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _cast_in_place(node: exp.Expression, to: str) -> None:
    """Put ``CAST(node AS to)`` where ``node`` is, keeping ``node`` (and the column nodes under it) itself;
    an aggregate's cast goes around its OVER, FILTER or WITHIN GROUP (``CAST(SUM(x) OVER () AS ...)``)."""
    while isinstance(node.parent, (exp.Window, exp.Filter, exp.WithinGroup, exp.IgnoreNulls, exp.RespectNulls)) \
            and node.arg_key == "this":
        node = node.parent
    cast = exp.Cast(to=exp.DataType.build(to))
    node.replace(cast)
    cast.set("this", node)


from policyengine.rewrite.postgres_intervals import LAST_RULES as _LAST_INTERVAL_RULES  # noqa: E402 - reads Context
from policyengine.rewrite.postgres_intervals import RULES as _INTERVAL_RULES  # noqa: E402

#: the rules, in order: names first (the types below read the contracts of the tables they name)
RULES: tuple[Callable[[exp.Expression, Context], exp.Expression], ...] = (
    public_schema, inline_functions, session_schema, *_INTERVAL_RULES, numeric_casts, exponent_literals, average,
    power, float_rounding,
    numeric_round_scales, signs,
    extracts, numeric_modulo, date_truncation, text_of_floats_and_intervals, numeric_branches, substrings,
    similar_to, output_texts,
    negative_literals, octet_lengths, array_literals, constant_sort_keys, sort_positions, aggregate_constant_orders,
    like_escapes, interval_aggregates, integer_sums,
    date_difference, datetime_formats, integer_widths, integer_division, make_intervals, left_shifts, date_ranges,
    timestamp_ranges, null_arrays, string_to_arrays, array_to_strings, nullif_types, regex_replacements, ascii_case,
    *_LAST_INTERVAL_RULES,
)


def postgres_semantics(tree: exp.Expression, read: str, sql: str, resolver: TableResolver) -> exp.Expression:
    """The tree with PostgreSQL's meaning kept on DuckDB (each of :data:`RULES`), when ``read`` is
    PostgreSQL; any other dialect's tree unchanged.

    >>> import sqlglot
    >>> from policyengine.model import PolicySet
    >>> sql = "SELECT -7/2, 1.23456::numeric, to_char(date '2024-03-09', 'FMMonth FMDD') FROM public.t"
    >>> tree = sqlglot.parse_one(sql, read="postgres")
    >>> empty = TableResolver(PolicySet(settings=None, roles={}, principals={}, tables={}, version=""))
    >>> postgres_semantics(tree, "postgres", sql, empty).sql("duckdb")
    "SELECT -7 // 2, CAST(1.23456 AS DECIMAL(38, 5)), STRFTIME(CAST('2024-03-09' AS DATE), '%B %-d') FROM main.t"
    """
    if read != "postgres":
        return tree
    context = Context(sql, resolver)
    for rule in RULES[:2]:  # names, and the functions written out whose arguments the binding must see
        tree = rule(tree, context)
    context.bind(tree, resolver)
    for rule in RULES[2:]:
        tree = rule(tree, context)
    return tree
