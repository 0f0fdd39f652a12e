"""``round``: numbers rounded to ``digits`` decimal digits, half away from zero, as SQL's ROUND does
in DuckDB and Snowflake (negative ``digits`` round to tens, hundreds...: ``-2`` turns 1250 into 1300).

A coarser number of the same type, as strong as ``generalize`` with a bucket (a power of ten,
nearest instead of toward zero). Rounding away from zero can leave the column's type (INTEGER
2147483647 to ``-1`` digits, DECIMAL(5,2) 999.99 to ``0``), and a conversion error could echo the
value; so a value within half a unit of the type's bound is truncated toward zero instead, the
nearest multiple that fits. On an integer column ``digits`` must be negative, and on a DECIMAL
column below its scale: otherwise it would show the raw value, which is refused.

Floating-point values are rounded as DuckDB rounds them, in doubles (:func:`_round_float`: 1.005,
stored as 1.00499..., becomes 1.0; 0.125 becomes 0.13), with ``digits`` from -22 to 22 on a
floating-point column. Python's built-in ``round`` rounds half to even and is not used.
Snowflake's ROUND (the kind's template, ``sql/snowflake/protection_round.sql.j2``) documents
HALF_AWAY_FROM_ZERO as its default.
"""

from __future__ import annotations

import decimal
import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StrictInt
from sqlglot import exp

from policyengine.model.base import PolicyModel
from policyengine.model.types import TypeFamily
from policyengine.protections._kind import Build, Kind
from policyengine.protections._ranges import INTEGER_BOUNDS, decimal_shape
from policyengine.protections._sql import build as fragment
from policyengine.protections._sql import cast, literal

if TYPE_CHECKING:
    from policyengine.model.problems import Problems
    from policyengine.model.types import ColumnType

#: Snowflake's ROUND and TRUNCATE take a scale from -38 to +38
DIGITS = 38


class Round(PolicyModel):
    kind: Literal["round"]
    digits: Annotated[StrictInt, Field(ge=-DIGITS, le=DIGITS)]


def check(protection: Round, column_type: ColumnType, at: Problems) -> Round | None:
    """Refuse a rounding that keeps every digit the type can hold (it would show the raw value), and,
    on a floating-point column, one past the powers of ten a double holds exactly."""
    if column_type.family is TypeFamily.FLOAT and abs(protection.digits) > FLOAT_DIGITS:
        at.add(("digits",), f"round to {protection.digits} digits on column type {column_type.written}: on a "
                            f"floating-point column digits must be from -{FLOAT_DIGITS} to {FLOAT_DIGITS} (past "
                            f"10^{FLOAT_DIGITS} a double holds no exact power of ten, and the warehouses could round "
                            "differently)")
        return None
    keeps = _scale(column_type.sql, column_type.family)
    if keeps is not None and protection.digits >= keeps:
        what = "whole numbers" if column_type.family is TypeFamily.INTEGER else f"{keeps} decimal digits"
        at.add(("digits",), f"round to {protection.digits} digits keeps every digit of column type "
                            f"{column_type.written} ({what}): it would show the raw value; use a smaller digits")
        return None
    return protection


def _scale(sql_type: str, family: TypeFamily) -> int | None:
    """The decimal digits a fixed-point type holds (0 for integers), None for floating point."""
    if family is TypeFamily.INTEGER:
        return 0
    shape = decimal_shape(sql_type)
    return shape[1] if shape is not None else None


def _limit(sql_type: str, family: TypeFamily, digits: int) -> decimal.Decimal | None:
    """Values strictly between -limit and limit round inside the type; None: every value does (the
    type is floating point, or ``digits`` keeps every digit so ROUND changes nothing)."""
    scale = _scale(sql_type, family)
    if scale is None or digits >= scale:
        return None
    if family is TypeFamily.INTEGER:
        bound = decimal.Decimal(INTEGER_BOUNDS[sql_type])
    else:
        precision, scale = decimal_shape(sql_type)  # type: ignore[misc]
        bound = decimal.Decimal(1).scaleb(precision - scale)
    half = decimal.Decimal(5).scaleb(-digits - 1)
    # exactly: the default context's 28 digits would round DECIMAL(38,9)'s limit up to 10**29
    return _EXACT.subtract(bound, half)


def _limit_text(limit: decimal.Decimal) -> str:
    return format(limit, "f")


def build(value: exp.Expression, column: Any, protection: Round, context: Build) -> exp.Expression:
    family, sql_type, digits = column.type.family, column.type.sql, protection.digits
    limit = _limit(sql_type, family, digits)
    rounded = fragment("round(__val, __digits)", val=value, digits=literal(digits))
    if limit is None:
        return cast(rounded, sql_type)
    if limit <= 0:  # every value is nearer zero than half a unit: ROUND and TRUNC both give 0
        return cast(fragment("trunc(__val, __digits)", val=value, digits=literal(digits)), sql_type)
    bound: exp.Expression
    if family is TypeFamily.INTEGER:
        bound = literal(int(limit))
    else:  # exactly, as a DECIMAL: it has at most the column's precision in digits
        bound = cast(literal(_limit_text(limit)), f"DECIMAL(38,{max(digits + 1, 0)})")
    return cast(fragment(
        "CASE WHEN __val > -__limit AND __val < __limit THEN round(__val, __digits) ELSE trunc(__val, __digits) END",
        val=value, limit=bound, digits=literal(digits)), sql_type)


def compare(old: dict[str, Any], new: dict[str, Any]) -> int | None:
    """Fewer digits shows less: every value rounded to fewer digits is determined by the rounding to
    more (up to a double rounding at a half, which moves it by one unit of the coarser rounding)."""
    return (new["digits"] > old["digits"]) - (new["digits"] < old["digits"])


def snowflake_values(column: Any, protection: Round) -> dict[str, Any]:
    """The template's ``digits`` and ``limit`` (the same bound as the DuckDB rewrite: the column's
    type as the policy declares it, so both targets show the same numbers)."""
    limit = _limit(column.type.sql, column.type.family, protection.digits)
    return {"digits": protection.digits,
            "limit": None if limit is None else _limit_text(limit) if limit > 0 else "0"}


def _nearest(number: float) -> float:
    """C's ``round``: the nearest whole number, halves away from zero."""
    return float(decimal.Decimal(number).to_integral_value(rounding=decimal.ROUND_HALF_UP))


def _round_float(value: float, digits: int) -> float:
    """DuckDB's ROUND of a DOUBLE (or REAL) to ``digits``, step by step in doubles: the value times
    ``10**digits`` (or divided by ``10**-digits``), to the nearest whole number, scaled back; a result
    that is not finite gives 0 for negative digits and the value itself otherwise.

    One refinement DuckDB makes, measured against it: where the product is a half only because the
    multiplication rounded (2.675 * 100 is 267.4999...9893, stored as 267.5), the exact product
    decides, so 2.675 gives 2.67 while 0.125 (an exact half, 12.5) gives 0.13.
    """
    if digits < 0:
        modifier = 10.0 ** -digits
        result = _nearest(value / modifier) * modifier
        return result if math.isfinite(result) else 0.0
    modifier = 10.0 ** digits
    product = value * modifier
    if not math.isfinite(product):
        return value
    whole = _nearest(product)
    if abs(whole - product) == 0.5:
        exact = _EXACT.multiply(decimal.Decimal(value), decimal.Decimal(modifier))
        if abs(exact) < abs(decimal.Decimal(product)):  # truly below the half: toward zero
            whole -= math.copysign(1.0, product)
    result = whole / modifier
    return result if math.isfinite(result) else value


#: exact products of a double and a power of ten (a few hundred digits at most)
_EXACT = decimal.Context(prec=2000)

#: the largest power of ten a double holds exactly: past it, each engine's inexact power decides how
#: a floating-point value rounds, and DuckDB and Snowflake could show different numbers
FLOAT_DIGITS = 22


def reference(value: Any, column: Any, protection: Round, keys: Any) -> Any:
    family, digits = column.type.family, protection.digits
    if family is TypeFamily.FLOAT:
        return _round_float(float(value), digits)
    limit = _limit(column.type.sql, family, digits)
    if limit is None:
        return value
    number = decimal.Decimal(value)
    # copy_negate: unary minus would round to the default context's 28 digits
    mode = decimal.ROUND_HALF_UP if limit.copy_negate() < number < limit else decimal.ROUND_DOWN
    result = number.quantize(decimal.Decimal(1).scaleb(-digits), rounding=mode, context=decimal.Context(prec=100))
    return int(result) if family is TypeFamily.INTEGER else result


KIND = Kind(
    name="round", model=Round, rank=30, keyed=False,
    families=frozenset({TypeFamily.INTEGER, TypeFamily.FLOAT, TypeFamily.DECIMAL}), repeated=False,
    check=check, compare=compare, build=build, snowflake="protection_round.sql.j2", snowflake_values=snowflake_values,
    reference=reference, summary="a number rounded to a number of digits",
)
