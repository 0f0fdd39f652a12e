"""The Python handler of Snowflake's keyed UDFs: :mod:`policyengine.keyed_core`'s own source, shipped.

``CREATE SECURE FUNCTION ... AS $$ ... $$`` carries the module's text plus one entry point per UDF
and the master key, so Snowflake computes exactly what the DuckDB rewrite and the local oracle
compute: there is one implementation. SECURE hides the definition, and so the key, from every
role but the owner; no policy body contains it.
"""

from __future__ import annotations

import inspect

from policyengine import keyed_core

#: UDF name -> (SQL signature, return type, handler entry point); the kind is the first argument,
#: so the handler's source is shipped twice at most, not once per kind
UDFS = {
    "PE_KEYED_TEXT": ("KIND VARCHAR, V VARCHAR", "VARCHAR", "pe_keyed_text"),
    "PE_KEYED_INT": ("KIND VARCHAR, V NUMBER(38,0), PARAMETER NUMBER(38,0)", "NUMBER(38,0)", "pe_keyed_int"),
}

#: what ``policyengine ddl`` prints in place of the key; ``apply`` sends the real one, to Snowflake only
KEY_PLACEHOLDER = "<set by policyengine apply: the key is never printed>"

_ENTRY_POINTS = '''

MASTER_KEY_HEX = "{key}"


def _master():
    return bytes.fromhex(MASTER_KEY_HEX)


def pe_keyed_text(kind, v):
    if v is None:
        return None
    return {"hash": hash_text, "tokenize": tokenize_text, "encrypt": encrypt_text}[kind](_master(), v)


def pe_keyed_int(kind, v, parameter):
    if v is None:
        return None
    return {"hash": hash_int, "tokenize": tokenize_int}[kind](_master(), v, parameter)
'''


def handler_source(master_key_hex: str | None) -> str:
    return inspect.getsource(keyed_core) + _ENTRY_POINTS.replace("{key}", master_key_hex or KEY_PLACEHOLDER)
