"""The rewrite: the reader's SQL in, SQL that can only see what the decision allows out.

Like sqlglot's optimizer, the rewrite is an ordered tuple of small rules (:data:`RULES`), each a
function of the syntax tree and a context. Only SQL generated from the final tree, with comments
dropped, ever reaches a database: never the reader's text.
"""

from __future__ import annotations

import secrets
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock
from typing import Any, Callable

from sqlglot import exp

from policyengine.decision import Subject, TableDecision, decide
from policyengine.model import PolicySet, Table
from policyengine.rewrite import prune
from policyengine.rewrite.context import attribute_notices
from policyengine.rewrite.names import name_result_columns
from policyengine.rewrite.refusal import Refused
from policyengine.rewrite.resolve import TableResolver
from policyengine.rewrite.scan import Scanned, scan
from policyengine.rewrite.statement import keep_sample_percent, parse_statement, row_bound
from policyengine.rewrite.tables import (
    Classified,
    WrapContext,
    classify,
    lowercase_names,
    rename_ctes,
    unwrap_parenthesized_tables,
    wrap_base_tables,
)
from policyengine.rewrite.wrapper import WrapperFactory


#: dialects whose final SQL DuckDB's own parser cross-checks before it runs
CROSS_CHECKED = frozenset({"duckdb"})


@dataclass
class RewriteState:
    policy_set: PolicySet
    subject: Subject
    environment: str | None
    resolver: TableResolver
    nonce: str
    udf_prefix: str | None = None
    write: str = "duckdb"
    read: str = "duckdb"
    #: the gate's single walk: the tree's tables, CTEs, columns and names
    scanned: Scanned | None = None
    classified: Classified | None = None
    #: whether the query reads base-table columns only by naming them (wrappers list only those)
    prunable: bool = False
    decisions: list[TableDecision] = field(default_factory=list)
    factory: WrapperFactory | None = None
    #: the reader's text, as given
    sql: str = ""


def _gate(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    state.scanned = scan(tree, refuse_unknown=state.write not in CROSS_CHECKED)
    return tree


def _name_results(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    """Result columns keep the names the unrewritten statement has (:mod:`policyengine.rewrite.names`):
    a name made from rewritten text would show wrappers, row filters and masks."""
    name_result_columns(tree, state.sql, state.read)
    return tree


def _normalize(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    if state.scanned is not None:
        unwrap_parenthesized_tables(state.scanned.tables)
        keep_sample_percent(state.scanned.samples)
    return lowercase_names(tree, state.scanned.ctes if state.scanned else None)


def _classify(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    state.classified = classify(tree, state.scanned.tables if state.scanned else None)
    if state.scanned is not None:
        # decided on the names the reader wrote, before the base tables become placeholders
        state.prunable = prune.prunable(state.scanned, state.classified.base, state.read)
    return tree


def _rename_ctes(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    assert state.classified is not None
    rename_ctes(tree, state.classified, state.nonce, state.scanned.ctes if state.scanned else None)
    return tree


#: decisions per (policy set, table, subject, environment): a decision is a pure function of these
_DECISIONS: OrderedDict[tuple[Any, ...], tuple[weakref.ref[PolicySet], Table, TableDecision]] = OrderedDict()
_DECISIONS_LOCK = Lock()
_DECISIONS_SIZE = 4096


def decide_cached(policy_set: PolicySet, subject: Subject, environment: str | None, table: Table) -> TableDecision:
    """:func:`policyengine.decision.decide`, kept per policy set object, table, subject and environment.

    Keyed by the identity of the policy set and table and by the subject's value; an entry counts only
    if its policy set is this very object (held weakly, so a replaced set is not kept alive, and an id
    reused by a later set finds a dead reference) and its table this very table. Any other set, even
    one of the same version, decides afresh.
    """
    key = (id(policy_set), id(table), subject.roles, subject.name, tuple(sorted(subject.attributes.items())),
           environment)
    with _DECISIONS_LOCK:
        hit = _DECISIONS.get(key)
        if hit is not None and hit[0]() is policy_set and hit[1] is table:
            _DECISIONS.move_to_end(key)
            return hit[2]
    decision = decide(policy_set, subject, environment, table)
    with _DECISIONS_LOCK:
        _DECISIONS[key] = (weakref.ref(policy_set), table, decision)
        if len(_DECISIONS) > _DECISIONS_SIZE:
            _DECISIONS.popitem(last=False)
    return decision


def _wrap(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    assert state.classified is not None
    state.factory = WrapperFactory(state.nonce, state.policy_set.find_table, version=state.policy_set.version,
                                   udf_prefix=state.udf_prefix)

    def decide_table(table: Table) -> TableDecision:
        return decide_cached(state.policy_set, state.subject, state.environment, table)

    context = WrapContext(state.resolver.resolve, decide_table, state.factory, state.decisions,
                          state.scanned.columns if state.scanned else None)
    wrap_base_tables(tree, state.classified, context)
    return tree


Rule = Callable[[exp.Expression, RewriteState], exp.Expression]
RULES: tuple[Rule, ...] = (_gate, _name_results, _normalize, _classify, _rename_ctes, _wrap)


@dataclass(frozen=True)
class Rewritten:
    sql: str
    dialect: str
    nonce: str
    decisions: tuple[TableDecision, ...]
    #: (alias, table key) of every raw table read, wrappers and row-filter mapping tables alike
    reads: tuple[tuple[str, str], ...]
    #: at most this many rows, by the statement's own constant LIMIT; None when unbounded
    row_bound: int | None = None
    #: the columns (lower case) the wrappers list when the query names every column it reads; None when
    #: they list every visible column. A column left out cannot be read, so it needs no key.
    listed: frozenset[str] | None = None
    #: what the reader should be told (a row filter reading a principal attribute the reader lacks)
    notices: tuple[str, ...] = ()


def rewrite(sql: str, policy_set: PolicySet, subject: Subject, environment: str | None, *,
            read: str = "duckdb", write: str = "duckdb", resolver: TableResolver | None = None,
            nonce: str | None = None, udf_prefix: str | None = None) -> Rewritten:
    """Rewrite one query for ``subject`` in ``environment``; raises :class:`Refused` with a reason.

    ``udf_prefix`` (e.g. ``ANALYTICS.REVIEWS``; ``""`` for unqualified): keyed protections call the
    warehouse's secure UDFs of that schema instead of the session-variable form DuckDB uses.
    """
    state = RewriteState(policy_set, subject, environment, resolver or TableResolver(policy_set),
                         nonce or secrets.token_hex(6), udf_prefix, write, read, sql=sql)
    tree = parse_statement(sql, read)
    try:
        for rule in RULES:
            tree = rule(tree, state)
        # the tree is this rewrite's own and is dropped after: the generator need not copy it first
        bound = row_bound(tree)
        text = tree.sql(dialect=write, comments=False, copy=False)
        if state.factory is not None:
            if state.prunable and state.scanned is not None:
                state.factory.names = prune.column_names(state.scanned, text)
            text = state.factory.splice(text, write)
    except RecursionError:
        raise Refused("statement is nested too deeply to analyse", kind="unsupported") from None
    reads = tuple(state.factory.aliases) if state.factory else ()
    listed = state.factory.listed if state.factory else None
    decisions = tuple(state.decisions)
    return Rewritten(text, write, state.nonce, decisions, reads, bound, listed, notices=attribute_notices(decisions))
