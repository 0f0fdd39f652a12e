"""``email``: the local part hidden (whatever its length), the domain after the last '@' kept; a
value with no '@' is hidden whole."""

from __future__ import annotations

from typing import Any, Literal

from sqlglot import exp

from policyengine.model.base import PolicyModel
from policyengine.model.types import TypeFamily
from policyengine.protections._kind import Build, Kind
from policyengine.protections._sql import build as fragment
from policyengine.protections._sql import cast, literal

#: the masked local part of an email, whatever its length (hiding the length too)
EMAIL_MASK = "*****"


class EmailMask(PolicyModel):
    kind: Literal["email"]


def build(value: exp.Expression, column: Any, protection: EmailMask, context: Build) -> exp.Expression:
    return cast(fragment(
        "CASE WHEN __val IS NULL THEN NULL WHEN strpos(__val, '@') > 0 "
        "THEN __mask || '@' || split_part(__val, '@', -1) ELSE __mask END",
        val=value, mask=literal(EMAIL_MASK),
    ), column.type.sql)


def reference(value: str, column: Any, protection: EmailMask, keys: Any) -> str:
    return EMAIL_MASK + "@" + value.rsplit("@", 1)[1] if "@" in value else EMAIL_MASK


KIND = Kind(
    name="email", model=EmailMask, rank=20, keyed=False, families=frozenset({TypeFamily.STRING}), repeated=False,
    check=None, compare=None, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="the domain of an address, the local part hidden",
)
