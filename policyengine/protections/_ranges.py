"""The ranges of the numeric column types, which a kind must stay inside: a protected value that does
not fit the column's type would make the query fail converting it, and an error may echo the value."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from policyengine.model.types import TypeFamily

if TYPE_CHECKING:
    from policyengine.model.types import ColumnType

#: the half-range of each integer type: a value v fits when -bound <= v < bound
INTEGER_BOUNDS = {"TINYINT": 2 ** 7, "SMALLINT": 2 ** 15, "INTEGER": 2 ** 31, "BIGINT": 2 ** 63}


def decimal_shape(sql_type: str) -> tuple[int, int] | None:
    """``DECIMAL(10,2)`` -> (10, 2): its precision and scale."""
    match = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", sql_type)
    return (int(match.group(1)), int(match.group(2))) if match else None


def in_range(value: Any, column_type: ColumnType) -> bool:
    """Whether a number fits the column's SQL type (its integer width, its DECIMAL precision)."""
    family = column_type.family
    if family is TypeFamily.INTEGER:
        bound = INTEGER_BOUNDS.get(column_type.sql)
        return bound is None or -bound <= value < bound
    if family is TypeFamily.DECIMAL:
        shape = decimal_shape(column_type.sql)
        if shape is None:
            return True
        precision, scale = shape
        return abs(value) < 10 ** (precision - scale)
    if family is TypeFamily.FLOAT:
        try:
            magnitude = abs(float(value))
        except OverflowError:  # a whole number past any floating-point number
            return False
        return magnitude <= (3.4028234663852886e38 if column_type.sql == "REAL" else 1.7976931348623157e308)
    return True
