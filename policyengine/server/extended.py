"""The extended query protocol: Parse, Bind, Describe, Execute, Close, Sync, Flush.

A statement is parsed once (Parse) and run per Bind; the portal's rows are produced when Describe or
the first Execute needs them, and Execute with a row limit suspends the portal. Parameters are
values bound by DuckDB, never spliced into text, so they cannot change what a statement reads.
Parameter types come from Parse, or text when the client gives none (DuckDB casts as it compares).
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from policyengine.server import messages as m

TEXT_OID = 25


@dataclass
class Prepared:
    sql: str
    parameter_oids: list[int]


@dataclass
class Portal:
    statement: Prepared
    parameters: list[Any]
    result: Any = None  # the engine's QueryResult, once run
    batches: Any = None
    pending: list[tuple[Any, ...]] = field(default_factory=list)
    sent: int = 0
    done: bool = False


def parameter_count(sql: str) -> int:
    """How many $n parameters a statement takes, when the client does not say."""
    try:
        trees = sqlglot.parse(sql, read="postgres")
    except Exception:  # noqa: BLE001 - the engine reports the syntax error when it runs
        return 0
    highest = 0
    for tree in trees:
        if tree is None:
            continue
        for node in tree.find_all(exp.Parameter, exp.Placeholder):
            text = node.sql(dialect="postgres").lstrip("$")
            if text.isdigit():
                highest = max(highest, int(text))
    return highest


def parse_message(payload: bytes) -> tuple[str, Prepared]:
    name_end = payload.index(b"\0")
    name = payload[:name_end].decode()
    query_end = payload.index(b"\0", name_end + 1)
    sql = payload[name_end + 1:query_end].decode("utf-8", "replace")
    offset = query_end + 1
    (count,) = struct.unpack("!h", payload[offset:offset + 2])
    oids = list(struct.unpack(f"!{count}i", payload[offset + 2:offset + 2 + 4 * count])) if count > 0 else []
    needed = parameter_count(sql)
    oids += [0] * max(0, needed - len(oids))
    return name, Prepared(sql, oids)


def _text_parameter(raw: bytes, oid: int) -> Any:
    text = raw.decode("utf-8")
    if oid in (20, 21, 23):
        return int(text)
    if oid in (700, 701):
        return float(text)
    if oid == 1700:
        return decimal.Decimal(text)
    if oid == 16:
        return text.lower() in ("t", "true", "1", "yes", "on")
    if oid == 1082:
        return dt.date.fromisoformat(text)
    if oid in (1114, 1184):
        return dt.datetime.fromisoformat(text)
    return text


def _binary_parameter(raw: bytes, oid: int) -> Any:
    if oid == 16:
        return raw != b"\0"
    if oid in (20, 21, 23):
        return int.from_bytes(raw, "big", signed=True)
    if oid == 701:
        return struct.unpack("!d", raw)[0]
    if oid == 700:
        return struct.unpack("!f", raw)[0]
    if oid == 17:
        return bytes(raw)
    if oid in (25, 1043, 0):
        return raw.decode("utf-8")
    raise m.ProtocolViolation(f"binary parameters of type {oid} are not supported")


def bind_message(payload: bytes, prepared: dict[str, Prepared]) -> tuple[str, Portal, list[int]]:
    """(portal name, portal, result format codes)."""
    offset = payload.index(b"\0")
    portal_name = payload[:offset].decode()
    end = payload.index(b"\0", offset + 1)
    statement_name = payload[offset + 1:end].decode()
    offset = end + 1
    statement = prepared.get(statement_name)
    if statement is None:
        raise KeyError(statement_name)
    (format_count,) = struct.unpack("!h", payload[offset:offset + 2])
    formats = list(struct.unpack(f"!{format_count}h", payload[offset + 2:offset + 2 + 2 * format_count]))
    offset += 2 + 2 * format_count
    (count,) = struct.unpack("!h", payload[offset:offset + 2])
    offset += 2
    values = []
    for index in range(count):
        (length,) = struct.unpack("!i", payload[offset:offset + 4])
        offset += 4
        if length == -1:
            values.append(None)
            continue
        raw = payload[offset:offset + length]
        offset += length
        fmt = formats[index] if len(formats) > 1 else (formats[0] if formats else 0)
        oid = statement.parameter_oids[index] if index < len(statement.parameter_oids) else 0
        values.append(_binary_parameter(raw, oid) if fmt == 1 else _text_parameter(raw, oid))
    (result_count,) = struct.unpack("!h", payload[offset:offset + 2])
    result_formats = list(struct.unpack(f"!{result_count}h", payload[offset + 2:offset + 2 + 2 * result_count]))
    return portal_name, Portal(statement, values), result_formats


def parameter_description(statement: Prepared) -> bytes:
    oids = [oid or TEXT_OID for oid in statement.parameter_oids]
    return m.message(b"t", struct.pack(f"!h{len(oids)}i", len(oids), *oids))


PARSE_COMPLETE = m.message(b"1")
BIND_COMPLETE = m.message(b"2")
CLOSE_COMPLETE = m.message(b"3")
NO_DATA = m.message(b"n")
PORTAL_SUSPENDED = m.message(b"s")
