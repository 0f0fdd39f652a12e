"""The classify stage: every table reference of the tree is a base table, a CTE or a table function.

sqlglot's scopes tell which references name a CTE and which a table; names are compared
case-insensitively, as DuckDB compares them. Any table reference the scopes leave unclassified
refuses the query: a reference the rewrite cannot place would otherwise be read raw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import traverse_scope

from policyengine.rewrite import prune
from policyengine.rewrite.gate import Scanned
from policyengine.rewrite.refusal import Refused


@dataclass
class Classified:
    """Every table reference of a tree, by kind."""

    #: references to tables in the database: each becomes a wrapper
    base: list[exp.Table] = field(default_factory=list)
    #: references to a CTE of the statement, each with the CTE it names
    cte_refs: list[tuple[exp.Table, exp.CTE]] = field(default_factory=list)
    #: table functions (``range(3)``, ``unnest(...)``), which the gate has let through
    functions: list[exp.Table] = field(default_factory=list)
    #: whether the query reads base-table columns only by naming them (:mod:`policyengine.rewrite.prune`),
    #: so that the wrappers may list only the columns it names
    prunable: bool = False


def classify(tree: exp.Expression, scanned: Scanned, read: str) -> Classified:
    """The tree's table references by kind, and whether its wrappers may be pruned; the tree is not changed.

    ``scanned`` (the gate's walk) lists every Table node, so a reference the scopes miss is found
    without another walk; ``read`` is the reader's dialect (pruning knows DuckDB's constructs only).

    >>> import sqlglot
    >>> from policyengine.rewrite.gate import gate
    >>> tree = sqlglot.parse_one("WITH r AS (SELECT * FROM reviews) SELECT r.id FROM r, range(3) AS n(i)",
    ...                          read="duckdb")
    >>> found = classify(tree, gate(tree), "duckdb")
    >>> [t.name for t in found.base], [c.alias for _, c in found.cte_refs], len(found.functions), found.prunable
    (['reviews'], ['r'], 1, False)
    """
    classified = classify_tables(tree, scanned.tables)
    # decided on the names the reader wrote, before the base tables become placeholders
    classified.prunable = prune.prunable(scanned, classified.base, read)
    return classified


def classify_tables(root: exp.Expression, tables: list[exp.Table] | None = None) -> Classified:
    """The table references of ``root`` by kind (``prunable`` left False).

    ``tables``: every Table node of the tree, when a scan has listed them already.
    """
    try:
        scopes = traverse_scope(root)
    except (OptimizeError, RecursionError):
        raise Refused("cannot work out which tables and columns the query's names refer to",
                      kind="unsupported") from None
    found = Classified()
    seen: set[int] = set()
    for scope in scopes:
        ctes = {name.lower(): source for name, source in scope.cte_sources.items()}
        for table in scope.tables:
            if id(table) in seen:
                continue
            seen.add(id(table))
            if not isinstance(table.this, exp.Identifier):
                found.functions.append(table)
            elif not table.args.get("db") and not table.args.get("catalog") and table.name.lower() in ctes:
                cte = ctes[table.name.lower()].expression.parent
                if not isinstance(cte, exp.CTE):
                    raise Refused(f"cannot analyse the reference to '{table.name}' (a recursive reference to a "
                                  "WITH RECURSIVE query is not supported)", kind="unsupported")
                found.cte_refs.append((table, cte))
            else:
                found.base.append(table)
    for table in root.find_all(exp.Table) if tables is None else tables:
        if id(table) not in seen:
            raise Refused(f"cannot analyse the table reference '{table.sql(dialect='duckdb')[:80]}'",
                          kind="unsupported")
    return found
