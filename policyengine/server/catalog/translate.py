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

from policyengine.model import PolicySet
from policyengine.rewrite import Refused, TableResolver
from policyengine.rewrite.postgres_functions import BODIES
from policyengine.rewrite.postgres_semantics import postgres_semantics
from policyengine.server.catalog.functions import NAMES as MACRO_NAMES
from policyengine.server.catalog.functions import TABLE_FUNCTIONS
from policyengine.server.catalog.listing import DEFAULT_SCHEMA, DUCKDB_DEFAULT_SCHEMA
from policyengine.server.catalog.shadow import INFORMATION_PREFIX, INFORMATION_SCHEMA, SHADOW, TABLES

CATALOG_SCHEMAS = ("pg_catalog", "information_schema")
SESSION_FUNCTIONS = frozenset({
    "version", "current_user", "session_user", "user", "current_database", "current_catalog", "current_schema",
    "current_schemas", "pg_backend_pid", "current_setting", "set_config", "txid_current", "current_role",
    "pg_postmaster_start_time", "inet_client_addr",
})
#: regproc-typed columns: stored as the function's name, '-' for none, as PostgreSQL prints them
REGPROC_COLUMNS = frozenset({"typinput", "typoutput", "typreceive", "typsend", "typmodin", "typmodout",
                             "typanalyze", "typsubscript", "amhandler", "rngcanonical", "rngsubdiff"})
#: int2vector and oidvector columns: PostgreSQL subscripts them from 0, DuckDB's lists from 1
ZERO_BASED_COLUMNS = frozenset({"indkey", "indclass", "indcollation", "indoption", "proargtypes", "stxkeys",
                                "tgattr"})
_TYPED_SESSION = {exp.CurrentUser: "current_user", exp.SessionUser: "session_user",
                  exp.CurrentCatalog: "current_catalog", exp.CurrentSchema: "current_schema",
                  exp.CurrentVersion: "version", exp.CurrentDatabase: "current_database",
                  exp.CurrentSchemas: "current_schemas"}
_CAST_TYPES = {"oid": "BIGINT", "name": "VARCHAR", "char": "VARCHAR", "text": "VARCHAR", "regproc": "VARCHAR",
               "int2vector": "SMALLINT[]", "oidvector": "BIGINT[]", "aclitem": "VARCHAR", "xid": "BIGINT",
               "int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "bool": "BOOLEAN", "float4": "REAL",
               "float8": "DOUBLE", "varchar": "VARCHAR", "bpchar": "VARCHAR"}
_NAMED_LOOKUPS = {"regclass": ("to_regclass", "regclass_name"), "regtype": ("to_regtype", "regtype_name"),
                  "regnamespace": ("to_regnamespace", "regnamespace_name"), "regrole": ("to_regrole", "regrole_name")}


@dataclass
class SessionValues:
    """What the session functions answer for this session."""

    user: str
    database: str
    pid: int
    settings: dict[str, str]
    version: str
    set_config: Callable[[str, str], None] = field(default=lambda name, value: None)
    #: the reader's text (the semantics rules read how functions were written)
    statement: str = ""


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
        # the string and array functions the rewrite writes out (postgres_functions.py) read no catalog
        if name is not None and (name in SESSION_FUNCTIONS or name in MACRO_NAMES and name not in BODIES):
            return True
    return False


# --- rules ---------------------------------------------------------------------------------------

_NO_TABLES = TableResolver(PolicySet(settings=None, roles={}, principals={}, tables={}, version=""))


def _table_free_semantics(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """A statement that reads no relation at all (``SELECT current_user, 7/2``) is computed as any data
    statement is: with PostgreSQL's meaning (the rewrite's semantics stage: 7/2 is 3, not 3.5). One
    that reads the catalog keeps the catalog's own columns, whose types that stage cannot tell."""
    if next(tree.find_all(exp.Table), None) is not None:
        return tree
    return postgres_semantics(tree, "postgres", session.statement or tree.sql(dialect="postgres"), _NO_TABLES)


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
            function = call_name(table.this) or table.this.sql_name().lower()
            if function in TABLE_FUNCTIONS:
                table.set("db", exp.to_identifier(SHADOW))
            elif function in _SCALAR_IN_FROM:
                # a scalar function in FROM is one row of one column named as the alias: Grafana's
                # ``FROM generate_series(...) AS i, string_to_array(current_setting('search_path'), ',') s``
                alias = table.alias or function
                select = exp.select(exp.alias_(table.this.copy(), alias))
                table.replace(exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias))))
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
        # unaliased, the table keeps its own name, so ``pg_class.oid`` still binds; changed in place, so
        # what hangs on it stays: the joins of a parenthesized join (psqlODBC's ``((a JOIN b) JOIN c)``)
        if not table.args.get("alias"):
            table.set("alias", exp.TableAlias(this=exp.to_identifier(name)))
        table.set("this", exp.to_identifier(target))
        table.set("db", exp.to_identifier(SHADOW))
        table.set("catalog", None)
    for column in tree.find_all(exp.Column):
        if column.args.get("db") is not None and column.text("db").lower() in CATALOG_SCHEMAS:
            column.set("db", None)  # pg_catalog.pg_class.oid: the table keeps its name as its alias
    return tree


#: functions returning one value (an array) that PostgreSQL lets a query call in FROM, and DuckDB does not
_SCALAR_IN_FROM = frozenset({"string_to_array", "stringtoarray", "split", "regexp_split_to_array", "regexpsplit",
                             "current_schemas", "currentschemas"})


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
        args = list(node.expressions) if isinstance(node, exp.Anonymous) else \
            [node.this] if isinstance(node.args.get("this"), exp.Expression) else []
        if name in ("current_user", "session_user", "user", "current_role"):
            return _literal(session.user)
        if name in ("current_database", "current_catalog"):
            return _literal(session.database)
        if name == "current_schema":
            return _literal(DEFAULT_SCHEMA)
        if name == "current_schemas":
            implicit = args and isinstance(args[0], exp.Boolean) and args[0].this
            return _literal(["pg_catalog", DEFAULT_SCHEMA] if implicit else [DEFAULT_SCHEMA])
        if name == "version":
            return _literal(session.version)
        if name == "pg_backend_pid":
            return _literal(session.pid)
        if name == "txid_current":
            return _literal(1)
        if name in ("pg_postmaster_start_time", "inet_client_addr"):
            return exp.Null()
        if name == "current_setting" and args and isinstance(args[0], exp.Cast):
            args[0] = args[0].this  # current_setting($1::VARCHAR)
        if name == "current_setting" and args and isinstance(args[0], (exp.Parameter, exp.Placeholder)):
            # bound later (SQLAlchemy's ``current_setting(%(name)s)``): read from pg_settings
            return exp.Subquery(this=exp.select("setting").from_("pg_catalog.pg_settings").where(
                exp.EQ(this=exp.column("name"), expression=args[0].copy())))
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
    value = next((v for k, v in session.settings.items() if k.lower() == key.lower()), None)
    if key.lower() == "search_path" and value is not None:
        # the catalog shows DuckDB's main as public (listing.py), and so does the path: PostgreSQL's default
        value = ", ".join('"$user", public' if part.strip() == DUCKDB_DEFAULT_SCHEMA else part.strip()
                          for part in value.split(","))
    return value


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
    body = inner[1:-1]
    if not body.strip():
        return []
    items: list[str | None] = []
    for match in re.finditer(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,"]*?))\s*(,|$)', body):
        quoted, bare, separator = match.groups()
        items.append(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None
                     else None if bare.upper() == "NULL" else bare)
        if not separator:
            break
    return items


def _shadow_call(function: str, *arguments: exp.Expression) -> exp.Expression:
    return exp.Dot(this=exp.to_identifier(SHADOW), expression=exp.Anonymous(this=function, expressions=list(arguments)))


def _in_output(node: exp.Expression) -> bool:
    """Whether a value is one of a SELECT's output columns (aliased or not), where it is shown as text."""
    parent = node.parent
    if isinstance(parent, exp.Alias):
        node, parent = parent, parent.parent
    return isinstance(parent, exp.Select) and node.arg_key == "expressions"


def _casts(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    def convert(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Cast):
            return node
        to, value = node.to, node.this
        name = _type_name(to)
        if name in _NAMED_LOOKUPS:
            lookup, display = _NAMED_LOOKUPS[name]
            if isinstance(value, exp.Column) or (isinstance(value, exp.Literal) and not value.is_string):
                if _in_output(node):  # shown: the name, as PostgreSQL prints a regclass or regtype
                    return _shadow_call(display, value)
                parent = node.parent
                if isinstance(parent, (exp.EQ, exp.NEQ)):  # c.oid::regclass = 'orders': the name is looked up
                    other = parent.expression if node.arg_key == "this" else parent.this
                    if _is_string(other):
                        other.replace(_shadow_call(lookup, other.copy()))
                return exp.Cast(this=value, to=exp.DataType.build("BIGINT"))  # already an OID
            return exp.Dot(this=exp.to_identifier(SHADOW), expression=exp.Anonymous(this=lookup, expressions=[value]))
        element = _type_name(to.expressions[0]) if isinstance(to, exp.DataType) \
            and to.this == exp.DataType.Type.ARRAY and to.expressions else None
        if element in _NAMED_LOOKUPS and not _is_string(value):  # proargtypes::regtype[]: the types' names
            return _shadow_call(_NAMED_LOOKUPS[element][1] + "s", value)
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


def _is_string(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def _regproc(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """A regproc column is stored as the function's name ('-' for none), as PostgreSQL prints it; compared
    with anything but a name (``pg_proc.oid = typreceive``, ``typreceive != 0``) it is the function's OID."""
    comparisons = (exp.EQ, exp.NEQ, exp.LT, exp.GT, exp.LTE, exp.GTE)
    for comparison in list(tree.find_all(*comparisons)):
        left, right = comparison.this, comparison.expression
        for column, other in ((left, right), (right, left)):
            if isinstance(column, exp.Column) and column.name.lower() in REGPROC_COLUMNS and not _is_string(other) \
                    and not (isinstance(other, exp.Column) and other.name.lower() in REGPROC_COLUMNS):
                column.replace(_shadow_call("regproc_oid", column.copy()))
    for listed in list(tree.find_all(exp.In)):
        column = listed.this
        if isinstance(column, exp.Column) and column.name.lower() in REGPROC_COLUMNS \
                and not all(_is_string(e) for e in listed.expressions):
            column.replace(_shadow_call("regproc_oid", column.copy()))
    return tree


def _any_arrays(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """``x = ANY('{r,p,""}')``: PostgreSQL reads the text as an array of the other side's type."""
    for quantified in list(tree.find_all(exp.Any, exp.All)):
        inner = quantified.this.unnest() if isinstance(quantified.this, exp.Paren) else quantified.this
        if _is_string(inner):
            quantified.set("this", exp.Array(expressions=[_literal(item) for item in _array_literal(inner.name)]))
    return tree


def array_parameters(tree: exp.Expression) -> frozenset[int]:
    """The 1-based numbers of parameters compared with ``= ANY($n)``: bound as text (``'{r,p,f}'``),
    they are arrays, which the caller turns into lists before DuckDB sees them."""
    numbers = set()
    for quantified in tree.find_all(exp.Any, exp.All):
        inner = quantified.this.unnest() if isinstance(quantified.this, exp.Paren) else quantified.this
        if isinstance(inner, exp.Parameter) and inner.name.isdigit():
            numbers.add(int(inner.name))
        elif isinstance(inner, exp.Placeholder) and str(inner.name).isdigit():
            numbers.add(int(inner.name))
    return frozenset(numbers)


def parse_array(text: str) -> list[str | None]:
    """A parameter's text as PostgreSQL reads an array literal."""
    return _array_literal(text)


def _formats(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """PostgreSQL's ``format('%I.%I', a, b)`` (%s text, %I identifier, %L literal, %% a percent sign), as
    a concatenation: DuckDB's format() has another syntax."""
    def convert(node: exp.Expression) -> exp.Expression:
        is_format = isinstance(node, exp.Format) or call_name(node) == "format"
        arguments = ([node.this, *node.expressions] if isinstance(node, exp.Format) else list(node.expressions)) \
            if is_format else []
        if not arguments or not _is_string(arguments[0]):
            return node
        parts: list[exp.Expression] = []
        values = iter(arguments[1:])
        for text, directive in re.findall(r"([^%]*)(%[%sIL]|%|$)", arguments[0].name):
            if text:
                parts.append(exp.Literal.string(text))
            if directive == "%%":
                parts.append(exp.Literal.string("%"))
            elif directive in ("%s", "%I", "%L"):
                value = next(values, None)
                if value is None:
                    raise Refused("too few arguments for format()", kind="invalid")
                text_value: exp.Expression = exp.Cast(this=value, to=exp.DataType.build("VARCHAR"))
                if directive == "%I":
                    text_value = _shadow_call("quote_ident", text_value)
                elif directive == "%L":
                    text_value = _shadow_call("quote_nullable", text_value)
                else:
                    text_value = exp.func("coalesce", text_value, exp.Literal.string(""))
                parts.append(text_value)
        return exp.Concat(expressions=parts or [exp.Literal.string("")], safe=True)
    return _bottom_up(tree, convert)


def _zero_based(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """int2vector and oidvector columns (``indkey``, ``indoption``...) are subscripted from 0 in PostgreSQL:
    ``indkey[0]`` is the first key column, ``generate_subscripts(indkey, 1)`` counts from 0. Also through
    a subquery's alias (pgjdbc's ``i.indoption AS I_INDOPTION``, then ``tmp.I_INDOPTION[n - 1]``)."""
    names = set(ZERO_BASED_COLUMNS)
    for alias in tree.find_all(exp.Alias):
        if isinstance(alias.this, exp.Column) and alias.this.name.lower() in ZERO_BASED_COLUMNS:
            names.add(alias.alias.lower())

    def zero_based(node: exp.Expression) -> bool:
        return isinstance(node, exp.Column) and node.name.lower() in names

    def shift(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Bracket) and zero_based(node.this) and len(node.expressions) == 1:
            index = exp.Add(this=exp.Paren(this=node.expressions[0]), expression=exp.Literal.number(1))
            return exp.Bracket(this=node.this, expressions=[index])
        name = call_name(node) if isinstance(node, exp.Anonymous) else None
        if name in ("generate_subscripts", "array_lower", "array_upper") and node.expressions \
                and zero_based(node.expressions[0]):
            return exp.Paren(this=exp.Sub(this=node, expression=exp.Literal.number(1)))
        return node
    return _bottom_up(tree, shift)


def _vectors_shown(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """An int2vector or oidvector column among a statement's results (``indkey``, ``indoption``, ``proargtypes``)
    is shown as PostgreSQL prints it, the numbers separated by spaces (``1 2``), not as a list (``{1,2}``):
    psqlODBC's SQLStatistics splits that text (a list crashed it)."""
    def shown(query: exp.Expression) -> None:
        if isinstance(query, exp.SetOperation):
            shown(query.left)
            shown(query.right)
        elif isinstance(query, exp.Subquery):
            shown(query.this)
        elif isinstance(query, exp.Select):
            for item in query.expressions:
                column = item.this if isinstance(item, exp.Alias) else item
                if isinstance(column, exp.Column) and column.name.lower() in ZERO_BASED_COLUMNS:
                    column.replace(exp.Anonymous(this="array_to_string",
                                                 expressions=[column.copy(), exp.Literal.string(" ")]))
    shown(tree)
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


def _name_inner_results(tree: exp.Expression, session: SessionValues) -> exp.Expression:
    """The columns of a CTE or subquery are named as PostgreSQL names them, so the query around it finds
    them: pgcli's ``WITH Words AS (SELECT ..., COUNT(1) ...) ... ORDER BY Count`` reads a column PostgreSQL
    calls ``count`` (DuckDB: ``count(1)``). The statement's own results are named at the end (translate)."""
    outermost = _first_select(tree)
    for select in list(tree.find_all(exp.Select)):
        if select is outermost:
            continue
        for projection in list(select.expressions):
            if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
                continue
            name, strength = _figure(projection)
            if strength:
                projection.replace(exp.alias_(projection.copy(), exp.to_identifier(name, quoted=True)))
    return tree


RULES: tuple[Callable[[exp.Expression, SessionValues], exp.Expression], ...] = (
    _gate, _table_free_semantics, _name_inner_results, _unqualify_calls, _session_functions, _operators, _formats,
    _casts, _regproc, _any_arrays, _zero_based, _vectors_shown, _tables, _macros,
)


def translate(tree: exp.Expression, session: SessionValues) -> str:
    """The DuckDB SQL that answers this catalog query from the shadow catalog."""
    tree = tree.copy()
    names = result_names(tree)
    for rule in RULES:
        tree = rule(tree, session)
    _name_results(tree, names)
    return tree.sql(dialect="duckdb")


# --- result column names, as PostgreSQL gives them ------------------------------------------------

UNNAMED = "?column?"
#: DuckDB's type -> PostgreSQL's name for it, which names a cast's column (``0::int2`` is ``int2``)
_PG_TYPE_NAMES = {"SMALLINT": "int2", "INT": "int4", "BIGINT": "int8", "VARCHAR": "varchar", "TEXT": "text",
                  "BOOLEAN": "bool", "FLOAT": "float4", "DOUBLE": "float8", "DECIMAL": "numeric", "CHAR": "bpchar",
                  "TIMESTAMP": "timestamp", "TIMESTAMPTZ": "timestamptz", "DATE": "date"}
_KEYWORD_NAMES = {exp.Coalesce: "coalesce", exp.Greatest: "greatest", exp.Least: "least", exp.Nullif: "nullif",
                  exp.Array: "array", exp.Exists: "exists", exp.Trim: "btrim",
                  exp.Substring: "substring", exp.Extract: "extract"}


def _figure(node: exp.Expression) -> tuple[str, int]:
    """(name, strength) after PostgreSQL's FigureColnameInternal: 2 a good name, 1 a type's, 0 none."""
    if isinstance(node, exp.Alias):
        identifier = node.args.get("alias")
        quoted = isinstance(identifier, exp.Identifier) and identifier.quoted
        return (node.alias if quoted else node.alias.lower()), 2
    if isinstance(node, exp.Paren):
        return _figure(node.this)
    if isinstance(node, exp.Column):
        return (node.name, 2) if not isinstance(node.this, exp.Star) else (UNNAMED, 0)
    if isinstance(node, exp.Dot):
        return _figure(node.expression)
    if isinstance(node, (exp.Bracket, exp.Window)):  # a window function is named after its function
        return _figure(node.this)
    if isinstance(node, exp.Cast):
        name, strength = _figure(node.this)
        if strength == 2:
            return name, 2
        type_name = _type_name(node.to)
        kind = node.to.this.name if isinstance(node.to, exp.DataType) else ""
        return _PG_TYPE_NAMES.get(kind, type_name.split("(")[0].strip('"') or UNNAMED), 1
    if isinstance(node, exp.Case):  # after its ELSE branch when that has a good name
        default = node.args.get("default")
        name, strength = _figure(default) if default is not None else (UNNAMED, 0)
        return (name, 2) if strength == 2 else ("case", 1)
    for kind, name in _KEYWORD_NAMES.items():
        if isinstance(node, kind):
            return name, 2
    session = call_name(node)
    if session is not None:
        return session, 2
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select) and len(node.this.expressions) == 1:
        return _figure(node.this.expressions[0])
    if isinstance(node, exp.Func) and not isinstance(node, (exp.Binary, exp.Not, exp.Predicate)):
        return node.sql_name().lower(), 2
    return UNNAMED, 0


def _first_select(tree: exp.Expression) -> exp.Select | None:
    while isinstance(tree, (exp.SetOperation, exp.Subquery)):
        tree = tree.this
    return tree if isinstance(tree, exp.Select) else None


def result_names(tree: exp.Expression) -> list[str] | None:
    """The names PostgreSQL gives the statement's result columns; None where it cannot tell (``*``)."""
    select = _first_select(tree)
    if select is None or any(isinstance(e, exp.Star) or isinstance(e, exp.Column) and isinstance(e.this, exp.Star)
                             for e in select.expressions):
        return None
    return [_figure(e)[0] for e in select.expressions]


def _name_results(tree: exp.Expression, names: list[str] | None) -> None:
    select = _first_select(tree)
    if select is None or names is None or len(select.expressions) != len(names):
        return
    for projection, name in zip(list(select.expressions), names):
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        projection.replace(exp.alias_(inner.copy(), exp.to_identifier(name, quoted=True)))
