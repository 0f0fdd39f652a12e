"""Protection kinds (spec section 7) and their parameters, as written in a column's ``protection``.

``protection: None`` and ``protection: {kind: partial, show_last: 4}`` are both accepted; a bare
kind name is the object with no parameters. Each kind is its own model so that a parameter that
does not belong to the kind (``show_last`` on ``email``) is reported, not ignored. Whether a kind
fits the column's type is checked later, where the type is known (:mod:`policyengine.model.checks`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Union

from pydantic import Field, StrictFloat, StrictInt, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from policyengine.model.base import PolicyModel, describe_value, normalize_key


class NoProtection(PolicyModel):
    kind: Literal["none"] = "none"


class Redact(PolicyModel):
    """A constant of the column's type; ``value`` overrides the per-type default."""

    kind: Literal["redact"]
    value: Any = None

    @field_validator("value")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, (str, bool, int, float, dt.date)):
            raise PydanticCustomError("redact_value", "expected a single value, got {got}", {"got": describe_value(value)})
        return value


class Nullify(PolicyModel):
    kind: Literal["nullify"]


class Partial(PolicyModel):
    kind: Literal["partial"]
    show_first: Annotated[StrictInt, Field(ge=0, le=1000)] = 0
    show_last: Annotated[StrictInt, Field(ge=0, le=1000)] = 0
    char: Annotated[StrictStr, Field(min_length=1, max_length=1)] = "*"


class EmailMask(PolicyModel):
    kind: Literal["email"]


class Hash(PolicyModel):
    kind: Literal["hash"]


class Tokenize(PolicyModel):
    kind: Literal["tokenize"]


class Encrypt(PolicyModel):
    kind: Literal["encrypt"]


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


class Custom(PolicyModel):
    """``expr`` is Snowflake SQL over ``val`` and, for conditional masking, the row's other columns."""

    kind: Literal["custom"]
    expr: Annotated[StrictStr, Field(min_length=1)]


class Deny(PolicyModel):
    kind: Literal["deny"]


Protection = Annotated[
    Union[NoProtection, Redact, Nullify, Partial, EmailMask, Hash, Tokenize, Encrypt, Generalize, Custom, Deny],
    Field(discriminator="kind"),
]

KINDS: tuple[str, ...] = (
    "none", "redact", "nullify", "partial", "email", "hash", "tokenize", "encrypt", "generalize", "custom", "deny",
)

#: kinds that need the configured key (POLICYENGINE_KEY or a key file)
KEYED_KINDS = frozenset({"hash", "tokenize", "encrypt"})


def normalize_protection(value: Any) -> Any:
    """``"None"`` -> ``{"kind": "none"}``; the kind name is matched case-insensitively."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, str):
        return {"kind": value.strip().lower()}
    if isinstance(value, dict):
        out = {}
        written = None
        for key, item in value.items():
            if normalize_key(key) == "kind":
                if written is not None:  # {kind: deny, Kind: nullify}: refuse, never let the last one win
                    raise PydanticCustomError("duplicate_key", "key 'kind' is given twice (as '{first}' and '{second}')",
                                              {"first": written, "second": str(key)})
                written = str(key)
                if not isinstance(item, str):
                    # said here, not by pydantic: its discriminator error prints the value, and a YAML
                    # alias bomb (9^9 items, a few hundred bytes of YAML) printed takes gigabytes
                    raise PydanticCustomError("kind", "'kind' must be the name of a protection kind, got {got}",
                                              {"got": describe_value(item)})
                out["kind"] = item.strip().lower()
            else:
                out[key] = item
        return out
    return value


def describe_protection(protection: Any) -> str:
    """``partial(show_last=4)``: the kind and the parameters that differ from the defaults."""
    params = {
        name: value for name, value in protection.model_dump(exclude={"kind"}).items()
        if value is not None and value != type(protection).model_fields[name].default
    }
    if not params:
        return protection.kind
    return f"{protection.kind}(" + ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                                             for k, v in params.items()) + ")"
