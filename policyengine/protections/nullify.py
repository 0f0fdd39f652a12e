"""``nullify``: NULL, whatever the value; not even whether there is one is shown."""

from __future__ import annotations

from typing import Any, Literal

from sqlglot import exp

from policyengine.model.base import PolicyModel
from policyengine.protections._kind import Build, Kind
from policyengine.protections._sql import cast


class Nullify(PolicyModel):
    kind: Literal["nullify"]


def build(value: exp.Expression, column: Any, protection: Nullify, context: Build) -> exp.Expression:
    # cast twice, as the builders have always written it (NULL of the type, then the result cast every
    # kind gets): the rewrite and DDL goldens hold this exact text
    return cast(cast(exp.null(), column.type.sql), column.type.sql)


def reference(value: Any, column: Any, protection: Nullify, keys: Any) -> Any:
    return None


KIND = Kind(
    name="nullify", model=Nullify, rank=80, keyed=False, families=None, repeated=True, check=None,
    compare=None, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="NULL: not even whether there is a value",
)
