"""``deny``: the column is not there for an uncleared reader (the decision removes it, and a query
naming it is refused). The strongest kind: not even the column's existence is shown."""

from __future__ import annotations

from typing import Any, Literal

from sqlglot import exp

from policyengine.model.base import PolicyModel
from policyengine.protections._kind import Build, Kind
from policyengine.protections._sql import cast


class Deny(PolicyModel):
    kind: Literal["deny"]


def build(value: exp.Expression, column: Any, protection: Deny, context: Build) -> exp.Expression:
    """NULL of the column's type: what a Snowflake masking policy returns for a denied column (its
    projection policy refuses the column itself); the DuckDB rewrite never selects a denied column."""
    return cast(exp.null(), column.type.sql)


def reference(value: Any, column: Any, protection: Deny, keys: Any) -> Any:
    return None


KIND = Kind(
    name="deny", model=Deny, rank=90, keyed=False, families=None, repeated=True, check=None,
    compare=None, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="not even the column: queries naming it are refused",
)
