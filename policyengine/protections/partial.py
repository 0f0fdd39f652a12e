"""``partial``: ``show_first``/``show_last`` characters kept, the rest replaced by ``char`` (the length
shows); a value too short to keep any is masked whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr
from sqlglot import exp

from policyengine.model.base import PolicyModel
from policyengine.model.types import TypeFamily
from policyengine.protections._kind import Build, Kind
from policyengine.protections._sql import build as fragment
from policyengine.protections._sql import cast, literal

if TYPE_CHECKING:
    from policyengine.model.problems import Problems
    from policyengine.model.types import ColumnType


class Partial(PolicyModel):
    kind: Literal["partial"]
    show_first: Annotated[StrictInt, Field(ge=0, le=1000)] = 0
    show_last: Annotated[StrictInt, Field(ge=0, le=1000)] = 0
    char: Annotated[StrictStr, Field(min_length=1, max_length=1)] = "*"


def check(protection: Partial, column_type: ColumnType, at: Problems) -> Partial | None:
    if protection.show_first == 0 and protection.show_last == 0:
        at.add((), "partial shows nothing: set show_first or show_last (or use redact)")
        return None
    return protection


def build(value: exp.Expression, column: Any, protection: Partial, context: Build) -> exp.Expression:
    first, last = protection.show_first, protection.show_last
    pieces = ["left(__val, __first)"] if first else []
    pieces.append("repeat(__char, length(__val) - __keep)")
    if last:
        pieces.append("right(__val, __last)")
    return cast(fragment(
        "CASE WHEN __val IS NULL THEN NULL WHEN length(__val) <= __keep THEN repeat(__char, length(__val)) "
        f"ELSE {' || '.join(pieces)} END",
        val=value, keep=literal(first + last), first=literal(first), last=literal(last),
        char=literal(protection.char),
    ), column.type.sql)


def compare(old: dict[str, Any], new: dict[str, Any]) -> int | None:
    """Fewer characters kept at both ends shows less; another mask character shows as much."""
    if {k: v for k, v in old.items() if k != "char"} == {k: v for k, v in new.items() if k != "char"}:
        return 0
    shown_old = (old.get("show_first", 0), old.get("show_last", 0))
    shown_new = (new.get("show_first", 0), new.get("show_last", 0))
    if all(n <= o for n, o in zip(shown_new, shown_old)):
        return -1
    if all(n >= o for n, o in zip(shown_new, shown_old)):
        return 1
    return None


def reference(value: str, column: Any, protection: Partial, keys: Any) -> str:
    keep = protection.show_first + protection.show_last
    if len(value) <= keep:
        return protection.char * len(value)
    return (value[:protection.show_first] + protection.char * (len(value) - keep)
            + (value[-protection.show_last:] if protection.show_last else ""))


KIND = Kind(
    name="partial", model=Partial, rank=20, keyed=False, families=frozenset({TypeFamily.STRING}), repeated=False,
    check=check, compare=compare, build=build, snowflake=None, snowflake_values=None, reference=reference,
    summary="the first or last characters verbatim, and the length",
)
