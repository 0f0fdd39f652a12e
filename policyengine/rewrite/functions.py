"""Functions a query may not call: those that run other SQL, read files or settings, or sleep.

The rewriter refuses these by name; the DuckDB backend's cross-check then allows only DuckDB's
own built-in functions in the final SQL, so a function this list misses still cannot be a
user-defined one. Table functions are refused unless they only generate values.
"""

from __future__ import annotations

import re

from sqlglot import exp

from policyengine.rewrite.statement import construct_name

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


def display_name(node: exp.Expression | None) -> str:
    """The function as a reader writes it (``read_csv()``, ``xmltable()``), for refusal messages.

    sqlglot's class-derived names (``x_m_l_table``, ``anonymous``) are its own, not SQL: the name is
    taken from the call as the generator writes it, which is the name the reader wrote or its
    canonical spelling.
    """
    if node is None:
        return "(a table function)"
    if isinstance(node, exp.Anonymous):
        name = node.name
    else:
        try:
            name = node.sql(dialect="duckdb", comments=False).split("(", 1)[0].strip()
        except Exception:  # noqa: BLE001 - a node the generator cannot write: fall back to sqlglot's name
            name = ""
        if not _WORD.fullmatch(name):
            name = node.sql_name() if isinstance(node, exp.Func) else ""
    return f"{name.lower()}()" if name else "(an expression)"


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def method_call_refusal(function: exp.Expression) -> str:
    return f"qualified or method-style function call {display_name(function)} is not allowed"


def table_function_refusal(table: exp.Table) -> str | None:
    """Why a FROM item that is not a named table is refused (None: it only generates values).

    ``ROWS FROM (f(), g())`` has no function of its own (sqlglot keeps the list beside an empty
    name); it is refused as the construct it is.
    """
    inner = table.this
    if inner is None:
        if table.args.get("rows_from"):
            return "ROWS FROM (...) is not allowed"
        return "a table reference without a name is not allowed"
    if isinstance(inner, (exp.GenerateSeries, exp.Unnest)):
        return None
    if isinstance(inner, exp.Func):
        if function_name(inner) in ALLOWED_TABLE_FUNCTIONS:
            return None
        if isinstance(inner, exp.Anonymous) and inner.name.upper() == "TABLE":
            # TABLE(f(...)): the call it wraps is what reads (Snowflake's way to call a table function)
            called = inner.expressions[0] if len(inner.expressions) == 1 else None
            if isinstance(called, exp.Func):
                return f"table function {display_name(called)} is not allowed"
            return "TABLE(...) in FROM is not allowed"
        return f"table function {display_name(inner)} is not allowed"
    return f"{construct_name(inner)} in FROM is not allowed"
