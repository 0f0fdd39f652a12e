"""The types of a statement's ``$n`` parameters, when the client sends none (asyncpg, pg8000, pgbench).

Drivers trust ParameterDescription: asyncpg encodes an argument by the type we report, so reporting
text for ``"BirthYear" > $1`` makes it refuse an int. A parameter takes the type of what it is
compared with (a contract column), cast to (``$1::int``), or where it stands (LIMIT). Anything
else stays unknown (reported as text, which DuckDB casts where it is used).
"""

from __future__ import annotations

from sqlglot import exp

from policyengine.bounded_cache import BoundedCache
from policyengine.model import PolicySet
from policyengine.rewrite.statement import read_postgres
from policyengine.server.catalog.pgtypes import column_type

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Is)
INT8 = 20


def _number(node: exp.Expression) -> int | None:
    text = node.sql(dialect="postgres").lstrip("$")
    return int(text) if text.isdigit() else None


def _columns(tree: exp.Expression, policy_set: PolicySet) -> dict[str, set[str]]:
    """Column name (lower case) -> the canonical SQL types it has in the tables this statement names."""
    names = {table.name.lower() for table in tree.find_all(exp.Table)}
    out: dict[str, set[str]] = {}
    for table in policy_set.tables.values():
        if table.parts[-1].lower() in names:
            for column in table.columns:
                out.setdefault(column.name.lower(), set()).add(column.type.sql)
    return out


#: per (policy version, statement text): drivers send the same statements again and again, and a client
#: sending endless distinct ones must not grow the process without end
_INFERRED: BoundedCache[tuple[str, str], dict[int, int]] = BoundedCache(2048)


def infer_parameter_types(sql: str, policy_set: PolicySet) -> dict[int, int]:
    """``{n: type OID}`` for the parameters whose type the statement makes plain (a copy: the kept
    mapping is shared between sessions)."""
    return dict(_INFERRED.get_or_make((policy_set.version, sql), lambda: _infer(sql, policy_set)))


def _infer(sql: str, policy_set: PolicySet) -> dict[int, int]:
    try:
        trees = [t for t in read_postgres(sql) if t is not None]
    except Exception:  # noqa: BLE001 - the engine reports the syntax error when it runs
        return {}
    found: dict[int, int] = {}
    for tree in trees:
        columns = _columns(tree, policy_set)
        for node in tree.find_all(exp.Parameter, exp.Placeholder):
            number = _number(node)
            if number is None or number in found:
                continue
            parent = node.parent
            while isinstance(parent, (exp.Paren, exp.Tuple)) or (isinstance(parent, exp.In) and node.arg_key != "this"):
                if isinstance(parent, exp.In):
                    break
                parent = parent.parent
            if isinstance(parent, exp.Cast):
                found[number] = column_type(parent.to.sql(dialect="duckdb"))[0]
            elif isinstance(parent, (exp.Limit, exp.Offset)):
                found[number] = INT8
            elif isinstance(parent, (*_COMPARISONS, exp.In, exp.Between)):
                other = parent.this if parent.this is not node else parent.args.get("expression")
                if isinstance(other, exp.Column):
                    types = columns.get(other.name.lower(), set())
                    if len(types) == 1:
                        found[number] = column_type(next(iter(types)))[0]
    return found
