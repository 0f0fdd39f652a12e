"""SQL fragments for the kinds' builders, written once as text and instantiated with syntax trees.

Written with sqlglot alone so that the kinds (at the model layer) build their SQL without importing
the rewrite, which uses these same pieces (:mod:`policyengine.rewrite.templates`). Policy values (a
mask character, a redact value) are never pasted into SQL text: each fragment is our own constant
text, parsed once, with placeholders spelled ``__name`` replaced by expression nodes.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

DIALECT = "duckdb"


@cache
def _parsed(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read=DIALECT)


def build(sql: str, **substitutions: exp.Expression) -> exp.Expression:
    """``build("upper(__val)", val=column)``: the fragment with each ``__name`` replaced."""
    tree = _parsed(sql).copy()

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.startswith("__"):
            key = node.name[2:]
            if key in substitutions:
                return substitutions[key].copy()
        return node

    return tree.transform(replace, copy=False)


def literal(value: Any) -> exp.Expression:
    """A typed SQL literal for a Python value; strings are always string literals, never SQL."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


@lru_cache(maxsize=1024)
def _data_type(sql_type: str) -> exp.DataType:
    return exp.DataType.build(sql_type, dialect=DIALECT)


def cast(expression: exp.Expression, sql_type: str) -> exp.Cast:
    return exp.Cast(this=expression, to=_data_type(sql_type).copy())


def try_cast(expression: exp.Expression, sql_type: str) -> exp.TryCast:
    return exp.TryCast(this=expression, to=_data_type(sql_type).copy())


def when_not_null(value: exp.Expression, expression: exp.Expression) -> exp.Expression:
    return build("CASE WHEN __val IS NULL THEN NULL ELSE __expr END", val=value, expr=expression)
