"""PostgreSQL's meaning for intervals on DuckDB: rules of the ``postgres_semantics`` stage (:data:`RULES`).

PostgreSQL and DuckDB hold an interval alike, as months, days and microseconds kept apart (``1 day
-36:00:00`` is not ``-12:00:00``, ``1 year 2 mons`` not ``420 days``); the front door sends the three
parts exactly (policyengine/server/arrow_rows.py reads them from DuckDB's Arrow export). DuckDB's
arithmetic on them (``+``, ``-``, unary minus, ``*``, ``timestamp - timestamp``, ``age()`` of two
timestamps, comparisons, ``min``/``max``) computes what PostgreSQL 15 computes; these rules cover the
rest:

- sqlglot reads ``INTERVAL '10 days 04:05:06'`` and the ``'...'`` of ``INTERVAL '1 day' + '...'`` as
  ``INTERVAL '10' DAYS`` (the first number and unit of the string: the time, ``ago``, a sign are lost):
  :func:`interval_strings` puts the reader's string back, for DuckDB to read as PostgreSQL does;
- ``age(a, b)`` of two timestamps or dates is DuckDB's ``age``, which counts as PostgreSQL's
  timestamp_age does (years, months and days from the calendar, then the time); of a timestamptz (the
  session's zone), of one argument (today, in which zone) or of an operand whose type the engine
  cannot tell it is refused (:func:`age`);
- ``interval * x`` of a fraction and ``interval / x`` follow PostgreSQL's interval_mul/interval_div
  step by step (:func:`interval_products`; DuckDB's operators miss by a microsecond now and then,
  and its division counts months as days);
- ``greatest()``/``least()`` of intervals compare as PostgreSQL does (:func:`interval_extremes`);
- ``time - time`` is an interval (:func:`time_differences`);
- ``justify_hours``/``justify_days``/``justify_interval``, which DuckDB lacks (:func:`justifications`);
- ``-interval`` overflows with PostgreSQL's 22008 (:func:`interval_negations`).

``sum(interval)`` (interval_aggregates) and ``make_interval`` (make_intervals) are in postgres_semantics.py.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.tokens import TokenType

from policyengine.rewrite.refusal import Refused

if TYPE_CHECKING:  # postgres_semantics imports this module for its RULES
    from policyengine.rewrite.postgres_semantics import Context

#: sqlglot's reading of an interval string: each number and unit (sqlglot.expressions.INTERVAL_STRING_RE)
_PART = re.compile(r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]+)\s*")


def unsupported(what: str, hint: str = "") -> Refused:
    """postgres_semantics.unsupported: a refusal naming the construct, never a value."""
    return Refused(f"{what} cannot be given PostgreSQL's exact meaning here" + (f": {hint}" if hint else ""),
                   kind="unsupported")


def _interval_literals(context: Context) -> tuple[dict[tuple[str, str], set[str]], set[tuple[str, str]]]:
    """The reader's interval strings sqlglot makes ``INTERVAL 'n' UNIT`` of, by (n, UNIT): the strings
    each key stands for, and the keys of the strings that say more than n and UNIT (lossy)."""
    tokens = context.tokens()
    written: dict[tuple[str, str], set[str]] = {}
    lossy: set[tuple[str, str]] = set()
    index = 0
    while index < len(tokens):
        if tokens[index].token_type is not TokenType.INTERVAL:
            index += 1
            continue
        index += 1
        while index < len(tokens) and tokens[index].token_type is TokenType.STRING:  # sqlglot's parser
            text = tokens[index].text
            index += 1
            parts = _PART.findall(text)
            if not parts and index < len(tokens) and tokens[index].token_type is TokenType.VAR:
                key = (text, tokens[index].text.upper())  # INTERVAL '1' DAY: the unit written after
                written.setdefault(key, set()).add(f"{text} {key[1]}")
                index += 1
            elif len(parts) == 1:
                key = (parts[0][0], parts[0][1].upper())
                written.setdefault(key, set()).add(text)
                if not _PART.fullmatch(text):
                    lossy.add(key)
            # INTERVAL 'a' + 'b' is read as the sum of two intervals
            if index + 1 < len(tokens) and tokens[index].token_type is TokenType.PLUS \
                    and tokens[index + 1].token_type is TokenType.STRING:
                index += 1
    return written, lossy


def interval_strings(tree: exp.Expression, context: Context) -> exp.Expression:
    """``INTERVAL '10 days 04:05:06'`` is ten days, four hours, five minutes and six seconds; sqlglot
    keeps only the string's first number and unit (``INTERVAL '10' DAYS``), dropping the rest (the
    time, ``ago``, a leading ``+``), and DuckDB reads ``INTERVAL '1.5' MONTHS`` as one month and
    ``INTERVAL '1' MON`` not at all. Each such interval becomes the reader's string cast, ``CAST('10
    days 04:05:06' AS INTERVAL)``, which DuckDB reads as PostgreSQL does (``1 mon``, ``1.5 months`` is
    1 mon 15 days). When two different strings of the statement read alike and one of them said more,
    which is which cannot be told: refused."""
    if "'" not in context.sql or not any(token.token_type is TokenType.INTERVAL for token in context.tokens()):
        return tree
    written, lossy = _interval_literals(context)
    if not written:
        return tree
    for node in list(tree.find_all(exp.Interval)):
        value, unit = node.this, node.args.get("unit")
        if not (isinstance(value, exp.Literal) and value.is_string and isinstance(unit, exp.Var)):
            continue
        key = (value.this, unit.name.upper())
        if key not in written:
            continue
        originals = written[key]
        if len(originals) != 1 and key in lossy:
            raise unsupported(f"interval strings that read alike ({', '.join(sorted(map(repr, originals)))})",
                              "write each as 'string'::interval")
        node.replace(exp.Cast(this=exp.Literal.string(next(iter(originals))), to=exp.DataType.build("INTERVAL")))
    return tree


def age(tree: exp.Expression, context: Context) -> exp.Expression:
    """``age(a, b)`` of timestamps or dates (PostgreSQL's timestamp_age: whole years, months and days
    by the calendar, borrowing from the later date's month, then the time) is what DuckDB's ``age``
    computes. Refused: one argument (``age(x)`` counts from today's midnight, in the session's zone),
    a timestamptz (PostgreSQL counts in the session's zone) and operands whose type the engine cannot
    tell."""
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.lower() != "age":
            continue
        arguments = list(node.expressions)
        kinds = [context.type_of(argument) for argument in arguments]
        if len(arguments) != 2:
            raise unsupported("age() of one timestamp", "write age(current_date::timestamp, x)")
        if not all(kind in ("timestamp", "date") for kind in kinds):
            raise unsupported(f"age() of {' and '.join(kind or 'an expression of unknown type' for kind in kinds)}",
                              "cast both arguments to timestamp")
        for argument, kind in zip(arguments, kinds):
            if kind == "date":  # PostgreSQL: the date's midnight
                cast = exp.Cast(this=argument.copy(), to=exp.DataType.build("TIMESTAMP"))
                argument.replace(cast)
    return tree


def interval_extremes(tree: exp.Expression, context: Context) -> exp.Expression:
    """``greatest()``/``least()`` of intervals compare them as PostgreSQL does (30-day months, 24-hour
    days: ``31 days`` is greater than ``1 mon``) and keep the first of equal ones; DuckDB's compare the
    months first. They become ``list_max``/``list_min`` of the arguments in reverse order (these compare
    as PostgreSQL, skip NULLs, and keep the last of equal values)."""
    for node in list(tree.find_all(exp.Greatest, exp.Least)):
        arguments = [node.this, *node.expressions]
        if "interval" not in (context.type_of(argument) for argument in arguments):
            continue
        listed = exp.Array(expressions=[argument.copy() for argument in reversed(arguments)])
        node.replace(exp.Anonymous(this="LIST_MAX" if isinstance(node, exp.Greatest) else "LIST_MIN",
                                   expressions=[listed]))
    return tree


def time_differences(tree: exp.Expression, context: Context) -> exp.Expression:
    """``time - time`` is an interval of the microseconds between them in PostgreSQL (``10:00 - 23:30``
    is ``-13:30:00``); DuckDB has no such operator."""
    for node in list(tree.find_all(exp.Sub)):
        if context.type_of(node.this) != "time" or context.type_of(node.expression) != "time":
            continue
        micros = exp.Sub(this=exp.Anonymous(this="EPOCH_US", expressions=[node.this.copy()]),
                         expression=exp.Anonymous(this="EPOCH_US", expressions=[node.expression.copy()]))
        node.replace(exp.Anonymous(this="TO_MICROSECONDS", expressions=[micros]))
    return tree


def interval_negations(tree: exp.Expression, context: Context) -> exp.Expression:
    """``-interval`` of the smallest months, days or microseconds is PostgreSQL's 22008 "interval out of
    range"; DuckDB's negation says only "numeric value" (which an integer's overflow says too). It is
    the subtraction from zero, whose overflow DuckDB names as an interval's."""
    for node in list(tree.find_all(exp.Neg)):
        if context.type_of(node.this) == "interval":
            zero = exp.Cast(this=exp.Literal.string("0 days"), to=exp.DataType.build("INTERVAL"))
            node.replace(exp.Paren(this=exp.Sub(this=zero, expression=_paren(node.this.copy()))))
    return tree


_NUMBER_TYPES = ("int2", "int4", "int8", "numeric", "float4", "float8", "unknown")


def _call(name: str, *arguments: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(arguments))


def _double(value: float | int) -> exp.Expression:
    return exp.Cast(this=exp.Literal.number(value), to=exp.DataType.build("DOUBLE"))


def _paren(node: exp.Expression) -> exp.Expression:
    return exp.Paren(this=node)


def _ts_round(value: exp.Expression) -> exp.Expression:
    """timestamp.c's TSROUND: rint(value * 1e6) / 1e6 (rint rounds half to even)."""
    rounded = _call("ROUND_EVEN", exp.Mul(this=_paren(value), expression=_double(1000000)), exp.Literal.number(0))
    # typed (a double over a double), so the later division rules leave it as it is
    return exp.Div(this=exp.Cast(this=rounded, to=exp.DataType.build("DOUBLE")), expression=_double(1000000))


def interval_product(interval: exp.Expression, factor: exp.Expression, divide: bool) -> exp.Expression:
    """PostgreSQL 15's interval_mul / interval_div, step by step in DuckDB's doubles: whole months and
    days multiplied (truncated toward zero), the fraction of the months cascaded into days of 30 and
    that of the days into seconds, each rounded to microseconds (TSROUND), a whole day of seconds
    carried into the days, and the time multiplied and rounded half to even (rint)."""
    from policyengine.rewrite.postgres_semantics import _interval_fields

    months, days, micros = _interval_fields(interval)
    by = exp.Cast(this=_paren(factor.copy()), to=exp.DataType.build("DOUBLE"))

    def scaled(value: exp.Expression) -> exp.Expression:
        value = exp.Cast(this=_paren(value.copy()), to=exp.DataType.build("DOUBLE"))
        operator = exp.Div if divide else exp.Mul
        return _paren(operator(this=value, expression=by.copy()))

    def trunc(value: exp.Expression) -> exp.Expression:
        return exp.Cast(this=_call("TRUNC", value.copy()), to=exp.DataType.build("DOUBLE"))

    whole_months, whole_days = trunc(scaled(months)), trunc(scaled(days))
    month_days = _ts_round(exp.Mul(this=_paren(exp.Sub(this=scaled(months), expression=whole_months.copy())),
                                   expression=_double(30)))
    seconds = _ts_round(exp.Mul(this=_paren(exp.Sub(
        this=exp.Add(this=exp.Sub(this=scaled(days), expression=whole_days.copy()), expression=month_days.copy()),
        expression=trunc(month_days))), expression=_double(86400)))
    carried = exp.Case(ifs=[exp.If(this=exp.GTE(this=_call("ABS", seconds.copy()), expression=_double(86400)),
                                   true=trunc(exp.Div(this=seconds.copy(), expression=_double(86400))))],
                       default=_double(0))
    rest = exp.Sub(this=seconds.copy(), expression=exp.Mul(this=_paren(carried.copy()), expression=_double(86400)))
    time = _call("ROUND_EVEN", exp.Add(this=scaled(micros), expression=exp.Mul(this=_paren(rest),
                                                                             expression=_double(1000000))),
                 exp.Literal.number(0))
    total_days = exp.Add(this=exp.Add(this=whole_days, expression=_paren(carried)), expression=trunc(month_days))
    return _paren(exp.Add(this=exp.Add(
        this=_call("TO_MONTHS", exp.Cast(this=whole_months, to=exp.DataType.build("INT"))),
        expression=_call("TO_DAYS", exp.Cast(this=total_days, to=exp.DataType.build("INT")))),
        expression=_call("TO_MICROSECONDS", exp.Cast(this=time, to=exp.DataType.build("BIGINT")))))


def interval_products(tree: exp.Expression, context: Context) -> exp.Expression:
    """``interval * x`` and ``interval / x`` of a number that is not an integer (and ``/`` of any
    number): PostgreSQL cascades the fractions of months and days down with its own rounding
    (:func:`interval_product`), which DuckDB's operators miss by a microsecond now and then (and its
    division counts months as days). Division by zero is PostgreSQL's 22012. An integer factor is
    DuckDB's exact product of each part, as PostgreSQL's; a factor whose type the engine cannot tell
    (a derived table's column) takes PostgreSQL's steps too, which give an integer's product as well."""
    for node in list(tree.find_all(exp.Mul, exp.Div)):
        left, right = context.type_of(node.this), context.type_of(node.expression)
        if isinstance(node, exp.Mul) and right == "interval" and left != "interval":
            interval, factor, kind = node.expression, node.this, left
        elif left == "interval" and right != "interval":
            interval, factor, kind = node.this, node.expression, right
        else:
            continue
        if kind is not None and kind not in _NUMBER_TYPES:
            continue  # not a number: DuckDB's error, as PostgreSQL's
        if isinstance(node, exp.Mul) and kind in ("int2", "int4", "int8"):
            continue
        product = interval_product(interval, factor, isinstance(node, exp.Div))
        if isinstance(node, exp.Div):
            zero = exp.EQ(this=exp.Cast(this=_paren(factor.copy()), to=exp.DataType.build("DOUBLE")),
                          expression=_double(0))
            product = exp.Case(ifs=[exp.If(this=zero, true=exp.Cast(
                this=_call("ERROR", exp.Literal.string("Division by zero")), to=exp.DataType.build("INTERVAL")))],
                default=product)
        node.replace(_paren(product))
    return tree


_DAY_US = 86_400_000_000


def _case(*branches: tuple[exp.Expression, int]) -> exp.Expression:
    ifs = [exp.If(this=condition, true=exp.Literal.number(value)) for condition, value in branches]
    return _paren(exp.Case(ifs=ifs, default=exp.Literal.number(0)))


def _interval_of(months: exp.Expression, days: exp.Expression, micros: exp.Expression) -> exp.Expression:
    return _paren(exp.Add(this=exp.Add(
        this=_call("TO_MONTHS", exp.Cast(this=_paren(months), to=exp.DataType.build("INT"))),
        expression=_call("TO_DAYS", exp.Cast(this=_paren(days), to=exp.DataType.build("INT")))),
        expression=_call("TO_MICROSECONDS", exp.Cast(this=_paren(micros), to=exp.DataType.build("BIGINT")))))


def _lt(value: exp.Expression, than: int) -> exp.Expression:
    return exp.LT(this=value.copy(), expression=exp.Literal.number(than))


def _gt(value: exp.Expression, than: int) -> exp.Expression:
    return exp.GT(this=value.copy(), expression=exp.Literal.number(than))


def _carry_sign(high: exp.Expression, low: exp.Expression, unit: int, ties: exp.Expression | None = None,
                tie_low: exp.Expression | None = None) -> tuple[exp.Expression, exp.Expression]:
    """timestamp.c's sign fix-up: when ``high`` and ``low`` have opposite signs, one ``unit`` of ``low``
    moves into ``high`` (``low == 0`` defers to ``tie_low``'s sign, for justify_interval's months)."""
    def below(value: exp.Expression) -> exp.Expression:
        if ties is None:
            return _lt(value, 0)
        return exp.Or(this=_lt(value, 0), expression=_paren(exp.And(
            this=exp.EQ(this=value.copy(), expression=exp.Literal.number(0)), expression=_lt(tie_low, 0))))

    def above(value: exp.Expression) -> exp.Expression:
        if ties is None:
            return _gt(value, 0)
        return exp.Or(this=_gt(value, 0), expression=_paren(exp.And(
            this=exp.EQ(this=value.copy(), expression=exp.Literal.number(0)), expression=_gt(tie_low, 0))))

    step = _case((exp.And(this=_gt(high, 0), expression=_paren(below(low))), -1),
                 (exp.And(this=_lt(high, 0), expression=_paren(above(low))), 1))
    return (exp.Add(this=_paren(high.copy()), expression=step.copy()),
            exp.Sub(this=_paren(low.copy()), expression=exp.Mul(this=step, expression=exp.Literal.number(unit))))


def justify(name: str, interval: exp.Expression) -> exp.Expression:
    """PostgreSQL 15's justify_hours (24-hour periods of the time into days), justify_days (30-day
    periods of the days into months) and justify_interval (both), each ending with the sign fix-up
    that leaves the parts with one sign, on the parts DuckDB keeps."""
    from policyengine.rewrite.postgres_semantics import _interval_fields

    months, days, micros = _interval_fields(interval)
    if name in ("justify_hours", "justify_interval"):
        whole = exp.IntDiv(this=_paren(micros.copy()), expression=exp.Literal.number(_DAY_US))
        micros = exp.Mod(this=_paren(micros), expression=exp.Literal.number(_DAY_US))
        days = exp.Add(this=_paren(days), expression=_paren(whole))
    if name in ("justify_days", "justify_interval"):
        whole = exp.IntDiv(this=_paren(days.copy()), expression=exp.Literal.number(30))
        days = exp.Mod(this=_paren(days), expression=exp.Literal.number(30))
        months = exp.Add(this=_paren(months), expression=_paren(whole))
        if name == "justify_days":
            months, days = _carry_sign(months, days, 30)
        else:
            months, days = _carry_sign(months, days, 30, ties=micros, tie_low=micros)
    if name in ("justify_hours", "justify_interval"):
        days, micros = _carry_sign(days, micros, _DAY_US)
    return _interval_of(months, days, micros)


def justifications(tree: exp.Expression, context: Context) -> exp.Expression:
    """``justify_hours``, ``justify_days``, ``justify_interval`` (DuckDB has none): :func:`justify`."""
    kinds = {exp.JustifyHours: "justify_hours", exp.JustifyDays: "justify_days",
             exp.JustifyInterval: "justify_interval"}
    for node in list(tree.find_all(exp.JustifyHours, exp.JustifyDays, exp.JustifyInterval, exp.Anonymous)):
        name = kinds.get(type(node)) or node.name.lower()
        argument = node.this if type(node) in kinds else (node.expressions[0] if len(node.expressions) == 1 else None)
        if name in kinds.values() and argument is not None:
            node.replace(justify(name, argument))
    return tree


def _text(node: exp.Expression) -> str:
    text = node.sql(dialect="postgres", comments=False)
    return text if len(text) <= 60 else text[:57] + "..."


#: the rules, in order, run first: interval_strings before any rule reads an interval's type or value
RULES = (interval_strings, age, interval_products)
#: run last: they write DuckDB functions in place of what the other rules reason about
LAST_RULES = (interval_extremes, time_differences, justifications, interval_negations)
