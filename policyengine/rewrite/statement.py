"""Parsing the incoming statement, and the gate every statement passes before anything else.

Exactly one statement; only queries (SELECT, set operations, VALUES, DuckDB's FROM-first form);
nothing that writes, configures, loads, attaches, describes or runs other SQL, anywhere in the
tree. What sqlglot can only keep as an opaque ``Command`` is refused: it cannot be analysed.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from policyengine.rewrite.refusal import Refused

MAX_SQL_LENGTH = 1_000_000

QUERY_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

FORBIDDEN: tuple[type[exp.Expression], ...] = (
    exp.DDL, exp.DML, exp.Command, exp.Set, exp.Pragma, exp.Copy, exp.Attach, exp.Detach, exp.Install,
    exp.Describe, exp.Summarize, exp.Use, exp.Transaction, exp.Commit, exp.Rollback, exp.Block,
    exp.Show, exp.Export, exp.LoadData, exp.Kill, exp.Analyze, exp.Into,
)


#: the SQL a reader writes for each node type the gate refuses (sqlglot's class names are its own)
_CONSTRUCTS: dict[type[exp.Expression], str] = {
    exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER", exp.Insert: "INSERT", exp.Update: "UPDATE",
    exp.Delete: "DELETE", exp.Merge: "MERGE", exp.Set: "SET", exp.Pragma: "PRAGMA", exp.Copy: "COPY",
    exp.Attach: "ATTACH", exp.Detach: "DETACH", exp.Install: "INSTALL", exp.Describe: "DESCRIBE",
    exp.Summarize: "SUMMARIZE", exp.Use: "USE", exp.Transaction: "BEGIN TRANSACTION", exp.Commit: "COMMIT",
    exp.Rollback: "ROLLBACK", exp.Block: "a block of statements", exp.Show: "SHOW", exp.Export: "EXPORT",
    exp.LoadData: "LOAD DATA", exp.Kill: "KILL", exp.Analyze: "ANALYZE", exp.Into: "SELECT ... INTO",
    exp.Pivot: "PIVOT", exp.Values: "VALUES", exp.TruncateTable: "TRUNCATE",
}

_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z_]+)", re.S)


def construct_name(node: exp.Expression) -> str:
    """The SQL construct a node stands for, as a reader writes it (``CREATE``, ``LOAD``), never
    sqlglot's class name: refusals name what the reader wrote."""
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    for kind in type(node).__mro__:
        if kind in _CONSTRUCTS:
            return _CONSTRUCTS[kind]
    if isinstance(node, exp.DDL):
        return "a schema change"
    if isinstance(node, exp.DML):
        return "a data change"
    return "this construct"


def _statement_name(root: exp.Expression, sql: str) -> str:
    """What a statement that is not a query is: the node's construct, else its first word."""
    name = construct_name(root)
    if name == "this construct":
        match = _FIRST_WORD.match(sql)
        name = match.group(1).upper() if match else "this statement"
    return name


#: dialects where ``?`` is a parameter, so ``?::type`` is a parameter cast
PLACEHOLDER_DIALECTS = frozenset({"duckdb"})


def _separate_placeholder_casts(sql: str, dialect: str) -> str:
    """``?::VARCHAR`` with a space after the ``?``, where the text has a parameter cast.

    sqlglot's tokenizer reads ``?::`` as one operator (another dialect's TRY_CAST) and then cannot
    parse the statement; in DuckDB it is a parameter cast, as the DB-API's ``?`` parameters are
    written. Only the tokens sqlglot takes for that operator change (never a string or comment), and
    only the text that is parsed: what runs is generated from the tree.
    """
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except Exception:  # noqa: BLE001 - the parse below reports what cannot be read
        return sql
    starts = [token.start for token in tokens if token.token_type is TokenType.QDCOLON]
    for start in reversed(starts):
        sql = sql[:start + 1] + " " + sql[start + 1:]
    return sql


def _pivot_statement_as_query(pivot: exp.Pivot, dialect: str) -> exp.Select | None:
    """DuckDB's ``PIVOT t ON c IN (v1, v2) USING agg [GROUP BY g]`` as the query it stands for,
    ``SELECT * FROM t PIVOT (agg FOR c IN (v1, v2) [GROUP BY g])`` (DuckDB reads both the same way):
    a query whose table the rewrite can wrap like any other. None for any other shape (no IN
    list, several ON columns, UNPIVOT, anything else in the statement): those are refused.
    """
    source, ons, using = pivot.this, pivot.expressions, pivot.args.get("using")
    others = {key for key, value in pivot.args.items()
              if value and key not in ("this", "expressions", "using", "group")}
    if others or not isinstance(source, (exp.Table, exp.Subquery)) or not using or len(ons) != 1:
        return None
    on = ons[0]
    if not isinstance(on, exp.In) or not on.expressions or on.args.get("query") or on.args.get("unnest"):
        return None
    group = pivot.args.get("group")
    text = (f"SELECT * FROM {source.sql(dialect=dialect)} PIVOT ("
            + ", ".join(aggregate.sql(dialect=dialect) for aggregate in using)
            + f" FOR {on.sql(dialect=dialect)}" + (f" {group.sql(dialect=dialect)}" if group else "") + ")")
    try:
        query = sqlglot.parse_one(text, read=dialect)
    except Exception:  # noqa: BLE001 - a shape the standard form cannot say is refused as the statement
        return None
    return query if isinstance(query, exp.Select) else None


def _has_brace_map(sql: str) -> bool:
    """Whether PostgreSQL-dialect text holds DuckDB's map literal ``MAP {k: v}``.

    sqlglot's PostgreSQL reader drops the MAP and reads the braces as a STRUCT whose keys are the
    keys' text (``MAP {Country: Email}`` would become ``{'Country': Email}``): another value, not a
    refusal. The literal is DuckDB's own, so such a statement (the front door reads PostgreSQL) is
    read as DuckDB SQL, whose parser is PostgreSQL's.
    """
    if "{" not in sql:
        return False
    try:
        tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(sql)
    except Exception:  # noqa: BLE001 - the parse reports what cannot be read
        return False
    return any(token.text.upper() == "MAP" and following.token_type is TokenType.L_BRACE
               for token, following in zip(tokens, tokens[1:]))


#: type keywords that start a typed literal (``date '2024-03-09'``)
_LITERAL_TYPES = frozenset({"DATE", "TIME", "TIMETZ", "TIMESTAMP", "TIMESTAMPTZ"})


def repair_typed_literal_casts(root: exp.Expression, sql: str) -> exp.Expression:
    """``date '2024-03-09'::text`` is the date cast to text in PostgreSQL; sqlglot reads it as the text
    ``'2024-03-09'::text`` cast to a date (another value, and another type). Where the reader's text has
    a typed literal followed by ``::``, the two casts sqlglot made of it are put back in order.
    """
    if "::" not in sql:
        return root
    try:
        tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(sql)
    except Exception:  # noqa: BLE001 - the parse has read it; nothing to repair
        return root
    written = {(first.text.upper(), second.text) for first, second, third in zip(tokens, tokens[1:], tokens[2:])
               if first.text.upper() in _LITERAL_TYPES and second.token_type is TokenType.STRING
               and third.token_type is TokenType.DCOLON}
    if not written:
        return root
    done: set[int] = set()
    for cast in list(root.find_all(exp.Cast)):  # the outermost first
        if id(cast) in done:
            continue
        chain = [cast]  # sqlglot's order: the literal's type outermost, then the ``::`` casts last to first
        while isinstance(chain[-1].this, exp.Cast):
            chain.append(chain[-1].this)
        literal = chain[-1].this
        if len(chain) < 2 or not (isinstance(literal, exp.Literal) and literal.is_string) \
                or (cast.to.sql(dialect="postgres").upper(), literal.this) not in written:
            continue
        types = [node.to.copy() for node in chain]
        for node, kind in zip(chain, types[1:] + types[:1]):  # the literal's type innermost, the rest in order
            node.set("to", kind)
            done.add(id(node))
    return root


#: tokens after which a word that followed ``AS`` can only have been a column label (PostgreSQL's ColLabel)
_LABEL_ENDS = frozenset({
    TokenType.COMMA, TokenType.R_PAREN, TokenType.SEMICOLON, TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY,
    TokenType.ORDER_BY, TokenType.HAVING, TokenType.LIMIT, TokenType.OFFSET, TokenType.FETCH, TokenType.UNION,
    TokenType.EXCEPT, TokenType.INTERSECT, TokenType.WINDOW, TokenType.INTO,
})
#: word tokens sqlglot already reads as a name after AS
_NAME_TOKENS = frozenset({TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING})


def _postgres_spellings(sql: str) -> str:
    """The same statement, in the spellings sqlglot's PostgreSQL reader accepts for two things
    PostgreSQL's grammar allows and that reader rejects:

    - any keyword as a column label after ``AS`` (``... AS select``, ``AS not``: PostgreSQL's
      ColLabel) is written as the quoted name PostgreSQL makes of it, lower case (``AS "select"``);
    - an array of an OID alias type (``x::regtype[]``, ``CAST(x AS oid[])``) names the type with its
      schema (``pg_catalog.regtype[]``), which PostgreSQL reads as the same type.

    Only those tokens change (never a string, quoted name or comment). The text is unchanged when
    neither occurs or it cannot be tokenized."""
    try:
        tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(sql)
    except Exception:  # noqa: BLE001 - the parse reports what cannot be read
        return sql
    edits: list[tuple[int, int, str]] = []
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        after = tokens[i + 2] if i + 2 < len(tokens) else None
        if token.token_type is TokenType.ALIAS and following is not None \
                and following.token_type not in _NAME_TOKENS and following.text.isidentifier() \
                and (after is None or after.token_type in _LABEL_ENDS) \
                and sql[following.start:following.end + 1] == following.text:
            edits.append((following.start, following.end + 1, f'"{following.text.lower()}"'))
        elif token.token_type is TokenType.OBJECT_IDENTIFIER and following is not None and after is not None \
                and following.token_type is TokenType.L_BRACKET and after.token_type is TokenType.R_BRACKET \
                and sql[token.start:token.end + 1] == token.text:
            edits.append((token.start, token.end + 1, f"pg_catalog.{token.text}"))
    for start, end, text in reversed(edits):
        sql = sql[:start] + text + sql[end:]
    return sql


def read_postgres(sql: str) -> list[exp.Expression | None]:
    """``sqlglot.parse(sql, read="postgres")``, and where that fails on what PostgreSQL's grammar
    accepts (keywords as column labels, arrays of OID alias types), the statement in the spellings
    sqlglot reads (:func:`_postgres_spellings`). The first reading's error is raised if neither reads."""
    try:
        return sqlglot.parse(sql, read="postgres")
    except ParseError:
        respelled = _postgres_spellings(sql)
        if respelled == sql:
            raise
        try:
            return sqlglot.parse(respelled, read="postgres")
        except ParseError:
            pass
        raise


def parse_statement(sql: str, dialect: str) -> exp.Expression:
    """The one query in ``sql``, parsed; :class:`Refused` for anything else."""
    if len(sql) > MAX_SQL_LENGTH:
        raise Refused(f"statement is longer than {MAX_SQL_LENGTH:,} characters", kind="unsupported")
    if dialect == "postgres" and _has_brace_map(sql):
        dialect = "duckdb"
    if "?::" in sql and dialect in PLACEHOLDER_DIALECTS:
        sql = _separate_placeholder_casts(sql, dialect)
    try:
        parsed = read_postgres(sql) if dialect == "postgres" else sqlglot.parse(sql, read=dialect)
        trees = [tree for tree in parsed if tree is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first.get("line") else ""
        raise Refused(f"syntax error{where}: {first.get('description') or 'cannot parse'}", kind="syntax") from None
    except TokenError:
        raise Refused("syntax error: unterminated string, quoted name or comment", kind="syntax") from None
    except RecursionError:
        raise Refused("statement is nested too deeply to analyse", kind="unsupported") from None
    except Exception:  # noqa: BLE001 - sqlglot can fail inside a parser rule (``x ?`` raised TypeError):
        # whatever it cannot read is refused as unreadable, never passed on or shown as an internal error
        raise Refused("syntax error: the statement cannot be parsed", kind="syntax") from None
    if not trees:
        raise Refused("empty statement", kind="syntax")
    if len(trees) > 1:
        raise Refused(f"exactly one statement is allowed, got {len(trees)}", kind="unsupported")
    root = trees[0]
    if dialect == "postgres":
        root = repair_typed_literal_casts(root, sql)
    if isinstance(root, exp.Pivot):
        query = _pivot_statement_as_query(root, dialect)
        if query is not None:
            return query
        if root.args.get("unpivot"):
            raise Refused("the UNPIVOT statement (UNPIVOT t ON ... INTO ...) is not supported: write "
                          "SELECT * FROM t UNPIVOT (value FOR name IN (columns))", kind="unsupported")
        # without an IN list, DuckDB works out the new columns from the data with statements of its
        # own at run time, which the rewrite cannot check
        raise Refused("the PIVOT statement is supported only with one ON column and its values listed "
                      "(PIVOT t ON c IN (v1, v2) USING aggregate [GROUP BY ...])", kind="unsupported")
    if not isinstance(root, QUERY_ROOTS):
        raise Refused(f"only queries are allowed, not {_statement_name(root, sql)}")
    return root


def row_bound(root: exp.Expression) -> int | None:
    """At most how many rows the statement returns, where its own text says so: a constant
    ``LIMIT n`` or ``FETCH FIRST n ROWS ONLY`` on the whole statement (not a percentage, not WITH
    TIES). None where nothing in the text bounds it. A backend may hold such a result whole, which it
    must not do with one that could be any size."""
    limit = root.args.get("limit")
    if isinstance(limit, exp.Limit):
        count = limit.expression
    elif isinstance(limit, exp.Fetch):
        count = limit.args.get("count")
    else:
        return None
    options = limit.args.get("limit_options")
    if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
        return None
    if isinstance(count, exp.Literal) and count.is_int:
        return int(count.this)
    return None
