"""The front door under test: a started server, its principals' passwords, and the clients that talk to it.

The ``frontdoor`` and ``server_port`` fixtures (tests/conftest.py) start the server; the helpers here
are what the front-door test modules share. A client that is not installed makes only the tests that
use it skip, each saying what to install.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from policyengine import crypto
from policyengine.engine import Engine
from policyengine.fuzz.protocol_world import self_signed_certificate
from policyengine.server.server import Server

KEY = crypto.parse_key("7073716c2066726f6e7420646f6f7221")
PASSWORDS = {"bob": "bob-pass-1", "frank": "frank-pass-1", "erin": "erin-pass-1"}

#: CI installs Debian's postgresql-client and postgresql (.ci/run); a machine without them skips the
#: tests that run them, saying so, and runs the rest
PSQL = shutil.which("psql")
PSQL_MISSING = "needs psql: apt-get install postgresql-client"
needs_psql = pytest.mark.skipif(PSQL is None, reason=PSQL_MISSING)
PGBENCH = shutil.which("pgbench") if Path("/usr/lib/postgresql").exists() else None
needs_pgbench = pytest.mark.skipif(PGBENCH is None, reason="needs pgbench: apt-get install postgresql (server package)")


@dataclass
class FrontDoor:
    """A started server, and its engine: the in-process answer every client's answer must equal."""

    port: int
    engine: Engine
    server: Server
    root: Path


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (the protocol fuzzer's own helper)."""
    made = self_signed_certificate(folder)
    assert made is not None, "the tests need the cryptography package"
    return made


def serve(engine: Engine, server: Server, root: Path) -> Iterator[FrontDoor]:
    """Run ``server`` on a free port in a thread of its own until the generator is closed."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve("127.0.0.1", 0, started=lambda p: (port.append(p), started.set())))
        except RuntimeError:  # the loop is stopped when the tests are done
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        yield FrontDoor(port[0], engine, server, root)
    finally:
        loop.call_soon_threadsafe(loop.stop)


def psql(port: int, user: str, password: str, *commands: str,
         sslmode: str = "disable") -> subprocess.CompletedProcess[str]:
    """Run psql's commands as ``user``; skips the calling test when psql is not installed."""
    if PSQL is None:
        pytest.skip(PSQL_MISSING)
    args = [PSQL, f"host=127.0.0.1 port={port} user={user} dbname=demo sslmode={sslmode}", "-X", "-A", "-t", "-v",
            "ON_ERROR_STOP=0"]
    for command in commands:
        args += ["-c", command]
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


def dsn(frontdoor: FrontDoor, principal: str) -> str:
    """A libpq connection string for ``principal`` (no TLS)."""
    return (f"host=127.0.0.1 port={frontdoor.port} user={principal} password={PASSWORDS[principal]} "
            "dbname=demo sslmode=disable")


def expected(frontdoor: FrontDoor, principal: str, sql: str, parameters: list | None = None) -> list[tuple]:
    """The oracle: what the engine in process gives ``principal`` for ``sql``."""
    result = frontdoor.engine.query(sql, principal=principal, read="postgres", parameters=parameters)
    return [tuple(row) for row in result.fetchall()]


def listed(frontdoor: FrontDoor, principal: str) -> dict[str, list[str]]:
    """What the decision says this principal may read: table -> columns not denied (the oracle)."""
    from policyengine.decision.visible import visible_tables

    engine = frontdoor.engine
    subject = engine.subject(principal=principal)
    return {d.table.parts[-1]: [c.column.name for c in d.columns if c.outcome.name != "DENIED"]
            for d in visible_tables(engine.policy_set, subject, None)}
