"""``none``: the raw value. The weakest kind; validation allows it on a sensitive column only where
every role that reaches the column is cleared for it."""

from __future__ import annotations

from typing import Any, Literal

from sqlglot import exp

from policyengine.model.base import PolicyModel
from policyengine.protections._kind import Build, Kind


class NoProtection(PolicyModel):
    kind: Literal["none"] = "none"


def build(value: exp.Expression, column: Any, protection: NoProtection, context: Build) -> exp.Expression:
    """The value itself: the decision shows such a column raw, so this is only asked for by a
    caller that builds every kind (the registry test); it is the identity, as the kind says."""
    return value.copy()


def reference(value: Any, column: Any, protection: NoProtection, keys: Any) -> Any:
    return value


KIND = Kind(
    name="none", model=NoProtection, rank=0, keyed=False, families=None, repeated=True, check=None,
    compare=None, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="the raw value",
)
