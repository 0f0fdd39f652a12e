"""Result column names as PostgreSQL gives them (parse_target.c, FigureColnameInternal).

A column reference is named after its last field, a function call after its function (``count``,
``lower``, as the reader wrote it), a cast after its argument when that has a good name and else after
the type (``text``, ``int4``, ``numeric``), CASE after its ELSE branch or ``case``, EXISTS ``exists``,
a scalar subquery after its single column, ARRAY[] ``array``, ROW() ``row``, COALESCE, GREATEST,
LEAST, NULLIF and the SQL value functions (``current_date``...) after themselves; anything else
(operators, literals, parameters) is ``?column?``. Function names come from the reader's own text (the
name token sqlglot records for a call), since sqlglot turns ``substr`` into SUBSTRING and ``now()``
into CURRENT_TIMESTAMP.
"""

from __future__ import annotations

import re

from sqlglot import exp

from policyengine.rewrite.postgres_semantics import PG_TYPE_NAMES

UNNAMED = "?column?"

#: nodes PostgreSQL names after a keyword of their own (the grammar's special forms)
_KEYWORD_NAMES: dict[type[exp.Expression], str] = {
    exp.Coalesce: "coalesce", exp.Greatest: "greatest", exp.Least: "least", exp.Nullif: "nullif",
    exp.CurrentDate: "current_date", exp.CurrentTime: "current_time", exp.CurrentTimestamp: "current_timestamp",
    exp.CurrentUser: "current_user", exp.CurrentSchema: "current_schema", exp.Array: "array",
    exp.StrPosition: "position", exp.Extract: "extract", exp.Substring: "substring", exp.Exists: "exists",
    exp.Ceil: "ceil", exp.Floor: "floor", exp.Localtime: "localtime", exp.Localtimestamp: "localtimestamp",
    exp.Overlay: "overlay", exp.GroupConcat: "string_agg", exp.Initcap: "initcap",
}


def _written_name(node: exp.Expression, sql: str) -> str | None:
    """A function call's name as the reader wrote it (folded to lower case unless quoted), from the
    position sqlglot recorded for its name token; None when there is none (an operator's node)."""
    start, end = node.meta.get("start"), node.meta.get("end")
    if start is None or end is None or not sql:
        return None
    word = sql[start:end + 1]
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return word[1:-1].replace('""', '"')
    return word.lower() if word.replace("_", "").isalnum() else None


#: keywords of operators a parenthesis may follow (``TRUE OR (x)``, ``x IN (1, 2)``): not calls
_OPERATOR_WORDS = frozenset({"or", "and", "not", "is", "in", "like", "ilike", "between", "similar", "any", "all",
                             "some", "overlaps", "escape", "distinct", "collate", "at"})


def _called(node: exp.Expression, sql: str) -> str | None:
    """The function name of a node sqlglot built from a call (``mod(7, 3)`` is a Mod, ``div(7, 2)`` a
    Cast): the name token it recorded, followed by a parenthesis in the reader's text."""
    end = node.meta.get("end")
    if end is None or not sql or not sql[end + 1:].lstrip().startswith("("):
        return None
    written = _written_name(node, sql)
    return None if written in _OPERATOR_WORDS else written


def _spelled_call(node: exp.Func, sql: str) -> str | None:
    """For a call sqlglot recorded no position for (``chr(65)``): the one name of its function class
    (``CHR``, ``CHAR``) that the reader's text calls, else None."""
    names = {name.lower() for name in type(node).sql_names()}
    called = {match.group(1).lower() for match in re.finditer(r"\b([A-Za-z_][A-Za-z_0-9]*)\s*\(", sql or "")}
    found = names & called - _OPERATOR_WORDS
    return found.pop() if len(found) == 1 else None


def figure(node: exp.Expression, sql: str) -> tuple[str | None, int]:
    """(name, strength) as FigureColnameInternal: 2 a good name, 1 a second-best, 0 none."""
    called = _called(node, sql) if not isinstance(node, (exp.Column, exp.Literal, exp.Alias)) else None
    if called is not None:
        return called, 2
    if isinstance(node, exp.Alias):
        return node.alias, 2
    if isinstance(node, exp.Paren):
        return figure(node.this, sql)
    if isinstance(node, exp.Column):
        if isinstance(node.this, exp.Star):
            return None, 0
        return node.name, 2
    if isinstance(node, exp.Dot):
        return figure(node.expression, sql)
    if isinstance(node, exp.Bracket):
        return figure(node.this, sql)
    if isinstance(node, (exp.Cast, exp.TryCast)):
        name, strength = figure(node.this, sql)
        if strength > 1:
            return name, strength
        kind = node.to
        while kind.this == exp.DataType.Type.ARRAY and kind.expressions:  # int[] is named int4, as its element
            kind = kind.expressions[0]
        typename = PG_TYPE_NAMES.get(kind.this) or kind.sql(dialect="postgres").split("(")[0].split()[0].lower()
        return typename, 1
    if isinstance(node, exp.Interval):
        return "interval", 1
    if isinstance(node, exp.Case):
        name, strength = figure(node.args.get("default"), sql) if node.args.get("default") else (None, 0)
        return (name, strength) if strength > 1 else ("case", 1)
    if isinstance(node, exp.Subquery):
        query = node.this
        if isinstance(query, exp.Select) and query.expressions:
            name, _ = figure(query.expressions[0], sql)
            return name or UNNAMED, 2
        return None, 0
    if isinstance(node, (exp.Window, exp.Filter, exp.WithinGroup, exp.IgnoreNulls, exp.RespectNulls)):
        return figure(node.this, sql)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "row" and _written_name(node, sql) == "row":
        return "row", 2
    if isinstance(node, exp.Func):
        written = _written_name(node, sql)
        if written is not None:
            return written, 2
        if isinstance(node, exp.Extract):  # extract(f FROM x) and date_part('f', x) are one node in sqlglot
            spelled_date_part = (re.search(r"\bdate_part\s*\(", sql, re.I)
                                 and not re.search(r"\bextract\s*\(", sql, re.I))
            return ("date_part" if spelled_date_part else "extract"), 2
        for kind, name in _KEYWORD_NAMES.items():
            if isinstance(node, kind):
                return name, 2
        if isinstance(node, exp.Anonymous):
            return node.name.lower(), 2
        if isinstance(node, exp.Trim):  # trim(x) is btrim(x) in PostgreSQL's grammar
            where = str(node.args.get("position") or "BOTH").upper()
            return {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(where, "btrim"), 2
        spelled = _spelled_call(node, sql)
        if spelled is not None:
            return spelled, 2
        return None, 0
    return None, 0


def postgres_name(node: exp.Expression, sql: str) -> str:
    """The name PostgreSQL gives an unaliased projection.

    >>> import sqlglot
    >>> sql = "SELECT count(*), 7 / 2, 'x'::text, rating::int, substr(name, 1, 2), CASE WHEN a THEN 1 END FROM t"
    >>> [postgres_name(p, sql) for p in sqlglot.parse_one(sql, read="postgres").expressions]
    ['count', '?column?', 'text', 'rating', 'substr', 'case']
    """
    name, _ = figure(node, sql)
    return name or UNNAMED
