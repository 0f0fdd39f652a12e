"""The rewrite: the reader's SQL in, SQL that can only see what the decision allows out.

Like sqlglot's optimizer, the rewrite is an ordered tuple of small rules (:data:`RULES`), each a
function of the syntax tree and a context. Only SQL generated from the final tree, with comments
dropped, ever reaches a database: never the reader's text.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Callable

from sqlglot import exp

from policyengine.decision import Subject, TableDecision, decide
from policyengine.model import PolicySet, Table
from policyengine.rewrite.functions import refuse_denied_functions, refuse_unknown_functions
from policyengine.rewrite.refusal import Refused
from policyengine.rewrite.resolve import TableResolver
from policyengine.rewrite.statement import parse_statement, refuse_forbidden_nodes
from policyengine.rewrite.tables import (
    Classified,
    WrapContext,
    classify,
    lowercase_names,
    rename_ctes,
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
    classified: Classified | None = None
    decisions: list[TableDecision] = field(default_factory=list)
    factory: WrapperFactory | None = None


def _gate(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    refuse_forbidden_nodes(tree)
    refuse_denied_functions(tree)
    if state.write not in CROSS_CHECKED:
        refuse_unknown_functions(tree)
    return tree


def _normalize(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    return lowercase_names(tree)


def _classify(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    state.classified = classify(tree)
    return tree


def _rename_ctes(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    assert state.classified is not None
    rename_ctes(tree, state.classified, state.nonce)
    return tree


def _wrap(tree: exp.Expression, state: RewriteState) -> exp.Expression:
    assert state.classified is not None
    state.factory = WrapperFactory(state.nonce, state.policy_set.find_table, version=state.policy_set.version,
                                   udf_prefix=state.udf_prefix)

    def decide_table(table: Table) -> TableDecision:
        return decide(state.policy_set, state.subject, state.environment, table)

    context = WrapContext(state.resolver.resolve, decide_table, state.factory, state.decisions)
    wrap_base_tables(tree, state.classified, context)
    return tree


Rule = Callable[[exp.Expression, RewriteState], exp.Expression]
RULES: tuple[Rule, ...] = (_gate, _normalize, _classify, _rename_ctes, _wrap)


@dataclass(frozen=True)
class Rewritten:
    sql: str
    dialect: str
    nonce: str
    decisions: tuple[TableDecision, ...]
    #: (alias, table key) of every raw table read, wrappers and row-filter mapping tables alike
    reads: tuple[tuple[str, str], ...]


def rewrite(sql: str, policy_set: PolicySet, subject: Subject, environment: str | None, *,
            read: str = "duckdb", write: str = "duckdb", resolver: TableResolver | None = None,
            nonce: str | None = None, udf_prefix: str | None = None) -> Rewritten:
    """Rewrite one query for ``subject`` in ``environment``; raises :class:`Refused` with a reason.

    ``udf_prefix`` (e.g. ``ANALYTICS.REVIEWS``; ``""`` for unqualified): keyed protections call the
    warehouse's secure UDFs of that schema instead of the session-variable form DuckDB uses.
    """
    state = RewriteState(policy_set, subject, environment, resolver or TableResolver(policy_set),
                         nonce or secrets.token_hex(6), udf_prefix, write)
    tree = parse_statement(sql, read)
    try:
        for rule in RULES:
            tree = rule(tree, state)
        text = tree.sql(dialect=write, comments=False)
        if state.factory is not None:
            text = state.factory.splice(text, write)
    except RecursionError:
        raise Refused("statement is nested too deeply to analyse", kind="unsupported") from None
    reads = tuple(state.factory.aliases) if state.factory else ()
    return Rewritten(text, write, state.nonce, tuple(state.decisions), reads)
