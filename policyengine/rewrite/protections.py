"""One expression builder per protection kind (spec section 7).

Each builder takes the raw value's expression and returns an expression that keeps the column's
type (the result is cast to it, as Snowflake requires of a masking policy), keeps NULL as NULL, and
cannot raise on any value: an error message would carry the raw value to the reader.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from sqlglot import exp

from policyengine.model import Column, TypeFamily
from policyengine.model.protections import Custom, Generalize, Partial, Redact
from policyengine.rewrite import keyed
from policyengine.rewrite.templates import build, cast, literal

#: what ``redact`` shows when the policy names no value
REDACTED: dict[TypeFamily, Any] = {
    TypeFamily.STRING: "*****",
    TypeFamily.INTEGER: 0,
    TypeFamily.FLOAT: 0.0,
    TypeFamily.DECIMAL: 0,
    TypeFamily.BOOLEAN: False,
    TypeFamily.DATE: "1970-01-01",
    TypeFamily.TIMESTAMP: "1970-01-01 00:00:00",
    TypeFamily.TIME: "00:00:00",
    TypeFamily.BINARY: "",
}

#: the masked local part of an email, whatever its length (hiding the length too)
EMAIL_MASK = "*****"


def _when_not_null(value: exp.Expression, expression: exp.Expression) -> exp.Expression:
    return build("CASE WHEN __val IS NULL THEN NULL ELSE __expr END", val=value, expr=expression)


def redact(value: exp.Expression, column: Column, protection: Redact) -> exp.Expression:
    constant = protection.value if protection.value is not None else REDACTED[column.type.family]
    if isinstance(constant, (dt.date, dt.datetime)):
        constant = constant.isoformat(sep=" ") if isinstance(constant, dt.datetime) else constant.isoformat()
    return _when_not_null(value, literal(constant))


def nullify(value: exp.Expression, column: Column, protection: Any) -> exp.Expression:
    return cast(exp.null(), column.type.sql)


def partial(value: exp.Expression, column: Column, protection: Partial) -> exp.Expression:
    """Keep ``show_first``/``show_last`` characters; a value too short to keep any is masked whole."""
    first, last = protection.show_first, protection.show_last
    pieces = ["left(__val, __first)"] if first else []
    pieces.append("repeat(__char, length(__val) - __keep)")
    if last:
        pieces.append("right(__val, __last)")
    return build(
        "CASE WHEN __val IS NULL THEN NULL WHEN length(__val) <= __keep THEN repeat(__char, length(__val)) "
        f"ELSE {' || '.join(pieces)} END",
        val=value, keep=literal(first + last), first=literal(first), last=literal(last),
        char=literal(protection.char),
    )


def email(value: exp.Expression, column: Column, protection: Any) -> exp.Expression:
    """Local part hidden, domain (after the last '@') kept; a value with no '@' is hidden whole."""
    return build(
        "CASE WHEN __val IS NULL THEN NULL WHEN strpos(__val, '@') > 0 "
        "THEN __mask || '@' || split_part(__val, '@', -1) ELSE __mask END",
        val=value, mask=literal(EMAIL_MASK),
    )


def hash_(value: exp.Expression, column: Column, protection: Any) -> exp.Expression:
    return keyed.hash_value(value, column.type.sql)


def tokenize(value: exp.Expression, column: Column, protection: Any) -> exp.Expression:
    return keyed.tokenize_value(value, column.type.sql)


def encrypt(value: exp.Expression, column: Column, protection: Any) -> exp.Expression:
    return keyed.encrypt_value(value)


def generalize(value: exp.Expression, column: Column, protection: Generalize) -> exp.Expression:
    """Dates to the start of their year or month; numbers truncated toward zero to a multiple of
    ``bucket`` (toward zero, so the result never leaves the type's range); strings to ``keep`` chars."""
    family = column.type.family
    if protection.to is not None:
        template = {"year": "date_trunc('year', __val)", "month": "date_trunc('month', __val)"}[protection.to]
        return build(template, val=value)
    if protection.keep is not None:
        return build("left(__val, __keep)", val=value, keep=literal(protection.keep))
    bucket = literal(protection.bucket)
    if family is TypeFamily.FLOAT:
        return build("trunc(__val / __bucket) * __bucket", val=value, bucket=bucket)
    return build("__val - (__val % __bucket)", val=value, bucket=bucket)


def custom(value: exp.Expression, column: Column, protection: Custom, *,
           bind: Callable[[exp.Expression], exp.Expression] | None = None) -> exp.Expression:
    """The policy's expression with ``val`` as the raw value; other columns are the row's raw values.

    ``bind`` (from the wrapper) qualifies the row's columns and binds context functions.
    """
    assert column.custom_expr is not None, "validated at load"
    tree = column.custom_expr.copy()

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() == "val":
            return value.copy()
        return node

    tree = tree.transform(substitute, copy=False)
    return bind(tree) if bind is not None else tree


BUILDERS: dict[str, Callable[..., exp.Expression]] = {
    "redact": redact,
    "nullify": nullify,
    "partial": partial,
    "email": email,
    "hash": hash_,
    "tokenize": tokenize,
    "encrypt": encrypt,
    "generalize": generalize,
    "custom": custom,
}


def protect(value: exp.Expression, column: Column, protection: Any,
            bind: Callable[[exp.Expression], exp.Expression] | None = None,
            udfs: Callable[[str], str] | None = None) -> exp.Expression:
    """The protected value of ``column``, cast back to the column's type.

    A custom expression's result is converted with TRY_CAST: the policy author's expression may
    yield another type, and a conversion error would echo the value. ``udfs`` names the warehouse's
    keyed UDFs, for a target where the key lives there (Snowflake) rather than in session variables.
    """
    kind = protection.kind
    if kind == "custom":
        result = custom(value, column, protection, bind=bind)
        return exp.TryCast(this=result, to=exp.DataType.build(column.type.sql, dialect="duckdb"))
    if udfs is not None and kind in ("hash", "tokenize", "encrypt"):
        return cast(keyed.udf_call(kind, value, column.type.sql, udfs), column.type.sql)
    return cast(BUILDERS[kind](value, column, protection), column.type.sql)
