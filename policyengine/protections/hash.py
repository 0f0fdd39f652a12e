"""``hash``: a keyed HMAC-SHA-256 of the value (hex for strings, a number for integers): equal values
stay equal, so joins and counts work, and nothing else of the value shows."""

from __future__ import annotations

from typing import Any, Literal

from sqlglot import exp

from policyengine import crypto
from policyengine.model.base import PolicyModel
from policyengine.model.types import TypeFamily
from policyengine.protections import _keyed
from policyengine.protections._kind import Build, Kind
from policyengine.protections._sql import cast


class Hash(PolicyModel):
    kind: Literal["hash"]


def build(value: exp.Expression, column: Any, protection: Hash, context: Build) -> exp.Expression:
    if context.udfs is not None:
        return cast(_keyed.udf_call("hash", value, column.type.sql, context.udfs), column.type.sql)
    return cast(_keyed.hash_value(value, column.type.sql), column.type.sql)


def reference(value: Any, column: Any, protection: Hash, keys: Any) -> Any:
    if column.type.family is TypeFamily.INTEGER:
        return crypto.hash_integer(keys, value, column.type.sql)
    return crypto.hash_text(keys, value)


KIND = Kind(
    name="hash", model=Hash, rank=60, keyed=True, families=frozenset({TypeFamily.STRING, TypeFamily.INTEGER}),
    repeated=False, check=None, compare=None, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="a keyed digest: equality only",
)
