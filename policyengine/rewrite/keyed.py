"""The keyed protections' SQL, where the backends look for it: the session variables that hold a
purpose's padded keys (:func:`variable_name`) and the fragments themselves, which live with the
keyed kinds in :mod:`policyengine.protections._keyed` (sqlglot only, at the model layer)."""

from __future__ import annotations

from policyengine.protections._keyed import (
    encrypt_value,
    hash_value,
    hmac_hex,
    tokenize_value,
    udf_call,
    variable_name,
)

__all__ = ["encrypt_value", "hash_value", "hmac_hex", "tokenize_value", "udf_call", "variable_name"]
