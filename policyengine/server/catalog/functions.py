"""PostgreSQL's catalog functions, as DuckDB macros over the shadow catalog (shadow.py).

Clients call them unqualified or under ``pg_catalog.``; translate.py points both at these. Each
answers from the principal's own catalog only: ``has_table_privilege`` is true exactly for the
tables the policy lets this principal read, so tools such as Metabase list what will work.

A macro is inlined into the caller's query, so its own lookups read only the pe_ tables, whose
columns are all pe_-prefixed: an argument such as ``oid`` or ``c.oid`` binds to the caller's query.
"""

from __future__ import annotations

from policyengine.rewrite.postgres_functions import BODIES

S = "pgc"
_NULL = "CAST(NULL AS VARCHAR)"


def _relation(argument: str) -> str:
    return (f"(SELECT pe_oid FROM {S}.pe_relations WHERE list_contains(pe_names, CAST({argument} AS VARCHAR)) "
            "LIMIT 1)")


def _column(relation: str, column: str) -> str:
    """Whether the relation is listed with this column (by name, or by number as ``attnum``)."""
    return (f"(SELECT count(*) > 0 FROM {S}.pe_columns WHERE pe_oid = {_relation(relation)} "
            f"AND CAST({column} AS VARCHAR) IN (pe_name, CAST(pe_number AS VARCHAR)))")


def _selects(privilege: str) -> str:
    return f"upper(CAST({privilege} AS VARCHAR)) LIKE '%SELECT%'"


def _namespace(argument: str) -> str:
    return (f"(SELECT count(*) > 0 FROM {S}.pe_namespaces WHERE CAST({argument} AS VARCHAR) "
            "IN (pe_name, CAST(pe_oid AS VARCHAR)))")


MACROS: tuple[str, ...] = (
    f"CREATE MACRO {S}.pg_get_userbyid(o) AS (SELECT pe_name FROM {S}.pe_roles WHERE pe_oid = o)",
    f"CREATE MACRO {S}.pg_table_is_visible(o) AS coalesce((SELECT pe_visible FROM {S}.pe_relations "
    "WHERE pe_oid = o), false)",
    f"CREATE MACRO {S}.pg_type_is_visible(o) AS true",
    f"CREATE MACRO {S}.pg_function_is_visible(o) AS true",
    f"CREATE MACRO {S}.pg_collation_is_visible(o) AS true",
    f"CREATE MACRO {S}.format_type(t, m) AS CASE WHEN t IS NULL THEN NULL "
    "WHEN t = 1700 AND m >= 4 THEN 'numeric(' || CAST((m - 4) >> 16 AS VARCHAR) || ',' || "
    "CAST((m - 4) & 65535 AS VARCHAR) || ')' "
    f"ELSE coalesce((SELECT pe_display FROM {S}.pe_type_names WHERE pe_oid = t), '???') END",
    f"CREATE MACRO {S}.pg_get_expr(e, r) AS {_NULL}, (e, r, p) AS {_NULL}",
    f"CREATE MACRO {S}.pg_get_constraintdef(o) AS (SELECT pe_definition FROM {S}.pe_definitions WHERE pe_oid = o), "
    f"(o, p) AS (SELECT pe_definition FROM {S}.pe_definitions WHERE pe_oid = o)",
    f"CREATE MACRO {S}.pg_get_indexdef(o) AS (SELECT pe_definition FROM {S}.pe_definitions WHERE pe_oid = -o), "
    f"(o, c, p) AS CASE WHEN c = 0 THEN (SELECT pe_definition FROM {S}.pe_definitions WHERE pe_oid = -o) "
    f"ELSE (SELECT pe_name FROM {S}.pe_index_columns WHERE pe_oid = o AND pe_position = c) END",
    f"CREATE MACRO {S}.pg_get_viewdef(o) AS {_NULL}, (o, p) AS {_NULL}",
    f"CREATE MACRO {S}.pg_get_serial_sequence(t, c) AS {_NULL}",
    f"CREATE MACRO {S}.pg_get_function_result(o) AS {_NULL}",
    f"CREATE MACRO {S}.pg_get_function_arguments(o) AS {_NULL}",
    f"CREATE MACRO {S}.pg_get_function_identity_arguments(o) AS {_NULL}",
    f"CREATE MACRO {S}.pg_get_statisticsobjdef_columns(o) AS {_NULL}",
    f"CREATE MACRO {S}.pg_get_partkeydef(o) AS {_NULL}",
    f"CREATE MACRO {S}.pg_relation_is_publishable(o) AS false",
    f"CREATE MACRO {S}.pg_encoding_to_char(e) AS 'UTF8'",
    f"CREATE MACRO {S}.pg_my_temp_schema() AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.pg_is_in_recovery() AS false",
    f"CREATE MACRO {S}.inet_server_addr() AS {_NULL}",
    f"CREATE MACRO {S}.inet_server_port() AS CAST(NULL AS INTEGER)",
    f"CREATE MACRO {S}.pg_total_relation_size(o) AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.pg_relation_size(o) AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.pg_table_size(o) AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.obj_description(o) AS (SELECT pe_text FROM {S}.pe_descriptions WHERE pe_oid = o "
    "AND pe_sub = 0 LIMIT 1), "
    f"(o, c) AS (SELECT pe_text FROM {S}.pe_descriptions WHERE pe_oid = o AND pe_sub = 0 LIMIT 1)",
    f"CREATE MACRO {S}.col_description(o, n) AS (SELECT pe_text FROM {S}.pe_descriptions WHERE pe_oid = o "
    "AND pe_sub = n LIMIT 1)",
    f"CREATE MACRO {S}.shobj_description(o, c) AS {_NULL}",
    # privileges, answered from the policy: listed means readable (SELECT), and nothing is writable
    f"CREATE MACRO {S}.has_table_privilege(t, p) AS {_relation('t')} IS NOT NULL AND {_selects('p')}, "
    f"(u, t, p) AS {_relation('t')} IS NOT NULL AND {_selects('p')}",
    f"CREATE MACRO {S}.has_any_column_privilege(t, p) AS {S}.has_table_privilege(t, p), "
    f"(u, t, p) AS {S}.has_table_privilege(t, p)",
    # a column is readable when it is listed: a denied column is not (the listing leaves it out)
    f"CREATE MACRO {S}.has_column_privilege(t, c, p) AS {_column('t', 'c')} AND {_selects('p')}, "
    f"(u, t, c, p) AS {_column('t', 'c')} AND {_selects('p')}",
    f"CREATE MACRO {S}.has_schema_privilege(s, p) AS {_namespace('s')} AND upper(CAST(p AS VARCHAR)) LIKE '%USAGE%', "
    f"(u, s, p) AS {_namespace('s')} AND upper(CAST(p AS VARCHAR)) LIKE '%USAGE%'",
    f"CREATE MACRO {S}.has_database_privilege(d, p) AS upper(CAST(p AS VARCHAR)) LIKE '%CONNECT%', "
    "(u, d, p) AS upper(CAST(p AS VARCHAR)) LIKE '%CONNECT%'",
    f"CREATE MACRO {S}.has_function_privilege(f, p) AS true, (u, f, p) AS true",
    f"CREATE MACRO {S}.has_sequence_privilege(s, p) AS false, (u, s, p) AS false",
    # the lookups behind ::regclass, ::regtype, to_regclass(), to_regtype(), and their names as text
    f"CREATE MACRO {S}.to_regclass(t) AS {_relation('t')}",
    f"CREATE MACRO {S}.to_regtype(n) AS (SELECT pe_oid FROM {S}.pe_type_names WHERE pe_name = "
    "CASE lower(replace(CAST(n AS VARCHAR), 'pg_catalog.', '')) WHEN 'integer' THEN 'int4' WHEN 'int' THEN 'int4' "
    "WHEN 'bigint' THEN 'int8' WHEN 'smallint' THEN 'int2' WHEN 'boolean' THEN 'bool' WHEN 'real' THEN 'float4' "
    "WHEN 'double precision' THEN 'float8' WHEN 'character varying' THEN 'varchar' "
    "ELSE lower(replace(CAST(n AS VARCHAR), 'pg_catalog.', '')) END LIMIT 1)",
    f"CREATE MACRO {S}.to_regnamespace(n) AS (SELECT pe_oid FROM {S}.pe_namespaces WHERE pe_name = n)",
    f"CREATE MACRO {S}.regclass_name(o) AS coalesce((SELECT pe_display FROM {S}.pe_relations WHERE pe_oid = o), "
    "CAST(o AS VARCHAR))",
    f"CREATE MACRO {S}.regtype_name(o) AS coalesce((SELECT pe_display FROM {S}.pe_type_names WHERE pe_oid = o), "
    "CAST(o AS VARCHAR))",
    f"CREATE MACRO {S}.regnamespace_name(o) AS coalesce((SELECT pe_name FROM {S}.pe_namespaces WHERE pe_oid = o), "
    "CAST(o AS VARCHAR))",
    f"CREATE MACRO {S}.to_regrole(n) AS (SELECT pe_oid FROM {S}.pe_roles WHERE pe_name = n)",
    f"CREATE MACRO {S}.regrole_name(o) AS coalesce((SELECT pe_name FROM {S}.pe_roles WHERE pe_oid = o), "
    "CAST(o AS VARCHAR))",
    # ::regtype[] (and regclass[], regnamespace[]) of an OID list: the names, in order, as PostgreSQL prints them
    *(f"CREATE MACRO {S}.{kind}_names(l) AS CASE WHEN l IS NULL THEN NULL ELSE coalesce((SELECT "
      f"list({S}.{kind}_name(pe_e.pe_o) ORDER BY pe_e.pe_i) FROM (SELECT unnest(l) AS pe_o, "
      "generate_subscripts(l, 1) AS pe_i) pe_e), CAST([] AS VARCHAR[])) END"
      for kind in ("regtype", "regclass", "regnamespace")),
    # arrays, with PostgreSQL's 1-based bounds and NULL for an empty array
    # PostgreSQL's string and array functions DuckDB lacks: the bodies the rewrite inlines on the data path
    *(f"CREATE MACRO {S}.{name}({', '.join(parameters)}) AS {text}" for name, (parameters, text) in BODIES.items()),
    f"CREATE MACRO {S}.array_length(a, d) AS CASE WHEN len(a) = 0 THEN NULL ELSE len(a) END",
    f"CREATE MACRO {S}._pg_expandarray(a) AS "
    "unnest(list_transform(range(1, len(a) + 1), lambda pe_i: {'x': a[pe_i], 'n': pe_i}))",
    f"CREATE MACRO {S}.parse_ident(x) AS list_transform(string_split(x, '.'), lambda pe_p: trim(pe_p, '\"')), "
    "(x, s) AS list_transform(string_split(x, '.'), lambda pe_p: trim(pe_p, '\"'))",
    f"CREATE MACRO {S}.pg_get_keywords() AS TABLE SELECT pe_word AS word, pe_catcode AS catcode, "
    f"pe_barelabel AS barelabel, pe_catdesc AS catdesc, pe_baredesc AS baredesc FROM {S}.pe_keywords ORDER BY 1",
    # a regproc column holds the function's name, as PostgreSQL prints it; compared with an OID it is
    # the function's OID ('-' is 0, no function), so ``pg_proc.oid = typreceive`` joins
    f"CREATE MACRO {S}.regproc_oid(n) AS CASE WHEN n IS NULL THEN NULL WHEN n = '-' THEN CAST(0 AS BIGINT) "
    f"ELSE coalesce((SELECT pe_oid FROM {S}.pe_procs WHERE pe_name = n LIMIT 1), CAST(-1 AS BIGINT)) END",
    f"CREATE MACRO {S}.regproc_name(o) AS CASE WHEN o IS NULL THEN NULL WHEN o = 0 THEN '-' "
    f"ELSE coalesce((SELECT pe_name FROM {S}.pe_procs WHERE pe_oid = o LIMIT 1), CAST(o AS VARCHAR)) END",
    f"CREATE MACRO {S}.pg_get_triggerdef(o) AS {_NULL}, (o, p) AS {_NULL}",
    f"CREATE MACRO {S}.pg_get_ruledef(o) AS {_NULL}, (o, p) AS {_NULL}",
    # statistics: the front door keeps none (and a count would tell what a table holds)
    f"CREATE MACRO {S}.pg_stat_get_numscans(o) AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.pg_stat_get_tuples_returned(o) AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.pg_stat_get_tuples_fetched(o) AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.pg_stat_get_live_tuples(o) AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.pg_stat_get_blocks_fetched(o) AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.pg_indexes_size(o) AS CAST(0 AS BIGINT)",
    f"CREATE MACRO {S}.pg_size_pretty(n) AS CAST(n AS VARCHAR) || ' bytes'",
    # the session can take no advisory lock, so it has none to release (Npgsql's connection reset calls it);
    # void's text is empty
    f"CREATE MACRO {S}.pg_advisory_unlock_all() AS ''",
    f"CREATE MACRO {S}.pg_cancel_backend(p) AS false",
    f"CREATE MACRO {S}.pg_terminate_backend(p) AS false, (p, t) AS false",
)

#: function names the macros above define: calls to them are pointed at the shadow schema
NAMES = frozenset(macro.split(f"{S}.", 1)[1].split("(", 1)[0] for macro in MACROS)
#: those that are table functions (called in FROM)
TABLE_FUNCTIONS = frozenset({"pg_get_keywords"})
