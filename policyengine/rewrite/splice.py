"""The splice stage, the rewrite's last: the tree generated as SQL, each placeholder replaced by its wrapper.

This is the decisive step: the text it returns is the only SQL that reaches a database. It is
generated from the engine's own tree with comments dropped (never the reader's text), and each
wrapper's text, generated from the engine's own tree too, goes where its placeholder is, which
must occur exactly once or the statement is refused. Wrappers list only the columns the query
names where the classify stage found that safe (:mod:`policyengine.rewrite.prune`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from policyengine.rewrite import prune
from policyengine.rewrite.classify import Classified
from policyengine.rewrite.gate import Scanned
from policyengine.rewrite.statement import row_bound
from policyengine.rewrite.wrap import Wrapped


@dataclass(frozen=True)
class Spliced:
    """The statement that runs, and what the splice found out while writing it."""

    sql: str
    #: at most this many rows, by the statement's own constant LIMIT; None when unbounded
    row_bound: int | None
    #: (alias, table key) of every raw table read, wrappers and row-filter mapping tables alike
    reads: tuple[tuple[str, str], ...]
    #: the columns (lower case) the wrappers list; None when they list every visible column
    listed: frozenset[str] | None


def splice(tree: exp.Expression, scanned: Scanned, classified: Classified, wrapped: Wrapped, write: str) -> Spliced:
    """``tree`` written in dialect ``write`` with each of ``wrapped``'s placeholders replaced by its
    wrapper. The tree is this rewrite's own and is dropped after: it is generated without a copy,
    so it may not be used again.

    >>> import pathlib, tempfile, sqlglot
    >>> from policyengine import load_policy_set
    >>> from policyengine.decision import subject_for
    >>> from policyengine.rewrite.classify import classify
    >>> from policyengine.rewrite.gate import gate
    >>> from policyengine.rewrite.resolve import TableResolver
    >>> from policyengine.rewrite.wrap import wrap
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "roles.yaml").write_text("roles: {analyst: {clearance: internal}}")
    >>> (folder / "tables").mkdir()
    >>> _ = (folder / "tables" / "people.yaml").write_text(
    ...     "columns: [{name: id, type: INTEGER, sensitivity: public},"
    ...     " {name: email, type: STRING, sensitivity: confidential, protection: redact}]")
    >>> policies = load_policy_set(folder)
    >>> tree = sqlglot.parse_one("SELECT id FROM people LIMIT 5", read="duckdb")
    >>> scanned = gate(tree)
    >>> classified = classify(tree, scanned, "duckdb")
    >>> wrapped = wrap(tree, scanned, classified, policies, subject_for(policies, roles=["analyst"]), None,
    ...                TableResolver(policies), "n", None)
    >>> done = splice(tree, scanned, classified, wrapped, "duckdb")
    >>> done.sql
    'SELECT id FROM (SELECT "__pe_n_0"."id" AS "id" FROM "people" AS "__pe_n_0") AS people LIMIT 5'
    >>> done.row_bound, done.reads, "id" in done.listed, "email" in done.listed
    (5, (('__pe_n_0', 'people'),), True, False)
    """
    bound = row_bound(tree)
    text = tree.sql(dialect=write, comments=False, copy=False)
    factory = wrapped.factory
    if classified.prunable:
        factory.names = prune.column_names(scanned, text)
    text = factory.splice(text, write)
    return Spliced(text, bound, tuple(factory.aliases), factory.listed)
