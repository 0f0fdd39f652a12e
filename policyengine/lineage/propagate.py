"""Sensitivity propagation: what a derived column inherits from the columns it comes from.

Snowflake's tag propagation, for this project's contracts. The rules (``docs/lineage.md`` has them
with examples):

1. **Sensitivity**: the highest sensitivity among the column's sources. A column with no source
   column (a literal, ``COUNT(*)``) gets the lowest level. A column whose sources cannot be
   determined is treated as reading every column of every table the statement reads (fail closed).
2. **Protection**, never weaker than any source's. Protection kinds are ranked by what an uncleared
   reader still learns, the one order of :mod:`policyengine.protections`: ``none`` (the value) <
   ``custom`` < ``partial``, ``email`` < ``generalize``, ``round`` (part of it) < ``encrypt`` <
   ``tokenize`` < ``hash`` (a keyed stand-in: equality, joins) < ``redact`` < ``nullify`` (nothing)
   < ``deny`` (not even the column).

   - A column that carries one source column's value unchanged (a reference, possibly renamed,
     ``MIN``/``MAX``/``ANY_VALUE``, a cast) keeps that column's protection, parameters and all,
     where it fits the output type: joins on a hashed id still match across the two tables.
   - A computed column takes the strongest protection among its sources, by the ranks above:
     ``deny``, ``nullify`` and ``redact`` stay; ``hash``/``tokenize``/``encrypt`` stay where they fit
     the output type, else ``redact``; the partial kinds become ``redact``, because a partial view of
     a computed value is not a partial view of its source (``right(Phone, 4)`` under
     ``partial(show_first: 2)`` would show the last four digits).
   - A custom mask is kept only for a value-preserving column and only when its expression reads
     nothing but ``val``: its other columns belong to the source's row, not the derived one.
   - ``none`` stays ``none`` only where no role would read the column uncleared (what validation
     requires of a sensitive column); otherwise ``redact``.
3. An existing contract's choices are kept where they are at least as strict: a higher sensitivity,
   a stronger (or equally strong) protection that fits the type.

Pure: the caller gives the lineage, the source contracts and the roles; nothing is read or written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from policyengine.decision.grant import grant
from policyengine.lineage.analyse import OutputColumn, SourceColumn, StatementLineage, Transform
from policyengine.model.checks import protection_problem
from policyengine.model.expressions import ExpressionError, outer_columns, parse_policy_expression
from policyengine.model.policyset import Column, Role, Settings, Table, name_key
from policyengine.model.protections import Protection, Redact, normalize_protection
from policyengine.model.types import ColumnType
from policyengine.protections import KINDS, NAMES

#: what an uncleared reader still learns, least protection first: each kind's rank (see the module docstring)
STRENGTH: dict[str, int] = {name: kind.rank for name, kind in KINDS.items()}
#: a total order for choosing among equally strong kinds (by rank, then name): the later one is chosen
ORDER: tuple[str, ...] = NAMES

_PROTECTION: TypeAdapter[Any] = TypeAdapter(Protection)


def make_protection(value: Any) -> Any:
    """A protection model from what a contract writes (``"hash"``, ``{kind: partial, show_last: 4}``)."""
    return _PROTECTION.validate_python(normalize_protection(value))


def protection_value(protection: Any) -> Any:
    """How a contract writes the protection: the bare kind, or the kind and the parameters given."""
    params = {name: value for name, value in protection.model_dump(exclude={"kind"}).items()
              if value is not None and value != type(protection).model_fields[name].default}
    return {"kind": protection.kind, **params} if params else protection.kind


def stronger(a: Any, b: Any) -> Any:
    """The stronger of two protections (ties: the later kind of :data:`ORDER`; the same kind: ``a``)."""
    key_a, key_b = (STRENGTH[a.kind], ORDER.index(a.kind)), (STRENGTH[b.kind], ORDER.index(b.kind))
    return b if key_b > key_a else a


@dataclass(frozen=True)
class Propagated:
    """What a derived column inherits, and why (one sentence a policy author can check)."""

    name: str
    type: ColumnType
    sensitivity: str
    protection: Any
    #: the source that sets the sensitivity (for ``originatingSource``); None without a source column
    origin: SourceColumn | None
    #: the columns the sensitivity was taken over: the sources, or (fail closed) every column read
    basis: tuple[SourceColumn, ...]
    why: str
    determined: bool = True


class PropagationError(ValueError):
    """A derived contract that cannot be made: a table read with no contract, a type not inferred."""


ColumnLookup = Callable[[str], Table | None]


def every_reader_cleared(settings: Settings, roles: Mapping[str, Role], level: str) -> bool:
    """Whether every role, in every environment where it has access, is cleared for ``level``: then a
    column at that level needs no protection (validation's rule for sensitive columns)."""
    if level == settings.lowest_level:
        return True
    for key in roles:
        for env in settings.environments:
            held = grant(settings, roles, [key], env)
            if held.level is not None and settings.rank(held.level) < settings.rank(level):
                return False
    return True


def propagate(statement: StatementLineage, tables: ColumnLookup, settings: Settings, roles: Mapping[str, Role],
              *, existing: Table | None = None, types: Mapping[str, ColumnType] | None = None) -> list[Propagated]:
    """Each output column's sensitivity, protection and type (see the module docstring).

    ``tables`` finds a source table's contract by name; ``existing`` is the derived table's current
    contract, whose stricter choices are kept; ``types`` gives a column's type where sqlglot infers
    none (the existing contract's, or the caller's). Raises :class:`PropagationError` when a table
    read has no contract (its sensitivity is unknown, so nothing can be inherited) or a column's
    type is not known.
    """
    if statement.unknown_reads:
        raise PropagationError(
            f"reads {', '.join(statement.unknown_reads)}, which has no contract: its sensitivity is not known, "
            "so the derived columns cannot inherit it (write its contract first)")
    read_tables = [tables(name) for name in statement.reads]
    missing = [name for name, table in zip(statement.reads, read_tables) if table is None]
    if missing:
        raise PropagationError(f"reads {', '.join(missing)}, which has no contract")
    everything = tuple(SourceColumn(t.name, c.name) for t in read_tables if t is not None for c in t.columns)
    seen: set[str] = set()
    out = []
    for column in statement.columns:
        if name_key(column.name) in seen:
            raise PropagationError(f"the output names column '{column.name}' twice: name each column once")
        seen.add(name_key(column.name))
        current = existing.column(column.name) if existing is not None else None
        column_type = column.type or (types or {}).get(name_key(column.name)) or (
            current.type if current is not None else None)
        if column_type is None:
            inferred = f" (sqlglot infers {column.inferred})" if column.inferred else ""
            raise PropagationError(f"cannot tell the type of column '{column.name}'{inferred}: CAST it in the SQL "
                                   "to the type the table should have")
        out.append(_one(column, column_type, everything, tables, settings, roles, current))
    return out


@dataclass(frozen=True)
class Implied:
    """The sensitivity an output column's lineage implies, as ``policyengine lineage`` shows it."""

    level: str | None  # None: some source has no contract, so the level is not known
    origin: SourceColumn | None
    note: str


def implied_level(column: OutputColumn, statement: StatementLineage, tables: ColumnLookup,
                  settings: Settings) -> Implied:
    """The highest sensitivity among the column's sources (fail closed: among every column read when
    the sources are unknown; the lowest level when there is no source column)."""
    if column.determined:
        basis = list(column.sources)
        note = ""
    else:
        basis = [SourceColumn(t.name, c.name) for name in statement.reads if (t := tables(name)) is not None
                 for c in t.columns]
        note = (f"sources unknown ({column.unknown}): as sensitive as every column read"
                if not statement.unknown_reads else f"sources unknown ({column.unknown})")
    if not column.determined and statement.unknown_reads:
        return Implied(None, None, f"{note}; {', '.join(statement.unknown_reads)} has no contract")
    if not basis:
        return Implied(settings.lowest_level, None, note or "no source column")
    found = []
    for source in basis:
        table = tables(source.table)
        if table is None:
            return Implied(None, None, "; ".join(filter(None, [note, f"{source.table} has no contract"])))
        col = table.column(source.column)
        if col is None:
            return Implied(None, None, "; ".join(filter(None, [note, f"{source} has no contract"])))
        found.append((source, col))
    origin, top = max(found, key=lambda pair: settings.rank(pair[1].sensitivity))
    return Implied(top.sensitivity, origin, note)


def _lookup(source: SourceColumn, tables: ColumnLookup) -> Column:
    table = tables(source.table)
    found = table.column(source.column) if table is not None else None
    if found is None:
        raise PropagationError(f"{source} has no contract")
    return found


def _one(column: OutputColumn, column_type: ColumnType, everything: tuple[SourceColumn, ...], tables: ColumnLookup,
         settings: Settings, roles: Mapping[str, Role], current: Column | None) -> Propagated:
    if column.determined:
        basis = column.sources
    else:
        basis = everything
    sources = [(source, _lookup(source, tables)) for source in basis]
    if not sources:
        level, origin = settings.lowest_level, None
        why = "no source column (a constant or a row count): the lowest level"
    else:
        origin, top = max(sources, key=lambda pair: settings.rank(pair[1].sensitivity))
        level = top.sensitivity
        if not column.determined:
            why = (f"sources unknown ({column.unknown}): as sensitive as the most sensitive column the statement "
                   f"reads, {origin}")
        elif len(sources) == 1:
            why = f"from {origin}"
        else:
            why = f"highest of {len(sources)} sources: {origin}"
    protection, how = _protection(column, column_type, [c for _, c in sources], level, settings, roles)
    why = f"{why}; {how}"
    if current is not None:
        if settings.rank(current.sensitivity) > settings.rank(level):
            level = current.sensitivity
            why += f"; the contract's higher level {level} kept"
        if (STRENGTH[current.protection.kind] >= STRENGTH[protection.kind]
                and protection_problem(current.protection, column_type) is None
                and protection_value(current.protection) != protection_value(protection)):
            protection = current.protection
            why += f"; the contract's protection {_describe(protection)} kept"
    if protection.kind == "none" and not every_reader_cleared(settings, roles, level):
        protection = Redact(kind="redact")
        why += "; redact, as some role would read it uncleared"
    return Propagated(column.name, column_type, level, protection, origin, basis, why, column.determined)


def _describe(protection: Any) -> str:
    value = protection_value(protection)
    if isinstance(value, str):
        return value
    return value["kind"] + "(" + ", ".join(f"{k}={v}" for k, v in value.items() if k != "kind") + ")"


def _protection(column: OutputColumn, column_type: ColumnType, sources: Sequence[Column], level: str,
                settings: Settings, roles: Mapping[str, Role]) -> tuple[Any, str]:
    """The protection for the derived column and a phrase saying why."""
    none = make_protection("none")
    if not sources:
        return none, "no protection"
    strongest = sources[0].protection
    for source in sources[1:]:
        strongest = stronger(strongest, source.protection)
    kind = strongest.kind
    if column.preserves_value and column.transform is not Transform.UNKNOWN:
        source = sources[0]
        if kind == "none":
            return none, "no protection, as the source"
        if _copyable(source, column_type):
            return source.protection, f"the same value: the source's protection {_describe(source.protection)}"
    if kind == "none":
        return none, "no protection, as the sources"
    if STRENGTH[kind] >= STRENGTH["redact"]:  # nothing of the value: kept as it is
        if kind == "redact" and protection_problem(strongest, column_type) is not None:
            return make_protection("redact"), "redact, as its source"
        return strongest, f"{_describe(strongest)}, the strongest of its sources'"
    if KINDS[kind].keyed:  # a keyed stand-in: kept where it fits the output type
        if protection_problem(strongest, column_type) is None:
            return strongest, f"{kind}, the strongest of its sources'"
        return make_protection("redact"), (f"redact: {kind} (its sources' strongest) does not fit "
                                           f"{column_type.family.value} values")
    return make_protection("redact"), (f"redact: a computed value cannot keep {kind} (the strongest of its "
                                       "sources'), which shows part of the source's value")


def _copyable(source: Column, column_type: ColumnType) -> bool:
    """Whether the source's protection can be kept as it is on the derived column."""
    protection = source.protection
    if source.type.family is not column_type.family and protection.kind not in ("redact", "nullify", "deny"):
        return False
    if protection.kind == "custom":
        try:
            tree = parse_policy_expression(protection.expr, allow_subqueries=False)
        except ExpressionError:
            return False
        if any(name_key(c.name) != "val" or c.table for c in outer_columns(tree)):
            return False
    return protection_problem(protection, column_type) is None
