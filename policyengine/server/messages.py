"""PostgreSQL v3 wire messages: reading frames, and building the backend messages clients expect.

Every length read from the wire is bounded before anything is allocated: a malformed, truncated
or oversized message ends that connection with a protocol error and nothing else.
"""

from __future__ import annotations

import asyncio
import struct

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


def notice_response(text: str) -> bytes:
    """NoticeResponse ('N'), severity NOTICE, SQLSTATE 00000: something the client is told without
    an error (psql prints it, drivers hand it to their notice handlers)."""
    fields = b"SNOTICE\0VNOTICE\0C00000\0M" + cstring(text)
    return message(b"N", fields + b"\0")
