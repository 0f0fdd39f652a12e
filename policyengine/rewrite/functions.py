"""Functions a query may not call: those that run other SQL, read files or settings, or sleep.

The rewriter refuses these by name; the DuckDB backend's cross-check then allows only DuckDB's
own built-in functions in the final SQL, so a function this list misses still cannot be a
user-defined one. Table functions are refused unless they only generate values.
"""

from __future__ import annotations

from sqlglot import exp

from policyengine.rewrite.refusal import Refused

DENIED_FUNCTIONS = frozenset({
    # run SQL given as a string
    "query", "query_table", "json_execute_serialized_sql",
    # read session state the engine uses (keys live in variables), settings or the query text
    "getvariable", "current_setting", "current_query",
    # side effects and stalls
    "sleep_ms", "nextval", "currval", "setval", "checkpoint", "force_checkpoint", "enable_logging",
    "disable_logging", "truncate_duckdb_logs",
})

DENIED_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_", "sqlite_", "postgres_", "mysql_", "iceberg_",
                   "delta_", "glob", "sniff_", "load_", "which_secret", "json_execute",
                   # Snowflake: other queries' results, object definitions, system functions
                   "result_scan", "last_query_id", "get_ddl", "system$")

#: table functions that only generate values from their arguments
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})


def function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql_name().lower()


def is_denied(name: str) -> bool:
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES)


def refuse_denied_functions(root: exp.Expression) -> exp.Expression:
    for node in root.walk():
        if isinstance(node, exp.Func):
            name = function_name(node)
            if is_denied(name):
                raise Refused(f"function {name}() is not allowed")
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            raise Refused(f"qualified or method-style function call '{node.expression.sql_name().lower()}' is not allowed")
        if isinstance(node, exp.TableFromRows) and not isinstance(node.this, (exp.Explode, exp.Unnest)):
            inner = node.this
            name = function_name(inner) if isinstance(inner, exp.Func) else inner.key
            raise Refused(f"table function {name}() is not allowed")
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            inner = node.this
            name = function_name(inner) if isinstance(inner, exp.Func) else inner.key
            if name not in ALLOWED_TABLE_FUNCTIONS and not isinstance(inner, (exp.GenerateSeries, exp.Unnest)):
                raise Refused(f"table function {name}() is not allowed")
    return root


def refuse_unknown_functions(root: exp.Expression) -> exp.Expression:
    """Where no database parser cross-checks the final SQL (Snowflake), a function sqlglot does not
    know is refused: it cannot be told apart from one that reads other queries' results or metadata."""
    for node in root.walk():
        if isinstance(node, exp.Anonymous):
            raise Refused(f"function {node.name.lower()}() is not known to the engine for this warehouse")
    return root
