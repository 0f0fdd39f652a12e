"""Which of a table's columns a query can name: the wrappers list only those.

A wrapper lists every visible column so that ``*``, ``t.*``, ``COLUMNS(*)``, whole-row references
(``SELECT t FROM t``), positional references, NATURAL joins, column aliases on a table
(``FROM t AS x(a, b)``) and PIVOT keep working unchanged. A query with none of these over a base
table reads a column only by writing its name, so a wrapper needs only the columns whose names occur
in the query; DuckDB would drop the others from the plan, but only after parsing, binding and
cross-checking them, which for keyed protections is most of a small query's time.

Pruning only ever leaves out columns the reader may see, and never the row filter: it cannot show
anything the full wrapper would not. A name that occurs anywhere in the query (as an identifier, a
keyword-like ``Var``, or any word of the generated SQL, strings included) keeps that column in every
wrapper, so every name binds as it would against the full wrappers. Where a construct could read a
column without naming it, or the query was written in another dialect, nothing is pruned.
"""

from __future__ import annotations

import re

from sqlglot import exp

from policyengine.rewrite.gate import Scanned

#: reader dialects whose implicit-column constructs :func:`prunable` knows
DIALECTS = frozenset({"duckdb"})

_WORD = re.compile(r"[^\W\d][\w$]*")


def prunable(scanned: Scanned, base: list[exp.Table], read: str) -> bool:
    """Whether every column the query reads from a base table is one it names.

    Called before the base tables are replaced, with the names and aliases they were written with.
    """
    if read not in DIALECTS or scanned.implicit:
        return False
    # the SELECTs whose own FROM clause (joins, parenthesized sources included) reads a base table
    over_base = {id(table.find_ancestor(exp.Select)) for table in base}
    base_names = {table.name.lower() for table in base} | {table.alias.lower() for table in base if table.alias}
    # whole-row references: a column (or keyword-like name) that names a base table
    if any(column.name.lower() in base_names for column in scanned.columns):
        return False
    if not base_names.isdisjoint(scanned.words):
        return False
    for star in scanned.stars:
        parent = star.parent
        if isinstance(parent, exp.Count):
            continue  # count(*): no column
        if isinstance(parent, exp.Column):
            # t.*: every column of t, if t is a base table (or might be: an alias named like one)
            qualifier = parent.table.lower()
            if not qualifier or qualifier in base_names:
                return False
            continue
        select = star.find_ancestor(exp.Select)
        if select is None:
            return False
        if parent is select and isinstance(select.parent, exp.Exists):
            continue  # EXISTS (SELECT * ...): only whether a row exists
        if parent is not select:
            return False  # a star as an argument (struct_pack(*), count(DISTINCT *), ...)
        # SELECT *: every column of this SELECT's own sources; harmless over derived tables and CTEs
        if id(select) in over_base:
            return False
    return True


def column_names(scanned: Scanned, text: str) -> frozenset[str]:
    """Every name the query can use, lower case: its identifiers and keyword-like names, and every
    word of its generated SQL (which is what the database parses)."""
    return frozenset(scanned.names.union(_WORD.findall(text.lower())))
