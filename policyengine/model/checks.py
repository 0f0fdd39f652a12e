"""Checks that need the whole policy set, and the resolution of raw files into a :class:`PolicySet`.

Each check reports into the problems of the file that holds the mistake, at the field that holds
it, and carries on: a run of ``policyengine validate`` lists every mistake at once.

Every real mistake is reported once, and nothing that only follows from another: a check that
depends on something that could not be read (the levels, when ``sensitivity_levels`` is invalid;
the roles, when ``roles.yaml`` cannot be parsed; the columns of a table whose file cannot be read)
says nothing about it, because the problem that made it unreadable is already reported. What is
invalid but still known by name (a role with a typo in one key, a table with one bad column) is
kept as known, so references to it resolve and its own other parts are still checked
(:mod:`policyengine.model.recovery`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from policyengine.model.expressions import (
    DIALECT,
    ExpressionError,
    condition_problem,
    context_calls,
    outer_columns,
    parse_policy_expression,
    referenced_tables,
    row_wise_problem,
    subquery_columns,
)
from policyengine.model.files import ColumnSpec
from policyengine.model.policyset import (
    Column,
    Principal,
    Role,
    RowRule,
    Settings,
    Table,
    TableNames,
    name_key,
)
from policyengine.model.problems import Problems
from policyengine.model.recovery import RawContract, RawRoles, RawSettings
from policyengine.model.types import ColumnType, TypeFamily, UnknownType, parse_column_type
from policyengine.protections._registry import REGISTRY as PROTECTION_KINDS

#: the kinds that apply to a whole REPEATED (array) value; the others mask one scalar value
REPEATED_KINDS: tuple[str, ...] = tuple(name for name, kind in PROTECTION_KINDS.items() if kind.repeated)


@dataclass
class Known:
    """Which parts of the set could be read; checks against a part that could not are skipped."""

    levels: bool = True
    environments: bool = True
    roles: bool = True


def resolve_settings(raw: RawSettings, problems: Problems) -> tuple[Settings, Known]:
    spec = raw.spec
    known = Known(levels="sensitivity_levels" not in raw.unknown, environments="environments" not in raw.unknown)
    levels = _unique(spec.sensitivity_levels, problems, "sensitivity_levels", "level")
    if "none" in levels:
        problems.add(("sensitivity_levels", levels.index("none")),
                     "'none' cannot be a level: it is the clearance that means no access")
        levels = [level for level in levels if level != "none"] or ["public"]
    environments = _unique(spec.environments, problems, "environments", "environment")
    default_env = spec.default_environment or ("prod" if "prod" in environments else environments[0])
    if default_env not in environments:
        if known.environments:
            problems.add(("default_environment",),
                         f"unknown environment '{default_env}' (environments: {', '.join(environments)})")
        default_env = environments[0]
    default_level = spec.default_sensitivity or levels[0]
    if default_level not in levels:
        if known.levels:
            problems.add(("default_sensitivity",), f"unknown level '{default_level}' (levels: {', '.join(levels)})")
        default_level = levels[0]
    settings = Settings(tuple(levels), tuple(environments), default_env, spec.unknown_table, default_level,
                        spec.egress_check)
    return settings, known


def _unique(values: list[str], problems: Problems, field_name: str, what: str) -> list[str]:
    seen: list[str] = []
    for index, value in enumerate(values):
        if value in seen:
            problems.add((field_name, index), f"duplicate {what} '{value}'")
        else:
            seen.append(value)
    return seen


# --- tables as far as they are known ---------------------------------------------------------------

@dataclass
class TableDraft(TableNames):
    """A contract resolved as far as it goes: a table known by name, complete or not."""

    raw: RawContract
    name: str
    #: the columns that are valid, in the contract's order
    columns: list[Column]
    #: False when any part of the contract has a problem: no :class:`Table` is made of it
    complete: bool

    def has_column(self, name: str) -> bool:
        """False only when the contract certainly has no such column (valid or not)."""
        if not self.raw.columns_known:
            return True
        wanted = name_key(name)
        return any(c.name is not None and name_key(c.name) == wanted for c in self.raw.columns or [])


@dataclass
class TableIndex:
    """The tables of the set by name, for references from roles, row filters and lineage."""

    drafts: Mapping[str, TableDraft]
    #: names (file stems) of tables that may be defined in a file that could not be read
    unreadable: set[str] = field(default_factory=set)

    def find(self, name: str) -> TableDraft | None:
        """A table by name; ``reviews`` finds ``sales.reviews`` when that is the only one so named."""
        wanted = tuple(name_key(p) for p in name.split("."))
        exact = self.drafts.get(".".join(wanted))
        if exact is not None:
            return exact
        matches = [t for t in self.drafts.values() if t.parts[-len(wanted):] == wanted]
        return matches[0] if len(matches) == 1 else None

    def may_be_unreadable(self, name: str) -> bool:
        """Whether ``name`` may be a table whose file could not be read (so not reported unknown)."""
        return name_key(name.split(".")[-1]) in self.unreadable


# --- roles -----------------------------------------------------------------------------------------

def resolve_roles(raw: RawRoles | None, settings: Settings, known: Known,
                  tables: TableIndex) -> tuple[dict[str, Role], dict[str, Principal], set[str]]:
    """Roles and principals, and the keys of the roles known only in part (they had a problem)."""
    if raw is None:
        return {}, {}, set()
    problems = raw.problems
    keys: dict[str, str] = {}
    for role in raw.roles:
        if name_key(role.name) in keys:
            problems.add(("roles", role.name),
                         f"role '{role.name}' is defined twice (also as '{keys[name_key(role.name)]}')")
        keys.setdefault(name_key(role.name), role.name)

    roles: dict[str, Role] = {}
    incomplete: set[str] = set()
    for raw_role in raw.roles:
        name, role = raw_role.name, raw_role.spec
        at = problems.at("roles", name)
        inherits = []
        for index, parent in enumerate(role.inherits):
            if name_key(parent) in keys:
                inherits.append(name_key(parent))
            elif known.roles:
                at.add(("inherits", index), f"undefined role '{parent}'")
        clearance, blocked = _clearance(role.clearance, settings, known, at)
        unmask = []
        for index, ref in enumerate(role.unmask):
            target = _column_ref(ref, tables)
            if isinstance(target, str):
                at.add(("unmask", index), target)
            elif target is not None:
                unmask.append(target)
        if not raw_role.complete:
            incomplete.add(name_key(name))
        roles.setdefault(name_key(name),
                         Role(name, role.description, tuple(inherits), clearance, tuple(unmask), blocked))

    for cycle in _cycles(roles):
        first = roles[cycle[0]]
        problems.add(("roles", first.name, "inherits"),
                     "inheritance cycle: " + " -> ".join(roles[k].name for k in cycle + [cycle[0]]))

    principals: dict[str, Principal] = {}
    for raw_principal in raw.principals:
        name, principal = raw_principal.name, raw_principal.spec
        at = problems.at("principals", name)
        if name_key(name) in principals:
            at.add((), f"principal '{name}' is defined twice")
        role_keys = []
        for index, role_name in enumerate(principal.roles):
            if name_key(role_name) in keys:
                role_keys.append(name_key(role_name))
            elif known.roles:
                at.add(("roles", index), f"undefined role '{role_name}'")
        principals.setdefault(name_key(name), Principal(name, tuple(role_keys), dict(principal.attributes)))
    return roles, principals, incomplete


def _clearance(value: str | dict[str, str] | None, settings: Settings, known: Known,
               at: Problems) -> tuple[dict[str, str], frozenset[str]]:
    """The role's own levels per environment, and the environments it blocks with ``none``."""
    levels: dict[str, str] = {}
    blocked: set[str] = set()

    def take(env: str, text: str, path: tuple[str, ...]) -> None:
        if text == "none":
            blocked.add(env)
        elif text not in settings.sensitivity_levels:
            if known.levels:
                at.add(path, f"unknown level '{text}' (levels: {', '.join(settings.sensitivity_levels)}, or none)")
            blocked.add(env)  # an unreadable clearance grants nothing
        else:
            levels[env] = text

    if isinstance(value, str):
        for env in settings.environments:
            take(env, value, ("clearance",))
    elif isinstance(value, dict):
        for env, text in value.items():
            if env not in settings.environments:
                if known.environments:
                    at.add(("clearance", env),
                           f"unknown environment '{env}' (environments: {', '.join(settings.environments)})")
                continue
            take(env, text, ("clearance", env))
    return levels, frozenset(blocked)


def _cycles(roles: dict[str, Role]) -> list[list[str]]:
    """Each inheritance cycle once, as the list of role keys around it."""
    found: list[list[str]] = []
    seen_cycles: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(key: str, path: list[str]) -> None:
        if key in path:
            cycle = path[path.index(key):]
            if frozenset(cycle) not in seen_cycles:
                seen_cycles.add(frozenset(cycle))
                found.append(cycle)
            return
        if key in done or key not in roles:
            return
        for parent in roles[key].inherits:
            visit(parent, path + [key])
        done.add(key)

    for key in roles:
        visit(key, [])
    return found


def _column_ref(ref: str, tables: TableIndex) -> tuple[str, str] | str | None:
    """``reviews.Location`` -> (table key, column key), a message saying what is wrong, or None when
    it names a table whose file could not be read (nothing can be said of it)."""
    if "." not in ref:
        return f"'{ref}' must name a column as table.column"
    table_name, column_name = ref.rsplit(".", 1)
    table = tables.find(table_name)
    if table is None:
        return None if tables.may_be_unreadable(table_name) else f"unknown table '{table_name}' in '{ref}'"
    if not table.has_column(column_name):
        return f"unknown column '{column_name}' in table {table.name}"
    return table.key, name_key(column_name)


# --- tables ----------------------------------------------------------------------------------------

def resolve_column(spec: ColumnSpec, settings: Settings, known: Known, at: Problems, *,
                   check_protection: bool = True) -> Column | None:
    """The column, or None after reporting what is wrong (every problem of the column, not only
    the first). ``check_protection`` is False when the protection itself is invalid (already reported)."""
    column_type: ColumnType | None = None
    try:
        column_type = parse_column_type(spec.type)
    except UnknownType as error:
        at.add(("type",), str(error))
    sensitivity = spec.sensitivity or settings.default_sensitivity
    ok = column_type is not None
    if sensitivity not in settings.sensitivity_levels:
        if known.levels:
            levels = ", ".join(settings.sensitivity_levels)
            at.add(("sensitivity",), f"unknown level '{spec.sensitivity}' (levels: {levels})")
        ok = False
    if column_type is None or not check_protection:
        return None
    protection = _protection_fits(spec, column_type, at.at("protection"))
    if not ok or protection is None:
        return None
    return Column(
        name=spec.name, type=column_type, sensitivity=sensitivity, protection=protection, mode=spec.mode,
        description=spec.description, originating_source=spec.originating_source, primary_key=spec.primary_key,
    )


def protection_problem(protection: Any, column_type: ColumnType, mode: str = "nullable") -> str | None:
    """What is wrong with this protection on a column of this type (None: it fits), by the same rules
    validation applies, for tools that choose a protection (``policyengine derive``)."""
    spec = ColumnSpec(name="column", type=column_type.sql, mode=mode, protection=protection)
    found = Problems("(derived)")
    _protection_fits(spec, column_type, found)
    return found.found[0].message if found.found else None


def _protection_fits(spec: ColumnSpec, column_type: ColumnType, at: Problems) -> Any:
    """The protection (a redact value in its canonical spelling), or None after reporting why it
    does not fit the column: the mode, the kind's type families, then the kind's own checks
    (:mod:`policyengine.protections`)."""
    protection = spec.protection
    name = protection.kind
    kind = PROTECTION_KINDS[name]
    family = column_type.family
    if spec.mode == "repeated" and not kind.repeated:
        at.add(("kind",), f"protection '{name}' does not fit a column of mode REPEATED: it masks a single value; "
                          f"a repeated column takes {', '.join(REPEATED_KINDS[:-1])} or {REPEATED_KINDS[-1]}")
        return None
    if kind.families is not None and family not in kind.families:
        fits = " or ".join(sorted(f.value for f in kind.families))
        at.add(("kind",), f"protection '{name}' does not fit column type {column_type.written}: "
                          f"it applies to {fits} columns")
        return None
    return kind.check(protection, column_type, at) if kind.check is not None else protection


def resolve_table(raw: RawContract, settings: Settings, known: Known) -> TableDraft:
    """The contract as a table known by name, complete or not, every column checked."""
    at, name = raw.problems, raw.name
    complete = raw.complete and raw.columns is not None and raw.name_known
    if not re.fullmatch(r"[^.\s]+(\.[^.\s]+){0,2}", name):
        at.add(("table",), f"'{name}' is not a table name (table, schema.table or db.schema.table)")
        complete = False
    columns: list[Column] = []
    seen: set[str] = set()
    for raw_column in raw.columns or []:
        col_at = at.at(*raw.columns_at, raw_column.index)
        if raw_column.name is not None:
            key = name_key(raw_column.name)
            duplicate = key in seen
            if duplicate:
                col_at.add(("name",), f"duplicate column '{raw_column.name}' in table {name}")
                complete = False
            seen.add(key)
        else:
            duplicate = False
        if raw_column.spec is None:
            complete = False
            continue
        column = resolve_column(raw_column.spec, settings, known, col_at,
                                check_protection="protection" not in raw_column.dropped)
        if column is None or not raw_column.complete:
            complete = False
        elif not duplicate:  # the first definition is the column; the duplicate is only checked
            columns.append(column)
    return TableDraft(raw, name, columns, complete)


def finish_table(draft: TableDraft, roles: dict[str, Role], tables: TableIndex, known: Known) -> Table | None:
    """Check what refers to roles and other tables (custom masks, lineage, row access rules); the
    table when the contract is complete."""
    raw, at = draft.raw, draft.raw.problems
    columns = []
    for column in draft.columns:
        if column.protection.kind == "custom":
            expr_at = at.at(*raw.columns_at, raw.spec_index(column.key), "protection", "expr")
            parsed = _custom_expr(column.protection.expr, draft, roles, known, expr_at)  # type: ignore[union-attr]
            column = Column(**{**column.__dict__, "custom_expr": parsed})
        columns.append(column)

    for raw_column in raw.columns or []:
        source = raw_column.spec.originating_source if raw_column.spec is not None else None
        if source:
            problem = _lineage_problem(source, tables)
            if problem:
                at.at(*raw.columns_at, raw_column.index).add(("originatingSource",), problem)

    rules = []
    for raw_rule in raw.rules:
        rule_at = at.at("row_access", raw_rule.index)
        role_keys = []
        for role_index, role_name in enumerate(raw_rule.roles or []):
            if name_key(role_name) in roles:
                role_keys.append(name_key(role_name))
            elif known.roles:
                rule_at.add(("roles", role_index), f"undefined role '{role_name}'")
        if raw_rule.where is None:
            continue
        where = _row_condition(raw_rule.where, draft, roles, tables, known, rule_at.at("where"))
        if where is not None and role_keys:
            rules.append(RowRule(tuple(role_keys), raw_rule.where, where))
    if not draft.complete:
        return None
    header = raw.header
    return Table(
        name=draft.name, columns=tuple(columns), row_access=tuple(rules), source=at.file,
        description=header.description, registered_by=header.registered_by,
        registration_time=None if header.registration_time is None else str(header.registration_time),
        version=None if header.version is None else str(header.version), meta=dict(header.meta),
        derivation_sql=header.derivation.sql if header.derivation else None,
        derivation_dialect=header.derivation.dialect if header.derivation else None,
        derivation_catalogs=tuple(header.derivation.catalogs) if header.derivation else (),
    )


def _lineage_problem(source: str, tables: TableIndex) -> str | None:
    """``system:table.column`` names a column of a table of this set: the table must be one, and the
    column one of its columns. A source without a ``.column`` part (``mlmodel:Sentiment``, the seed's
    ``transactional:Reviews``) is outside the set and kept as written."""
    reference = source.split(":", 1)[1] if ":" in source else source
    parts = reference.split(".")
    for split in range(len(parts), 0, -1):
        table = tables.find(".".join(parts[:split]))
        if table is None:
            continue
        rest = parts[split:]
        if len(rest) > 1:
            return f"'{source}' names more than one column of table {table.name}"
        if rest and not table.has_column(rest[0]):
            return f"'{source}' names unknown column '{rest[0]}' of table {table.name}"
        return None
    if len(parts) >= 2 and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", part) for part in parts):
        named = ".".join(parts[:-1])
        if not tables.may_be_unreadable(named):
            return (f"'{source}' names table '{named}', which this set does not define (a source outside the "
                    "set is written without a column, as 'mlmodel:Sentiment')")
    return None


def _custom_expr(text: str, table: TableDraft, roles: dict[str, Role], known: Known, at: Problems) -> Any:
    try:
        tree = parse_policy_expression(text, allow_subqueries=False)
        _check_context(tree, roles, known)
    except ExpressionError as error:
        at.add((), str(error))
        return None
    problem = row_wise_problem(tree)
    if problem:
        at.add((), problem)
    for column in outer_columns(tree):
        if column.table and name_key(column.table) not in table.parts:
            at.add((), f"'{column.sql(DIALECT, comments=False)}' refers to another table: "
                       "a custom mask reads only its own row")
        elif name_key(column.name) != "val" and not table.has_column(column.name):
            at.add((), f"unknown column '{column.name}' in table {table.name} (the masked value is 'val')")
    return tree


def _row_condition(text: str, table: TableDraft, roles: dict[str, Role], tables: TableIndex, known: Known,
                   at: Problems) -> Any:
    try:
        tree = parse_policy_expression(text, allow_subqueries=True)
        _check_context(tree, roles, known)
    except ExpressionError as error:
        at.add((), str(error))
        return None
    problems: list[str] = []

    def column_type(column: exp.Column) -> str | None:
        if column.table and name_key(column.table) not in table.parts:
            return None
        found = table.column(column.name)
        if found is None:
            return None
        return "BOOLEAN" if found.type.family is TypeFamily.BOOLEAN else found.type.written

    # an aggregate at the top ('COUNT(*)') is first of all an aggregate: one message for it
    problem = row_wise_problem(tree) or condition_problem(tree, column_type)
    if problem:
        problems.append(problem)
    for column in outer_columns(tree):
        if column.table and name_key(column.table) not in table.parts:
            problems.append(f"'{column.sql(DIALECT, comments=False)}' refers to another table; "
                            "use a subquery to read a mapping table")
        elif not table.has_column(column.name):
            problems.append(f"unknown column '{column.name}' in table {table.name}")
    problems.extend(_subquery_column_problems(tree, table, tables))
    for ref in referenced_tables(tree):
        name = ".".join(part.name for part in ref.parts)
        if tables.find(name) is None and not tables.may_be_unreadable(name):
            problems.append(f"unknown table '{name}': a mapping table read by a row access rule must have a contract")
    for problem in problems:
        at.add((), problem)
    return None if problems else tree


def _subquery_column_problems(tree: exp.Expression, outer: TableDraft, tables: TableIndex) -> list[str]:
    """Columns of a row filter's subqueries that no table they may belong to has.

    A qualified column (``a.user_id``) is looked up in the table its qualifier names (a source of an
    enclosing subquery, else the protected table: a correlated reference). An unqualified one is
    looked up in the nearest subquery's tables first, then outwards, then in the protected table.
    Where a source's columns are not known (a derived table, a CTE, a table function, a table whose
    file could not be read), nothing is said about the columns it might provide.
    """
    problems: list[str] = []

    def has(source_name: str | None, column: str) -> bool | None:
        """Whether the table has the column; None when that cannot be told."""
        if source_name is None:
            return None
        found = tables.find(source_name)
        if found is None or not found.raw.columns_known:
            return None
        return found.has_column(column)

    for scoped in subquery_columns(tree):
        column, name = scoped.column, scoped.column.name
        if column.table:
            qualifier = name_key(column.table)
            source = next((s for scope in scoped.scopes for s in scope
                           if s.qualifier is not None and name_key(s.qualifier) == qualifier), None)
            if source is not None:
                if has(source.name, name) is False:
                    problems.append(f"unknown column '{name}' in table {tables.find(source.name).name}")  # type: ignore[arg-type, union-attr]
            elif qualifier in outer.parts:
                if not outer.has_column(name):
                    problems.append(f"unknown column '{name}' in table {outer.name}")
            else:
                problems.append(f"unknown table or alias '{column.table}' in '{column.sql(DIALECT, comments=False)}'")
            continue
        if name_key(name) in scoped.aliases:
            continue
        answers = [has(source.name, name) for scope in scoped.scopes for source in scope]
        if any(answer is not False for answer in answers) or outer.has_column(name):
            continue
        nearest = next((scope for scope in scoped.scopes if scope), ())
        names = [tables.find(s.name).name for s in nearest if s.name is not None]  # type: ignore[union-attr]
        where = (f"table {names[0]}" if len(names) == 1 else f"tables {', '.join(names)}" if names
                 else f"table {outer.name}")
        problems.append(f"unknown column '{name}' in {where}")
    return problems


def _check_context(tree: Any, roles: dict[str, Role], known: Known) -> None:
    for call in context_calls(tree):
        if call.name == "IS_ROLE_IN_SESSION" and name_key(call.argument or "") not in roles and known.roles:
            raise ExpressionError(f"undefined role '{call.argument}' in IS_ROLE_IN_SESSION")
