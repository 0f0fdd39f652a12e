"""Protection kinds (spec section 7) as written in a column's ``protection``: the names the rest of
the model uses, derived from the registry of :mod:`policyengine.protections` (one module per kind).

``protection: None`` and ``protection: {kind: partial, show_last: 4}`` are both accepted; a bare
kind name is the object with no parameters. Each kind is its own model so that a parameter that
does not belong to the kind (``show_last`` on ``email``) is reported, not ignored. Whether a kind
fits the column's type is checked later, where the type is known (:mod:`policyengine.model.checks`).
"""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

from policyengine.model.base import describe_value, normalize_key
from policyengine.protections._registry import KEYED, NAMES, PROTECTION
from policyengine.protections.custom import Custom
from policyengine.protections.deny import Deny
from policyengine.protections.email import EmailMask
from policyengine.protections.encrypt import Encrypt
from policyengine.protections.generalize import Generalize
from policyengine.protections.hash import Hash
from policyengine.protections.none import NoProtection
from policyengine.protections.nullify import Nullify
from policyengine.protections.partial import Partial
from policyengine.protections.redact import Redact
from policyengine.protections.tokenize import Tokenize

__all__ = [
    "Custom", "Deny", "EmailMask", "Encrypt", "Generalize", "Hash", "KEYED_KINDS", "KINDS", "NoProtection",
    "Nullify", "Partial", "Protection", "Redact", "Tokenize", "describe_protection", "normalize_protection",
]

#: the discriminated union of every kind's model (on ``kind``)
Protection = PROTECTION

#: every kind's name, weakest first
KINDS: tuple[str, ...] = NAMES

#: kinds that need the configured key (POLICYENGINE_KEY or a key file)
KEYED_KINDS: frozenset[str] = KEYED


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
                    raise PydanticCustomError("duplicate_key",
                                              "key 'kind' is given twice (as '{first}' and '{second}')",
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
