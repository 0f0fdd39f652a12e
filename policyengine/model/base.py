"""The base of every policy-file model: keys matched the way people write them.

The seed writes ``originatingSource`` and ``registrationTime``; people write ``originating_source``
or ``OriginatingSource`` too. Keys are therefore compared with case, underscores and dashes ignored,
then handed to pydantic under the field's canonical spelling, so error paths name the key the way the
documentation does. Unknown keys are kept so that pydantic reports them: a typo such as
``protecton`` must never be silently ignored in a security policy.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


def describe_value(value: Any) -> str:
    """A short, typed rendering of a wrong value for an error message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"'{shown}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def normalize_key(key: object) -> str:
    return re.sub(r"[\s_\-]", "", str(key)).lower()


class PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: what a mapping that is not a mapping should be called in messages
    kind_name: ClassVar[str] = "a mapping"

    @classmethod
    def canonical_keys(cls) -> dict[str, str]:
        keys: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            spelled = info.alias or name
            keys[normalize_key(spelled)] = spelled
            keys[normalize_key(name)] = spelled
        return keys

    @model_validator(mode="before")
    @classmethod
    def _match_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        canonical = cls.canonical_keys()
        out: dict[str, Any] = {}
        written_as: dict[str, str] = {}
        for key, value in data.items():
            target = canonical.get(normalize_key(key), str(key))
            if target in out:
                raise PydanticCustomError(
                    "duplicate_key",
                    "key '{key}' is given twice (as '{first}' and '{second}')",
                    {"key": target, "first": written_as[target], "second": str(key)},
                )
            out[target] = value
            written_as[target] = str(key)
        return out
