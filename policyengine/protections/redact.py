"""``redact``: a constant of the column's type (``value``, or a per-type default) for every value
that is not NULL: only whether there is a value shows."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator
from pydantic_core import PydanticCustomError
from sqlglot import exp

from policyengine.model.base import PolicyModel, describe_value
from policyengine.model.types import TypeFamily
from policyengine.protections._kind import Build, Kind
from policyengine.protections._ranges import in_range
from policyengine.protections._sql import cast, literal, when_not_null

if TYPE_CHECKING:
    from policyengine.model.problems import Problems
    from policyengine.model.types import ColumnType


class Redact(PolicyModel):
    """A constant of the column's type; ``value`` overrides the per-type default."""

    kind: Literal["redact"]
    value: Any = None

    @field_validator("value")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, (str, bool, int, float, dt.date)):
            raise PydanticCustomError("redact_value", "expected a single value, got {got}",
                                      {"got": describe_value(value)})
        return value


#: what ``redact`` shows when the policy names no value, as SQL literals
REDACTED: dict[TypeFamily, Any] = {
    TypeFamily.STRING: "*****",
    TypeFamily.INTEGER: 0,
    TypeFamily.FLOAT: 0.0,
    TypeFamily.DECIMAL: 0,
    TypeFamily.BOOLEAN: False,
    TypeFamily.DATE: "1970-01-01",
    TypeFamily.TIMESTAMP: "1970-01-01 00:00:00",
    TypeFamily.TIME: "00:00:00",
    TypeFamily.BINARY: "",
}

#: the same defaults as the Python values a query returns, for the reference
REDACTED_VALUES: dict[TypeFamily, Any] = {
    TypeFamily.STRING: "*****", TypeFamily.INTEGER: 0, TypeFamily.FLOAT: 0.0, TypeFamily.DECIMAL: decimal.Decimal(0),
    TypeFamily.BOOLEAN: False, TypeFamily.DATE: dt.date(1970, 1, 1),
    TypeFamily.TIMESTAMP: dt.datetime(1970, 1, 1), TypeFamily.TIME: dt.time(0, 0), TypeFamily.BINARY: b"",
}


def check(protection: Redact, column_type: ColumnType, at: Problems) -> Redact | None:
    if protection.value is None:
        return protection
    fits, value = _redact_value(protection.value, column_type, at.at("value"))
    return protection.model_copy(update={"value": value}) if fits else None


def _redact_value(value: Any, column_type: ColumnType, at: Problems) -> tuple[bool, Any]:
    """Whether a ``redact`` value fits the column's type, and the value to use.

    Dates and times are written as ISO text (YAML does not turn them into dates here, JSON has
    none); they are kept in their plain ISO spelling (``2021-01-01``, ``2021-01-01 10:00:00``,
    ``10:30:00``), which both DuckDB and Snowflake cast from.
    """
    family = column_type.family
    if family is TypeFamily.BINARY:
        at.add((), f"redact takes no value for column type {column_type.written}: "
                   "a binary column is redacted to an empty value")
        return False, value
    canonical = _iso(value, family)
    ok = {
        TypeFamily.STRING: isinstance(value, str),
        TypeFamily.INTEGER: isinstance(value, int) and not isinstance(value, bool),
        TypeFamily.FLOAT: isinstance(value, (int, float)) and not isinstance(value, bool),
        TypeFamily.DECIMAL: isinstance(value, (int, float)) and not isinstance(value, bool),
        TypeFamily.BOOLEAN: isinstance(value, bool),
    }.get(family, canonical is not None)
    if not ok:
        at.add((), f"value {value!r} does not fit column type {column_type.written}")
        return False, value
    if not in_range(value, column_type):
        # of the right kind but not of the type: every query reading the column redacted would fail
        # converting it (INTEGER 99999999999, DECIMAL(10,2) 1e12), where no protection may raise an error
        shown = repr(value) if len(repr(value)) <= 40 else f"{str(value)[:12]}... ({len(str(value))} digits)"
        sql = "" if column_type.written.strip().upper() == column_type.sql else f" ({column_type.sql})"
        at.add((), f"value {shown} is out of range for column type {column_type.written}{sql}")
        return False, value
    return True, canonical if canonical is not None else value


def _iso(value: Any, family: TypeFamily) -> str | None:
    """A date, timestamp or time value in plain ISO text, or None when it is not one."""
    try:
        if family is TypeFamily.DATE:
            if isinstance(value, dt.datetime):
                return None
            return (value if isinstance(value, dt.date) else dt.date.fromisoformat(value)).isoformat()
        if family is TypeFamily.TIMESTAMP:
            if isinstance(value, dt.datetime):
                return value.isoformat(sep=" ")
            if isinstance(value, dt.date):
                return value.isoformat()
            return dt.datetime.fromisoformat(value).isoformat(sep=" ")
        if family is TypeFamily.TIME:
            parsed = dt.time.fromisoformat(value)
            return parsed.isoformat() if parsed.tzinfo is None else None
    except (TypeError, ValueError):
        return None
    return None


def build(value: exp.Expression, column: Any, protection: Redact, context: Build) -> exp.Expression:
    constant = protection.value if protection.value is not None else REDACTED[column.type.family]
    if isinstance(constant, (dt.date, dt.datetime)):
        constant = constant.isoformat(sep=" ") if isinstance(constant, dt.datetime) else constant.isoformat()
    return cast(when_not_null(value, literal(constant)), column.type.sql)


def compare(old: dict[str, Any], new: dict[str, Any]) -> int | None:
    """Another constant shows nothing of the value either way."""
    return 0


def reference(value: Any, column: Any, protection: Redact, keys: Any) -> Any:
    family = column.type.family
    if protection.value is None:
        return REDACTED_VALUES[family]
    if family is TypeFamily.DATE and isinstance(protection.value, str):
        return dt.date.fromisoformat(protection.value)
    return protection.value


KIND = Kind(
    name="redact", model=Redact, rank=70, keyed=False, families=None, repeated=False, check=check,
    compare=compare, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="a constant: only whether there is a value",
)
