"""The oracle of the policy fuzzer: every decision of a policy set as one matrix, and the rules a
mutated set's matrix must keep against the original's.

A mutation of a policy set is judged by what it does to decisions, not by what it does to files:
the matrix holds, for every subject (each principal, and each role on its own) in every environment,
for every table, whether the table is refused, what each column shows (raw, protected with which
protection and parameters, denied), and which rows (the row filter's scope and the SQL of its rules).
Comparing two matrices cell by cell shows every decision a mutation changed, and in which direction.

**Permissiveness** is ordered explicitly, so that "never more permissive" is checkable:

- a column cell: refused table (0) < denied, or not in the contract (1) < protected (2) < raw (3);
  between two protections, by how much of the value they let through (:data:`KIND_STRICTNESS`,
  then the parameters of one kind: ``partial`` showing fewer characters, ``generalize`` to a coarser
  unit, bucket or prefix is stricter); two protections neither of which is clearly stricter are
  *incomparable*, which a mutation declared to restrict may not produce;
- the row cell: refused table (0) < no rows (1) < the rows of some rules (2) < all rows (3); between
  two rule sets (the rows shown are those for which any rule is true), a subset is stricter; a change
  of the principal's attributes (read by ``PRINCIPAL_ATTRIBUTE``) is incomparable;
- the table cell: refused (0) < readable (1).

A subject, environment or table that exists on one side only is refused on the other: that is
what the decision answers for an unknown principal, role, environment or table (no contract: refused).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policyengine.decision import Outcome, RowScope, decide, subject_for
from policyengine.model import PolicySet
from policyengine.model.problems import Problem
from policyengine.protections import KINDS

TABLE_CELL = "@table"
ROWS_CELL = "@rows"

#: (subject id, environment, table key, cell): the cell is a column key, ``@table`` or ``@rows``
CellKey = tuple[str, str, str, str]

#: how much of a value each protection lets through, most (lowest) to least: each kind's rank, the
#: one order of :mod:`policyengine.protections` (which says why); equal numbers are incomparable
KIND_STRICTNESS: Mapping[str, int] = {name: kind.rank for name, kind in KINDS.items()}


@dataclass(frozen=True)
class Cell:
    """One decision: ``rank`` orders permissiveness (higher shows more), ``kind`` names the answer,
    ``detail`` holds what tells two answers of one kind apart (a protection's parameters, the rules)."""

    rank: int
    kind: str
    detail: Any = None

    def show(self) -> str:
        if self.kind == "protected":
            kind, params = self.detail
            return kind + ("(" + ", ".join(f"{k}={v!r}" for k, v in params) + ")" if params else "")
        if self.kind == "rules":
            rules, attributes = self.detail
            text = " OR ".join(f"({r})" for r in sorted(rules))
            return text + (f" with {dict(attributes)}" if attributes else "")
        return self.kind


REFUSED = Cell(0, "refused")
ABSENT = Cell(1, "absent")  # a column the contract does not list: it cannot be read


@dataclass(frozen=True)
class Matrix:
    """Every decision of one policy set."""

    cells: Mapping[CellKey, Cell]
    subjects: frozenset[str]
    environments: frozenset[str]
    #: table key -> the file its contract is in
    tables: Mapping[str, str]

    def get(self, key: CellKey) -> Cell:
        """The cell, or what the decision answers where this set has no such subject, environment,
        table or column (refused; a column not in the contract of a readable table cannot be read)."""
        found = self.cells.get(key)
        if found is not None:
            return found
        subject, env, table, cell = key
        if subject not in self.subjects or env not in self.environments or table not in self.tables:
            return REFUSED
        if cell in (TABLE_CELL, ROWS_CELL):  # pragma: no cover - always computed for a known table
            return REFUSED
        return ABSENT if self.cells[(subject, env, table, TABLE_CELL)].rank > 0 else REFUSED


def _protection_detail(protection: Any) -> tuple[str, tuple[tuple[str, Any], ...]]:
    params = protection.model_dump(mode="json")
    kind = params.pop("kind")
    return kind, tuple(sorted((k, v) for k, v in params.items() if v is not None))


def _attributes(attributes: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), v if isinstance(v, (str, int, float, bool)) or v is None else repr(v))
                        for k, v in attributes.items()))


def subjects_of(policy_set: PolicySet) -> list[tuple[str, Any]]:
    """Every principal, and every role on its own (``--role``), with its subject id."""
    out = [(f"principal:{key}", subject_for(policy_set, principal=principal.name))
           for key, principal in policy_set.principals.items()]
    out += [(f"role:{key}", subject_for(policy_set, roles=[key])) for key in policy_set.roles]
    return out


def decision_matrix(policy_set: PolicySet) -> Matrix:
    """The full decision matrix of ``policy_set``, through :func:`policyengine.decision.decide`."""
    cells: dict[CellKey, Cell] = {}
    subjects = subjects_of(policy_set)
    for subject_id, subject in subjects:
        for env in policy_set.settings.environments:
            for table_key, table in policy_set.tables.items():
                decision = decide(policy_set, subject, env, table)
                base = (subject_id, env, table_key)
                if not decision.allowed:
                    cells[(*base, TABLE_CELL)] = REFUSED
                    cells[(*base, ROWS_CELL)] = REFUSED
                    for column in table.columns:
                        cells[(*base, column.key)] = REFUSED
                    continue
                cells[(*base, TABLE_CELL)] = Cell(1, "readable")
                for column in decision.columns:
                    if column.outcome is Outcome.RAW:
                        cell = Cell(3, "raw")
                    elif column.outcome is Outcome.PROTECTED and column.protection is not None:
                        cell = Cell(2, "protected", _protection_detail(column.protection))
                    else:
                        cell = Cell(1, "denied")
                    cells[(*base, column.column.key)] = cell
                rows = decision.rows
                if rows.scope is RowScope.ALL:
                    cells[(*base, ROWS_CELL)] = Cell(3, "all")
                elif rows.scope is RowScope.NONE:
                    cells[(*base, ROWS_CELL)] = Cell(1, "none")
                else:
                    where = frozenset(rule.where_sql for rule in rows.rules)
                    attributes = _attributes(subject.attributes) if subject.name is not None else ()
                    cells[(*base, ROWS_CELL)] = Cell(2, "rules", (where, attributes))
    return Matrix(cells, frozenset(s for s, _ in subjects), frozenset(policy_set.settings.environments),
                  {key: table.source for key, table in policy_set.tables.items()})


# --- comparing two cells ---------------------------------------------------------------------------

def _compare_params(kind: str, old: dict[str, Any], new: dict[str, Any]) -> int | None:
    """Two protections of one kind: -1 the new one shows less, 1 more, 0 as much, None incomparable
    (each kind's own rule, in its module of :mod:`policyengine.protections`)."""
    if old == new:
        return 0
    rule = KINDS[kind].compare if kind in KINDS else None
    return rule(old, new) if rule is not None else None


def compare(old: Cell, new: Cell) -> int | None:
    """-1: ``new`` shows less than ``old``; 1: more; 0: as much (possibly differently); None: neither
    is clearly more permissive (treated as possibly more permissive where that is not allowed)."""
    if old == new:
        return 0
    if old.rank != new.rank:
        return -1 if new.rank < old.rank else 1
    if old.kind == "protected" and new.kind == "protected":
        (old_kind, old_params), (new_kind, new_params) = old.detail, new.detail
        if old_kind != new_kind:
            a, b = KIND_STRICTNESS.get(old_kind, 0), KIND_STRICTNESS.get(new_kind, 0)
            return None if a == b else (-1 if b > a else 1)
        return _compare_params(old_kind, dict(old_params), dict(new_params))
    if old.kind == "rules" and new.kind == "rules":
        (old_rules, old_attributes), (new_rules, new_attributes) = old.detail, new.detail
        if old_attributes != new_attributes:
            return None
        if new_rules <= old_rules:
            return -1 if new_rules < old_rules else 0
        if new_rules >= old_rules:
            return 1
        return None
    return 0  # one rank, two kinds that show as much (denied and not in the contract)


# --- what a mutation says it changes --------------------------------------------------------------

class Direction(str, enum.Enum):
    """How the cells a mutation touches may change."""

    RESTRICT = "restrict"  # never more permissive (equal or less)
    LOOSEN = "loosen"  # never less permissive (the files grant more, on purpose)
    ANY = "any"  # any change (text-level corruption of a file: only its own cells)
    RECAST = "recast"  # a column's protection replaced: non-raw cells take the new kind; raw stays raw


@dataclass(frozen=True)
class Scope:
    """Cells a mutation may change, and how. ``None`` in a field means every value."""

    direction: Direction
    subjects: frozenset[str] | None = None
    environments: frozenset[str] | None = None
    tables: frozenset[str] | None = None
    #: files: covers the tables whose contract is in one of them, in either set
    files: frozenset[str] | None = None
    #: column keys, ``@table``, ``@rows``
    cells: frozenset[str] | None = None
    #: RECAST: the protection kinds (``deny`` for denied) the touched cells may take
    kinds: frozenset[str] | None = None

    def covers(self, key: CellKey, sources: frozenset[str]) -> bool:
        subject, env, table, cell = key
        return ((self.subjects is None or subject in self.subjects)
                and (self.environments is None or env in self.environments)
                and (self.tables is None or table in self.tables)
                and (self.files is None or bool(sources & self.files))
                and (self.cells is None or cell in self.cells))

    def permits(self, old: Cell, new: Cell) -> bool:
        order = compare(old, new)
        if self.direction is Direction.ANY:
            return True
        if self.direction is Direction.RESTRICT:
            return order in (-1, 0)
        if self.direction is Direction.LOOSEN:
            return order in (0, 1)
        # RECAST: only what an uncleared reader sees changes, and only to the new protection
        if old.kind not in ("protected", "denied") or new.kind not in ("protected", "denied"):
            return False
        taken = "deny" if new.kind == "denied" else new.detail[0]
        return self.kinds is None or taken in self.kinds

    def describe(self) -> str:
        parts = [self.direction.value]
        for name in ("subjects", "environments", "tables", "files", "cells", "kinds"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={','.join(sorted(value)) or '-'}")
        return " ".join(parts)


def nothing_changes() -> tuple[Scope, ...]:
    """The scope of a neutral mutation: no cell may change."""
    return ()


@dataclass(frozen=True)
class CellChange:
    """A cell that changed in a way no scope of the mutation allows."""

    oracle: str  # changed-outside-scope | more-permissive | wrong-direction
    key: CellKey
    old: Cell
    new: Cell

    def __str__(self) -> str:
        subject, env, table, cell = self.key
        where = f"{subject} in {env}: {table}" + ("" if cell == TABLE_CELL else f".{cell}" if cell != ROWS_CELL
                                                  else " rows")
        return f"{where}: {self.old.show()} -> {self.new.show()}"


def check_matrices(original: Matrix, mutated: Matrix, scopes: Sequence[Scope]) -> list[CellChange]:
    """Every changed cell the scopes do not allow. A change outside every scope is
    ``changed-outside-scope``; inside scopes that all only restrict (or recast), a change that is
    more permissive or incomparable is ``more-permissive``; any other disallowed change is
    ``wrong-direction``."""
    keys: set[CellKey] = set(original.cells) | set(mutated.cells)
    # a column present on one side only still has a cell on the other (absent or refused)
    out: list[CellChange] = []
    for key in sorted(keys):
        old, new = original.get(key), mutated.get(key)
        if old == new:
            continue
        table = key[2]
        sources = frozenset(s for s in (original.tables.get(table), mutated.tables.get(table)) if s)
        covering = [scope for scope in scopes if scope.covers(key, sources)]
        if any(scope.permits(old, new) for scope in covering):
            continue
        directions = {scope.direction for scope in covering}
        if Direction.LOOSEN in directions and directions & {Direction.RESTRICT, Direction.RECAST}:
            continue  # parts of a combination that restrict and loosen one cell: together, any change
        if not covering:
            out.append(CellChange("changed-outside-scope", key, old, new))
        elif compare(old, new) in (1, None) and all(s.direction in (Direction.RESTRICT, Direction.RECAST)
                                                    for s in covering):
            out.append(CellChange("more-permissive", key, old, new))
        else:
            out.append(CellChange("wrong-direction", key, old, new))
    return out


def loosened(changes: Iterable[CellChange]) -> list[CellChange]:
    return [c for c in changes if compare(c.old, c.new) in (1, None)]


# --- where a refusal must point -------------------------------------------------------------------

@dataclass(frozen=True)
class Location:
    """Where a validation problem is expected: a file (None: any file of the set) and a field path
    (None: any path; with ``under``, the path or anything below it), optionally with words the message
    must contain, and for a read error the line it must name."""

    file: str | None
    path: str | None = None
    under: bool = True
    contains: str | None = None
    line: int | None = None

    def matches(self, problem: Problem) -> bool:
        if self.file is not None and problem.file != self.file:
            return False
        if self.path is not None:
            exact = problem.path == self.path
            below = self.under and (self.path == "" or problem.path.startswith(self.path + ".")
                                    or problem.path.startswith(self.path + "["))
            if not (exact or below):
                return False
        if self.contains is not None and self.contains.lower() not in problem.message.lower():
            return False
        return self.line is None or problem.message.startswith(f"line {self.line}, ")

    def describe(self) -> str:
        text = self.file or "any file"
        if self.path is not None:
            text += f": {self.path or '(top)'}" + ("…" if self.under else "")
        if self.contains:
            text += f" ~ {self.contains!r}"
        if self.line is not None:
            text += f" @ line {self.line}"
        return text
