"""``custom``: the policy's own Snowflake SQL over ``val`` and, for conditional masking, the row's
other columns. The weakest protection: it may show anything, the value itself included."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictStr
from sqlglot import exp

from policyengine.model.base import PolicyModel
from policyengine.protections._kind import Build, Kind
from policyengine.protections._sql import try_cast


class Custom(PolicyModel):
    """``expr`` is Snowflake SQL over ``val`` and, for conditional masking, the row's other columns."""

    kind: Literal["custom"]
    expr: Annotated[StrictStr, Field(min_length=1)]


def build(value: exp.Expression, column: Any, protection: Custom, context: Build) -> exp.Expression:
    """The policy's expression (parsed and checked at load) with ``val`` as the raw value; other columns
    are the row's raw values, which ``context.bind`` (from the wrapper) qualifies, with the context
    functions. The result is converted with TRY_CAST: the author's expression may yield another
    type, and a conversion error would echo the value."""
    assert column.custom_expr is not None, "validated at load"
    tree = column.custom_expr.copy()

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() == "val":
            return value.copy()
        return node

    tree = tree.transform(substitute, copy=False)
    return try_cast(context.bind(tree) if context.bind is not None else tree, column.type.sql)


def reference(value: Any, column: Any, protection: Custom, keys: Any) -> Any:
    """The identity on a value the oracle has already computed: a custom mask is policy SQL by
    definition, so the oracle evaluates it in DuckDB on the raw row (with its own binding of the
    context functions) before the Python kinds run; there is no Python form of it to write."""
    return value


KIND = Kind(
    name="custom", model=Custom, rank=10, keyed=False, families=None, repeated=False, check=None,
    compare=None, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="the policy's own SQL: possibly the value itself",
)
