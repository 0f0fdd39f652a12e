"""The rename-CTEs stage: every CTE, and every reference to one, renamed to a per-rewrite nonce name.

Where DuckDB would bind a reference differently from sqlglot's scopes (which the classify stage
followed), the reference names a CTE that no longer exists under that name and the statement fails
to bind: it errors instead of reading a base table raw. A reference keeps the name it was written
with as its alias, so the reader's qualified columns (``r.id``) still resolve.
"""

from __future__ import annotations

from sqlglot import exp

from policyengine.rewrite.classify import Classified
from policyengine.rewrite.gate import Scanned
from policyengine.rewrite.templates import quoted


def rename_ctes(tree: exp.Expression, scanned: Scanned, classified: Classified, nonce: str) -> exp.Expression:
    """The tree with CTE ``i`` (in walk order, from ``scanned``) named ``__pe_<nonce>_cte<i>`` and each
    reference ``classified`` found pointing at it renamed to match (in place).

    >>> import sqlglot
    >>> from policyengine.rewrite.classify import classify
    >>> from policyengine.rewrite.gate import gate
    >>> tree = sqlglot.parse_one("WITH r AS (SELECT 1 AS id) SELECT x.id FROM r AS x JOIN r USING (id)",
    ...                          read="duckdb")
    >>> scanned = gate(tree)
    >>> rename_ctes(tree, scanned, classify(tree, scanned, "duckdb"), "n").sql("duckdb")
    'WITH "__pe_n_cte0" AS (SELECT 1 AS id) SELECT x.id FROM "__pe_n_cte0" AS x JOIN "__pe_n_cte0" AS "r" USING (id)'
    """
    names = {id(cte): f"__pe_{nonce}_cte{index}" for index, cte in enumerate(scanned.ctes)}
    for table, cte in classified.cte_refs:
        alias = table.alias or table.name
        table.set("this", quoted(names[id(cte)]))
        if not table.args.get("alias"):
            table.set("alias", exp.TableAlias(this=quoted(alias)))
    for cte in scanned.ctes:
        cte.args["alias"].set("this", quoted(names[id(cte)]))
    return tree
