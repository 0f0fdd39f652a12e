"""How long portals live, and how much one session may hold, on the wire as a driver sees it.

PostgreSQL: "a named portal object lasts till the end of the current transaction" (protocol docs,
Extended Query). Outside a transaction block each Sync ends one, so a portal left suspended there is
gone after Sync; inside BEGIN it survives Sync and ends with COMMIT. Without that rule every
suspended portal kept a DuckDB cursor and its result for as long as the connection lived; the caps
bound what a session can hold inside one transaction.
"""

from __future__ import annotations

import asyncio
import struct

from policyengine.fuzz.protocol_mutate import build_parse, frame
from policyengine.fuzz.protocol_world import connect_and_login, error_fields, read_frame
from policyengine.server import session as session_module
from tests.harness.frontdoor import PASSWORDS, FrontDoor

ROWS = 'SELECT "ReviewID" FROM reviews ORDER BY "ReviewID"'


def parse(name: str, sql: str) -> bytes:
    return build_parse(name.encode(), sql.encode(), [])


def bind(portal: str, statement: str) -> bytes:
    return frame(b"B", portal.encode() + b"\0" + statement.encode() + b"\0" + struct.pack("!hhh", 0, 0, 0))


def execute(portal: str, limit: int) -> bytes:
    return frame(b"E", portal.encode() + b"\0" + struct.pack("!i", limit))


def query(sql: str) -> bytes:
    return frame(b"Q", sql.encode() + b"\0")


SYNC = frame(b"S")


async def exchange(
    writer: asyncio.StreamWriter, reader: asyncio.StreamReader, data: bytes
) -> list[tuple[bytes, bytes]]:
    """Send ``data`` and read every message up to ReadyForQuery."""
    writer.write(data)
    await writer.drain()
    got = []
    while True:
        kind, payload = await asyncio.wait_for(read_frame(reader), 30)
        got.append((kind, payload))
        if kind == b"Z":
            return got


def kinds(messages: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(kind for kind, _ in messages)


def error_code(messages: list[tuple[bytes, bytes]]) -> str | None:
    for kind, payload in messages:
        if kind == b"E":
            return error_fields(payload).get("C")
    return None


def run(frontdoor: FrontDoor, steps) -> None:  # steps: an async callable of (reader, writer)
    async def main() -> None:
        reader, writer, _ = await connect_and_login("127.0.0.1", frontdoor.port, "frank", PASSWORDS["frank"])
        try:
            await steps(reader, writer)
        finally:
            writer.close()

    asyncio.run(main())


def test_a_suspended_portal_ends_at_sync_outside_a_transaction(frontdoor):
    async def steps(reader, writer):
        first = await exchange(writer, reader, parse("s", ROWS) + bind("p", "s") + execute("p", 2) + SYNC)
        assert kinds(first) == b"12DDsZ"  # two rows, then PortalSuspended
        later = await exchange(writer, reader, execute("p", 2) + SYNC)
        assert error_code(later) == "34000"  # portal "p" does not exist, as PostgreSQL answers
        assert later[-1] == (b"Z", b"I")

    run(frontdoor, steps)


def test_inside_a_transaction_a_portal_survives_sync_and_ends_with_it(frontdoor):
    async def steps(reader, writer):
        assert (await exchange(writer, reader, query("BEGIN")))[-1] == (b"Z", b"T")
        first = await exchange(writer, reader, parse("s", ROWS) + bind("p", "s") + execute("p", 2) + SYNC)
        second = await exchange(writer, reader, execute("p", 2) + SYNC)
        rows = [payload for kind, payload in first + second if kind == b"D"]
        assert len(rows) == 4 and len(set(rows)) == 4  # the portal went on where it stopped
        assert (await exchange(writer, reader, query("COMMIT")))[-1] == (b"Z", b"I")
        assert error_code(await exchange(writer, reader, execute("p", 2) + SYNC)) == "34000"

    run(frontdoor, steps)


def test_open_results_and_prepared_statements_are_bounded_per_session(frontdoor, monkeypatch):
    monkeypatch.setattr(session_module, "MAX_OPEN_RESULTS", 3)
    monkeypatch.setattr(session_module, "MAX_PREPARED", 5)

    async def steps(reader, writer):
        await exchange(writer, reader, query("BEGIN"))
        opened = parse("s", ROWS) + b"".join(bind(f"p{i}", "s") + execute(f"p{i}", 1) for i in range(3))
        assert error_code(await exchange(writer, reader, opened + SYNC)) is None
        refused = await exchange(writer, reader, bind("p3", "s") + execute("p3", 1) + SYNC)
        assert error_code(refused) == "54000"
        await exchange(writer, reader, query("ROLLBACK"))
        # the transaction is over: its portals went with it, so there is room again
        assert error_code(await exchange(writer, reader, bind("q", "s") + execute("q", 1) + SYNC)) is None
        more = b"".join(parse(f"t{i}", "SELECT 1") for i in range(4))  # "s" and four more: the limit
        assert error_code(await exchange(writer, reader, more + SYNC)) is None
        assert error_code(await exchange(writer, reader, parse("t4", "SELECT 1") + SYNC)) == "54000"
        # closing one makes room; the unnamed statement is replaced, never counted twice
        close = frame(b"C", b"St0\0")
        assert error_code(await exchange(writer, reader, close + parse("t4", "SELECT 1") + SYNC)) is None
        assert error_code(await exchange(writer, reader, parse("", "SELECT 1") + parse("", "SELECT 2") + SYNC)) \
            == "54000"  # five named already: the unnamed one is a sixth

    run(frontdoor, steps)
