"""Translate a client's catalog query (PostgreSQL) into one the shadow catalog (DuckDB) answers.

Each rule is a small function from tree to tree, applied in RULES order, as in rewrite/. What the
rules cannot place is refused by name; nothing is passed through as text. Session functions
(``current_user``, ``version()``, ``current_setting``...) become literals of this session's values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from policyengine.rewrite import Refused
from policyengine.server.catalog.functions import NAMES as MACRO_NAMES
from policyengine.server.catalog.functions import TABLE_FUNCTIONS
from policyengine.server.catalog.shadow import INFORMATION_PREFIX, INFORMATION_SCHEMA, SHADOW, TABLES

CATALOG_SCHEMAS = ("pg_catalog", "information_schema")
SESSION_FUNCTIONS = frozenset({
    "version", "current_user", "session_user", "user", "current_database", "current_catalog", "current_schema",
    "current_schemas", "pg_backend_pid", "current_setting", "set_config", "txid_current", "current_role",
    "pg_postmaster_start_time", "inet_client_addr", "pg_cancel_backend", "pg_terminate_backend",
})
#: regproc-typed columns: stored as the function's name, '-' for none, as PostgreSQL prints them
REGPROC_COLUMNS = frozenset({"typinput", "typoutput", "typreceive", "typsend", "typmodin", "typmodout",
                             "typanalyze", "typsubscript"})
_TYPED_SESSION = {exp.CurrentUser: "current_user", exp.SessionUser: "session_user",
                  exp.CurrentCatalog: "current_catalog", exp.CurrentSchema: "current_schema",
                  exp.CurrentVersion: "version"}
_CAST_TYPES = {"oid": "BIGINT", "name": "VARCHAR", "char": "VARCHAR", "text": "VARCHAR", "regproc": "VARCHAR",
               "int2vector": "SMALLINT[]", "oidvector": "BIGINT[]", "aclitem": "VARCHAR", "xid": "BIGINT",
               "int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "bool": "BOOLEAN", "float4": "REAL",
               "float8": "DOUBLE", "varchar": "VARCHAR", "bpchar": "VARCHAR", "regrole": "BIGINT"}
_NAMED_LOOKUPS = {"regclass": ("to_regclass", "regclass_name"), "regtype": ("to_regtype", "regtype_name"),
                  "regnamespace": ("to_regnamespace", "regnamespace_name")}


@dataclass
class SessionValues:
    """What the session functions answer for this session."""

    user: str
    database: str
    pid: int
    settings: dict[str, str]
    version: str
    set_config: Callable[[str, str], None] = field(default=lambda name, value: None)


def call_name(node: exp.Expression) -> str | None:
    """The function a node calls, lower case, whether sqlglot knows it or not."""
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    for kind, name in _TYPED_SESSION.items():
        if isinstance(node, kind):
            return name
    return None


def catalog_tables(tree: exp.Expression) -> tuple[set[str], set[str]]:
    """(catalog relations, other relations) a statement reads, CTE names aside."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    catalog, other = set(), set()
    for table in tree.find_all(exp.Table):
        name, schema = table.name.lower(), table.db.lower()
        if not schema and name in ctes:
            continue
        if isinstance(table.this, exp.Func) or not name:
            continue  # a table function: judged as a function
        if schema in CATALOG_SCHEMAS or (not schema and name in TABLES and name.startswith("pg_")):
            catalog.add(f"{schema or 'pg_catalog'}.{name}")
        else:
            other.add(table.sql(dialect="postgres"))
    return catalog, other


def is_catalog_statement(tree: exp.Expression) -> bool:
    """Whether a statement is about the catalog or the session, rather than the data."""
    catalog, other = catalog_tables(tree)
    if catalog:
        return True
    if other:
        return False
    for node in tree.walk():
        if isinstance(node, exp.Dot) and isinstance(node.this, exp.Identifier) \
                and node.this.name.lower() in CATALOG_SCHEMAS:
            return True
        name = call_name(node)
        if name is not None and (name in SESSION_FUNCTIONS or name in MACRO_NAMES):
            return True
    return False


# --- rules ---------------------------------------------------------------------------------------

def _bottom_up(tree: exp.Expression, change: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """Apply ``change`` to every node, children first, so a rewritten parent keeps rewritten children."""
    for node in reversed(list(tree.walk(bfs=False))):
        new = change(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _gate(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    if not isinstance(tree, exp.Query):
        raise Refused(f"only queries may read the catalog, not {tree.key.upper()}", kind="unsupported")
    _, other = catalog_tables(tree)
    if other:
        raise Refused("a statement may read the catalog or data tables, not both "
                      f"(it names {sorted(other)[0]})", kind="unsupported")
    return tree


def _unqualify_calls(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """``pg_catalog.f(...)`` and ``information_schema.f(...)`` are ``f(...)``."""
    def strip(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Dot) and isinstance(node.this, exp.Identifier) \
                and node.this.name.lower() in CATALOG_SCHEMAS and isinstance(node.expression, exp.Func):
            return node.expression
        return node
    return _bottom_up(tree, strip)


def _tables(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Func):  # a table function: pg_catalog.generate_series(...)
            if table.text("db").lower() in CATALOG_SCHEMAS:
                table.set("db", None)
            if call_name(table.this) in TABLE_FUNCTIONS:
                table.set("db", exp.to_identifier(SHADOW))
            continue
        name, schema = table.name.lower(), table.db.lower()
        if not schema and name in ctes:
            continue
        if schema == "information_schema":
            if name not in INFORMATION_SCHEMA:
                raise Refused(f'relation "information_schema.{name}" does not exist', kind="missing")
            target = INFORMATION_PREFIX + name
        elif schema in ("pg_catalog", ""):
            if name not in TABLES or not name.startswith("pg_"):
                raise Refused(f'relation "pg_catalog.{name}" does not exist', kind="missing")
            target = name
        else:
            raise Refused(f'relation "{schema}.{name}" does not exist', kind="missing")
        # unaliased, the table keeps its own name, so ``pg_class.oid`` still binds
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
        table.replace(exp.Table(this=exp.to_identifier(target), db=exp.to_identifier(SHADOW), alias=alias))
    for column in tree.find_all(exp.Column):
        if column.args.get("db") is not None and column.text("db").lower() in CATALOG_SCHEMAS:
            column.set("db", None)  # pg_catalog.pg_class.oid: the table keeps its name as its alias
    return tree


def _literal(value: object) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if isinstance(value, list):
        return exp.Array(expressions=[_literal(v) for v in value])
    return exp.Literal.string(str(value))


def _session_functions(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in ("user", "current_role") \
                and not node.this.quoted:
            return _literal(session.user)
        name = call_name(node)
        if name is None or name not in SESSION_FUNCTIONS:
            return node
        args = list(node.expressions) if isinstance(node, exp.Anonymous) else []
        if name in ("current_user", "session_user", "user", "current_role"):
            return _literal(session.user)
        if name in ("current_database", "current_catalog"):
            return _literal(session.database)
        if name == "current_schema":
            return _literal("main")
        if name == "current_schemas":
            implicit = args and isinstance(args[0], exp.Boolean) and args[0].this
            return _literal(["pg_catalog", "main"] if implicit else ["main"])
        if name == "version":
            return _literal(session.version)
        if name == "pg_backend_pid":
            return _literal(session.pid)
        if name == "txid_current":
            return _literal(1)
        if name in ("pg_cancel_backend", "pg_terminate_backend"):
            raise Refused(f"{name}() is not available here: cancel from the client instead", kind="unsupported")
        if name in ("pg_postmaster_start_time", "inet_client_addr"):
            return exp.Null()
        if name == "current_setting":
            key = _constant(args[0], name) if args else ""
            missing_ok = len(args) > 1 and isinstance(args[1], exp.Boolean) and args[1].this
            value = _setting(session, key)
            if value is None and not missing_ok:
                raise Refused(f'unrecognized configuration parameter "{key}"', kind="missing")
            return _literal(value)
        if name == "set_config":
            if len(args) != 3:
                raise Refused("set_config takes three arguments", kind="syntax")
            key = _constant(args[0], name)
            if isinstance(args[1], (exp.Parameter, exp.Placeholder)):
                return args[1].copy()  # bound later: the value is answered, the setting left as it was
            value = _constant(args[1], name)
            session.set_config(key, value)
            return _literal(value)
        return node
    return _bottom_up(tree, bind)


def _constant(node: exp.Expression, function: str) -> str:
    if isinstance(node, exp.Literal):
        return node.name
    raise Refused(f"{function}() needs a constant argument here", kind="unsupported")


def _setting(session: SessionValues, key: str) -> str | None:
    if key.lower() == "server_version_num":
        major, minor = (re.findall(r"\d+", session.version) + ["0", "0"])[:2]
        return f"{int(major)}{int(minor):04d}"
    return next((v for k, v in session.settings.items() if k.lower() == key.lower()), None)


def _type_name(to: exp.DataType | exp.Expression) -> str:
    if isinstance(to, exp.DataType) and to.this == exp.DataType.Type.USERDEFINED:
        kind = to.args.get("kind")
        name = kind.expression.name if isinstance(kind, exp.Dot) else (kind.name if kind is not None else "")
        return name.lower()
    if isinstance(to, exp.ObjectIdentifier):
        return to.name.lower()
    return to.sql(dialect="postgres").lower() if isinstance(to, exp.DataType) else ""


def _array_literal(text: str) -> list[str | None]:
    """PostgreSQL's ``'{a,"b c",NULL}'`` as a list (catalog queries only use flat arrays of names)."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise Refused(f"malformed array literal: {text[:40]!r}", kind="syntax")
    items = re.findall(r'"((?:[^"\\]|\\.)*)"|([^,{}]+)', inner[1:-1])
    return [quoted if quoted else (None if bare.strip().upper() == "NULL" else bare.strip())
            for quoted, bare in items]


def _casts(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Cast):
            return node
        to, value = node.to, node.this
        name = _type_name(to)
        if name in _NAMED_LOOKUPS:
            lookup, _ = _NAMED_LOOKUPS[name]
            if isinstance(value, exp.Column) or (isinstance(value, exp.Literal) and not value.is_string):
                return exp.Cast(this=value, to=exp.DataType.build("BIGINT"))  # already an OID
            return exp.Dot(this=exp.to_identifier(SHADOW), expression=exp.Anonymous(this=lookup, expressions=[value]))
        if name == "regproc" and isinstance(value, exp.Literal) and value.is_string:
            return exp.Literal.string(value.name.split(".")[-1])
        is_array = isinstance(to, exp.DataType) and to.this == exp.DataType.Type.ARRAY
        if is_array and isinstance(value, exp.Literal) and value.is_string:
            element = to.expressions[0] if to.expressions else exp.DataType.build("VARCHAR")
            element_name = _type_name(element)
            target = exp.DataType.build(_CAST_TYPES.get(element_name, "VARCHAR")) if element_name in _CAST_TYPES \
                or isinstance(element, exp.DataType) and element.this == exp.DataType.Type.USERDEFINED else element
            return exp.Array(expressions=[exp.Cast(this=_literal(item), to=target.copy())
                                          for item in _array_literal(value.name)])
        if name in _CAST_TYPES:
            return exp.Cast(this=value, to=exp.DataType.build(_CAST_TYPES[name]))
        if is_array and to.expressions and _type_name(to.expressions[0]) in _CAST_TYPES:
            return exp.Cast(this=value, to=exp.DataType.build(_CAST_TYPES[_type_name(to.expressions[0])] + "[]"))
        return node

    def name_output(node: exp.Expression) -> exp.Expression:
        """``oid::regclass::text``: the object's name, as PostgreSQL prints a regclass."""
        if isinstance(node, exp.Cast) and _type_name(node.to) in ("text", "varchar", "name") \
                and isinstance(node.this, exp.Cast) and _type_name(node.this.to) in _NAMED_LOOKUPS \
                and not (isinstance(node.this.this, exp.Literal) and node.this.this.is_string):
            _, display = _NAMED_LOOKUPS[_type_name(node.this.to)]
            return exp.Dot(this=exp.to_identifier(SHADOW),
                           expression=exp.Anonymous(this=display, expressions=[node.this.this]))
        return node

    return _bottom_up(_bottom_up(tree, name_output), convert)


def _operators(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """``OPERATOR(pg_catalog.~)`` is ``~``; ``COLLATE pg_catalog.default`` is the default collation."""
    def convert(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Collate):
            return node.this
        if isinstance(node, exp.Operator):
            operator = str(node.args.get("operator", "")).split(".")[-1].strip()
            left, right = node.this, node.expression
            if operator == "~":
                return exp.RegexpLike(this=left, expression=right)
            if operator == "!~":
                return exp.Not(this=exp.RegexpLike(this=left, expression=right))
            if operator in ("=", "<>", "<", ">", "<=", ">="):
                comparisons = {"=": exp.EQ, "<>": exp.NEQ, "<": exp.LT, ">": exp.GT, "<=": exp.LTE, ">=": exp.GTE}
                return comparisons[operator](this=left, expression=right)
            raise Refused(f"operator {operator} is not supported in catalog queries", kind="unsupported")
        return node
    return _bottom_up(tree, convert)


def _regproc_zero(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """``typreceive != 0``: a regproc is 0 when it names no function, which we store as '-'."""
    for comparison in list(tree.find_all(exp.EQ, exp.NEQ)):
        left, right = comparison.this, comparison.expression
        for column, other in ((left, right), (right, left)):
            if isinstance(column, exp.Column) and column.name.lower() in REGPROC_COLUMNS \
                    and isinstance(other, exp.Literal) and not other.is_string and other.name == "0":
                other.replace(exp.Literal.string("-"))
    return tree


#: PostgreSQL functions DuckDB has under another name
_RENAMES = {"json_build_object": "json_object", "jsonb_build_object": "json_object"}


def _macros(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """Calls to PostgreSQL's catalog functions go to their macros in the shadow schema."""
    def point(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and str(node.this).lower() in _RENAMES:
            return exp.Anonymous(this=_RENAMES[str(node.this).lower()], expressions=node.expressions)
        if isinstance(node, exp.Anonymous) and str(node.this).lower() in MACRO_NAMES \
                and str(node.this).lower() not in TABLE_FUNCTIONS \
                and not (isinstance(node.parent, exp.Dot) and node.arg_key == "expression"):
            return exp.Dot(this=exp.to_identifier(SHADOW),
                           expression=exp.Anonymous(this=str(node.this).lower(), expressions=node.expressions))
        return node
    return _bottom_up(tree, point)


RULES: tuple[Callable[[exp.Expression, SessionValues], exp.Expression], ...] = (
    _gate, _unqualify_calls, _session_functions, _operators, _casts, _regproc_zero, _tables, _macros,
)


def translate(tree: exp.Expression, session: SessionValues) -> str:
    """The DuckDB SQL that answers this catalog query from the shadow catalog."""
    tree = tree.copy()
    for rule in RULES:
        tree = rule(tree, session)
    return tree.sql(dialect="duckdb")
