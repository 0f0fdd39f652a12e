"""``tokenize``: each letter and digit replaced by a keyed pseudo-random one of its class (the same
value always gives the same token): equality, the length and the character classes show."""

from __future__ import annotations

from typing import Any, Literal

from sqlglot import exp

from policyengine import crypto
from policyengine.model.base import PolicyModel
from policyengine.model.types import TypeFamily
from policyengine.protections import _keyed
from policyengine.protections._kind import Build, Kind
from policyengine.protections._sql import cast


class Tokenize(PolicyModel):
    kind: Literal["tokenize"]


def build(value: exp.Expression, column: Any, protection: Tokenize, context: Build) -> exp.Expression:
    if context.udfs is not None:
        return cast(_keyed.udf_call("tokenize", value, column.type.sql, context.udfs), column.type.sql)
    return cast(_keyed.tokenize_value(value, column.type.sql), column.type.sql)


def reference(value: Any, column: Any, protection: Tokenize, keys: Any) -> Any:
    if column.type.family is TypeFamily.INTEGER:
        return crypto.tokenize_integer(keys, value, column.type.sql)
    return crypto.tokenize_text(keys, value)


KIND = Kind(
    name="tokenize", model=Tokenize, rank=50, keyed=True, families=frozenset({TypeFamily.STRING, TypeFamily.INTEGER}),
    repeated=False, check=None, compare=None, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="a keyed token of the same length and character classes",
)
