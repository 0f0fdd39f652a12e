"""The checks of a policy set that ask the decision: who would read a column raw, or see what a deny hides.

They live here, not in :mod:`policyengine.model.checks`, because they call :func:`grant`: the model
is the bottom layer and imports nothing above it (docs/architecture.md). The loader runs
:func:`check_unprotected_sensitive` as one of the checks its caller passes in
(:func:`policyengine.loading.load_policy_set`); the warnings are what ``policyengine validate`` lists
for a set that loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policyengine.decision.grant import expand_roles, grant
from policyengine.model.base import normalize_key
from policyengine.model.checks import Known, TableDraft, TableIndex
from policyengine.model.expressions import outer_columns
from policyengine.model.policyset import Column, PolicySet, Role, Settings, Table, name_key
from policyengine.model.problems import PolicyWarning, format_path
from policyengine.model.reading import ReadError, read_file


def check_unprotected_sensitive(tables: TableIndex, roles: dict[str, Role], incomplete_roles: set[str],
                                settings: Settings, known: Known) -> None:
    """A column above the lowest level with protection ``none`` is an error where some role would read
    it protected: the decision would have nothing to apply, so that role would read it raw though not
    cleared for it. Where every role that can reach it is cleared, ``none`` is what it says.

    Only what is known in full is judged: not when the levels could not be read, and not for a
    role that is, or inherits, a role known only in part (its clearance or unmask may be missing
    because of a problem already reported, and the column would look unprotected for it).
    """
    if not known.levels:
        return
    judged = {key: role for key, role in roles.items() if not set(expand_roles(roles, [key])) & incomplete_roles}
    for table in tables.drafts.values():
        raw = table.raw
        for column in table.columns:
            if column.protection.kind != "none" or column.sensitivity == settings.lowest_level:
                continue
            hole = _first_uncleared(table, column, roles, judged, settings)
            if hole:
                role_name, env, level = hole
                raw.problems.at(*raw.columns_at, raw.spec_index(column.key), "protection").add(
                    (), f"sensitive column without protection: '{column.name}' is {column.sensitivity}, and role "
                        f"{role_name} (clearance {level} in {env}) would read it raw")


def _first_uncleared(table: TableDraft, column: Column, roles: dict[str, Role], judged: dict[str, Role],
                     settings: Settings) -> tuple[str, str, str] | None:
    for role in judged.values():
        for env in settings.environments:
            held = grant(settings, roles, [role.key], env)
            if held.level is None or (table.key, column.key) in held.unmask:
                continue
            if settings.rank(held.level) < settings.rank(column.sensitivity):
                return role.name, env, held.level
    return None


# --- warnings: valid, but probably not meant -----------------------------------------------------

def _roles_file(policy_set: PolicySet) -> str:
    """The name of the set's roles file as the loader found it (``roles.yaml``, ``.yml`` or ``.json``)."""
    if policy_set.root is not None:
        for suffix in (".yaml", ".yml", ".json"):
            if (Path(policy_set.root) / f"roles{suffix}").is_file():
                return f"roles{suffix}"
    return "roles.yaml"


def unmask_deny_warnings(policy_set: PolicySet) -> list[PolicyWarning]:
    """A warning for each ``unmask`` exception that shows a ``deny`` column raw to a role not cleared
    for it, in the environments where it does.

    The decision lets ``unmask`` win (spec section 5, step 2 comes before step 3), and that stays:
    a set the spec allows must load. But ``deny`` reads as "never readable below its level", and an
    exception that quietly opens it is the kind of thing a reviewer should see, so ``validate`` says
    so without failing. Judged on the declaring role alone: its exception counts only in the
    environments where it has access itself, and a role that inherits it holds at least its level
    there, so the declaring role is where the override happens first (and the file line to fix).
    No warning where the role is cleared for the column anyway: there the exception changes nothing.
    """
    settings = policy_set.settings
    roles_file = _roles_file(policy_set)
    warnings: list[PolicyWarning] = []
    for role in policy_set.roles.values():
        for index, (table_key, column_key) in enumerate(role.unmask):
            table = policy_set.tables.get(table_key)
            column = table.column(column_key) if table is not None else None
            if table is None or column is None or column.protection.kind != "deny":
                continue
            opened = []
            for env in settings.environments:
                held = grant(settings, policy_set.roles, [role.key], env)
                if role.key not in held.active or held.level is None:
                    continue  # no access here: the exception counts for nothing
                if settings.rank(held.level) < settings.rank(column.sensitivity):
                    opened.append(f"{env} (clearance {held.level})")
            if opened:
                warnings.append(PolicyWarning(
                    roles_file, f"roles.{role.name}.unmask[{index}]",
                    f"unmask exception overrides deny: role {role.name} reads column {column.name} of table "
                    f"{table.name} ({column.sensitivity}, protection deny, {table.source}) raw in "
                    f"{', '.join(opened)}"))
    return warnings


def _column_path(policy_set: PolicySet, table: Table, index: int, *rest: str) -> str:
    """Where column ``index`` of ``table`` is in its file, spelled as validation spells it:
    ``columns[3].protection``, ``[1].columns[3]...`` in a list of contracts, ``tables[0].columns[3]...``,
    ``[3]...`` in a BigQuery-style list. In a valid set the table's columns are the contract's, in order.
    Falls back to ``columns[3]...`` when the file cannot be read again (it changed since loading)."""
    fallback = format_path(("columns", index, *rest))
    if policy_set.root is None:
        return fallback
    try:
        data = read_file(Path(policy_set.root) / table.source)
    except (OSError, ReadError):
        return fallback

    def names(contract: Any) -> bool:
        if not isinstance(contract, dict):
            return False
        written = next((v for k, v in contract.items() if normalize_key(k) == "table"), None)
        return name_key(str(written or Path(table.source).stem)) == table.key

    prefix: tuple[str | int, ...] | None = None
    if isinstance(data, dict) and any(normalize_key(k) == "columns" for k in data):
        prefix = ("columns",)
    elif isinstance(data, dict):
        key = next((k for k in data if normalize_key(k) == "tables"), None)
        items = data.get(key) if key is not None else None
        found = next((i for i, c in enumerate(items) if names(c)), None) if isinstance(items, list) else None
        if found is not None:
            prefix = (str(key), found, "columns")
    elif isinstance(data, list) and not any(isinstance(i, dict) and any(normalize_key(k) == "columns" for k in i)
                                            for i in data):
        prefix = ()  # a BigQuery-style list: the file is the columns
    elif isinstance(data, list):
        found = next((i for i, c in enumerate(data) if names(c)), None)
        if found is not None:  # a one-contract list is reported without its index, as the loader does
            prefix = (() if len(data) == 1 else (found,)) + ("columns",)
    return fallback if prefix is None else format_path((*prefix, index, *rest))


def custom_mask_deny_warnings(policy_set: PolicySet) -> list[PolicyWarning]:
    """A warning for each custom mask that reads a ``deny`` column of its row, where some role sees
    the mask (not cleared for the masked column) and may not read the ``deny`` column.

    A custom mask reads the row's other columns raw (that is what conditional masking needs:
    ``CASE WHEN consent THEN val END``), so ``expr: NationalID`` on another column shows a ``deny``
    column's values to a role the ``deny`` hides them from. Valid, since the expression is the
    author's own; but it overrides the ``deny``, so ``validate`` says so, at the expression, naming
    the roles and environments where it happens. Judged per role (with what it inherits).
    """
    settings = policy_set.settings
    warnings: list[PolicyWarning] = []
    for table in policy_set.tables.values():
        for index, column in enumerate(table.columns):
            if column.protection.kind != "custom" or column.custom_expr is None:
                continue
            read: dict[str, Column] = {}
            for reference in outer_columns(column.custom_expr):
                other = table.column(reference.name)
                if other is not None and other.key != column.key and other.protection.kind == "deny":
                    read.setdefault(other.key, other)
            for other in read.values():
                opened: list[str] = []
                for role in policy_set.roles.values():
                    envs = []
                    for env in settings.environments:
                        held = grant(settings, policy_set.roles, [role.key], env)
                        if held.level is None:
                            continue
                        rank = settings.rank(held.level)
                        sees_mask = (rank < settings.rank(column.sensitivity)
                                     and (table.key, column.key) not in held.unmask)
                        denied = rank < settings.rank(other.sensitivity) and (table.key, other.key) not in held.unmask
                        if sees_mask and denied:
                            envs.append(env)
                    if envs:
                        opened.append(f"{role.name} ({', '.join(envs)})")
                if opened:
                    whom = f"role {opened[0]}" if len(opened) == 1 else f"roles {', '.join(opened)}"
                    warnings.append(PolicyWarning(
                        table.source, _column_path(policy_set, table, index, "protection", "expr"),
                        f"custom mask reads a deny column: the mask of column {column.name} of table {table.name} "
                        f"reads column {other.name} ({other.sensitivity}, protection deny) raw, so what it shows "
                        f"depends on a column the deny hides from {whom}"))
    return warnings


def policy_warnings(policy_set: PolicySet) -> list[PolicyWarning]:
    """Every warning of a valid policy set, sorted by file and path: what ``policyengine validate`` lists."""
    found = unmask_deny_warnings(policy_set) + custom_mask_deny_warnings(policy_set)
    return sorted(found, key=lambda w: (w.file, w.path))
