"""The name-results stage: result column names are what the reader's statement would be called on
the raw database.

DuckDB names an unaliased result column after its own rendering of the parsed expression
(``EXISTS(SELECT 1 FROM reviews)``, ``CAST(Rating AS VARCHAR)``, ``count_star()``). Run as
rewritten, the same projection would be named after the rewritten text: a scalar subquery or
EXISTS over a protected table would show its wrapper (row filters, mask expressions, the engine's
internal names) to anyone who reads the column headers, and sqlglot's regeneration alone renames
many expressions (``::VARCHAR`` becomes ``AS TEXT``, ``IS NOT NULL`` becomes ``NOT ... IS NULL``).

So, before anything is rewritten, every unaliased projection of the statement's result that is not
a plain column, a star or a literal gets an explicit alias: the name DuckDB's own parser gives the
expression as the reader wrote it. The names come from DuckDB itself (``json_serialize_sql`` and
``json_deserialize_sql`` on a private in-memory connection that has no tables, no files and no
settings to change), never from a guess; that connection only parses, so the reader's text still
never reaches the database. Where DuckDB cannot parse the reader's text (another dialect), the names
come from DuckDB's parse of sqlglot's rendering of the unrewritten statement, and failing that from
sqlglot's rendering of the expression: never from the rewritten text.

A statement read as PostgreSQL (the front door) is named as PostgreSQL names it instead
(:mod:`policyengine.rewrite.postgres_names`: ``count``, ``?column?``, ``text``), literals included;
plain columns keep the database's name for them, as in every dialect.
"""

from __future__ import annotations

import atexit
import copy
import json
import threading
from typing import Any

from sqlglot import exp

from policyengine.rewrite.postgres_names import postgres_name
from policyengine.rewrite.templates import quoted

#: the parse-only connection and its serialized ``SELECT 1`` (made on first use), and the lock every
#: use holds: one connection, closed at exit, rather than one per thread left to the interpreter's
#: teardown (a DuckDB connection destroyed during finalization can abort the process)
_PARSER: Any = None
_TEMPLATE: dict[str, Any] | None = None
_LOCK = threading.Lock()
#: a statement whose single projection is replaced, deserialized to ``SELECT <expression>``
_TEMPLATE_SQL = "SELECT 1"
_PREFIX = "SELECT "


def _parser() -> Any:
    """The parse-only DuckDB connection (in memory, no external access, settings locked); call with
    :data:`_LOCK` held."""
    global _PARSER
    if _PARSER is None:
        import duckdb

        connection = duckdb.connect(":memory:", config={"enable_external_access": False, "threads": 1})
        connection.execute("SET lock_configuration = true")
        _PARSER = connection
        atexit.register(_close)
    return _PARSER


def _close() -> None:
    global _PARSER
    with _LOCK:
        if _PARSER is not None:
            _PARSER.close()
            _PARSER = None


def _result_select(root: exp.Expression) -> list[exp.Select]:
    """The SELECTs whose projections name the result: the left-most of a set operation, or every
    branch of one matched BY NAME (whose names are the union of its branches')."""
    while isinstance(root, exp.Subquery):
        root = root.this
    if isinstance(root, exp.Select):
        return [root]
    if isinstance(root, exp.SetOperation):
        if root.args.get("by_name"):
            return _result_select(root.this) + _result_select(root.expression)
        return _result_select(root.this)
    return []


def _needs_name(projection: exp.Expression) -> bool:
    """Whether DuckDB's name for the projection could differ once rewritten (or regenerated)."""
    if isinstance(projection, (exp.Alias, exp.Column, exp.Star, exp.Literal)):
        return False
    # COLUMNS(...) and stars of this SELECT (not of a subquery in it) can expand to several columns,
    # each named by DuckDB as it expands
    for node in projection.walk(prune=lambda node: isinstance(node, exp.Query)):
        if isinstance(node, exp.Columns) or (isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count)):
            return False
    return True


def _leftmost_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """DuckDB's SELECT_NODEs matching :func:`_result_select`, from its serialized tree."""
    if node.get("type") == "SELECT_NODE":
        return [node]
    if node.get("type") == "SET_OPERATION_NODE":
        children = node.get("children") or [node.get("left"), node.get("right")]
        children = [child for child in children if child]
        if not children:
            return []
        if node.get("setop_type") == "UNION_BY_NAME":
            return [found for child in children for found in _leftmost_nodes(child)]
        return _leftmost_nodes(children[0])
    return []


def _duckdb_names(sql: str, wanted: list[list[int]], counts: list[int]) -> list[dict[int, str]] | None:
    """DuckDB's names for the wanted projections (per result SELECT, by position) of ``sql``;
    None when DuckDB cannot parse it or its select lists do not line up with sqlglot's."""
    with _LOCK:
        return _names_locked(sql, wanted, counts)


def _names_locked(sql: str, wanted: list[list[int]], counts: list[int]) -> list[dict[int, str]] | None:
    global _TEMPLATE
    connection = _parser()
    try:
        text = connection.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()[0]
        tree = json.loads(text)
        if tree.get("error") or len(tree.get("statements") or ()) != 1:
            return None
        nodes = _leftmost_nodes(tree["statements"][0]["node"])
        if len(nodes) != len(counts) or any(len(node.get("select_list") or ()) != count
                                            for node, count in zip(nodes, counts)):
            return None
        if _TEMPLATE is None:
            _TEMPLATE = json.loads(connection.execute("SELECT json_serialize_sql(?::VARCHAR)",
                                                      [_TEMPLATE_SQL]).fetchone()[0])
        template = _TEMPLATE
        statements: list[str] = []
        for node, positions in zip(nodes, wanted):
            for position in positions:
                item = dict(node["select_list"][position])
                item["alias"] = ""
                single = copy.deepcopy(template)
                single["statements"][0]["node"]["select_list"] = [item]
                statements.append(json.dumps(single))
        rendered = connection.execute("SELECT list_transform(?::VARCHAR[], lambda j: json_deserialize_sql(j))",
                                      [statements]).fetchone()[0]
    except Exception:  # noqa: BLE001 - whatever DuckDB's parser cannot do, the caller falls back from
        return None
    out: list[dict[int, str]] = []
    at = 0
    for positions in wanted:
        names: dict[int, str] = {}
        for position in positions:
            name = rendered[at]
            at += 1
            if not isinstance(name, str) or not name.startswith(_PREFIX):
                return None
            names[position] = name[len(_PREFIX):]
        out.append(names)
    return out


def name_results(tree: exp.Expression, sql: str, read: str = "duckdb") -> exp.Expression:
    """The tree with each result projection whose rewritten name could differ aliased with DuckDB's
    name for it (in place).

    Run on the reader's tree before any stage changes it; ``sql`` is the reader's text (DuckDB's
    parser names its projections whatever dialect it was read in, where it can parse it).

    >>> import sqlglot
    >>> sql = "SELECT rating::VARCHAR, id, count(*) FROM reviews GROUP BY ALL"
    >>> name_results(sqlglot.parse_one(sql, read="duckdb"), sql).sql("duckdb")
    'SELECT CAST(rating AS TEXT) AS "CAST(rating AS VARCHAR)", id, COUNT(*) AS "count_star()" FROM reviews GROUP BY ALL'
    >>> sql = "SELECT 'x'::text, id, count(*), 7 / 2 FROM reviews"
    >>> name_results(sqlglot.parse_one(sql, read="postgres"), sql, "postgres").sql("duckdb")
    'SELECT CAST(\\'x\\' AS TEXT) AS "text", id, COUNT(*) AS "count", 7 / 2 AS "?column?" FROM reviews'
    """
    if read == "postgres":
        for query in [*_inner_queries(tree), tree]:
            _name_as_postgres(query, sql)
        return tree
    # derived tables and CTE bodies first (their names reach the result through * and by name),
    # each from DuckDB's parse of its own unrewritten text
    for query in _inner_queries(tree):
        _name(query, None)
    # the result: the reader's own text first, whatever its dialect: DuckDB run on it directly names it so
    _name(tree, sql)
    return tree


def _inner_queries(root: exp.Expression) -> list[exp.Expression]:
    """The queries whose output columns the statement can read by name or with ``*``: derived tables
    (in FROM and JOIN) and CTE bodies. A scalar, EXISTS or IN subquery's names go nowhere."""
    found: list[exp.Expression] = []
    for node in root.find_all(exp.CTE, exp.Subquery):
        if isinstance(node, exp.CTE):
            found.append(node.this)
        elif node is not root and isinstance(node.parent, (exp.From, exp.Join)):
            found.append(node.this)
    return found


def _name_as_postgres(query: exp.Expression, sql: str) -> None:
    """Alias every projection of ``query``'s result SELECTs but aliases, plain columns and stars with
    PostgreSQL's name for it."""
    for select in _result_select(query):
        for projection in list(select.expressions):
            if isinstance(projection, (exp.Alias, exp.Star)) or (
                    isinstance(projection, exp.Column) and not isinstance(projection.this, exp.Star)):
                continue
            if isinstance(projection, exp.Column):
                continue
            alias = exp.Alias(alias=quoted(postgres_name(projection, sql)))
            projection.replace(alias)
            alias.set("this", projection)


def _name(query: exp.Expression, sql: str | None) -> None:
    """Alias the projections of ``query``'s result SELECTs that need a name (see :func:`_needs_name`)."""
    selects = _result_select(query)
    wanted = [[i for i, projection in enumerate(select.expressions) if _needs_name(projection)]
              for select in selects]
    if not any(wanted):
        return
    counts = [len(select.expressions) for select in selects]
    names = _duckdb_names(sql, wanted, counts) if sql is not None else None
    if names is None:
        names = _duckdb_names(query.sql(dialect="duckdb", comments=False), wanted, counts)
    for index, (select, positions) in enumerate(zip(selects, wanted)):
        for position in positions:
            projection = select.expressions[position]
            name = names[index][position] if names is not None else projection.sql(dialect="duckdb", comments=False)
            alias = exp.Alias(alias=quoted(name))
            projection.replace(alias)
            alias.set("this", projection)
