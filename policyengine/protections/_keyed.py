"""The keyed protections' SQL (hash, tokenize, encrypt), computing what :mod:`policyengine.crypto` does.

Shared by the three keyed kind modules; sqlglot only, so that it sits with the kinds at the model layer.

HMAC-SHA-256 is built from SHA-256 over binary, as the spec asks, because neither DuckDB nor
Snowflake has an HMAC function. The key never appears in the SQL: the fragments read HMAC's two
padded keys from session variables (``getvariable('__pe_hash_i')``) that the backend sets from the
configured key when it opens a connection, and users may not call ``getvariable`` themselves.
Values that must be computed once per row (a digest used for every character of a token) are
bound with a one-element list and a lambda, DuckDB's way of naming an intermediate value.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from policyengine.crypto import INTEGER_HASH_NIBBLES, INTEGER_MAX
from policyengine.protections._sql import build, cast, literal
from policyengine.protections._sql import when_not_null as _when_not_null

HEX = "'0123456789abcdef'"


def variable_name(purpose: str, pad: str) -> str:
    """``__pe_encrypt_iv_i``: the session variable holding a purpose's inner (i) or outer (o) padded key."""
    return f"__pe_{purpose.replace('-', '_')}_{pad}"


def hmac_hex(purpose: str, message: exp.Expression) -> exp.Expression:
    """Lower-case hex HMAC-SHA-256 of a BLOB under the purpose's key."""
    inner, outer = variable_name(purpose, "i"), variable_name(purpose, "o")
    return build(f"sha256(getvariable('{outer}') || unhex(sha256(getvariable('{inner}') || __msg)))", msg=message)


def _hex_number(text: str, position: str, digits: int, sql_type: str = "INTEGER") -> str:
    """``digits`` hex digits of ``text`` from ``position`` as a number, by DuckDB's own hex cast (one
    cast instead of a lookup per digit). Only ever applied where the digits exist and are lower-case
    hex (digests, ``hex()`` output), so the cast cannot fail."""
    return f"CAST(('0x' || substr({text}, {position}, {digits})) AS {sql_type})"


def _nibble(text: str, position: str) -> str:
    return _hex_number(text, position, 1)


def _stream_byte(digest: str, index: str) -> str:
    """Byte ``index`` (cycling every 32) of a hex digest, as a number."""
    return _hex_number(digest, f"(({index}) % 32) * 2 + 1", 2)


def hash_value(value: exp.Expression, sql_type: str) -> exp.Expression:
    digest = hmac_hex("hash", build("encode(CAST(__val AS VARCHAR))", val=value))
    if sql_type not in INTEGER_HASH_NIBBLES:
        return _when_not_null(value, digest)
    # the first nibbles of the digest as a number (they fit the type: 7 hex digits in an INTEGER...)
    number = build(_hex_number("__digest", "1", INTEGER_HASH_NIBBLES[sql_type], sql_type), digest=digest)
    return _when_not_null(value, number)


def tokenize_value(value: exp.Expression, sql_type: str) -> exp.Expression:
    if sql_type in INTEGER_MAX:
        return _when_not_null(value, _tokenize_integer(value, sql_type))
    # each character (DuckDB's string_split on '' gives code points, as length() and substr() count them)
    # with its 1-based position: one split per value instead of a substr per test of each character
    byte = _stream_byte("pe_h", "pe_i - 1")
    char = "pe_c"
    body = (
        f"list_transform([__digest], lambda pe_h: array_to_string(list_transform(string_split(__val, ''), "
        f"lambda pe_c, pe_i: "
        f"CASE WHEN {char} BETWEEN '0' AND '9' THEN chr(CAST(48 + {byte} % 10 AS INTEGER)) "
        f"WHEN {char} BETWEEN 'a' AND 'z' THEN chr(CAST(97 + {byte} % 26 AS INTEGER)) "
        f"WHEN {char} BETWEEN 'A' AND 'Z' THEN chr(CAST(65 + {byte} % 26 AS INTEGER)) "
        f"ELSE {char} END), ''))[1]"
    )
    digest = hmac_hex("tokenize", build("encode(__val)", val=value))
    return _when_not_null(value, build(body, val=value, digest=digest))


def _tokenize_integer(value: exp.Expression, sql_type: str) -> exp.Expression:
    digits = build("ltrim(CAST(__val AS VARCHAR), '-')", val=value)
    byte = _stream_byte("pe_h", "pe_i")
    token = build(
        "list_transform([__digest], lambda pe_h: array_to_string(list_transform(range(length(__digits)), lambda pe_i: "
        f"chr(CAST(CASE WHEN pe_i = 0 THEN 49 + {byte} % 9 ELSE 48 + {byte} % 10 END AS INTEGER))), ''))[1]",
        digits=digits, digest=hmac_hex("tokenize", build("encode(__digits)", digits=digits)),
    )
    maximum = INTEGER_MAX[sql_type]
    number = build(
        f"list_transform([CAST(__token AS DECIMAL(38,0))], lambda pe_n: "
        f"CASE WHEN pe_n > {maximum} THEN pe_n % {maximum} ELSE pe_n END)[1]", token=token)
    signed = build("CASE WHEN __val < 0 THEN -__n ELSE __n END", val=value, n=number)
    return cast(signed, sql_type)


def encrypt_value(value: exp.Expression) -> exp.Expression:
    message = build("lower(hex(encode(__val)))", val=value)
    iv = build("left(__digest, 32)", digest=hmac_hex("encrypt-iv", build("encode(__val)", val=value)))
    block = hmac_hex("encrypt", build("unhex(pe_iv) || encode(CAST(pe_j AS VARCHAR))"))
    keystream = build(
        "array_to_string(list_transform(range(CAST(ceil(length(pe_m) / 64) AS BIGINT)), lambda pe_j: __block), '')",
        block=block)
    body = build(
        "list_transform([__message], lambda pe_m: list_transform([__iv], lambda pe_iv: "
        "list_transform([__keystream], lambda pe_ks: 'pe1:' || pe_iv || "
        "array_to_string(list_transform(range(length(pe_m)), "
        f"lambda pe_k: substr({HEX}, CAST(xor({_nibble('pe_m', 'pe_k + 1')}, "
        f"{_nibble('pe_ks', 'pe_k + 1')}) + 1 AS INTEGER), 1)), "
        "''))[1])[1])[1]",
        message=message, iv=iv, keystream=keystream)
    return _when_not_null(value, body)


def udf_call(kind: str, value: exp.Expression, sql_type: str, qualify: Callable[[str], str]) -> exp.Expression:
    """A keyed protection as a call of the warehouse's secure UDF, named by ``qualify``: the form used
    where the key lives in the warehouse, not in session variables. ``PE_KEYED_TEXT(kind, value)`` for
    strings, ``PE_KEYED_INT(kind, value, parameter)`` for integers (digits kept, or range bounded)."""
    if sql_type in INTEGER_MAX:
        parameter = INTEGER_HASH_NIBBLES[sql_type] if kind == "hash" else INTEGER_MAX[sql_type]
        return exp.Anonymous(this=qualify("PE_KEYED_INT"),
                             expressions=[exp.Literal.string(kind), value, literal(parameter)])
    return exp.Anonymous(this=qualify("PE_KEYED_TEXT"), expressions=[exp.Literal.string(kind), value])
