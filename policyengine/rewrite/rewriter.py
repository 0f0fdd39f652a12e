"""The rewrite: the reader's SQL in, SQL that can only see what the decision allows out.

Like sqlglot's optimizer, the rewrite is an ordered tuple of rules (:data:`RULES`), each a stage
function in a module named for it, taking the tree and the arguments it names. A rule returns the
tree, or a finding (what its stage worked out) that later rules name as an argument: the order a
rule needs is checked when this module is imported. The last rule, the splice, writes the only SQL
that reaches a database: generated from the engine's own tree, with comments dropped, never the
reader's text.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from policyengine.decision import Subject, TableDecision
from policyengine.model import PolicySet
from policyengine.rewrite.classify import classify
from policyengine.rewrite.context import attribute_notices
from policyengine.rewrite.gate import gate
from policyengine.rewrite.name_results import name_results
from policyengine.rewrite.normalize import normalize
from policyengine.rewrite.postgres_constants import postgres_constants
from policyengine.rewrite.postgres_result_types import postgres_result_types
from policyengine.rewrite.postgres_semantics import postgres_semantics
from policyengine.rewrite.postgres_zones import postgres_zones
from policyengine.rewrite.refusal import Refused
from policyengine.rewrite.rename_ctes import rename_ctes
from policyengine.rewrite.resolve import TableResolver
from policyengine.rewrite.splice import Spliced, splice
from policyengine.rewrite.statement import parse_statement
from policyengine.rewrite.wrap import Wrapped, wrap


@dataclass(frozen=True)
class Rule:
    """One step of the rewrite: ``run(tree, <the arguments its signature names>)``.

    With ``gives`` None, ``run`` returns the tree (changed in place or replaced); otherwise it returns
    a finding that later rules receive as the argument named ``gives``.
    """

    name: str
    run: Callable[..., Any]
    gives: str | None = None
    #: the arguments ``run`` takes after the tree, by name: rewrite inputs or earlier rules' findings
    needs: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "needs", tuple(inspect.signature(self.run).parameters)[1:])


#: what :func:`rewrite` gives every rule that names it
INPUTS = ("sql", "read", "write", "policy_set", "subject", "environment", "resolver", "nonce", "udf_prefix",
          "time_zone")

RULES: tuple[Rule, ...] = (
    Rule("gate", gate, gives="scanned"),
    Rule("name_results", name_results),
    # transpile first, then protect: a statement read as PostgreSQL keeps PostgreSQL's meaning on DuckDB
    # (named before, so that names are the reader's; the stages after it are unchanged)
    # the result columns' PostgreSQL types DuckDB's cannot say (varchar), from the tree as written
    Rule("postgres_result_types", postgres_result_types, gives="result_types"),
    Rule("postgres_semantics", postgres_semantics),
    Rule("postgres_zones", postgres_zones),
    Rule("postgres_constants", postgres_constants, gives="preflight"),
    Rule("normalize", normalize),
    Rule("classify", classify, gives="classified"),
    Rule("rename_ctes", rename_ctes),
    Rule("wrap", wrap, gives="wrapped"),
    Rule("splice", splice, gives="spliced"),
)


def _check_order(rules: tuple[Rule, ...]) -> None:
    """Every argument a rule names is an input or an earlier rule's finding, and the last rule splices:
    a misordered tuple fails at import, not on some query."""
    known = set(INPUTS)
    for rule in rules:
        missing = [name for name in rule.needs if name not in known]
        if missing:
            raise TypeError(f"rewrite rule {rule.name} needs {', '.join(missing)}, which no earlier rule gives")
        if rule.gives is not None:
            known.add(rule.gives)
    if not rules or rules[-1].gives != "spliced":
        raise TypeError("the rewrite's last rule must be the splice")


_check_order(RULES)


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
    #: per result column, PostgreSQL's type where DuckDB's result cannot say it ("varchar", "varchar[]"),
    #: else None; empty when there is none (postgres_result_types.py)
    result_types: tuple[str | None, ...] = ()
    #: constant expressions PostgreSQL would evaluate while planning, as one SELECT the backend runs
    #: first so that their errors are raised even when no row reaches them (postgres_constants.py)
    preflight: tuple[str, ...] | None = None


def rewrite(sql: str, policy_set: PolicySet, subject: Subject, environment: str | None, *,
            read: str = "duckdb", write: str = "duckdb", resolver: TableResolver | None = None,
            nonce: str | None = None, udf_prefix: str | None = None, time_zone: str = "UTC") -> Rewritten:
    """Rewrite one query for ``subject`` in ``environment``; raises :class:`Refused` with a reason.

    ``udf_prefix`` (e.g. ``ANALYTICS.REVIEWS``; ``""`` for unqualified): keyed protections call the
    warehouse's secure UDFs of that schema instead of the session-variable form DuckDB uses.
    ``time_zone`` (an IANA name): the front door session's TimeZone, in which PostgreSQL's local dates
    and times are computed (:mod:`policyengine.rewrite.postgres_zones`).
    """
    values: dict[str, Any] = {
        "sql": sql, "read": read, "write": write, "policy_set": policy_set, "subject": subject,
        "environment": environment, "resolver": resolver or TableResolver(policy_set),
        "nonce": nonce or secrets.token_hex(6), "udf_prefix": udf_prefix, "time_zone": time_zone,
    }
    tree = parse_statement(sql, read)
    try:
        for rule in RULES:
            found = rule.run(tree, *[values[name] for name in rule.needs])
            if rule.gives is None:
                tree = found
            else:
                values[rule.gives] = found
    except RecursionError:
        raise Refused("statement is nested too deeply to analyse", kind="unsupported") from None
    spliced: Spliced = values["spliced"]
    wrapped: Wrapped = values["wrapped"]
    decisions = wrapped.decisions
    return Rewritten(spliced.sql, write, values["nonce"], decisions, spliced.reads, spliced.row_bound,
                     spliced.listed, notices=attribute_notices(decisions),
                     result_types=values["result_types"], preflight=values["preflight"])
