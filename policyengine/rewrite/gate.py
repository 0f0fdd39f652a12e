"""The gate stage: one walk over the reader's tree, refusing what no query may contain and listing
every node the later stages need.

The gate (forbidden nodes, denied and unknown functions), the CTE and table lists, the columns
checked against denied ones and the names the query can use were each a walk of their own; one walk
with a dispatch on the node's type answers all of them. Refusals keep their precedence: a forbidden
node is reported before a denied function, and that before an unknown one, each the first met in
the same breadth-first order as :meth:`sqlglot.exp.Expression.walk`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from policyengine.rewrite.functions import (
    display_name,
    function_name,
    is_denied,
    method_call_refusal,
    table_function_refusal,
)
from policyengine.rewrite.refusal import Refused
from policyengine.rewrite.statement import FORBIDDEN, construct_name

(_FORBIDDEN, _FUNC, _ANONYMOUS, _DOT, _ROWS, _TABLE, _CTE, _COLUMN, _IDENTIFIER, _VAR, _STAR, _IMPLICIT, _JOIN,
 _SAMPLE) = (1 << i for i in range(14))

#: node types that name or expand columns without an identifier naming each: where one appears, the
#: wrappers list every visible column (see :mod:`policyengine.rewrite.prune`)
IMPLICIT_COLUMNS: tuple[type[exp.Expression], ...] = (exp.Columns, exp.PositionalColumn, exp.Pivot)

_ROLES: dict[type, int] = {}


def _role(kind: type) -> int:
    role = _ROLES.get(kind)
    if role is not None:
        return role
    role = 0
    for bit, types in ((_FORBIDDEN, FORBIDDEN), (_FUNC, exp.Func), (_ANONYMOUS, exp.Anonymous), (_DOT, exp.Dot),
                       (_ROWS, exp.TableFromRows), (_TABLE, exp.Table), (_CTE, exp.CTE), (_COLUMN, exp.Column),
                       (_IDENTIFIER, exp.Identifier), (_VAR, exp.Var), (_STAR, exp.Star),
                       (_IMPLICIT, IMPLICIT_COLUMNS), (_JOIN, exp.Join), (_SAMPLE, exp.TableSample)):
        if issubclass(kind, types):
            role |= bit
    _ROLES[kind] = role
    return role


@dataclass
class Scanned:
    tables: list[exp.Table] = field(default_factory=list)
    ctes: list[exp.CTE] = field(default_factory=list)
    columns: list[exp.Column] = field(default_factory=list)
    stars: list[exp.Star] = field(default_factory=list)
    #: TABLESAMPLE / USING SAMPLE clauses
    samples: list[exp.TableSample] = field(default_factory=list)
    #: every identifier and keyword-like name in the tree, lower case
    names: set[str] = field(default_factory=set)
    #: the keyword-like names (``Var``) alone, lower case
    words: set[str] = field(default_factory=set)
    #: a construct that reads columns it does not name (COLUMNS, #n, PIVOT, NATURAL join, a table alias
    #: with column names): the wrappers must list every visible column
    implicit: bool = False


def _denied(node: exp.Expression, role: int) -> str | None:
    """Why the gate refuses this node as a denied function call (a function, a method-style call, a
    table function), or None; in that order of precedence at one node."""
    if role & _FUNC:
        if is_denied(function_name(node)):  # type: ignore[arg-type]
            return f"function {display_name(node)} is not allowed"
    if role & _DOT and isinstance(node.expression, exp.Func):
        return method_call_refusal(node.expression)
    if role & _ROWS and not isinstance(node.this, (exp.Explode, exp.Unnest)):
        return f"table function {display_name(node.this)} is not allowed"
    if role & _TABLE and not isinstance(node.this, exp.Identifier):
        return table_function_refusal(node)  # type: ignore[arg-type]
    return None


#: dialects whose final SQL DuckDB's own parser cross-checks before it runs
CROSS_CHECKED = frozenset({"duckdb"})


def gate(tree: exp.Expression, write: str = "duckdb") -> Scanned:
    """Refuse a forbidden construct, a denied function, or (where no database parser cross-checks the
    SQL written for ``write``) a function sqlglot does not know; otherwise what the walk found.

    The tree is not changed: the gate only reads it, so that a refusal is decided on what the reader
    wrote.

    >>> import sqlglot
    >>> scanned = gate(sqlglot.parse_one("SELECT p.name FROM people p JOIN orders USING (id)", read="duckdb"))
    >>> [table.name for table in scanned.tables], sorted(scanned.names), scanned.implicit
    (['people', 'orders'], ['id', 'name', 'orders', 'p', 'people'], False)
    >>> gate(sqlglot.parse_one("SELECT * FROM read_csv('secrets.csv')", read="duckdb"))
    Traceback (most recent call last):
    ...
    policyengine.rewrite.refusal.Refused: table function read_csv() is not allowed
    >>> gate(sqlglot.parse_one("SELECT my_udf(1)", read="snowflake"), write="snowflake")
    Traceback (most recent call last):
    ...
    policyengine.rewrite.refusal.Refused: function my_udf() is not known to the engine for this warehouse
    """
    return scan(tree, refuse_unknown=write not in CROSS_CHECKED)


def scan(root: exp.Expression, *, refuse_unknown: bool) -> Scanned:
    """The gate's walk: refuse what the gate refuses; otherwise the nodes and names of ``root``.

    ``refuse_unknown``: a function sqlglot does not know (``Anonymous``) is refused too.
    """
    found = Scanned()
    denied: str | None = None
    unknown: str | None = None
    names = found.names
    for node in root.walk():
        role = _ROLES.get(type(node))
        if role is None:
            role = _role(type(node))
        if not role:
            continue
        if role & _IDENTIFIER:
            names.add(str(node.this).lower())
            continue
        if role & _FORBIDDEN:
            # reported before anything else, as the first forbidden node met: nothing later can change that
            raise Refused(f"{construct_name(node)} is not allowed in a query")
        if role & (_FUNC | _DOT | _ROWS | _TABLE) and denied is None:
            denied = _denied(node, role)
        if role & _ANONYMOUS and refuse_unknown and unknown is None:
            unknown = f"function {node.name.lower()}() is not known to the engine for this warehouse"
        if role & _COLUMN:
            found.columns.append(node)  # type: ignore[arg-type]
        elif role & _TABLE:
            found.tables.append(node)  # type: ignore[arg-type]
            alias = node.args.get("alias")
            if alias is not None and alias.args.get("columns"):
                found.implicit = True
        elif role & _CTE:
            found.ctes.append(node)  # type: ignore[arg-type]
        elif role & _VAR:
            word = str(node.this).lower()
            names.add(word)
            found.words.add(word)
        elif role & _STAR:
            found.stars.append(node)  # type: ignore[arg-type]
        elif role & _JOIN and str(node.args.get("method") or "").upper() == "NATURAL":
            found.implicit = True
        elif role & _SAMPLE:
            found.samples.append(node)  # type: ignore[arg-type]
        if role & _IMPLICIT:
            found.implicit = True
    for reason in (denied, unknown):
        if reason is not None:
            raise Refused(reason)
    return found
