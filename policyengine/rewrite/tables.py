"""Every table reference classified, CTEs renamed, and every base table replaced by its wrapper.

sqlglot's scopes tell which references name a CTE and which a table. Two guards make a
disagreement between sqlglot and DuckDB fail closed instead of reading raw data: identifiers are
compared case-insensitively, as DuckDB does; and every CTE is renamed to a per-rewrite nonce name,
so a reference that DuckDB would bind differently from sqlglot finds no such table and errors.
Any table reference left unclassified refuses the query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import traverse_scope

from policyengine.decision import Outcome, TableDecision
from policyengine.model import Table, name_key
from policyengine.rewrite.refusal import Refused
from policyengine.rewrite.templates import quoted
from policyengine.rewrite.wrapper import WrapperFactory

#: Table arguments that change what is read (time travel, hints, partitions): refused
REFUSED_ARGS = {
    "hints": "a table hint (WITH (...))", "system_time": "FOR SYSTEM_TIME", "version": "time travel (AS OF)",
    "format": "FILE_FORMAT", "pattern": "PATTERN", "when": "time travel (AT / BEFORE)", "only": "ONLY",
    "partition": "PARTITION (...)", "changes": "CHANGES (...)", "rows_from": "ROWS FROM (...)",
    "indexed": "INDEXED BY",
}


@dataclass
class Classified:
    base: list[exp.Table] = field(default_factory=list)
    cte_refs: list[tuple[exp.Table, exp.CTE]] = field(default_factory=list)
    functions: list[exp.Table] = field(default_factory=list)


def lowercase_names(root: exp.Expression, ctes: list[exp.CTE] | None = None) -> exp.Expression:
    """Table and CTE names compared as DuckDB compares them (case-insensitive, quoted or not).

    ``ctes``: the tree's CTEs in walk order, when a scan has listed them already.
    """
    for cte in root.find_all(exp.CTE) if ctes is None else ctes:
        alias = cte.args.get("alias")
        if alias is not None and alias.this is not None:
            alias.set("this", exp.to_identifier(alias.name.lower(), quoted=alias.this.quoted))
    return root


def unwrap_parenthesized_tables(tables: list[exp.Table]) -> None:
    """``FROM (reviews)``, ``FROM ((reviews)) AS r``: a table in parentheses is that table.

    sqlglot keeps the parentheses as a derived table around the name, which would put the wrapper in
    parentheses of its own (``FROM ((SELECT ...) AS reviews)``), a statement DuckDB's parser rejects.
    The parentheses are dropped and their alias or sample moves to the table; where both carry one,
    they stay and the statement is refused as before.
    """
    for table in tables:
        while True:
            paren = table.parent
            if not isinstance(paren, exp.Subquery) or paren.this is not table or table.args.get("joins"):
                break
            extra = {key: value for key, value in paren.args.items() if key != "this" and value}
            if set(extra) - {"alias", "sample"} or any(table.args.get(key) for key in extra):
                break
            if "alias" in extra and not isinstance(extra["alias"], exp.TableAlias):
                break
            for key, value in extra.items():
                table.set(key, value)
            paren.replace(table)


def classify(root: exp.Expression, tables: list[exp.Table] | None = None) -> Classified:
    """``tables``: every Table node of the tree, when a scan has listed them already."""
    try:
        scopes = traverse_scope(root)
    except (OptimizeError, RecursionError) as error:
        raise Refused("cannot work out which tables and columns the query's names refer to",
                      kind="unsupported") from None
    found = Classified()
    seen: set[int] = set()
    for scope in scopes:
        ctes = {name.lower(): source for name, source in scope.cte_sources.items()}
        for table in scope.tables:
            if id(table) in seen:
                continue
            seen.add(id(table))
            if not isinstance(table.this, exp.Identifier):
                found.functions.append(table)
            elif not table.args.get("db") and not table.args.get("catalog") and table.name.lower() in ctes:
                cte = ctes[table.name.lower()].expression.parent
                if not isinstance(cte, exp.CTE):
                    raise Refused(f"cannot analyse the reference to '{table.name}' (a recursive reference to a "
                                  "WITH RECURSIVE query is not supported)", kind="unsupported")
                found.cte_refs.append((table, cte))
            else:
                found.base.append(table)
    for table in root.find_all(exp.Table) if tables is None else tables:
        if id(table) not in seen:
            raise Refused(f"cannot analyse the table reference '{table.sql(dialect='duckdb')[:80]}'",
                          kind="unsupported")
    return found


def rename_ctes(root: exp.Expression, classified: Classified, nonce: str, ctes: list[exp.CTE] | None = None) -> None:
    if ctes is None:
        ctes = list(root.find_all(exp.CTE))
    names: dict[int, str] = {}
    for index, cte in enumerate(ctes):
        names[id(cte)] = f"__pe_{nonce}_cte{index}"
    for table, cte in classified.cte_refs:
        alias = table.alias or table.name
        table.set("this", quoted(names[id(cte)]))
        if not table.args.get("alias"):
            table.set("alias", exp.TableAlias(this=quoted(alias)))
    for cte in ctes:
        cte.args["alias"].set("this", quoted(names[id(cte)]))


@dataclass
class WrapContext:
    resolve: Callable[[tuple[str, ...]], Table | None]
    decide: Callable[[Table], TableDecision]
    factory: WrapperFactory
    decisions: list[TableDecision] = field(default_factory=list)
    #: every Column node of the tree, when a scan has listed them already
    columns: list[exp.Column] | None = None


def wrap_base_tables(root: exp.Expression, classified: Classified, context: WrapContext) -> None:
    planned: list[tuple[exp.Table, TableDecision]] = []
    for table in classified.base:
        parts = tuple(part.name for part in table.parts)
        contract = context.resolve(parts)
        written = ".".join(parts)
        if contract is None:
            raise Refused(f"unknown table '{written}': no contract describes it (or the name is ambiguous)")
        for arg in REFUSED_ARGS:
            if table.args.get(arg):
                raise Refused(f"{REFUSED_ARGS[arg]} on table '{written}' is not allowed", kind="unsupported")
        decision = context.decide(contract)
        if not decision.allowed:
            raise Refused(decision.refused or f"table '{written}' may not be read")
        planned.append((table, decision))
    _refuse_denied_columns(root, [decision for _, decision in planned], context.columns)
    for table, decision in planned:
        context.decisions.append(decision)
        # the table becomes a placeholder the wrapper's text replaces after generation; its alias
        # (the table's own name when it had none) and pivots, samples and laterals stay with it
        if table.args.get("alias") is None:
            written_name = table.this  # as the reader wrote the name (a fresh node: no deep copy)
            table.set("alias", exp.TableAlias(this=exp.Identifier(this=written_name.this,
                                                                  quoted=written_name.args.get("quoted", False))))
        table.set("this", quoted(context.factory.splice_point(decision)))
        table.set("db", None)
        table.set("catalog", None)


def _refuse_denied_columns(root: exp.Expression, decisions: list[TableDecision],
                           columns: list[exp.Column] | None = None) -> None:
    """Naming a denied column is refused with a reason, rather than left to a binder error.

    Checked on the reader's own SQL, before wrappers (whose row filters may read it) are added.
    A same-named column of another table is refused too: the safe side of an ambiguity.
    """
    denied = {c.column.key: (d.table_name, c.column.name) for d in decisions for c in d.columns
              if c.outcome is Outcome.DENIED}
    if not denied:
        return
    for column in root.find_all(exp.Column) if columns is None else columns:
        hit = denied.get(name_key(column.name))
        if hit:
            raise Refused(f"column {hit[0]}.{hit[1]} is denied to this role")
