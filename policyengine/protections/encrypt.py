"""``encrypt``: the value encrypted under the key (``pe1:`` + IV + ciphertext); deterministic, so
equality shows, and reversible by whoever holds the key (``policyengine decrypt``)."""

from __future__ import annotations

from typing import Any, Literal

from sqlglot import exp

from policyengine import crypto
from policyengine.model.base import PolicyModel
from policyengine.model.types import TypeFamily
from policyengine.protections import _keyed
from policyengine.protections._kind import Build, Kind
from policyengine.protections._sql import cast


class Encrypt(PolicyModel):
    kind: Literal["encrypt"]


def build(value: exp.Expression, column: Any, protection: Encrypt, context: Build) -> exp.Expression:
    if context.udfs is not None:
        return cast(_keyed.udf_call("encrypt", value, column.type.sql, context.udfs), column.type.sql)
    return cast(_keyed.encrypt_value(value), column.type.sql)


def reference(value: str, column: Any, protection: Encrypt, keys: Any) -> str:
    return crypto.encrypt_text(keys, value)


KIND = Kind(
    name="encrypt", model=Encrypt, rank=40, keyed=True, families=frozenset({TypeFamily.STRING}),
    repeated=False, check=None, compare=None, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="ciphertext: equality, and the value to key holders",
)
