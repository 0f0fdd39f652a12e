"""Checks that need the whole policy set, and the resolution of raw files into a :class:`PolicySet`.

Each check reports into the problems of the file that holds the mistake, at the field that holds
it, and carries on: a run of ``policyengine validate`` lists every mistake at once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from policyengine.model.expressions import (
    ExpressionError,
    context_calls,
    outer_columns,
    parse_policy_expression,
    referenced_tables,
)
from policyengine.model.files import ColumnSpec, ContractSpec, RolesFile, SettingsFile
from policyengine.model.problems import Problems
from policyengine.model.policyset import Column, Principal, Role, RowRule, Settings, Table, grant, name_key
from policyengine.model.types import ColumnType, TypeFamily, UnknownType, parse_column_type

#: which type families each protection kind can keep the type of
KIND_FAMILIES: dict[str, frozenset[TypeFamily]] = {
    "partial": frozenset({TypeFamily.STRING}),
    "email": frozenset({TypeFamily.STRING}),
    "hash": frozenset({TypeFamily.STRING, TypeFamily.INTEGER}),
    "tokenize": frozenset({TypeFamily.STRING, TypeFamily.INTEGER}),
    "encrypt": frozenset({TypeFamily.STRING}),
}


def resolve_settings(spec: SettingsFile, problems: Problems) -> Settings:
    levels = _unique(spec.sensitivity_levels, problems, "sensitivity_levels", "level")
    if "none" in levels:
        problems.add(("sensitivity_levels", levels.index("none")),
                     "'none' cannot be a level: it is the clearance that means no access")
        levels = [level for level in levels if level != "none"] or ["public"]
    environments = _unique(spec.environments, problems, "environments", "environment")
    default_env = spec.default_environment or ("prod" if "prod" in environments else environments[0])
    if default_env not in environments:
        problems.add(("default_environment",), f"unknown environment '{default_env}' (environments: {', '.join(environments)})")
        default_env = environments[0]
    default_level = spec.default_sensitivity or levels[0]
    if default_level not in levels:
        problems.add(("default_sensitivity",), f"unknown level '{default_level}' (levels: {', '.join(levels)})")
        default_level = levels[0]
    return Settings(tuple(levels), tuple(environments), default_env, spec.unknown_table, default_level)


def _unique(values: list[str], problems: Problems, field: str, what: str) -> list[str]:
    seen: list[str] = []
    for index, value in enumerate(values):
        if value in seen:
            problems.add((field, index), f"duplicate {what} '{value}'")
        else:
            seen.append(value)
    return seen


# --- roles -----------------------------------------------------------------------------------------

@dataclass
class RawRoles:
    spec: RolesFile
    problems: Problems


def resolve_roles(raw: RawRoles | None, settings: Settings, tables: dict[str, Table]) -> tuple[dict[str, Role], dict[str, Principal]]:
    if raw is None:
        return {}, {}
    spec, problems = raw.spec, raw.problems
    keys: dict[str, str] = {}
    for name in spec.roles:
        if name_key(name) in keys:
            problems.add(("roles", name), f"role '{name}' is defined twice (also as '{keys[name_key(name)]}')")
        keys.setdefault(name_key(name), name)

    roles: dict[str, Role] = {}
    for name, role in spec.roles.items():
        at = problems.at("roles", name)
        inherits = []
        for index, parent in enumerate(role.inherits):
            if name_key(parent) not in keys:
                at.add(("inherits", index), f"undefined role '{parent}'")
            else:
                inherits.append(name_key(parent))
        clearance, blocked = _clearance(role.clearance, settings, at)
        unmask = []
        for index, ref in enumerate(role.unmask):
            target = _column_ref(ref, tables)
            if isinstance(target, str):
                at.add(("unmask", index), target)
            else:
                unmask.append(target)
        roles.setdefault(name_key(name), Role(name, role.description, tuple(inherits), clearance, tuple(unmask), blocked))

    for cycle in _cycles(roles):
        first = roles[cycle[0]]
        problems.add(("roles", first.name, "inherits"),
                     "inheritance cycle: " + " -> ".join(roles[k].name for k in cycle + [cycle[0]]))

    principals: dict[str, Principal] = {}
    for name, principal in spec.principals.items():
        at = problems.at("principals", name)
        if name_key(name) in principals:
            at.add((), f"principal '{name}' is defined twice")
        role_keys = []
        for index, role_name in enumerate(principal.roles):
            if name_key(role_name) not in keys:
                at.add(("roles", index), f"undefined role '{role_name}'")
            else:
                role_keys.append(name_key(role_name))
        principals.setdefault(name_key(name), Principal(name, tuple(role_keys), dict(principal.attributes)))
    return roles, principals


def _clearance(value: str | dict[str, str] | None, settings: Settings, at: Problems) -> tuple[dict[str, str], frozenset[str]]:
    """The role's own levels per environment, and the environments it blocks with ``none``."""
    levels: dict[str, str] = {}
    blocked: set[str] = set()

    def take(env: str, text: str, path: tuple[str, ...]) -> None:
        if text == "none":
            blocked.add(env)
        elif text not in settings.sensitivity_levels:
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
                at.add(("clearance", env), f"unknown environment '{env}' (environments: {', '.join(settings.environments)})")
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


def _column_ref(ref: str, tables: dict[str, Table]) -> tuple[str, str] | str:
    """``reviews.Location`` -> (table key, column key), or a message saying what is wrong."""
    if "." not in ref:
        return f"'{ref}' must name a column as table.column"
    table_name, column_name = ref.rsplit(".", 1)
    table = _find(tables, table_name)
    if table is None:
        return f"unknown table '{table_name}' in '{ref}'"
    column = table.column(column_name)
    if column is None:
        return f"unknown column '{column_name}' in table {table.name}"
    return table.key, column.key


def _find(tables: dict[str, Table], name: str) -> Table | None:
    wanted = tuple(name_key(p) for p in name.split("."))
    if ".".join(wanted) in tables:
        return tables[".".join(wanted)]
    matches = [t for t in tables.values() if t.parts[-len(wanted):] == wanted]
    return matches[0] if len(matches) == 1 else None


# --- tables ----------------------------------------------------------------------------------------

@dataclass
class RawContract:
    spec: ContractSpec
    default_name: str
    problems: Problems
    #: BigQuery-style schema lists have columns at the top level of the file
    columns_at: tuple[str | int, ...] = ("columns",)


def resolve_column(spec: ColumnSpec, settings: Settings, at: Problems) -> Column | None:
    try:
        column_type = parse_column_type(spec.type)
    except UnknownType as error:
        at.add(("type",), str(error))
        return None
    sensitivity = spec.sensitivity or settings.default_sensitivity
    if sensitivity not in settings.sensitivity_levels:
        at.add(("sensitivity",), f"unknown level '{spec.sensitivity}' (levels: {', '.join(settings.sensitivity_levels)})")
        return None
    ok = _protection_fits(spec, column_type, at.at("protection"))
    return Column(
        name=spec.name, type=column_type, sensitivity=sensitivity, protection=spec.protection, mode=spec.mode,
        description=spec.description, originating_source=spec.originating_source, primary_key=spec.primary_key,
    ) if ok else None


def _protection_fits(spec: ColumnSpec, column_type: ColumnType, at: Problems) -> bool:
    protection = spec.protection
    kind = protection.kind
    family = column_type.family
    if kind in KIND_FAMILIES and family not in KIND_FAMILIES[kind]:
        fits = " or ".join(sorted(f.value for f in KIND_FAMILIES[kind]))
        at.add(("kind",), f"protection '{kind}' does not fit column type {column_type.written}: it applies to {fits} columns")
        return False
    if kind == "partial" and protection.show_first == 0 and protection.show_last == 0:  # type: ignore[union-attr]
        at.add((), "partial shows nothing: set show_first or show_last (or use redact)")
        return False
    if kind == "generalize":
        return _generalize_fits(protection, column_type, at)  # type: ignore[arg-type]
    if kind == "redact" and protection.value is not None:  # type: ignore[union-attr]
        return _redact_value_fits(protection.value, column_type, at.at("value"))  # type: ignore[union-attr]
    return True


def _generalize_fits(protection: Any, column_type: ColumnType, at: Problems) -> bool:
    given = protection.given
    family = column_type.family
    wanted = ("to" if family in (TypeFamily.DATE, TypeFamily.TIMESTAMP)
              else "bucket" if family.is_numeric else "keep" if family is TypeFamily.STRING else None)
    if wanted is None:
        at.add(("kind",), f"protection 'generalize' does not fit column type {column_type.written}")
        return False
    if given != [wanted]:
        extra = [g for g in given if g != wanted]
        if extra:
            at.add((extra[0],), f"parameter '{extra[0]}' does not fit column type {column_type.written}: "
                                f"generalize takes '{wanted}' for it")
        else:
            at.add((), f"generalize needs '{wanted}' for column type {column_type.written}")
        return False
    if wanted == "bucket" and family is TypeFamily.INTEGER and not float(protection.bucket).is_integer():
        at.add(("bucket",), f"bucket must be a whole number for column type {column_type.written}")
        return False
    return True


def _redact_value_fits(value: Any, column_type: ColumnType, at: Problems) -> bool:
    family = column_type.family
    ok = {
        TypeFamily.STRING: isinstance(value, str),
        TypeFamily.INTEGER: isinstance(value, int) and not isinstance(value, bool),
        TypeFamily.FLOAT: isinstance(value, (int, float)) and not isinstance(value, bool),
        TypeFamily.DECIMAL: isinstance(value, (int, float)) and not isinstance(value, bool),
        TypeFamily.BOOLEAN: isinstance(value, bool),
        TypeFamily.DATE: isinstance(value, dt.date) and not isinstance(value, dt.datetime)
        or isinstance(value, str) and _is_date(value),
        TypeFamily.TIMESTAMP: isinstance(value, dt.date) or isinstance(value, str) and _is_timestamp(value),
    }.get(family, False)
    if not ok:
        at.add((), f"value {value!r} does not fit column type {column_type.written}")
    return ok


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _is_timestamp(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
        return True
    except ValueError:
        return False


def resolve_table(raw: RawContract, settings: Settings) -> Table | None:
    spec, at = raw.spec, raw.problems
    name = spec.table or raw.default_name
    if not re.fullmatch(r"[^.\s]+(\.[^.\s]+){0,2}", name):
        at.add(("table",), f"'{name}' is not a table name (table, schema.table or db.schema.table)")
    columns: list[Column] = []
    seen: dict[str, int] = {}
    complete = True
    for index, column_spec in enumerate(spec.columns):
        col_at = at.at(*raw.columns_at, index)
        key = name_key(column_spec.name)
        if key in seen:
            col_at.add(("name",), f"duplicate column '{column_spec.name}' in table {name}")
            complete = False
            continue
        seen[key] = index
        column = resolve_column(column_spec, settings, col_at)
        if column is None:
            complete = False
        else:
            columns.append(column)
    if not complete:
        return None
    return Table(
        name=name, columns=tuple(columns), row_access=(), source=at.file, description=spec.description,
        registered_by=spec.registered_by,
        registration_time=None if spec.registration_time is None else str(spec.registration_time),
        version=None if spec.version is None else str(spec.version), meta=dict(spec.meta),
    )


def finish_table(table: Table, raw: RawContract, roles: dict[str, Role], tables: dict[str, Table]) -> Table:
    """Parse what refers to roles and other tables: custom masks and row access rules."""
    at = raw.problems
    columns = []
    for index, column in enumerate(table.columns):
        if column.protection.kind == "custom":
            expr_at = at.at(*raw.columns_at, _spec_index(raw, column), "protection", "expr")
            parsed = _custom_expr(column.protection.expr, table, roles, expr_at)  # type: ignore[union-attr]
            column = Column(**{**column.__dict__, "custom_expr": parsed})
        columns.append(column)

    for column in table.columns:
        if column.originating_source:
            problem = _lineage_problem(column.originating_source, tables)
            if problem:
                at.at(*raw.columns_at, _spec_index(raw, column)).add(("originatingSource",), problem)

    rules = []
    for index, rule in enumerate(raw.spec.row_access):
        rule_at = at.at("row_access", index)
        role_keys = []
        for role_index, role_name in enumerate(rule.roles):
            if name_key(role_name) not in roles:
                rule_at.add(("roles", role_index), f"undefined role '{role_name}'")
            else:
                role_keys.append(name_key(role_name))
        where = _row_condition(rule.where, table, roles, tables, rule_at.at("where"))
        if where is not None and role_keys:
            rules.append(RowRule(tuple(role_keys), rule.where, where))
    return Table(**{**table.__dict__, "columns": tuple(columns), "row_access": tuple(rules)})


def _lineage_problem(source: str, tables: dict[str, Table]) -> str | None:
    """``system:table.column`` is checked where ``table`` is a table of this set; other sources
    (``mlmodel:Sentiment``) are kept as written."""
    reference = source.split(":", 1)[1] if ":" in source else source
    parts = reference.split(".")
    for split in range(len(parts), 0, -1):
        table = _find(tables, ".".join(parts[:split]))
        if table is None:
            continue
        rest = parts[split:]
        if len(rest) > 1:
            return f"'{source}' names more than one column of table {table.name}"
        if rest and table.column(rest[0]) is None:
            return f"'{source}' names unknown column '{rest[0]}' of table {table.name}"
        return None
    return None


def _spec_index(raw: RawContract, column: Column) -> int:
    return next(i for i, c in enumerate(raw.spec.columns) if name_key(c.name) == column.key)


def _custom_expr(text: str, table: Table, roles: dict[str, Role], at: Problems) -> Any:
    try:
        tree = parse_policy_expression(text, allow_subqueries=False)
        _check_context(tree, roles)
    except ExpressionError as error:
        at.add((), str(error))
        return None
    for column in outer_columns(tree):
        if column.table and name_key(column.table) not in table.parts:
            at.add((), f"'{column.sql('snowflake')}' refers to another table: a custom mask reads only its own row")
        elif name_key(column.name) != "val" and table.column(column.name) is None:
            at.add((), f"unknown column '{column.name}' in table {table.name} (the masked value is 'val')")
    return tree


def _row_condition(text: str, table: Table, roles: dict[str, Role], tables: dict[str, Table], at: Problems) -> Any:
    try:
        tree = parse_policy_expression(text, allow_subqueries=True)
        _check_context(tree, roles)
    except ExpressionError as error:
        at.add((), str(error))
        return None
    ok = True
    for column in outer_columns(tree):
        if column.table and name_key(column.table) not in table.parts:
            at.add((), f"'{column.sql('snowflake')}' refers to another table; use a subquery to read a mapping table")
            ok = False
        elif table.column(column.name) is None:
            at.add((), f"unknown column '{column.name}' in table {table.name}")
            ok = False
    for ref in referenced_tables(tree):
        name = ".".join(part.name for part in ref.parts)
        if _find(tables, name) is None:
            at.add((), f"unknown table '{name}': a mapping table read by a row access rule must have a contract")
            ok = False
    return tree if ok else None


def _check_context(tree: Any, roles: dict[str, Role]) -> None:
    for call in context_calls(tree):
        if call.name == "IS_ROLE_IN_SESSION" and name_key(call.argument or "") not in roles:
            raise ExpressionError(f"undefined role '{call.argument}' in IS_ROLE_IN_SESSION")


def check_unprotected_sensitive(tables: dict[str, Table], roles: dict[str, Role], settings: Settings,
                                raw_by_table: dict[str, RawContract]) -> None:
    """A column above the lowest level with protection ``none`` is an error where some role would read
    it protected: the decision would have nothing to apply, so that role would read it raw though not
    cleared for it. Where every role that can reach it is cleared, ``none`` is what it says.
    """
    for table in tables.values():
        raw = raw_by_table[table.key]
        for column in table.columns:
            if column.protection.kind != "none" or column.sensitivity == settings.lowest_level:
                continue
            hole = _first_uncleared(table, column, roles, settings)
            if hole:
                role_name, env, level = hole
                raw.problems.at(*raw.columns_at, _spec_index(raw, column), "protection").add(
                    (), f"sensitive column without protection: '{column.name}' is {column.sensitivity}, and role "
                        f"{role_name} (clearance {level} in {env}) would read it raw")


def _first_uncleared(table: Table, column: Column, roles: dict[str, Role], settings: Settings) -> tuple[str, str, str] | None:
    for role in roles.values():
        for env in settings.environments:
            held = grant(settings, roles, [role.key], env)
            if held.level is None or (table.key, column.key) in held.unmask:
                continue
            if settings.rank(held.level) < settings.rank(column.sensitivity):
                return role.name, env, held.level
    return None
