"""The asyncio server: accepts connections, runs a Session for each, and answers CancelRequests."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from policyengine.engine import Engine
from policyengine.server.session import Session
from policyengine.server.users import Verifier


class Server:
    def __init__(self, engine: Engine, users: dict[str, Verifier], *, tls: ssl.SSLContext | None = None):
        self.engine = engine
        self.users = users
        self.tls = tls
        self.sessions: dict[tuple[int, int], Session] = {}
        self._failures: dict[str, int] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Session(self, reader, writer).run()

    def cancel(self, pid: int, secret: int) -> None:
        session = self.sessions.get((pid, secret))
        if session is not None and session.running is not None:
            session.running.interrupt()

    async def login_failed(self, writer: asyncio.StreamWriter) -> None:
        """Each failed login from an address waits longer before its answer, up to 5 seconds."""
        address = str((writer.get_extra_info("peername") or ("?",))[0])
        self._failures[address] = self._failures.get(address, 0) + 1
        await asyncio.sleep(min(0.2 * self._failures[address], 5.0))

    async def serve(self, host: str, port: int, started: Any = None) -> None:
        server = await asyncio.start_server(self.handle, host, port)
        if started is not None:
            started(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context
