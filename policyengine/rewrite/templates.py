"""SQL fragments written once as text by us, instantiated by substituting syntax trees.

Protections are easiest to read as SQL, but policy values (a mask character, a redact value) must
never be pasted into SQL text. So each fragment is parsed once from our own constant text, with
placeholders spelled ``__name``, and :func:`build` swaps each placeholder for an expression node.
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


def quoted(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column_of(alias: str, name: str) -> exp.Column:
    return exp.Column(this=quoted(name), table=quoted(alias))


@lru_cache(maxsize=1024)
def _data_type(sql_type: str) -> exp.DataType:
    return exp.DataType.build(sql_type, dialect=DIALECT)


def cast(expression: exp.Expression, sql_type: str) -> exp.Cast:
    return exp.Cast(this=expression, to=_data_type(sql_type).copy())
