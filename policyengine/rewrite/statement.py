"""Parsing the incoming statement, and the gate every statement passes before anything else.

Exactly one statement; only queries (SELECT, set operations, VALUES, DuckDB's FROM-first form);
nothing that writes, configures, loads, attaches, describes or runs other SQL, anywhere in the
tree. What sqlglot can only keep as an opaque ``Command`` is refused: it cannot be analysed.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from policyengine.rewrite.refusal import Refused

MAX_SQL_LENGTH = 1_000_000

QUERY_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

FORBIDDEN: tuple[type[exp.Expression], ...] = (
    exp.DDL, exp.DML, exp.Command, exp.Set, exp.Pragma, exp.Copy, exp.Attach, exp.Detach, exp.Install,
    exp.Describe, exp.Summarize, exp.Use, exp.Transaction, exp.Commit, exp.Rollback, exp.Block,
    exp.Show, exp.Export, exp.LoadData, exp.Kill, exp.Analyze, exp.Into,
)


def _name(node: exp.Expression) -> str:
    return node.key.upper().replace("_", " ")


def parse_statement(sql: str, dialect: str) -> exp.Expression:
    """The one query in ``sql``, parsed; :class:`Refused` for anything else."""
    if len(sql) > MAX_SQL_LENGTH:
        raise Refused(f"statement is longer than {MAX_SQL_LENGTH:,} characters", kind="unsupported")
    try:
        trees = [tree for tree in sqlglot.parse(sql, read=dialect) if tree is not None]
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
    if not isinstance(root, QUERY_ROOTS):
        raise Refused(f"only queries are allowed, not {_name(root)}")
    return root


def refuse_forbidden_nodes(root: exp.Expression) -> exp.Expression:
    for node in root.walk():
        if isinstance(node, FORBIDDEN):
            raise Refused(f"{_name(node)} is not allowed in a query")
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
