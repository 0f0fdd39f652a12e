"""The Python handler of Snowflake's keyed UDFs: :mod:`policyengine.keyed_core`'s own source, shipped.

``CREATE SECURE FUNCTION ... AS $$ ... $$`` carries the module's text plus one entry point per UDF
and the master key, so Snowflake computes exactly what the DuckDB rewrite and the local oracle
compute: there is one implementation. SECURE hides the definition, and so the key, from every
role but the owner; no policy body contains it.
"""

from __future__ import annotations

import inspect

from policyengine import keyed_core

#: UDF name -> (SQL signature, return type, handler entry point)
UDFS = {
    "PE_HASH_TEXT": ("V VARCHAR", "VARCHAR", "pe_hash_text"),
    "PE_HASH_INT": ("V NUMBER(38,0), NIBBLES NUMBER(38,0)", "NUMBER(38,0)", "pe_hash_int"),
    "PE_TOKENIZE_TEXT": ("V VARCHAR", "VARCHAR", "pe_tokenize_text"),
    "PE_TOKENIZE_INT": ("V NUMBER(38,0), MAXIMUM NUMBER(38,0)", "NUMBER(38,0)", "pe_tokenize_int"),
    "PE_ENCRYPT_TEXT": ("V VARCHAR", "VARCHAR", "pe_encrypt_text"),
}

#: what ``policyengine ddl`` prints in place of the key; ``apply`` sends the real one, to Snowflake only
KEY_PLACEHOLDER = "<set by policyengine apply: the key is never printed>"

_ENTRY_POINTS = '''

MASTER_KEY_HEX = "{key}"


def _master():
    return bytes.fromhex(MASTER_KEY_HEX)


def pe_hash_text(v):
    return None if v is None else hash_text(_master(), v)


def pe_hash_int(v, nibbles):
    return None if v is None else hash_int(_master(), v, nibbles)


def pe_tokenize_text(v):
    return None if v is None else tokenize_text(_master(), v)


def pe_tokenize_int(v, maximum):
    return None if v is None else tokenize_int(_master(), v, maximum)


def pe_encrypt_text(v):
    return None if v is None else encrypt_text(_master(), v)
'''


def handler_source(master_key_hex: str | None) -> str:
    return inspect.getsource(keyed_core) + _ENTRY_POINTS.replace("{key}", master_key_hex or KEY_PLACEHOLDER)
