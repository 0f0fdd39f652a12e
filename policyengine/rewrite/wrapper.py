"""The wrapper: a base table replaced by a derived table that shows only what the decision allows.

``(SELECT <each visible column, raw or protected> FROM <table> AS <nonce alias> WHERE <row filter>)``.
Every column the reader may see is listed in the table's order under its own name, so ``*``,
``t.*``, ``COLUMNS(*)``, whole-row references and positional references keep working unchanged;
denied columns are left out, so ``*`` skips them. The row filter sits inside, so it runs on raw
values before anything the reader wrote. Reading the same table twice gives two wrappers.

A query that reads columns only by naming them gets wrappers that list only the columns it names
(:mod:`policyengine.rewrite.prune`): the rest could never be read, and DuckDB would parse, bind and
check every protection expression in them before dropping them from the plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlglot import exp

from policyengine.bounded_cache import BoundedCache
from policyengine.decision import Outcome, RowScope, TableDecision
from policyengine.model import Table
from policyengine.rewrite.context import Binding, bind
from policyengine.rewrite.protections import protect
from policyengine.rewrite.refusal import Refused
from policyengine.rewrite.templates import column_of, quoted


def table_reference(table: Table, alias: str, *, database: str | None = None) -> exp.Table:
    """The canonical, quoted reference to a contract's table in the database."""
    parts = table.name.split(".")
    catalog = parts[-3] if len(parts) == 3 else database
    schema = parts[-2] if len(parts) >= 2 else None
    return exp.Table(
        this=quoted(parts[-1]),
        db=quoted(schema) if schema else None,
        catalog=quoted(catalog) if catalog else None,
        alias=exp.TableAlias(this=quoted(alias)),
    )


@dataclass(frozen=True)
class WrapperText:
    """A wrapper's generated text in pieces, so that a rewrite can list only the columns its query names.

    ``SELECT <columns, or empty when none is kept> <tail>`` is the wrapper; aliases are slots
    (``__pe_SLOT_<i>``) that each use replaces with its own.
    """

    #: (column name, lower case; its projection ``<value> AS "<name>"``) in table order
    columns: tuple[tuple[str, str], ...]
    #: `` FROM <table> AS <slot> [WHERE <row filter>]``
    tail: str
    #: the projection when no column is listed (a table whose every column is denied, or none is named)
    empty: str
    #: table key of each alias slot, in slot order
    slots: tuple[str, ...]
    #: the whole text, where the pieces did not join up to what the generator wrote for the whole:
    #: then it is used as it is, every column listed
    whole: str | None = None

    def text(self, names: frozenset[str] | None) -> str:
        if self.whole is not None:
            return self.whole
        if names is None:
            kept = [projection for _, projection in self.columns]
        else:
            kept = [projection for name, projection in self.columns if name in names]
        return "SELECT " + (", ".join(kept) if kept else self.empty) + self.tail


#: wrapper texts per (policy version, subject, environment, table, dialect), with alias slots
_TEXTS: BoundedCache[tuple[Any, ...], WrapperText] = BoundedCache(4096)
_SLOT = "SLOT"
_EMPTY = "__pe_no_visible_column"
_COLUMNS_MARK = "__pe_columns"


#: dialects where a quoted name is case-sensitive and unquoted names are folded (to upper case): there
#: the wrapper names tables and columns unquoted, as the reader's own unquoted names resolve
CASE_FOLDING_DIALECTS = frozenset({"snowflake"})
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_PLAIN = re.compile(r"[A-Za-z0-9_]+")


def _fold_simple_identifiers(tree: exp.Expression) -> exp.Expression:
    for identifier in tree.find_all(exp.Identifier):
        if identifier.quoted and _SIMPLE.fullmatch(identifier.name) and not identifier.name.startswith("__pe_"):
            identifier.set("quoted", False)
    return tree


@cache
def _quotes(dialect: str) -> tuple[str, str]:
    """The dialect's quotes around a quoted name, as its generator writes them."""
    text = quoted("X").sql(dialect=dialect)
    before, _, after = text.partition("X")
    return before, after


def _quoted_sql(name: str, dialect: str) -> str:
    """A quoted name as the dialect's generator writes it; the engine's own names (letters, digits,
    underscores) need no escaping, so they are quoted without running the generator."""
    if not _PLAIN.fullmatch(name):
        return quoted(name).sql(dialect=dialect)
    before, after = _quotes(dialect)
    return before + name + after


def _text_of(select: exp.Select, dialect: str) -> WrapperText:
    """The wrapper's pieces, checked to join up to the text the generator writes for the whole.

    ``select`` is the caller's own and is consumed: it is generated without copies (the whole, then
    each projection, then the rest around a marker), as copying cost more than generating.
    """
    whole = select.sql(dialect=dialect, comments=False, copy=False)
    columns = tuple((projection.alias_or_name.lower(), projection.sql(dialect=dialect, comments=False, copy=False))
                    for projection in select.expressions if projection.alias_or_name != _EMPTY)
    empty = exp.alias_(exp.null(), quoted(_EMPTY), copy=False).sql(dialect=dialect, comments=False, copy=False)
    select.set("expressions", [exp.column(quoted(_COLUMNS_MARK))])
    head = "SELECT " + _quoted_sql(_COLUMNS_MARK, dialect)
    skeleton = select.sql(dialect=dialect, comments=False, copy=False)
    if skeleton.startswith(head):
        pieces = WrapperText(columns, skeleton[len(head):], empty, ())
        if pieces.text(None) == whole:
            return pieces
    # the generator did not write the whole as its pieces joined: keep the whole, every column listed
    return WrapperText(columns, "", empty, (), whole=whole)


def _is_true(expression: exp.Expression) -> bool:
    """The literal TRUE, possibly in parentheses (nothing else is evaluated here)."""
    while isinstance(expression, exp.Paren):
        expression = expression.this
    return isinstance(expression, exp.Boolean) and expression.this is True


@dataclass
class WrapperFactory:
    """Builds wrappers for one rewrite; aliases carry a per-rewrite nonce the cross-check looks for.

    A rewrite marks each base table with a placeholder and generates only the reader's (small)
    statement; :meth:`splice` then puts in each wrapper's text, generated once per policy version,
    subject, environment and table and kept, with fresh aliases. Generating the wrappers, which
    list every column and its protection, was most of a rewrite's cost.

    ``names`` (set by the rewrite before :meth:`splice`): the names its query can use, when it reads
    columns only by naming them (:mod:`policyengine.rewrite.prune`); then each wrapper lists only the
    columns so named. None lists every visible column.
    """

    nonce: str
    find_table: Callable[[str], Table | None]
    database: str | None = None
    version: str = ""
    #: qualifier of the warehouse's keyed UDFs, for targets where the key lives there (Snowflake)
    udf_prefix: str | None = None
    aliases: list[tuple[str, str]] = field(default_factory=list)  # (alias, table key) of every raw read
    splices: list[tuple[str, TableDecision]] = field(default_factory=list)
    names: frozenset[str] | None = None
    #: whether some wrapper listed every column although ``names`` was set (its pieces did not join up)
    listed_every_column: bool = False

    @property
    def listed(self) -> frozenset[str] | None:
        """The columns (lower case) the spliced wrappers list; None when they list every visible one."""
        return None if self.names is None or self.listed_every_column else self.names

    def _alias(self, table: Table) -> str:
        return self._alias_for(table.key)

    def _alias_for(self, table_key: str) -> str:
        alias = f"__pe_{self.nonce}_{len(self.aliases)}"
        self.aliases.append((alias, table_key))
        return alias

    def splice_point(self, decision: TableDecision) -> str:
        """A placeholder table name for the wrapper of ``decision``, to be spliced in after generation."""
        name = f"__pe_splice_{self.nonce}_{len(self.splices)}"
        self.splices.append((name, decision))
        return name

    def splice(self, text: str, dialect: str) -> str:
        """Each placeholder of ``text`` (which must occur exactly once) replaced by its wrapper, in one pass."""
        placed: list[tuple[int, int, TableDecision]] = []
        for name, decision in self.splices:
            token = _quoted_sql(name, dialect)
            at = text.find(token)
            if at < 0 or text.find(token, at + 1) >= 0:
                raise Refused("cannot place a protected table in the statement", kind="unsupported")
            placed.append((at, len(token), decision))
        placed.sort(key=lambda item: item[0])
        out: list[str] = []
        done = 0
        for at, length, decision in placed:
            out.append(text[done:at])
            out.append("(" + self._wrapper_text(decision, dialect) + ")")
            done = at + length
        out.append(text[done:])
        return "".join(out)

    def _template(self, decision: TableDecision, dialect: str) -> WrapperText:
        subject = decision.subject
        key = (self.version, self.database, self.udf_prefix, subject.roles, subject.name,
               tuple(sorted(subject.attributes.items())), decision.grant.environment,
               decision.table.key if decision.table else None, dialect)
        cached = _TEXTS.get(key)
        if cached is not None:
            return cached
        template = WrapperFactory(_SLOT, self.find_table, self.database, self.version, self.udf_prefix)
        tree = template.wrapper(decision)
        if dialect in CASE_FOLDING_DIALECTS:
            tree = _fold_simple_identifiers(tree)
        pieces = _text_of(tree, dialect)
        cached = WrapperText(pieces.columns, pieces.tail, pieces.empty,
                             tuple(table_key for _, table_key in template.aliases), pieces.whole)
        _TEXTS.put(key, cached)
        return cached

    def _wrapper_text(self, decision: TableDecision, dialect: str) -> str:
        cached = self._template(decision, dialect)
        if cached.whole is not None:
            self.listed_every_column = True
        text = cached.text(self.names)
        # the same wrapper gets the same aliases wherever it appears, so that DuckDB sees two uses
        # of one protected table in a statement (a subquery in SELECT and in GROUP BY) as the same
        # expression; each wrapper is a derived table of its own, so equal aliases never meet
        for slot, table_key in enumerate(cached.slots):
            alias = f"__pe_{self.nonce}_{slot}"
            self.aliases.append((alias, table_key))
            text = text.replace(_quoted_sql(f"__pe_{_SLOT}_{slot}", dialect), _quoted_sql(alias, dialect))
        return text

    @property
    def _udf_name(self) -> Callable[[str], str] | None:
        if self.udf_prefix is None:
            return None
        prefix = self.udf_prefix
        return lambda name: f"{prefix}.{name}" if prefix else name

    def reference(self, table: Table) -> exp.Table:
        return table_reference(table, self._alias(table), database=self.database)

    def wrapper(self, decision: TableDecision) -> exp.Select:
        table = decision.table
        assert table is not None and decision.allowed
        source = self.reference(table)
        alias = source.alias
        binding = Binding(decision, alias, self.reference)

        def bind_expression(tree: exp.Expression) -> exp.Expression:
            return bind(tree, binding, self.find_table)

        projections: list[exp.Expression] = []
        for choice in decision.columns:
            raw = column_of(alias, choice.column.name)
            if choice.outcome is Outcome.DENIED:
                continue
            value = raw if choice.outcome is Outcome.RAW else protect(raw, choice.column, choice.protection,
                                                                      bind=bind_expression, udfs=self._udf_name)
            projections.append(exp.alias_(value, quoted(choice.column.name), copy=False))
        if not projections:
            # every column denied: the table still has rows, but nothing may be shown of them
            projections.append(exp.alias_(exp.null(), quoted("__pe_no_visible_column"), copy=False))
        select = exp.Select(expressions=projections).from_(source, copy=False)
        condition = self._row_condition(decision, bind_expression)
        if condition is not None:
            select = select.where(condition, copy=False)
        return select

    @staticmethod
    def _row_condition(decision: TableDecision,
                       bind_expression: Callable[[exp.Expression], exp.Expression]) -> exp.Expression | None:
        rows = decision.rows
        if rows.scope is RowScope.ALL:
            return None
        if rows.scope is RowScope.NONE:
            return exp.false()
        bound = [bind_expression(rule.where) for rule in rows.rules]
        if any(_is_true(rule) for rule in bound):
            # a rule that is TRUE itself (``where: "TRUE"``, or a context test answered TRUE) shows every
            # row whatever the others say: no filter at all, rather than one DuckDB evaluates per query
            return None
        # a rule that is NULL for a row does not show it: COALESCE(..., FALSE) keeps that explicit
        return exp.func("COALESCE", exp.or_(*(exp.paren(rule, copy=False) for rule in bound), copy=False),
                        exp.false())
