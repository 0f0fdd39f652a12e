"""PostgreSQL's string and array functions that DuckDB lacks, written out as DuckDB expressions.

``quote_literal``, ``quote_nullable``, ``quote_ident``, ``array_upper`` and ``array_lower`` are plain
functions of their arguments in PostgreSQL, but DuckDB has none of them: a statement that calls one is
given its body in place (:func:`inline_functions`, a rule of the semantics stage), so it runs on the
data's database like any other expression. The same bodies are the shadow catalog's macros
(policyengine/server/catalog/functions.py), so a catalog query and a data query quote alike.

Each body reads its arguments as ``pe_a`` and ``pe_b``: the macro's parameters, and the names the
inliner puts the call's arguments in place of.
"""

from __future__ import annotations

from functools import cache

import sqlglot
from sqlglot import exp

#: name -> (parameters, DuckDB body), PostgreSQL's meaning (checked against PostgreSQL 15 in
#: tests/test_postgres_semantics.py)
BODIES: dict[str, tuple[tuple[str, ...], str]] = {
    # quotes doubled; a text with a backslash is written E'...' with the backslash doubled (quote.c)
    "quote_literal": (("pe_a",), "CASE WHEN contains(CAST(pe_a AS VARCHAR), chr(92)) THEN 'E' ELSE '' END "
                                 "|| chr(39) || replace(replace(CAST(pe_a AS VARCHAR), chr(92), chr(92) || chr(92)), "
                                 "chr(39), chr(39) || chr(39)) || chr(39)"),
    "quote_nullable": (("pe_a",), "coalesce(CASE WHEN contains(CAST(pe_a AS VARCHAR), chr(92)) THEN 'E' ELSE '' END "
                                  "|| chr(39) || replace(replace(CAST(pe_a AS VARCHAR), chr(92), chr(92) || chr(92)), "
                                  "chr(39), chr(39) || chr(39)) || chr(39), 'NULL')"),
    # a lower-case name of letters, digits, _ and $ (not starting with a digit or $) stays bare
    "quote_ident": (("pe_a",), "CASE WHEN regexp_full_match(pe_a, '[a-z_][a-z0-9_$]*') THEN pe_a "
                               "ELSE '\"' || replace(pe_a, '\"', '\"\"') || '\"' END"),
    # one-dimensional arrays, as the front door has them: bounds 1..n of dimension 1; NULL otherwise
    "array_upper": (("pe_a", "pe_b"), "CASE WHEN pe_b = 1 AND len(pe_a) > 0 THEN CAST(len(pe_a) AS INT) END"),
    "array_lower": (("pe_a", "pe_b"), "CASE WHEN pe_b = 1 AND len(pe_a) > 0 THEN CAST(1 AS INT) END"),
}


@cache
def _template(name: str) -> exp.Expression:
    return sqlglot.parse_one(BODIES[name][1], read="duckdb")


def body(name: str, arguments: list[exp.Expression]) -> exp.Expression:
    """The DuckDB expression of ``name(arguments...)``: the body, each parameter replaced by a copy of
    its argument."""
    parameters = BODIES[name][0]
    by_name = dict(zip(parameters, arguments))
    tree = _template(name).copy()
    for column in list(tree.find_all(exp.Column)):
        if column.name in by_name and not column.table:
            column.replace(exp.Paren(this=by_name[column.name].copy()))
    return exp.Paren(this=tree)


def inline_functions(tree: exp.Expression, context: object = None) -> exp.Expression:
    """Every call of one of :data:`BODIES` with its number of arguments becomes its body.

    >>> import sqlglot
    >>> tree = sqlglot.parse_one("SELECT quote_ident(name), array_upper(a, 1) FROM t", read="postgres")
    >>> inline_functions(tree).sql("duckdb")  # doctest: +ELLIPSIS
    'SELECT (CASE WHEN REGEXP_FULL_MATCH((name), ...) THEN (name) ELSE ... END), (CASE WHEN (1) = 1 AND ...'
    """
    for node in reversed(list(tree.find_all(exp.Anonymous))):  # the innermost first
        name = node.name.lower()
        if name in BODIES and len(node.expressions) == len(BODIES[name][0]):
            node.replace(body(name, list(node.expressions)))
    return tree
