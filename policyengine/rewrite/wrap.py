"""The wrap stage: every base table decided for the reader and replaced by a placeholder for its wrapper.

Each base table the classify stage found must resolve to exactly one contract, carry no argument
that changes what is read (time travel, hints, partitions), and be allowed to the reader; a column
the decision denies may not be named anywhere in the statement. Only then does each table become a
placeholder name that the splice stage replaces with the wrapper's text after generation; its alias
(the name it was written with, when it had none), pivots, samples and laterals stay with it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from sqlglot import exp

from policyengine.bounded_cache import BoundedCache
from policyengine.decision import Outcome, Subject, TableDecision, decide
from policyengine.model import PolicySet, Table, name_key
from policyengine.rewrite.classify import Classified
from policyengine.rewrite.gate import Scanned
from policyengine.rewrite.refusal import Refused
from policyengine.rewrite.resolve import TableResolver
from policyengine.rewrite.templates import quoted
from policyengine.rewrite.wrapper import WrapperFactory

#: Table arguments that change what is read (time travel, hints, partitions): refused
REFUSED_ARGS = {
    "hints": "a table hint (WITH (...))", "system_time": "FOR SYSTEM_TIME", "version": "time travel (AS OF)",
    "format": "FILE_FORMAT", "pattern": "PATTERN", "when": "time travel (AT / BEFORE)", "only": "ONLY",
    "partition": "PARTITION (...)", "changes": "CHANGES (...)", "rows_from": "ROWS FROM (...)",
    "indexed": "INDEXED BY",
}


@dataclass(frozen=True)
class Wrapped:
    """What the wrap stage decided: the factory holding each placeholder's decision, and the decisions
    in the order of the tables they wrap."""

    factory: WrapperFactory
    decisions: tuple[TableDecision, ...]


def wrap(tree: exp.Expression, scanned: Scanned, classified: Classified, policy_set: PolicySet, subject: Subject,
         environment: str | None, resolver: TableResolver, nonce: str, udf_prefix: str | None) -> Wrapped:
    """Decide each of ``classified``'s base tables for ``subject`` and replace it in ``tree`` by a
    placeholder (in place); refuses before changing anything if any table or named column may not be read.

    >>> import pathlib, tempfile, sqlglot
    >>> from policyengine import load_policy_set
    >>> from policyengine.decision import subject_for
    >>> from policyengine.rewrite.classify import classify
    >>> from policyengine.rewrite.gate import gate
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "roles.yaml").write_text("roles: {analyst: {clearance: internal}}")
    >>> (folder / "tables").mkdir()
    >>> _ = (folder / "tables" / "people.yaml").write_text(
    ...     "columns: [{name: id, type: INTEGER, sensitivity: public},"
    ...     " {name: ssn, type: STRING, sensitivity: restricted, protection: deny}]")
    >>> policies = load_policy_set(folder)
    >>> def wrapped(sql):
    ...     tree = sqlglot.parse_one(sql, read="duckdb")
    ...     scanned = gate(tree)
    ...     done = wrap(tree, scanned, classify(tree, scanned, "duckdb"), policies,
    ...                 subject_for(policies, roles=["analyst"]), None, TableResolver(policies), "n", None)
    ...     return tree.sql("duckdb"), [decision.table_name for decision in done.decisions]
    >>> wrapped("SELECT id FROM people")
    ('SELECT id FROM "__pe_splice_n_0" AS people', ['people'])
    >>> wrapped("SELECT ssn FROM people")
    Traceback (most recent call last):
    ...
    policyengine.rewrite.refusal.Refused: column people.ssn is denied to this role
    """
    factory = WrapperFactory(nonce, policy_set.find_table, version=policy_set.version, udf_prefix=udf_prefix)
    planned: list[tuple[exp.Table, TableDecision]] = []
    for table in classified.base:
        parts = tuple(part.name for part in table.parts)
        contract = resolver.resolve(parts)
        written = ".".join(parts)
        if contract is None:
            # PostgreSQL's "relation does not exist" (42P01) at the front door: the same answer for a
            # table that is not there and one no contract describes, so neither is told from the other
            raise Refused(f"unknown table '{written}': no contract describes it (or the name is ambiguous)",
                          kind="missing")
        for arg in REFUSED_ARGS:
            if table.args.get(arg):
                raise Refused(f"{REFUSED_ARGS[arg]} on table '{written}' is not allowed", kind="unsupported")
        decision = decide_cached(policy_set, subject, environment, contract)
        if not decision.allowed:
            raise Refused(decision.refused or f"table '{written}' may not be read")
        planned.append((table, decision))
    _refuse_denied_columns([decision for _, decision in planned], scanned.columns)
    for table, decision in planned:
        # the table becomes a placeholder the wrapper's text replaces after generation; its alias
        # (the table's own name when it had none) and pivots, samples and laterals stay with it
        if table.args.get("alias") is None:
            written_name = table.this  # as the reader wrote the name (a fresh node: no deep copy)
            table.set("alias", exp.TableAlias(this=exp.Identifier(this=written_name.this,
                                                                  quoted=written_name.args.get("quoted", False))))
        table.set("this", quoted(factory.splice_point(decision)))
        table.set("db", None)
        table.set("catalog", None)
    return Wrapped(factory, tuple(decision for _, decision in planned))


def _refuse_denied_columns(decisions: list[TableDecision], columns: list[exp.Column]) -> None:
    """Naming a denied column is refused with a reason, rather than left to a binder error.

    Checked on the reader's own columns (the gate's list), before wrappers (whose row filters may read
    it) are added. A same-named column of another table is refused too: the safe side of an ambiguity.
    """
    denied = {c.column.key: (d.table_name, c.column.name) for d in decisions for c in d.columns
              if c.outcome is Outcome.DENIED}
    if not denied:
        return
    for column in columns:
        hit = denied.get(name_key(column.name))
        if hit:
            raise Refused(f"column {hit[0]}.{hit[1]} is denied to this role")


#: decisions per (policy set, table, subject, environment), each with the policy set (held weakly) and
#: table it was made for: a decision is a pure function of these
_DECISIONS: BoundedCache[tuple[object, ...], tuple[weakref.ref[PolicySet], Table, TableDecision]] = BoundedCache(4096)


def decide_cached(policy_set: PolicySet, subject: Subject, environment: str | None, table: Table) -> TableDecision:
    """:func:`policyengine.decision.decide`, kept per policy set object, table, subject and environment.

    Keyed by the identity of the policy set and table and by the subject's value; an entry counts only
    if its policy set is this very object (held weakly, so a replaced set is not kept alive, and an id
    reused by a later set finds a dead reference) and its table this very table. Any other set, even
    one of the same version, decides afresh.
    """
    key = (id(policy_set), id(table), subject.roles, subject.name, tuple(sorted(subject.attributes.items())),
           environment)
    hit = _DECISIONS.get(key)
    if hit is not None and hit[0]() is policy_set and hit[1] is table:
        return hit[2]
    decision = decide(policy_set, subject, environment, table)
    _DECISIONS.put(key, (weakref.ref(policy_set), table, decision))
    return decision
