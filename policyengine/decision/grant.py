"""Role expansion and the grant: what a set of roles holds in one environment (spec section 5, steps 1-2).

This is the first half of the decision, before any table is looked at: the model only says which
roles exist and whom they inherit; what holding them means (the most permissive clearance wins, a
``none`` blocks its inheritance, ``unmask`` counts only where the role has access) is decided here,
so the decision, the validation checks that ask "who would read this raw?" and lineage propagation
all answer it with one function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from policyengine.model.policyset import Role, Settings, name_key


def expand_roles(roles: Mapping[str, Role], keys: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The given roles and every role they inherit, each once, in a stable order (cycles are safe)."""
    out: list[str] = []
    stack = list(reversed([name_key(k) for k in keys]))
    while stack:
        key = stack.pop()
        if key in out or key not in roles:
            continue
        out.append(key)
        stack.extend(reversed(roles[key].inherits))
    return tuple(out)


@dataclass(frozen=True)
class Grant:
    """What a set of roles holds in one environment, before any table is looked at."""

    environment: str
    roles: tuple[str, ...]  # every role held, inherited ones included
    active: tuple[str, ...]  # those that have access in this environment, by their own clearance or inherited
    level: str | None  # the highest clearance among the active roles; None: no access at all
    unmask: frozenset[tuple[str, str]]  # (table key, column key) that an active role sees raw


def grant(settings: Settings, roles: Mapping[str, Role], keys: tuple[str, ...] | list[str], environment: str) -> Grant:
    """Spec section 5 steps 1-2 for the roles: the most permissive answer wins.

    A role holds everything its parents hold, so a role with no clearance of its own has its
    parents' there. A role that says ``clearance: none`` for an environment reads nothing there,
    not through its parents either: its ``unmask`` exceptions and row access rules count for
    nothing in that environment. Another role held beside it still counts.
    """
    effective: dict[str, str | None] = {}

    def level_of(key: str, visiting: frozenset[str]) -> str | None:
        if key in effective:
            return effective[key]
        role = roles.get(key)
        if role is None or key in visiting or environment in role.blocked:
            return None
        best = role.clearance.get(environment)
        for parent in role.inherits:
            candidate = level_of(parent, visiting | {key})
            if candidate is not None and (best is None or settings.rank(candidate) > settings.rank(best)):
                best = candidate
        effective[key] = best
        return best

    held = expand_roles(roles, keys)
    reachable = _reachable(roles, keys, environment)
    active = tuple(k for k in reachable if level_of(k, frozenset()) is not None)
    level = None
    for key in active:
        candidate = effective[key]
        if level is None or settings.rank(candidate) > settings.rank(level):  # type: ignore[arg-type]
            level = candidate
    unmask = frozenset(ref for key in active for ref in roles[key].unmask)
    return Grant(environment, held, active, level, unmask)


def _reachable(roles: Mapping[str, Role], keys: tuple[str, ...] | list[str], environment: str) -> tuple[str, ...]:
    """Roles held through paths that pass no role blocked (``none``) in the environment."""
    out: list[str] = []
    stack = list(reversed([name_key(k) for k in keys]))
    while stack:
        key = stack.pop()
        role = roles.get(key)
        if key in out or role is None or environment in role.blocked:
            continue
        out.append(key)
        stack.extend(reversed(role.inherits))
    return tuple(out)
