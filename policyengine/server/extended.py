"""The extended query protocol: Parse, Bind, Describe, Execute, Close, Sync, Flush.

A statement is parsed once (Parse) and run per Bind; the portal's rows are produced when Describe or
the first Execute needs them, and Execute with a row limit suspends the portal. Parameters are
values bound by DuckDB, never spliced into text, so they cannot change what a statement reads.
Parameter types come from Parse, or text when the client gives none (DuckDB casts as it compares).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlglot import exp

from policyengine.rewrite.statement import read_postgres
from policyengine.server import messages as m
from policyengine.server.binary import decode_parameter

TEXT_OID = 25


@dataclass
class Prepared:
    sql: str
    parameter_oids: list[int]
    utility: Any = None  # the session statement it is (utility.py), or None for a query


@dataclass
class Portal:
    statement: Prepared
    parameters: list[Any]
    formats: list[int] = field(default_factory=list)  # result format codes from Bind
    feed: Any = None  # the running result (server/feed.py), once Described or Executed
    encoders: list[Any] = field(default_factory=list)
    sent: int = 0
    done: bool = False


#: texts longer than this are counted each time rather than kept (2,048 kept texts of any length
#: could hold gigabytes)
LONGEST_KEPT = 16 << 10


def parameter_count(sql: str) -> int:
    """How many $n parameters a statement takes, when the client does not say."""
    return _parameter_count(sql) if len(sql) <= LONGEST_KEPT else _parameter_count.__wrapped__(sql)


@lru_cache(maxsize=2048)
def _parameter_count(sql: str) -> int:
    try:
        trees = read_postgres(sql)
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


def bind_message(payload: bytes, prepared: dict[str, Prepared]) -> tuple[str, Portal]:
    """(portal name, portal) from a Bind message; parameters decoded by their types and formats."""
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
    if format_count not in (0, 1, count):
        raise ValueError("parameter format codes do not match the parameters")
    values = []
    for index in range(count):
        (length,) = struct.unpack("!i", payload[offset:offset + 4])
        offset += 4
        if length == -1:
            values.append(None)
            continue
        if length < 0 or offset + length > len(payload):
            raise ValueError("parameter length out of bounds")
        raw = payload[offset:offset + length]
        offset += length
        fmt = formats[index] if len(formats) > 1 else (formats[0] if formats else 0)
        oid = statement.parameter_oids[index] if index < len(statement.parameter_oids) else 0
        values.append(decode_parameter(raw, oid, fmt))
    (result_count,) = struct.unpack("!h", payload[offset:offset + 2])
    result_formats = list(struct.unpack(f"!{result_count}h", payload[offset + 2:offset + 2 + 2 * result_count]))
    return portal_name, Portal(statement, values, formats=result_formats)


def parameter_description(statement: Prepared) -> bytes:
    oids = [oid or TEXT_OID for oid in statement.parameter_oids]
    return m.message(b"t", struct.pack(f"!h{len(oids)}i", len(oids), *oids))


PARSE_COMPLETE = m.message(b"1")
BIND_COMPLETE = m.message(b"2")
CLOSE_COMPLETE = m.message(b"3")
NO_DATA = m.message(b"n")
PORTAL_SUSPENDED = m.message(b"s")
