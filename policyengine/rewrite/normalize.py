"""The normalize stage: the reader's tree put in the shape the later stages and DuckDB agree on.

Three changes, none of which alters what the statement means: a table in parentheses becomes that
table (``FROM (reviews)``), a bare ``BERNOULLI (10)`` sample size becomes the percentage it is, and
CTE names are lower-cased, since DuckDB compares names case-insensitively (quoted ones too) and the
classify stage must bind every reference as DuckDB will.
"""

from __future__ import annotations

from sqlglot import exp

from policyengine.rewrite.gate import Scanned


def normalize(tree: exp.Expression, scanned: Scanned) -> exp.Expression:
    """The tree, normalized in place; ``scanned`` (the gate's walk) lists its tables, samples and CTEs.

    >>> import sqlglot
    >>> from policyengine.rewrite.gate import gate
    >>> tree = sqlglot.parse_one("WITH Recent AS (SELECT * FROM (reviews) TABLESAMPLE BERNOULLI (10)) "
    ...                          "SELECT * FROM Recent", read="duckdb")
    >>> normalize(tree, gate(tree)).sql("duckdb")
    'WITH recent AS (SELECT * FROM reviews TABLESAMPLE BERNOULLI (10 PERCENT)) SELECT * FROM Recent'
    """
    unwrap_parenthesized_tables(scanned.tables)
    keep_sample_percent(scanned.samples)
    return lowercase_names(tree, scanned.ctes)


def lowercase_names(root: exp.Expression, ctes: list[exp.CTE] | None = None) -> exp.Expression:
    """Table and CTE names compared as DuckDB compares them (case-insensitive, quoted or not).

    ``ctes``: the tree's CTEs in walk order, when a scan has listed them already.
    """
    for cte in root.find_all(exp.CTE) if ctes is None else ctes:
        alias = cte.args.get("alias")
        if alias is not None and alias.this is not None:
            alias.set("this", exp.to_identifier(alias.name.lower(), quoted=alias.this.quoted))
    return root


def unwrap_parenthesized_tables(tables: list[exp.Table]) -> None:
    """``FROM (reviews)``, ``FROM ((reviews)) AS r``: a table in parentheses is that table.

    sqlglot keeps the parentheses as a derived table around the name, which would put the wrapper in
    parentheses of its own (``FROM ((SELECT ...) AS reviews)``), a statement DuckDB's parser rejects.
    The parentheses are dropped and their alias or sample moves to the table; where both carry one,
    they stay and the statement is refused as before.
    """
    for table in tables:
        while True:
            paren = table.parent
            if not isinstance(paren, exp.Subquery) or paren.this is not table or table.args.get("joins"):
                break
            extra = {key: value for key, value in paren.args.items() if key != "this" and value}
            if set(extra) - {"alias", "sample"} or any(table.args.get(key) for key in extra):
                break
            if "alias" in extra and not isinstance(extra["alias"], exp.TableAlias):
                break
            for key, value in extra.items():
                table.set(key, value)
            paren.replace(table)


def keep_sample_percent(samples: list[exp.TableSample]) -> None:
    """``TABLESAMPLE BERNOULLI (10)`` keeps its meaning: 10 percent of the rows.

    A method's bare argument is a percentage in the SQL standard (and PostgreSQL, and DuckDB reads
    no other: a row count with BERNOULLI is an error there). sqlglot's DuckDB reader keeps it as a
    size, which its generator writes as ``RESERVOIR (10 ROWS)``: ten rows, silently. The size is
    made the percentage it is before the statement is generated. ``USING SAMPLE 10%`` and
    ``TABLESAMPLE 5 ROWS`` are read with their unit and keep it.
    """
    for sample in samples:
        method = sample.args.get("method")
        size = sample.args.get("size")
        if size is not None and not sample.args.get("percent") and method is not None \
                and str(method.name).upper() == "BERNOULLI":
            sample.set("percent", size)
            sample.set("size", None)
