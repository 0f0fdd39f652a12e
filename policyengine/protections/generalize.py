"""``generalize``: a coarser value of the same type. Dates to the start of their year or month
(``to``), numbers truncated toward zero to a multiple of ``bucket`` (toward zero, so the result never
leaves the type's range), strings to their first ``keep`` characters (the length hidden)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StrictFloat, StrictInt, field_validator
from sqlglot import exp

from policyengine.model.base import PolicyModel
from policyengine.model.types import TypeFamily
from policyengine.protections._kind import Build, Kind
from policyengine.protections._sql import build as fragment
from policyengine.protections._sql import cast, literal

if TYPE_CHECKING:
    from policyengine.model.problems import Problems
    from policyengine.model.types import ColumnType


class Generalize(PolicyModel):
    """Exactly one of: ``to`` (dates), ``bucket`` (numbers), ``keep`` (strings)."""

    kind: Literal["generalize"]
    to: Literal["year", "month"] | None = None
    bucket: Annotated[StrictInt | StrictFloat, Field(gt=0)] | None = None
    keep: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def given(self) -> list[str]:
        return [name for name in ("to", "bucket", "keep") if getattr(self, name) is not None]


def check(protection: Generalize, column_type: ColumnType, at: Problems) -> Generalize | None:
    """The one parameter that fits the column's type, and a bucket that fits its numbers."""
    given = protection.given
    family = column_type.family
    wanted = ("to" if family in (TypeFamily.DATE, TypeFamily.TIMESTAMP)
              else "bucket" if family.is_numeric else "keep" if family is TypeFamily.STRING else None)
    if wanted is None:
        at.add(("kind",), f"protection 'generalize' does not fit column type {column_type.written}")
        return None
    if given != [wanted]:
        extra = [g for g in given if g != wanted]
        if extra:
            at.add((extra[0],), f"parameter '{extra[0]}' does not fit column type {column_type.written}: "
                                f"generalize takes '{wanted}' for it")
        else:
            at.add((), f"generalize needs '{wanted}' for column type {column_type.written}")
        return None
    if wanted == "bucket":
        bucket = protection.bucket
        try:
            float(bucket)  # type: ignore[arg-type]
        except OverflowError:
            # a whole number past any SQL number: it used to end the loader with an OverflowError
            # (a traceback), and on a DECIMAL column the rewritten query could not convert it
            at.add(("bucket",), f"bucket is too large ({len(str(bucket))} digits; at most about 1e308)")
            return None
        if family is TypeFamily.INTEGER and not (isinstance(bucket, int) or float(bucket).is_integer()):  # type: ignore[arg-type]
            at.add(("bucket",), f"bucket must be a whole number for column type {column_type.written}")
            return None
    return protection


def build(value: exp.Expression, column: Any, protection: Generalize, context: Build) -> exp.Expression:
    family = column.type.family
    if protection.to is not None:
        template = {"year": "date_trunc('year', __val)", "month": "date_trunc('month', __val)"}[protection.to]
        return cast(fragment(template, val=value), column.type.sql)
    if protection.keep is not None:
        return cast(fragment("left(__val, __keep)", val=value, keep=literal(protection.keep)), column.type.sql)
    bucket = literal(protection.bucket)
    if family is TypeFamily.FLOAT:
        return cast(fragment("trunc(__val / __bucket) * __bucket", val=value, bucket=bucket), column.type.sql)
    return cast(fragment("__val - (__val % __bucket)", val=value, bucket=bucket), column.type.sql)


def compare(old: dict[str, Any], new: dict[str, Any]) -> int | None:
    """A coarser unit, bucket or prefix shows less; a bucket that is no multiple of the other is
    incomparable (its buckets straddle the other's)."""
    if set(old) != set(new) or len(old) != 1:
        return None
    name = next(iter(old))
    a, b = old[name], new[name]
    if name == "to":
        order = {"month": 0, "year": 1}  # a year is coarser than a month
        return 0 if a == b else -1 if order[b] > order[a] else 1
    if name == "keep":
        return 0 if a == b else -1 if b < a else 1
    if b % a == 0:
        return -1 if b != a else 0  # a multiple of the old bucket: every new bucket is a union of old ones
    if a % b == 0:
        return 1
    return None


def _truncate(value: Any, bucket: Any) -> Any:
    if isinstance(value, float):
        return math.trunc(value / bucket) * bucket
    if isinstance(value, decimal.Decimal):
        bucket = decimal.Decimal(str(bucket))
        return value - (abs(value) % bucket) * (1 if value >= 0 else -1)
    remainder = abs(value) % bucket
    return value - remainder if value >= 0 else value + remainder


def reference(value: Any, column: Any, protection: Generalize, keys: Any) -> Any:
    if protection.to is not None:
        month = 1 if protection.to == "year" else value.month
        if isinstance(value, dt.datetime):
            return dt.datetime(value.year, month, 1)
        return dt.date(value.year, month, 1)
    if protection.keep is not None:
        return value[:protection.keep]
    return _truncate(value, protection.bucket)


KIND = Kind(
    # families: which one depends on the parameter, so its check says what fits (strings, numbers, dates)
    name="generalize", model=Generalize, rank=30, keyed=False, families=None, repeated=False, check=check,
    compare=compare, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="a coarser value: the year or month, a bucket, a prefix",
)
