"""The protocol fuzzer's corpus: client sessions recorded from real PostgreSQL clients.

A small asyncio TCP proxy sits between a real client (psql, psycopg 3, pg8000, asyncpg, pgbench,
pgjdbc) and ``policyengine serve``, forwards every byte unchanged, and splits what the client sends
into the startup phase (SSLRequest/GSSENCRequest packets, the StartupMessage, the SASLInitialResponse)
and the post-authentication messages. Recording real clients rather than writing sessions by hand
puts the fuzzer's starting points where the server's real traffic is: psql's catalog queries, the
drivers' Parse/Bind/Describe/Execute/Sync shapes, named statements, binary formats, row limits and
COPY.

The corpus ships with the package (``policyengine/fuzz/corpus/<client>.json``, messages in hex):
re-record it with ``python -m policyengine.fuzz.protocol --record policyengine/fuzz/corpus``. The SCRAM
client-final message is not stored (it depends on the server's nonce, and a proof is material for an
offline password guess); the fuzzer logs in itself with a real SCRAM exchange.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from policyengine.fuzz.protocol_mutate import CANCEL_REQUEST, startup_parameters
from policyengine.fuzz.protocol_world import DATABASE, ROOT, ServedWorld, build_world

DEFAULT_CORPUS = Path(__file__).resolve().parent / "corpus"  # shipped with the package
CLIENTS = ("psql", "psycopg", "pg8000", "asyncpg", "pgbench", "pgjdbc")
PRINCIPAL = "bob"  # masked (bi_analyst, EU rows only): the principal every recorded session logs in as

QUERY = 'SELECT "ReviewID", "UserID", "ReviewSentiment", "BirthYear" FROM verified_reviews ORDER BY "ReviewID" LIMIT 5'
PARAMETERIZED = ('SELECT "ReviewID", "UserID", "BirthYear" FROM verified_reviews WHERE "BirthYear" > {} '
                 'ORDER BY "ReviewID" LIMIT 5')


@dataclass(frozen=True)
class RecordedSession:
    """One recorded connection: what the client sent, split at authentication."""

    client: str
    principal: str
    name: str
    startup: tuple[bytes, ...]  # untyped packets: SSLRequest/GSSENCRequest (answered N), StartupMessage
    sasl_initial: bytes | None  # the SASLInitialResponse (no secret: the client nonce only)
    messages: tuple[bytes, ...]  # post-authentication frames, Terminate included

    @property
    def startup_message(self) -> bytes:
        """The StartupMessage itself (the last packet with a 3.x protocol code)."""
        for packet in reversed(self.startup):
            if len(packet) >= 8 and struct.unpack("!i", packet[4:8])[0] >> 16 == 3:
                return packet
        raise ValueError(f"{self.client}/{self.name} has no StartupMessage")

    @property
    def label(self) -> str:
        return f"{self.client}/{self.name}"


def load_corpus(folder: Path | None = None) -> list[RecordedSession]:
    """Every recorded session in the corpus folder (``<client>.json`` files), in a stable order."""
    folder = Path(folder or DEFAULT_CORPUS)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no protocol corpus in {folder}: record one with "
                                f"python -m policyengine.fuzz.protocol --record {folder}")
    sessions = []
    for path in files:
        document = json.loads(path.read_text())
        for entry in document["sessions"]:
            sessions.append(RecordedSession(
                document["client"], entry.get("principal", document["principal"]), entry["name"],
                tuple(bytes.fromhex(p) for p in entry["startup"]),
                bytes.fromhex(entry["sasl_initial"]) if entry.get("sasl_initial") else None,
                tuple(bytes.fromhex(m) for m in entry["messages"])))
    return sessions


def save_corpus(folder: Path, client: str, version: str, sessions: list[RecordedSession]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{client}.json"
    document = {
        "client": client, "client_version": version, "principal": PRINCIPAL,
        "about": "client->server messages recorded by policyengine.fuzz.protocol_corpus (hex); "
                 "the SCRAM client-final message is not kept",
        "sessions": [{"name": s.name, "principal": s.principal, "startup": [p.hex() for p in s.startup],
                      "sasl_initial": s.sasl_initial.hex() if s.sasl_initial else None,
                      "messages": [m.hex() for m in s.messages]} for s in sessions],
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


# --- the recording proxy -----------------------------------------------------------------------------

@dataclass
class ClientStream:
    """Splits the client->server byte stream into startup packets, SASL responses and messages."""

    buffer: bytearray = field(default_factory=bytearray)
    phase: str = "startup"  # startup -> auth -> messages (or done after a CancelRequest)
    startup: list[bytes] = field(default_factory=list)
    auth: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while self.phase != "done":
            if self.phase == "startup":
                if len(self.buffer) < 8:
                    return
                (length,) = struct.unpack("!i", self.buffer[:4])
                if length < 8 or len(self.buffer) < length:
                    return
                packet = bytes(self.buffer[:length])
                del self.buffer[:length]
                self.startup.append(packet)
                (code,) = struct.unpack("!i", packet[4:8])
                if code == CANCEL_REQUEST:
                    self.phase = "done"
                elif code >> 16 == 3:
                    self.phase = "auth"
                continue
            if len(self.buffer) < 5:
                return
            (length,) = struct.unpack("!i", self.buffer[1:5])
            if length < 4 or len(self.buffer) < 1 + length:
                return
            message = bytes(self.buffer[:1 + length])
            del self.buffer[:1 + length]
            if self.phase == "auth" and message[:1] == b"p":
                self.auth.append(message)
            else:
                self.phase = "messages"
                self.messages.append(message)

    def session(self, client: str, name: str) -> RecordedSession:
        return RecordedSession(client, PRINCIPAL, name, tuple(self.startup), self.auth[0] if self.auth else None,
                               tuple(self.messages))


class RecordingProxy:
    """A forwarding TCP proxy on a thread of its own, recording each connection's client stream."""

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.finished: list[ClientStream] = []
        self.active = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> Self:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop)
        self._server = future.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.active += 1
        stream = ClientStream()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            with self._lock:
                self.active -= 1
            return

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                       record: Callable[[bytes], None] | None) -> None:
            try:
                while data := await source.read(65536):
                    if record is not None:
                        record(data)
                    sink.write(data)
                    await sink.drain()
                if sink.can_write_eof():
                    sink.write_eof()
            except (ConnectionError, OSError):
                pass

        await asyncio.gather(pump(client_reader, up_writer, stream.feed), pump(up_reader, client_writer, None))
        for writer in (up_writer, client_writer):
            writer.close()
        with self._lock:
            self.finished.append(stream)
            self.active -= 1

    def take(self, timeout: float = 15.0) -> list[ClientStream]:
        """The connections finished since the last call, once none is open any more."""
        deadline = time.monotonic() + timeout
        time.sleep(0.1)
        while time.monotonic() < deadline:
            with self._lock:
                if self.active == 0:
                    taken, self.finished = self.finished, []
                    return [s for s in taken if s.startup]
            time.sleep(0.05)
        raise TimeoutError("a recorded connection did not finish")


# --- the clients ---------------------------------------------------------------------------------------

@dataclass
class Recorder:
    """Runs each real client through the proxy, as the recorded principal."""

    proxy: RecordingProxy
    password: str
    workdir: Path

    @property
    def port(self) -> int:
        return self.proxy.port

    def dsn(self, sslmode: str = "disable") -> str:
        return (f"host=127.0.0.1 port={self.port} user={PRINCIPAL} password={self.password} dbname={DATABASE} "
                f"sslmode={sslmode}")

    def named(self, client: str, name: str) -> list[RecordedSession]:
        streams = self.proxy.take()
        if not streams:
            raise RuntimeError(f"{client}/{name} recorded no connection")
        return [s.session(client, name if len(streams) == 1 else f"{name}-{k}") for k, s in enumerate(streams, 1)]

    def psql(self) -> tuple[str, list[RecordedSession]]:
        psql = shutil.which("psql")
        if psql is None:
            raise RuntimeError("psql is not installed (apt-get install postgresql-client)")
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        env.pop("PGSSLMODE", None)
        # sslmode=prefer: psql asks for TLS (SSLRequest) first; the recording server answers N
        run = subprocess.run([psql, self.dsn("prefer").replace(f" password={self.password}", ""), "-X", "-A",
                              "-c", QUERY, "-c", r"\d verified_reviews"],
                             capture_output=True, text=True, timeout=60, env=env, check=False)
        _check(run, "psql")
        version = subprocess.run([psql, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        return version, self.named("psql", "query-and-describe")

    def psycopg(self) -> tuple[str, list[RecordedSession]]:
        import psycopg

        out: list[RecordedSession] = []
        with psycopg.connect(self.dsn(), autocommit=True) as conn, psycopg.ClientCursor(conn) as cur:
            cur.execute(QUERY)
            cur.fetchall()
            cur.execute("SELECT 1; SELECT 2")
        out += self.named("psycopg", "simple")
        with psycopg.connect(self.dsn(), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(PARAMETERIZED.format("%s"), (1975,))
            cur.fetchall()
            cur.execute('SELECT "ReviewID" FROM verified_reviews WHERE "Location" = %s AND "ReviewID" <> %s',
                        ("DE", "R-CANARY-EU"))
            cur.fetchall()
        out += self.named("psycopg", "extended-params")
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            for _ in range(3):
                conn.execute(PARAMETERIZED.format("%s"), (1980,), prepare=True).fetchall()
        out += self.named("psycopg", "prepared")
        with psycopg.connect(self.dsn()) as conn, conn.cursor(name="pages") as named:
            named.itersize = 2
            named.execute(PARAMETERIZED.format("%s"), (1975,))
            list(named)
        out += self.named("psycopg", "server-side-cursor")
        with psycopg.connect(self.dsn()) as conn, conn.cursor() as cur:
            for fmt in ("text", "csv", "binary"):
                with cur.copy(f"COPY ({QUERY}) TO STDOUT (FORMAT {fmt})") as copy:
                    for _ in copy:
                        pass
        out += self.named("psycopg", "copy")
        with psycopg.connect(self.dsn(), autocommit=True) as conn, conn.cursor(binary=True) as cur:
            cur.execute(QUERY)
            cur.fetchall()
            cur.execute(PARAMETERIZED.format("%s"), (1975,))
            cur.fetchall()
        out += self.named("psycopg", "binary")
        return f"psycopg {psycopg.__version__}", out

    def pg8000(self) -> tuple[str, list[RecordedSession]]:
        import pg8000.native

        conn = pg8000.native.Connection(PRINCIPAL, host="127.0.0.1", port=self.port, password=self.password,
                                        database=DATABASE)
        try:
            conn.run(QUERY)
            conn.run(PARAMETERIZED.format(":year"), year=1975)
            conn.run('SELECT "Location", count(*) FROM verified_reviews WHERE "Location" = :loc GROUP BY 1', loc="DE")
        finally:
            conn.close()
        from importlib.metadata import version

        return f"pg8000 {version('pg8000')}", self.named("pg8000", "native")

    def asyncpg(self) -> tuple[str, list[RecordedSession]]:
        import asyncpg

        async def run() -> None:
            conn = await asyncpg.connect(user=PRINCIPAL, password=self.password, host="127.0.0.1", port=self.port,
                                         database=DATABASE, ssl=False)
            try:
                await conn.fetch(QUERY)
                await conn.fetch(PARAMETERIZED.format("$1"), 1975)
                statement = await conn.prepare('SELECT "ReviewID", "Location" FROM verified_reviews '
                                               'WHERE "Location" = $1 ORDER BY 1 LIMIT 4')
                await statement.fetch("DE")
                async with conn.transaction():  # a cursor: Execute with a row limit, PortalSuspended
                    async for _ in conn.cursor(QUERY, prefetch=2):
                        pass
            finally:
                await conn.close()

        asyncio.run(run())
        return f"asyncpg {asyncpg.__version__}", self.named("asyncpg", "binary-protocol")

    def pgbench(self) -> tuple[str, list[RecordedSession]]:
        pgbench = shutil.which("pgbench")
        if pgbench is None:
            raise RuntimeError("pgbench is not installed (apt-get install postgresql)")
        script = self.workdir / "point.sql"
        script.write_text("\\set n random(1, 120)\nSELECT \"Email\", \"Country\" FROM user_demographics "
                          "WHERE \"UserID\" = 'U' || lpad(:n::text, 6, '0');\n")
        env = {**os.environ, "PGPASSWORD": self.password}
        run = subprocess.run([pgbench, "-n", "-h", "127.0.0.1", "-p", str(self.port), "-U", PRINCIPAL, "-f",
                              str(script), "-M", "extended", "-c", "1", "-t", "5", DATABASE],
                             capture_output=True, text=True, timeout=120, env=env, check=False)
        _check(run, "pgbench")
        version = subprocess.run([pgbench, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        return version, self.named("pgbench", "extended")

    def pgjdbc(self) -> tuple[str, list[RecordedSession]]:
        jar = Path("/usr/share/java/postgresql.jar")
        javac, java = shutil.which("javac"), shutil.which("java")
        if javac is None or java is None or not jar.exists():
            raise RuntimeError("needs a JDK and pgjdbc (apt-get install default-jdk-headless libpostgresql-jdbc-java)")
        classes = self.workdir / "jdbc"
        source = ROOT / "tests" / "clients" / "JdbcProbe.java"
        _check(subprocess.run([javac, "-d", str(classes), str(source)], capture_output=True, text=True, timeout=180,
                              check=False),
               "javac")
        run = subprocess.run([java, "-cp", f"{jar}{os.pathsep}{classes}", "JdbcProbe",
                              f"jdbc:postgresql://127.0.0.1:{self.port}/{DATABASE}?sslmode=disable", PRINCIPAL,
                              self.password, "verified_reviews", "UserID"],
                             capture_output=True, text=True, timeout=180, check=False)
        _check(run, "pgjdbc")
        package = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libpostgresql-jdbc-java"],
                                 capture_output=True, text=True, check=False) if shutil.which("dpkg-query") else None
        version = package.stdout.strip() if package is not None and package.returncode == 0 else jar.resolve().name
        return f"pgjdbc {version}", self.named("pgjdbc", "metadata-prepared-fetch")


def _check(run: subprocess.CompletedProcess[str], what: str) -> None:
    if run.returncode != 0:
        raise RuntimeError(f"{what} failed ({run.returncode}): {run.stdout[-1500:]}{run.stderr[-1500:]}")


def record_corpus(out: Path, clients: tuple[str, ...] = CLIENTS, *, policies: Path | None = None,
                  log: Callable[[str], None] = print) -> dict[str, int]:
    """Record every client through the proxy into ``out``; returns the sessions recorded per client.

    The recording server runs without TLS, so the proxy sees plaintext; a client that asks for TLS
    (psql's sslmode=prefer) is answered N and its SSLRequest is part of the recording.
    """
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="pe-record-") as tmp:
        world = build_world(Path(tmp), policies, tls=False)
        with ServedWorld(world) as served, RecordingProxy(served.host, served.port) as proxy:
            recorder = Recorder(proxy, world.passwords[PRINCIPAL], Path(tmp))
            for client in clients:
                version, sessions = getattr(recorder, client)()
                if not any(s.messages for s in sessions):
                    raise RuntimeError(f"{client} recorded no message after authentication")
                for s in sessions:
                    startup_parameters(s.startup_message)  # every session has a StartupMessage
                save_corpus(out, client, version, sessions)
                counts[client] = len(sessions)
                log(f"recorded {client} ({version}): {len(sessions)} sessions, "
                    f"{sum(len(s.messages) for s in sessions)} messages")
    return counts


def record_one_psycopg_query(port: int, password: str, sql: str = "SELECT 1") -> list[RecordedSession]:
    """Record a single psycopg connection running ``sql`` against a server at ``port`` (for tests)."""
    import psycopg

    with RecordingProxy("127.0.0.1", port) as proxy:
        with psycopg.connect(f"host=127.0.0.1 port={proxy.port} user={PRINCIPAL} password={password} "
                             f"dbname={DATABASE} sslmode=disable", autocommit=True) as conn:
            conn.execute(sql).fetchall()
        return [s.session("psycopg", "test") for s in proxy.take()]


if __name__ == "__main__":  # pragma: no cover - python -m policyengine.fuzz.protocol --record is the entry
    sys.exit(textwrap.dedent("use: python -m policyengine.fuzz.protocol --record FOLDER"))
