"""The wrapper: a base table replaced by a derived table that shows only what the decision allows.

``(SELECT <each visible column, raw or protected> FROM <table> AS <nonce alias> WHERE <row filter>)``.
Every column the reader may see is listed in the table's order under its own name, so ``*``,
``t.*``, ``COLUMNS(*)``, whole-row references and positional references keep working unchanged;
denied columns are left out, so ``*`` skips them. The row filter sits inside, so it runs on raw
values before anything the reader wrote. Reading the same table twice gives two wrappers.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock
from typing import Any, Callable

from sqlglot import exp

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


#: wrapper SQL text per (policy version, subject, environment, table, dialect), with alias slots
_TEXTS: OrderedDict[tuple[Any, ...], tuple[str, list[str]]] = OrderedDict()
_TEXTS_LOCK = Lock()
_TEXTS_SIZE = 4096
_SLOT = "SLOT"


#: dialects where a quoted name is case-sensitive and unquoted names are folded (to upper case): there
#: the wrapper names tables and columns unquoted, as the reader's own unquoted names resolve
CASE_FOLDING_DIALECTS = frozenset({"snowflake"})
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _fold_simple_identifiers(tree: exp.Expression) -> exp.Expression:
    for identifier in tree.find_all(exp.Identifier):
        if identifier.quoted and _SIMPLE.fullmatch(identifier.name) and not identifier.name.startswith("__pe_"):
            identifier.set("quoted", False)
    return tree


def _quoted_sql(name: str, dialect: str) -> str:
    return quoted(name).sql(dialect=dialect)


@dataclass
class WrapperFactory:
    """Builds wrappers for one rewrite; aliases carry a per-rewrite nonce the cross-check looks for.

    A rewrite marks each base table with a placeholder and generates only the reader's (small)
    statement; :meth:`splice` then puts in each wrapper's text, generated once per policy version,
    subject, environment and table and kept, with fresh aliases. Generating the wrappers, which
    list every column and its protection, was most of a rewrite's cost.
    """

    nonce: str
    find_table: Callable[[str], Table | None]
    database: str | None = None
    version: str = ""
    #: qualifier of the warehouse's keyed UDFs, for targets where the key lives there (Snowflake)
    udf_prefix: str | None = None
    aliases: list[tuple[str, str]] = field(default_factory=list)  # (alias, table key) of every raw read
    splices: list[tuple[str, TableDecision]] = field(default_factory=list)

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
        for name, decision in self.splices:
            token = _quoted_sql(name, dialect)
            if text.count(token) != 1:
                raise Refused("cannot place a protected table in the statement", kind="unsupported")
            text = text.replace(token, "(" + self._wrapper_text(decision, dialect) + ")")
        return text

    def _wrapper_text(self, decision: TableDecision, dialect: str) -> str:
        subject = decision.subject
        key = (self.version, self.database, self.udf_prefix, subject.roles, subject.name, tuple(sorted(subject.attributes.items())),
               decision.grant.environment, decision.table.key if decision.table else None, dialect)
        with _TEXTS_LOCK:
            cached = _TEXTS.get(key)
            if cached is not None:
                _TEXTS.move_to_end(key)
        if cached is None:
            template = WrapperFactory(_SLOT, self.find_table, self.database, self.version, self.udf_prefix)
            tree = template.wrapper(decision)
            if dialect in CASE_FOLDING_DIALECTS:
                tree = _fold_simple_identifiers(tree)
            text = tree.sql(dialect=dialect, comments=False)
            cached = (text, [table_key for _, table_key in template.aliases])
            with _TEXTS_LOCK:
                _TEXTS[key] = cached
                if len(_TEXTS) > _TEXTS_SIZE:
                    _TEXTS.popitem(last=False)
        text, slots = cached
        # the same wrapper gets the same aliases wherever it appears, so that DuckDB sees two uses
        # of one protected table in a statement (a subquery in SELECT and in GROUP BY) as the same
        # expression; each wrapper is a derived table of its own, so equal aliases never meet
        for slot, table_key in enumerate(slots):
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
    def _row_condition(decision: TableDecision, bind_expression: Callable[[exp.Expression], exp.Expression]) -> exp.Expression | None:
        rows = decision.rows
        if rows.scope is RowScope.ALL:
            return None
        if rows.scope is RowScope.NONE:
            return exp.false()
        bound = [exp.paren(bind_expression(rule.where), copy=False) for rule in rows.rules]
        # a rule that is NULL for a row does not show it: COALESCE(..., FALSE) keeps that explicit
        return exp.func("COALESCE", exp.or_(*bound, copy=False), exp.false())
