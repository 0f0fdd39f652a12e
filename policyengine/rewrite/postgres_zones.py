"""The session's TimeZone in a statement read as PostgreSQL: local dates and times in the session's zone.

PostgreSQL keeps a ``timestamptz`` as an instant and reads and writes it in the session's TimeZone:
``now()::date``, ``date_trunc('day', t)``, ``extract(hour FROM t)``, ``'2024-07-01 12:00'::timestamptz``,
``current_date`` and a ``timestamp`` compared with a ``timestamptz`` are all taken in that zone. The
front door's DuckDB runs in UTC with its settings locked (its hardening), so after a ``SET TimeZone``
each of these conversions is written out with the zone explicitly (DuckDB's ``timezone(zone, x)``,
which turns an instant into the zone's wall clock and a wall-clock time into the instant) and the
values sent are printed in the zone by the server (binary.py).

The text of a ``timestamptz`` is written as PostgreSQL writes it in the zone (its wall clock and
offset: ``2024-07-01 08:00:00-04``). What the engine cannot give the zone's meaning is refused, naming
the construct: ``timestamptz ± interval`` (PostgreSQL adds
days and months on the zone's calendar, across daylight-saving changes), ``current_time``, special
inputs (``'today'``, ``'now'``), functions of a ``timestamptz`` the rule does not know, and a
conversion of a value whose type the engine cannot tell (a column of a derived table), in a
statement that reads any ``timestamptz`` at all. A statement that reads none, and every statement
while the zone is UTC, is left as it is: UTC is what DuckDB computes in.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from policyengine.rewrite.postgres_semantics import Context, unsupported
from policyengine.rewrite.resolve import TableResolver

#: zones in which DuckDB's UTC is already the session's local time
_UTC = frozenset({"utc", "etc/utc", "etc/gmt", "gmt", "etc/universal", "universal", "zulu", "etc/zulu", "gmt0",
                  "etc/gmt0", "etc/gmt+0", "etc/gmt-0", "uct", "etc/uct", "greenwich", "etc/greenwich"})
_DATETIME = (exp.DataType.Type.DATE, exp.DataType.Type.TIME, exp.DataType.Type.TIMESTAMP)
_TEXTS = (exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.NAME)
#: a timestamp text that names its own offset or zone (``+02``, ``-05:30``, ``Z``, ``UTC``, ``Europe/Paris``)
_OWN_ZONE = re.compile(r"(?:[+-]\d{1,2}(?::?\d{2}){0,2}|\bZ|[A-Za-z]{3,}(?:/[A-Za-z_]+)*)\s*$")
_SPECIAL = frozenset({"now", "today", "tomorrow", "yesterday", "epoch", "infinity", "-infinity", "allballs"})
#: nodes through which a timestamptz passes unchanged, or which only compare or count instants
_NEUTRAL = (exp.Column, exp.Alias, exp.Paren, exp.Max, exp.Min, exp.Count, exp.AnyValue, exp.ArrayAgg, exp.Coalesce,
            exp.Case, exp.If, exp.Nullif, exp.Greatest, exp.Least, exp.Is, exp.Ordered, exp.Distinct, exp.Window,
            exp.Filter, exp.Select, exp.Subquery, exp.Group, exp.Order, exp.Tuple, exp.In, exp.Between,
            exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Not,
            exp.AtTimeZone, exp.Cast, exp.Extract, exp.DateTrunc, exp.TimestampTrunc, exp.Array, exp.Union,
            exp.Intersect, exp.Except, exp.PartitionedByProperty, exp.CTE, exp.With, exp.From, exp.Where, exp.Having,
            exp.Qualify, exp.Lateral, exp.Join)


#: the meta key marking a node this rule made, with its type (``timestamp`` or ``timestamptz``)
_MADE = "pe_zone"


def _is_utc(zone: str) -> bool:
    return zone.lower() in _UTC or zone == "fixed:0"


def to_local(value: exp.Expression, zone: str) -> exp.Expression:
    """The wall-clock TIMESTAMP of an instant in ``zone`` (PostgreSQL's ``t AT TIME ZONE zone``)."""
    if zone.startswith("fixed:"):  # a fixed offset east of UTC (settings.py), which no IANA name carries
        local: exp.Expression = exp.Paren(this=exp.Add(
            this=exp.Cast(this=value, to=exp.DataType.build("TIMESTAMP")),
            expression=exp.Interval(this=exp.Literal.string(zone.split(":", 1)[1]), unit=exp.Var(this="SECOND"))))
    else:
        local = exp.Anonymous(this="TIMEZONE", expressions=[exp.Literal.string(zone), value])
    local.meta[_MADE] = "timestamp"
    return local


def from_local(value: exp.Expression, zone: str) -> exp.Expression:
    """The instant (TIMESTAMPTZ) a wall-clock time or date names in ``zone``."""
    local = exp.Cast(this=value, to=exp.DataType.build("TIMESTAMP"))
    if zone.startswith("fixed:"):
        shifted = exp.Sub(this=local, expression=exp.Interval(this=exp.Literal.string(zone.split(":", 1)[1]),
                                                             unit=exp.Var(this="SECOND")))
        instant: exp.Expression = exp.Cast(this=shifted, to=exp.DataType.build("TIMESTAMPTZ"))
    else:
        instant = exp.Anonymous(this="TIMEZONE", expressions=[exp.Literal.string(zone), local])
    instant.meta[_MADE] = "timestamptz"
    return instant


def _sql(text: str, **parts: exp.Expression) -> exp.Expression:
    """DuckDB SQL with ``{name}`` placeholders filled by the given expressions."""
    tree = sqlglot.parse_one(text.format(**{name: f"pe_{name}" for name in parts}), read="duckdb")
    for column in list(tree.find_all(exp.Column)):
        if column.name.startswith("pe_") and column.name[3:] in parts:
            column.replace(exp.Paren(this=parts[column.name[3:]].copy()))
    return tree


def instant_text(value: exp.Expression, zone: str) -> exp.Expression:
    """A timestamptz as PostgreSQL writes it in ``zone``: the wall clock, the fraction without trailing
    zeros, and the offset as ``-04``, ``+05:30`` or ``+00:53:28``."""
    local = to_local(value, zone)
    offset = _sql("CAST(round(epoch({local}) - epoch({value})) AS BIGINT)", local=local, value=value)
    return _sql(
        "strftime({local}, '%Y-%m-%d %H:%M:%S') "
        "|| CASE WHEN microsecond({local}) % 1000000 = 0 THEN '' "
        "ELSE '.' || rtrim(lpad(CAST(microsecond({local}) % 1000000 AS VARCHAR), 6, '0'), '0') END "
        "|| CASE WHEN {off} < 0 THEN '-' ELSE '+' END || lpad(CAST(abs({off}) // 3600 AS VARCHAR), 2, '0') "
        "|| CASE WHEN abs({off}) % 3600 = 0 THEN '' "
        "ELSE ':' || lpad(CAST(abs({off}) % 3600 // 60 AS VARCHAR), 2, '0') END "
        "|| CASE WHEN abs({off}) % 60 = 0 THEN '' ELSE ':' || lpad(CAST(abs({off}) % 60 AS VARCHAR), 2, '0') END",
        local=local, off=offset)


def _now() -> exp.Expression:
    return exp.CurrentTimestamp()


class _Zoned:
    """The rules' shared view: the statement's types (the semantics stage's), and which nodes make
    or read a timestamptz."""

    def __init__(self, tree: exp.Expression, sql: str, resolver: TableResolver):
        self.context = Context(sql, resolver)
        self.context.bind(tree, resolver)

    def kind(self, node: exp.Expression | None) -> str | None:
        if node is not None and node.meta.get(_MADE):
            return node.meta[_MADE]
        if isinstance(node, (exp.CurrentTimestamp, exp.StrToTime, exp.UnixToTime)) or isinstance(
                node, exp.Anonymous) and node.name.lower() in (
                "now", "transaction_timestamp", "statement_timestamp", "clock_timestamp", "make_timestamptz"):
            return "timestamptz"
        if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)):
            inner = self.kind(node.this)  # DuckDB's truncation of a date is its wall clock (the
            return "timestamp" if inner == "date" else inner  # semantics stage casts it to timestamptz)
        if isinstance(node, exp.AtTimeZone):
            inner = self.kind(node.this)
            return "timestamp" if inner == "timestamptz" else "timestamptz" if inner == "timestamp" else None
        return self.context.type_of(node)


def _string(node: exp.Expression) -> str | None:
    return str(node.this) if isinstance(node, exp.Literal) and node.is_string else None


def postgres_zones(tree: exp.Expression, read: str, sql: str, resolver: TableResolver,
                   time_zone: str) -> exp.Expression:
    """The tree with the session's zone written into every local-time conversion (see the module's
    docstring), when ``read`` is PostgreSQL and the zone is not UTC; else unchanged.

    >>> import sqlglot
    >>> from policyengine.model import PolicySet
    >>> empty = TableResolver(PolicySet(settings=None, roles={}, principals={}, tables={}, version=""))
    >>> sql = "SELECT now()::date, date_trunc('day', TIMESTAMPTZ '2024-07-01 01:00+00')"
    >>> postgres_zones(sqlglot.parse_one(sql, read="postgres"), "postgres", sql, empty, "Asia/Kolkata").sql("duckdb")
    "SELECT CAST(TIMEZONE('Asia/Kolkata', CURRENT_TIMESTAMP) AS DATE), TIMEZONE('Asia/Kolkata', \
CAST(DATE_TRUNC('DAY', TIMEZONE('Asia/Kolkata', CAST('2024-07-01 01:00+00' AS TIMESTAMPTZ))) AS TIMESTAMP))"
    """
    if read != "postgres":
        return tree
    if _is_utc(time_zone):
        return _times_of_instants(tree, sql, resolver)
    zoned = _Zoned(tree, sql, resolver)
    if not _reads_instants(tree, zoned):
        return tree
    for node in list(tree.find_all(exp.CurrentDate, exp.CurrentTime, exp.Localtime, exp.Localtimestamp)):
        if isinstance(node, exp.CurrentTime):
            raise unsupported("current_time (a time with time zone) after SET TimeZone", "use localtime")
        local = to_local(_now(), time_zone)
        node.replace(exp.Cast(this=local, to=exp.DataType.build(
            "DATE" if isinstance(node, exp.CurrentDate) else "TIME" if isinstance(node, exp.Localtime)
            else "TIMESTAMP")))
    # innermost first: a rewritten operand is already the zone's
    for node in reversed(list(tree.find_all(exp.Cast, exp.Extract, exp.DateTrunc, exp.TimestampTrunc, exp.Add,
                                            exp.Sub, exp.DPipe, exp.Concat, exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT,
                                            exp.GTE, exp.Between, exp.In, exp.Func))):
        _one(node, zoned, time_zone)
    return tree


def _times_of_instants(tree: exp.Expression, sql: str, resolver: TableResolver) -> exp.Expression:
    """In UTC only ``timestamptz::time`` needs a word: DuckDB has no such cast, its wall clock in UTC
    is the time of the UTC timestamp."""
    casts = [node for node in tree.find_all(exp.Cast) if node.to.this == exp.DataType.Type.TIME]
    if casts:
        zoned = _Zoned(tree, sql, resolver)
        for node in casts:
            if zoned.kind(node.this) == "timestamptz":
                node.set("this", exp.Cast(this=node.this.copy(), to=exp.DataType.build("TIMESTAMP")))
    return tree


def _reads_instants(tree: exp.Expression, zoned: _Zoned) -> bool:
    """Whether anything in the statement is (or is made) a timestamptz, so the zone can matter."""
    for node in tree.walk():
        if isinstance(node, (exp.CurrentDate, exp.CurrentTime, exp.Localtime, exp.Localtimestamp)):
            return True
        if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.TIMESTAMPTZ:
            return True
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.TIMESTAMPTZ:
            return True
        if isinstance(node, (exp.Column, exp.Func)) and zoned.kind(node) == "timestamptz" \
                or isinstance(node, exp.Anonymous) and node.name.lower() == "make_timestamptz":
            return True
    return False


def _one(node: exp.Expression, zoned: _Zoned, zone: str) -> None:
    if isinstance(node, exp.StrToTime) or isinstance(node, exp.Anonymous) and node.name.lower() == "make_timestamptz":
        raise unsupported(f"{_text(node).split('(')[0].lower()}() after SET TimeZone",
                          "it reads the wall clock of the session's zone: write the instant with its offset")
    if isinstance(node, exp.TimeToStr):
        if zoned.kind(node.this) == "timestamptz":
            node.set("this", to_local(node.this.copy(), zone))
        elif zoned.kind(node.this) is None:
            raise _untyped(f"to_char() of {_text(node.this)}")
        return
    if isinstance(node, exp.Cast):
        _cast(node, zoned, zone)
    elif isinstance(node, exp.Extract):
        kind = zoned.kind(node.expression)
        if kind == "timestamptz":
            node.set("expression", to_local(node.expression.copy(), zone))
        elif kind is None:
            raise _untyped(f"extract() of {_text(node.expression)}")
    elif isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)):
        kind = zoned.kind(node.this)
        if kind == "timestamptz":
            truncated = node.copy()
            truncated.set("this", to_local(node.this.copy(), zone))
            node.replace(from_local(truncated, zone))
        elif kind is None:
            raise _untyped(f"date_trunc() of {_text(node.this)}")
    elif isinstance(node, (exp.Add, exp.Sub)):
        kinds = {zoned.kind(node.this), zoned.kind(node.expression)}
        if "timestamptz" in kinds and kinds != {"timestamptz"}:
            raise unsupported(f"arithmetic on a timestamptz after SET TimeZone ({_text(node)})",
                              "PostgreSQL adds days and months on the zone's calendar: add to "
                              "(t AT TIME ZONE 'zone') and convert back")
    elif isinstance(node, (exp.DPipe, exp.Concat)):
        operands = list(node.expressions) if isinstance(node, exp.Concat) else [node.this, node.expression]
        for operand in operands:
            if zoned.kind(operand) == "timestamptz":
                operand.replace(instant_text(operand.copy(), zone))
    elif isinstance(node, (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Between, exp.In)):
        if isinstance(node, exp.In) and node.args.get("query") is not None:
            if zoned.kind(node.this) == "timestamptz":
                raise _untyped(f"IN (subquery) of a timestamptz ({_text(node)})")
            return
        operands = [node.this, *([node.args["low"], node.args["high"]] if isinstance(node, exp.Between)
                                 else node.expressions if isinstance(node, exp.In) else [node.expression])]
        kinds = [zoned.kind(operand) for operand in operands]
        if "timestamptz" not in kinds:
            return
        for operand, kind in zip(operands, kinds):
            if kind in ("date", "timestamp"):
                operand.replace(from_local(operand.copy(), zone))
            elif kind == "unknown":
                _instant_text(operand, zone)
            elif kind != "timestamptz":
                raise _untyped(f"a comparison of {_text(operand)} with a timestamptz")
    elif isinstance(node, exp.Func) and not isinstance(node, _NEUTRAL) and not node.meta.get(_MADE):
        for argument in node.iter_expressions():
            if zoned.kind(argument) == "timestamptz":
                raise unsupported(f"{_text(node).split('(')[0].lower()}() of a timestamptz after SET TimeZone",
                                  "convert it first: t AT TIME ZONE 'zone'")


def _cast(node: exp.Cast, zoned: _Zoned, zone: str) -> None:
    target, kind = node.to.this, zoned.kind(node.this)
    if target in _DATETIME:
        if kind == "timestamptz":
            node.set("this", to_local(node.this.copy(), zone))
        elif kind is None:
            raise _untyped(f"a cast of {_text(node.this)} to {node.to.sql('postgres').lower()}")
    elif target == exp.DataType.Type.TIMESTAMPTZ:
        if kind in ("date", "timestamp"):
            node.replace(from_local(node.this.copy(), zone))
        elif kind == "unknown":
            _instant_text(node, zone)
        elif kind is None:
            raise _untyped(f"a cast of {_text(node.this)} to timestamptz")
    elif target in _TEXTS and kind == "timestamptz":
        node.replace(instant_text(node.this.copy(), zone))


def _instant_text(node: exp.Expression, zone: str) -> None:
    """A string read as a timestamptz: as written when it names its offset, else the zone's wall clock."""
    literal = node.this if isinstance(node, exp.Cast) else node
    text = _string(literal)
    if text is None:
        raise _untyped(f"{_text(node)} read as a timestamptz")
    if text.strip().lower() in _SPECIAL:
        raise unsupported(f"the special input '{text}' as a timestamptz after SET TimeZone",
                          "write the instant, or use now()")
    if _OWN_ZONE.search(text.strip()):
        if isinstance(node, exp.Literal):
            node.replace(exp.Cast(this=node.copy(), to=exp.DataType.build("TIMESTAMPTZ")))
        return
    node.replace(from_local(literal.copy(), zone))


def _untyped(what: str) -> Exception:
    return unsupported(f"{what} after SET TimeZone (its type cannot be told, and a timestamptz would be converted "
                       "in the session's zone)", "compute it from the table's own column, not a derived table's")


def _text(node: exp.Expression) -> str:
    text = node.sql(dialect="postgres", comments=False)
    return text if len(text) <= 60 else text[:57] + "..."
