"""The Python handler of Snowflake's keyed UDFs: :mod:`policyengine.keyed_core`'s own source, shipped.

``CREATE SECURE FUNCTION ... AS $$ ... $$`` carries the module's text plus one entry point per UDF,
so Snowflake computes exactly what the DuckDB rewrite and the local oracle compute: there is one
implementation. The function holds no key. It reads the per-purpose keys derived from the master
key (never the master key, :func:`policyengine.crypto.warehouse_key_file`) from a file on an internal
stage, named in its ``IMPORTS`` and read from the import directory as Snowflake documents for inline
handlers (``sys._xoptions["snowflake_import_directory"]``). ``policyengine apply`` uploads that
file; the printed DDL says how to write and upload it. The function's comment carries the key's
fingerprint (never the key), so ``apply`` sees a rotation and re-creates the functions.
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

#: the internal stage that holds the derived keys, and the file's name on it
KEY_STAGE = "PE_KEYS"
KEY_FILE = "policyengine_keys.json"

#: how a function's comment records which key it was created for (the fingerprint, never the key)
FINGERPRINT_PREFIX = "policyengine keyed protection; key fingerprint "

_ENTRY_POINTS = '''

import json as _json
import sys as _sys

_DERIVED = None


def _keys():
    """The derived per-purpose keys, read once from the staged file this function imports."""
    global _DERIVED
    if _DERIVED is None:
        folder = _sys._xoptions["snowflake_import_directory"]
        with open(folder + "{key_file}") as handle:
            stored = _json.load(handle)
        _DERIVED = {{purpose: bytes.fromhex(key) for purpose, key in stored["keys"].items()}}
    return _DERIVED


def pe_keyed_text(kind, v):
    if v is None:
        return None
    return {{"hash": hash_text, "tokenize": tokenize_text, "encrypt": encrypt_text}}[kind](_keys(), v)


def pe_keyed_int(kind, v, parameter):
    if v is None:
        return None
    return {{"hash": hash_int, "tokenize": tokenize_int}}[kind](_keys(), v, parameter)
'''


def handler_source() -> str:
    return inspect.getsource(keyed_core) + _ENTRY_POINTS.format(key_file=KEY_FILE)


def fingerprint_comment(fingerprint: str | None) -> str:
    """The function's comment; without a key at hand (``ddl`` run with none configured) it says so,
    and ``apply`` re-creates such a function once it knows the key."""
    return FINGERPRINT_PREFIX + (fingerprint or "not recorded")


def recorded_fingerprint(comment: str | None) -> str | None:
    text = comment or ""
    if not text.startswith(FINGERPRINT_PREFIX):
        return None
    value = text[len(FINGERPRINT_PREFIX):].strip()
    return None if value == "not recorded" else value
