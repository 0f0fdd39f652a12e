"""PostgreSQL v3 wire messages: reading frames, and building the backend messages clients expect.

Every length read from the wire is bounded before anything is allocated: a malformed, truncated
or oversized message ends that connection with a protocol error and nothing else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import struct
import uuid
from typing import Any

MAX_MESSAGE = 64 * 1024 * 1024  # a single message; larger ones are refused (08P01)
MAX_STARTUP = 10_000

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_3 = 196608


class ProtocolViolation(Exception):
    """The client broke the protocol; the connection is closed with SQLSTATE 08P01."""


async def read_startup(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = await reader.readexactly(4)
    (length,) = struct.unpack("!i", header)
    if not 8 <= length <= MAX_STARTUP:
        raise ProtocolViolation("invalid startup packet length")
    body = await reader.readexactly(length - 4)
    (code,) = struct.unpack("!i", body[:4])
    return code, body[4:]


def parse_startup_parameters(payload: bytes) -> dict[str, str]:
    parts = payload.split(b"\0")
    params: dict[str, str] = {}
    for key, value in zip(parts[0::2], parts[1::2]):
        if not key:
            break
        params[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return params


async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    kind = await reader.readexactly(1)
    (length,) = struct.unpack("!i", await reader.readexactly(4))
    if not 4 <= length <= MAX_MESSAGE:
        raise ProtocolViolation("invalid message length")
    return kind, await reader.readexactly(length - 4)


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(payload) + 4) + payload


def cstring(text: str) -> bytes:
    return text.encode() + b"\0"


def authentication(code: int, data: bytes = b"") -> bytes:
    return message(b"R", struct.pack("!i", code) + data)


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstring(name) + cstring(value))


def backend_key_data(pid: int, secret: int) -> bytes:
    return message(b"K", struct.pack("!ii", pid, secret))


def ready_for_query(status: bytes = b"I") -> bytes:
    return message(b"Z", status)


def command_complete(tag: str) -> bytes:
    return message(b"C", cstring(tag))


def empty_query() -> bytes:
    return message(b"I")


def error_response(sqlstate: str, text: str, severity: str = "ERROR") -> bytes:
    fields = b"S" + cstring(severity) + b"V" + cstring(severity) + b"C" + cstring(sqlstate) + b"M" + cstring(text)
    return message(b"E", fields + b"\0")


# --- types ----------------------------------------------------------------------------------------

#: DuckDB type name (prefix) -> (PostgreSQL type OID, size)
TYPE_OIDS: list[tuple[str, int, int]] = [
    ("BOOLEAN", 16, 1), ("TINYINT", 21, 2), ("SMALLINT", 21, 2), ("INTEGER", 23, 4), ("BIGINT", 20, 8),
    ("HUGEINT", 1700, -1), ("FLOAT", 700, 4), ("REAL", 700, 4), ("DOUBLE", 701, 8), ("DECIMAL", 1700, -1),
    ("DATE", 1082, 4), ("TIMESTAMP WITH TIME ZONE", 1184, 8), ("TIMESTAMP", 1114, 8), ("TIME", 1083, 8),
    ("BLOB", 17, -1), ("UUID", 2950, 16), ("INTERVAL", 1186, 16), ("VARCHAR", 25, -1),
]


def type_oid(duckdb_type: str) -> tuple[int, int]:
    upper = duckdb_type.upper()
    for prefix, oid, size in TYPE_OIDS:
        if upper.startswith(prefix):
            return oid, size
    return 25, -1  # anything else travels as text


def row_description(columns: list[str], types: list[str]) -> bytes:
    body = struct.pack("!h", len(columns))
    for name, kind in zip(columns, types):
        oid, size = type_oid(kind)
        body += cstring(name) + struct.pack("!ihihih", 0, 0, oid, size, -1, 0)
    return message(b"T", body)


def text_value(value: Any) -> bytes | None:
    """PostgreSQL's text format for a value DuckDB returned."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"\\x" + bytes(value).hex().encode()
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ").encode()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat().encode()
    if isinstance(value, float):
        return repr(value).encode() if value == value and value not in (float("inf"), float("-inf")) else \
            {"nan": b"NaN", "inf": b"Infinity", "-inf": b"-Infinity"}[repr(value)]
    if isinstance(value, (int, decimal.Decimal, uuid.UUID)):
        return str(value).encode()
    if isinstance(value, str):
        return value.encode()
    return str(value).encode()


def data_row(row: tuple[Any, ...]) -> bytes:
    body = struct.pack("!h", len(row))
    for value in row:
        encoded = text_value(value)
        body += struct.pack("!i", -1) if encoded is None else struct.pack("!i", len(encoded)) + encoded
    return message(b"D", body)
