"""The front door's protocol fuzzer (policyengine.fuzz.protocol): its corpus from real clients, its
mutations, its oracles (shown to fail on a server that misbehaves), a short run against the real
server, and regression tests for what it found in the server.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from collections import Counter
from typing import Self

import pytest

from policyengine.fuzz import protocol as fz
from policyengine.fuzz.protocol_corpus import CLIENTS, PRINCIPAL, load_corpus, record_one_psycopg_query
from policyengine.fuzz.protocol_mutate import (
    CANCEL_REQUEST,
    SSL_REQUEST,
    Bind,
    build_parse,
    frame,
    mutate_session,
    packet,
    parse_bind,
    parse_parse,
    preauth_plan,
    startup_parameters,
)
from policyengine.fuzz.protocol_world import (
    KEY_HEX,
    PASSWORDS,
    ServedWorld,
    build_world,
    connect_and_login,
    error_fields,
    read_frame,
    simple_query,
    startup_packet,
)

CORPUS = load_corpus()
SEED = 20251125


def by_client() -> dict[str, list]:
    out: dict[str, list] = {}
    for session in CORPUS:
        out.setdefault(session.client, []).append(session)
    return out


# --- the corpus --------------------------------------------------------------------------------------

def test_corpus_covers_every_real_client():
    clients = by_client()
    assert set(clients) == set(CLIENTS) == {"psql", "psycopg", "pg8000", "asyncpg", "pgbench", "pgjdbc"}
    for client, sessions in clients.items():
        assert any(len(s.messages) > 2 for s in sessions), client
        for s in sessions:
            assert startup_parameters(s.startup_message)["user"] == s.principal == PRINCIPAL
            assert s.sasl_initial is not None and s.sasl_initial[5:].startswith(b"SCRAM-SHA-256\0")
            assert all(len(m) == 1 + struct.unpack("!i", m[1:5])[0] for m in s.messages)  # whole frames
            assert s.messages[-1] == frame(b"X")  # each client said goodbye


def test_corpus_holds_what_each_client_does():
    clients = by_client()
    text = {c: b"".join(m for s in ss for m in s.messages) for c, ss in clients.items()}
    kinds = {c: Counter(m[:1] for s in ss for m in s.messages) for c, ss in clients.items()}
    # psql: SSLRequest first (sslmode=prefer), a query, and \d's catalog queries
    assert any(struct.unpack("!i", p[4:8])[0] == SSL_REQUEST for s in clients["psql"] for p in s.startup)
    assert b"verified_reviews" in text["psql"] and b"pg_catalog" in text["psql"] and kinds["psql"][b"Q"] >= 5
    # psycopg: simple, extended with parameters, prepared, a server-side cursor, COPY, binary results
    names = {s.name for s in clients["psycopg"]}
    assert {"simple", "extended-params", "prepared", "server-side-cursor", "copy", "binary"} <= names
    assert b"COPY (" in text["psycopg"] and b"DECLARE" in text["psycopg"] and b"FORMAT binary" in text["psycopg"]
    binds = [parse_bind(m) for s in clients["psycopg"] if s.name == "binary" for m in s.messages]
    assert any(b is not None and b.result_formats == [1] for b in binds)
    assert any(b is not None and b.values for s in clients["psycopg"] for b in map(parse_bind, s.messages))
    # asyncpg: describe-then-bind, binary formats, a cursor read with Execute row limits
    executes = [struct.unpack("!i", m[-4:])[0] for s in clients["asyncpg"] for m in s.messages if m[:1] == b"E"]
    assert any(limit > 0 for limit in executes) and kinds["asyncpg"][b"D"] >= 2
    # pgbench -M extended: unnamed Parse/Bind/Describe/Execute/Sync with a parameter
    assert kinds["pgbench"][b"P"] == 5 and b"user_demographics" in text["pgbench"]
    # pg8000: untyped parameters
    assert kinds["pg8000"][b"P"] >= 2
    # pgjdbc: metadata queries and named server-side statements past prepareThreshold
    parses = [parse_parse(m) for s in clients["pgjdbc"] for m in s.messages if m[:1] == b"P"]
    assert any(p is not None and p[0] for p in parses) and b"pg_catalog" in text["pgjdbc"]


# --- mutations -----------------------------------------------------------------------------------------

def test_sessions_are_reproducible_from_seed_and_index():
    assert [fz.describe_session(SEED, i) for i in range(40)] == [fz.describe_session(SEED, i) for i in range(40)]
    assert len({fz.describe_session(SEED, i) for i in range(40)}) > 30
    session = next(s for s in CORPUS if s.client == "pgjdbc")
    one = mutate_session(random.Random(f"{SEED}:7"), list(session.messages))
    two = mutate_session(random.Random(f"{SEED}:7"), list(session.messages))
    assert one.writes == two.writes and one.description == two.description


def test_every_mutation_kind_is_drawn():
    said: list[str] = []
    for i in range(3000):
        rng = random.Random(f"kinds:{i}")
        session = rng.choice([s for s in CORPUS if len(s.messages) > 3])
        said += mutate_session(rng, list(session.messages)).description
    text = "\n".join(said)
    for words in ("flip bits", "insert ", "delete ", "truncate mid-message", "truncate mid-length", "too small",
                  "too large", "negative", "huge", "type of", "swap frames", "shuffle", "repeat frame", "repeat frames",
                  "drop all", "drop the Sync", "bind value", "result formats", "parameter formats", "parameter types",
                  "names of", "row limit", "query of", "insert b", "chunks of", "one write", "slow reader"):
        assert words in text, words
    plans = []
    for i in range(1500):
        rng = random.Random(f"preauth:{i}")
        session = rng.choice(CORPUS)
        plans += preauth_plan(rng, session.startup_message, session.sasl_initial, session.principal).description
    text = "\n".join(plans)
    for words in ("startup packet", "protocol version", "startup parameters", "SSLRequest, TLS",
                  "plaintext where the TLS handshake", "GSSENCRequest", "CancelRequest", "garbage before startup",
                  "SASLInitialResponse", "SCRAM client-final", "(mid-length)"):
        assert words in text, words


# --- the oracles can fail: a stub server that misbehaves ---------------------------------------------------

class Stub:
    """Just enough of a PostgreSQL server for the fuzzer to log in (real SCRAM, server side) and get
    answers, misbehaving on purpose: ``leak`` puts a canary in every answer but SELECT 1, ``hang``
    never closes a fuzzed session, ``internal`` answers XX000, ``die`` reports itself dead."""

    def __init__(self, behaviour: str):
        from policyengine.server.users import make_verifier

        self.behaviour = behaviour
        self.verifiers = {name: make_verifier(password) for name, password in PASSWORDS.items()}
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self.handle, "127.0.0.1", 0), self.loop)
        self.server = server.result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.session(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, struct.error, KeyError):
            pass
        finally:
            writer.close()

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from policyengine.server.scram import ScramFailed

        while True:
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            if struct.unpack("!i", body[:4])[0] in (SSL_REQUEST, SSL_REQUEST + 1):
                writer.write(b"N")
                continue
            break
        user = startup_parameters(struct.pack("!i", length) + body)["user"]
        scram = self.verifiers[user].exchange()
        writer.write(frame(b"R", struct.pack("!i", 10) + b"SCRAM-SHA-256\0\0"))
        kind, payload = await self.read(reader)
        end = payload.index(b"\0")
        writer.write(frame(b"R", struct.pack("!i", 11) + scram.first(payload[end + 5:].decode()).encode()))
        kind, payload = await self.read(reader)
        try:
            final = scram.final(payload.decode())
        except ScramFailed:
            writer.write(frame(b"E", b"SFATAL\0C28P01\0Mno\0\0"))
            return
        writer.write(frame(b"R", struct.pack("!i", 12) + final.encode()) + frame(b"R", struct.pack("!i", 0))
                     + frame(b"K", struct.pack("!ii", 7, 7)) + frame(b"Z", b"I"))
        while True:
            try:
                kind, payload = await self.read(reader)
            except (asyncio.IncompleteReadError, ValueError):
                kind, payload = b"X", b""
            if kind == b"X":
                if self.behaviour == "hang" and user == "bob":  # never closes, whatever the client does
                    await asyncio.sleep(3600)
                return
            if kind != b"Q":
                if kind == b"S":
                    writer.write(frame(b"Z", b"I"))
                continue
            sql = payload.rstrip(b"\0")
            value = b"1" if sql == b"SELECT 1" else b"plain"
            if self.behaviour == "leak" and sql != b"SELECT 1" and user == "bob":
                value = b"Xcanaryfullname_51ab"
            if self.behaviour == "internal" and user == "bob" and sql != b"SELECT 1":
                writer.write(frame(b"E", b"SFATAL\0CXX000\0Minternal error\0\0"))
                return
            writer.write(frame(b"T", struct.pack("!h", 1) + b"x\0" + struct.pack("!ihihih", 0, 0, 25, -1, -1, 0))
                         + frame(b"D", struct.pack("!hi", 1, len(value)) + value)
                         + frame(b"C", b"SELECT 1\0") + frame(b"Z", b"I"))

    @staticmethod
    async def read(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        kind = await reader.readexactly(1)
        (length,) = struct.unpack("!i", await reader.readexactly(4))
        if not 4 <= length <= 1 << 20:
            raise ValueError("length")
        return kind, await reader.readexactly(length - 4)


def fuzz_stub(behaviour: str, sessions: int = 6, **kwargs) -> fz.ProtocolReport:
    simple = [s for s in CORPUS if s.client == "psycopg" and s.name == "simple"]
    with Stub(behaviour) as stub:
        target = fz.Target("127.0.0.1", stub.port, PASSWORDS,
                           {"bob": [b"canaryfullname", b"canaryuser"], "frank": []},
                           exited=(lambda: "the server process ended (exit code 1)") if behaviour == "die" else
                           (lambda: None), rotate_sources=False)
        return asyncio.run(fz.fuzz(target, simple, sessions, SEED, preauth_share=0.0, warm=False, **kwargs))


def test_the_leak_oracle_finds_a_canary_in_the_raw_bytes():
    report = fuzz_stub("leak")
    leaks = [f for f in report.failures if f.oracle == "leak"]
    assert leaks and "canaryfullname" in leaks[0].detail
    assert {f.oracle for f in report.failures} == {"leak"}  # the stub answers everything else correctly


def test_an_echo_of_what_the_client_sent_is_not_a_leak():
    answer = frame(b"E", b"SERROR\0C22P02\0Minvalid input: CANARYUSER1\0\0")
    assert fz.find_leaks(answer, b"...CANARYUSER1...", [b"canaryuser"]) == []
    assert fz.find_leaks(answer, b"SELECT 1", [b"canaryuser"]) != []


def test_the_hang_oracle_finds_a_server_that_never_closes():
    report = fuzz_stub("hang", sessions=3, session_timeout=1.0, grace=0.5)
    assert [f.oracle for f in report.failures] == ["hang"] * 3 and report.endings["hang"] == 3


def test_the_internal_error_and_crash_oracles():
    internal = fuzz_stub("internal")
    assert any(f.oracle == "internal-error" for f in internal.failures)
    dead = fuzz_stub("die", sessions=3, parallel=1)
    assert [f.oracle for f in dead.failures] == ["crash"] and dead.completed == 1  # the run stops at a crash


def test_the_framing_oracle_and_the_log_reader():
    _, wrong = fz.backend_messages(frame(b"Z", b"I") + b"D\x00\x00")
    assert wrong and "ends inside" in wrong
    _, wrong = fz.backend_messages(b"\x16\x03\x01\x00\x05hello")
    assert wrong and "unknown message type" in wrong
    assert fz.backend_messages(b"N" + frame(b"E", b"SFATAL\0\0"), preauth=True)[1] is None
    log = ("2026-01-01 00:00:00,000 INFO policyengine.server: fine\n"
           "2026-01-01 00:00:01,000 ERROR policyengine.server: session 42 ended by an internal error\n"
           "Traceback (most recent call last):\n"
           '  File "/x/policyengine/server/session.py", line 594, in _extended\n'
           "struct.error: unpack requires a buffer of 4 bytes\n"
           "'DECLARE c CURSOR FOR ...' contains unsupported syntax. Falling back to parsing as a 'Command'.\n")
    problems = fz.log_problems(log)
    assert len(problems) == 1 and problems[0][0] == 42
    assert fz.signature("server-log", problems[0][1]) == "struct.error at session.py:594 in _extended"


# --- the real server ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_run() -> fz.ProtocolReport:
    started = time.monotonic()
    report = fz.run(200, SEED)
    report.wall = time.monotonic() - started  # type: ignore[attr-defined]
    return report


def test_short_run_the_server_survives_every_session(short_run):
    report = short_run
    assert report.completed == 200 and report.server == "running"
    assert [f.line(report.seed) for f in report.failures if f.oracle in fz.SURVIVAL] == []
    assert report.survived
    assert report.kinds["pre-auth"] >= 30 and report.kinds["post-auth"] >= 120
    assert set(report.clients) == set(CLIENTS)
    assert report.watcher_queries >= 20 and report.watcher_max_latency < fz.STALL_BOUND
    assert report.wall < 60  # type: ignore[attr-defined]


def test_short_run_has_zero_failures(short_run):
    assert [f.line(short_run.seed) for f in short_run.failures] == []


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    world = build_world(tmp_path_factory.mktemp("protocol-served"))
    with ServedWorld(world) as server:
        yield server


def test_the_recorder_records_a_real_client(tmp_path):
    world = build_world(tmp_path, tls=False)
    with ServedWorld(world) as server:
        sessions = record_one_psycopg_query(server.port, PASSWORDS[PRINCIPAL], 'SELECT count(*) FROM reviews')
    assert len(sessions) == 1
    session = sessions[0]
    assert startup_parameters(session.startup_message)["user"] == PRINCIPAL
    assert session.sasl_initial is not None
    assert any(b"SELECT count(*) FROM reviews" in m for m in session.messages) and session.messages[-1] == frame(b"X")


def test_canaries_reach_the_wire_masked_for_bob_and_raw_for_frank(served):
    """The leak oracle is not vacuous: the recorded query's answer holds a canary row (masked for
    bob), and the same bytes for frank, who may see it raw, are what the oracle flags for bob."""
    from policyengine.fuzz.protocol_corpus import QUERY
    from policyengine.fuzz.protocol_world import forbidden_secrets

    forbidden = forbidden_secrets(served.world.policies, "bob")
    assert b"canaryuser" in forbidden and b"r-canary-na" in forbidden

    async def answer(user: str) -> bytes:
        reader, writer, _ = await connect_and_login(served.host, served.port, user, PASSWORDS[user])
        sink = bytearray()
        try:
            await simple_query(reader, writer, QUERY, sink)
        finally:
            writer.close()
        return bytes(sink)

    bob, frank = asyncio.run(answer("bob")), asyncio.run(answer("frank"))
    assert b"R-CANARY-EU" in bob and fz.find_leaks(bob, QUERY.encode(), forbidden) == []
    assert b"CANARYUSER2" in frank and b"R-CANARY-NA" in frank
    assert fz.find_leaks(frank, QUERY.encode(), forbidden) != []


async def _exchange(server: ServedWorld, message: bytes) -> list[dict[str, str]]:
    """Log in as bob, send one message (and a Sync), return the ErrorResponses until the server closes."""
    reader, writer, _ = await connect_and_login(server.host, server.port, "bob", PASSWORDS["bob"])
    writer.write(message + frame(b"S"))
    writer.write_eof()
    errors = []
    try:
        while True:
            kind, payload = await asyncio.wait_for(read_frame(reader), 10)
            if kind == b"E":
                errors.append(error_fields(payload))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
    return errors


def _internal_errors(server: ServedWorld, errors: list[dict[str, str]]) -> list[str]:
    time.sleep(0.2)
    logged = [text for _, text in fz.log_problems(server.read_log())]
    return [str(e) for e in errors if e.get("C") == "XX000"] + logged


MALFORMED = {
    "bind-binary-parameter-of-unsupported-type": build_parse(b"", b"SELECT $1", [3904])
    + Bind(b"", b"", [1], [b"\x01"], []).build(),
    "execute-without-row-limit": frame(b"E", b"\0"),
    "execute-without-nul": frame(b"E", b"portal"),
    "execute-name-not-utf8": frame(b"E", b"\xff\xfe\0" + struct.pack("!i", 0)),
    "describe-name-not-utf8": frame(b"D", b"S\xff\xfe\0"),
    "close-name-not-utf8": frame(b"C", b"P\xff\xfe\0"),
}


@pytest.mark.parametrize("message", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_extended_message_is_a_protocol_violation(served, message):
    served.read_log()
    errors = asyncio.run(_exchange(served, message))
    assert _internal_errors(served, errors) == []
    assert errors and errors[-1]["C"] in ("08P01", "0A000", "22021", "22P03", "26000", "34000")


def test_plaintext_after_ssl_accepted_is_not_an_internal_error(served):
    assert served.tls
    served.read_log()
    with socket.create_connection((served.host, served.port), timeout=10) as sock:
        sock.sendall(packet(SSL_REQUEST))
        assert sock.recv(1) == b"S"
        sock.sendall(startup_packet({"user": "bob", "database": "demo"}))
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(4096):
                pass
        except (ConnectionError, TimeoutError):
            pass
    assert _internal_errors(served, []) == []


@pytest.mark.parametrize("message", [frame(b"Q", b"x ?\0"), build_parse(b"", b"x ?", [])
                                     + Bind(b"", b"", [], [], []).build() + frame(b"E", b"\0\0\0\0\0") + frame(b"S")],
                         ids=["query", "parse-bind-execute"])
def test_sql_that_crashes_the_sql_parser_is_a_syntax_error(served, message):
    served.read_log()
    errors = asyncio.run(_exchange(served, message + frame(b"Q", b"SELECT 1\0")))
    assert _internal_errors(served, errors) == []
    assert [e["C"] for e in errors][:1] == ["42601"] and len(errors) == 1  # the session goes on: SELECT 1 works


@pytest.mark.parametrize("length", [8, 12])
def test_short_cancel_request_is_not_an_internal_error(served, length):
    served.read_log()
    with socket.create_connection((served.host, served.port), timeout=10) as sock:
        sock.sendall(struct.pack("!ii", length, CANCEL_REQUEST) + b"\0" * (length - 8))
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except (ConnectionError, TimeoutError):
            pass
    assert b"XX000" not in answer
    assert _internal_errors(served, []) == []


def test_backend_columns_and_queries_in_parallel(tmp_path):
    from policyengine import crypto
    from policyengine.demo.data import build_demo_database
    from policyengine.engine import Engine
    from tests.conftest import EXAMPLE

    build_demo_database(tmp_path / "demo.duckdb", users=20, reviews=20)
    engine = Engine.load(EXAMPLE, tmp_path / "demo.duckdb", keys=crypto.parse_key(KEY_HEX))
    subject = engine.subject(principal="bob")
    problems: list[str] = []
    stop = time.monotonic() + 3

    def columns() -> None:  # what a principal's first catalog query does (Catalogs.shadow)
        while time.monotonic() < stop and not problems:
            try:
                engine.backend.columns()
            except Exception as error:  # noqa: BLE001 - any failure is the finding
                problems.append(f"columns(): {error!r}")

    def queries() -> None:  # each new statement text is checked by DuckDB's parser on the same connection
        n = 0
        while time.monotonic() < stop and not problems:
            n += 1
            try:
                engine.query_for(subject, f"SELECT {n}", read="postgres").close()
            except Exception as error:  # noqa: BLE001
                problems.append(f"query: {error!r}")

    threads = [threading.Thread(target=columns), threading.Thread(target=queries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.close()
    assert problems == []
