"""The world the protocol fuzzer attacks: a demo database with canaries, a users file, a key, a
certificate, and ``policyengine serve`` started on it in a subprocess; plus the small wire client
(PostgreSQL framing and a real SCRAM-SHA-256 login through ``scramp``) the fuzzer speaks with.

Why a subprocess rather than a server on a thread of the fuzzer: "the server never crashes" can only
be observed from outside. A segfault in DuckDB, an ``os._exit``, a runaway allocation or an event
loop blocked by a synchronous call all take a thread-hosted server down together with the fuzzer (or
hide behind the fuzzer's own GIL contention); as a separate process the server's death is an exit
code, its stalls are latencies a watcher measures, and its log (where the session catch-all writes
the traceback of every internal error) is a file we read. It is also exactly what ships:
``policyengine serve`` with its CLI wiring, logging and TLS context.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import duckdb

from policyengine.fuzz import canaries
from policyengine.fuzz.protocol_mutate import frame, startup_packet

ROOT = Path(__file__).resolve().parents[2]
#: the example policy set the corpus was recorded against
DEFAULT_POLICIES = ROOT / "policies"
#: throwaway credentials of the fuzz world (never a real account): principal -> password
PASSWORDS = {"bob": "fuzz-bob-pass-1", "frank": "fuzz-frank-pass-1", "alice": "fuzz-alice-pass-1",
             "dave": "fuzz-dave-pass-1"}
KEY_HEX = "70726f746f636f6c2066757a7a206b657921"  # "protocol fuzz key!"
DATABASE = "demo"

#: Canary rows visible to EU analysts (the shared canaries of :mod:`policyengine.fuzz.canaries` are
#: all from the US, filtered out of bob's rows). Each protected value carries the same secret as its
#: column's shared canary, so :func:`canaries.forbidden` judges them too; the rows sort first by
#: ReviewID ("R-" < "R0"), so the recorded ``ORDER BY "ReviewID" LIMIT 5`` reads them, masked.
EU_USER = {
    "UserID": "CANARYUSER2", "FullName": "Xcanaryfullname_eu", "Email": "canary_local_9f1e.eu@canary.example",
    "Phone": "+00 canaryphone 9876", "BirthDate": "1902-02-02", "Gender": "canarygender", "City": "CANARYCITY-EU",
    "Country": "DE", "PostalCode": "CANARYPOSTAL-EU", "NationalID": "CANARYNID-001", "Iban": "CANARYIBAN78",
    "MarketingConsent": False,
}
EU_REVIEW = {"ReviewID": "R-CANARY-EU", "UserID": "CANARYUSER2", "ProductID": "P0003", "Rating": 4,
             "ReviewText": "Fine product overall and CANARYTEXTSECRET two", "CreatedAt": "2023-04-01 10:11:12"}
EU_VERIFIED = {"ReviewID": "R-CANARY-EU", "UserID": "CANARYUSER2", "ReviewSentiment": "0.25", "BirthYear": 1907,
               "Gender": 77, "Location": "DE"}


def plant_visible(path: Path) -> None:
    """Add the EU canary rows (after :func:`canaries.plant`)."""
    with duckdb.connect(str(path)) as con:
        for table, row in (("user_demographics", EU_USER), ("reviews", EU_REVIEW), ("verified_reviews", EU_VERIFIED)):
            columns = ", ".join(f'"{c}"' for c in row)
            con.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))


def forbidden_secrets(policies: Path, principal: str) -> list[bytes]:
    """The canary secrets (lower case) this principal must never receive, in any byte of any answer.

    Only text canaries: a typed canary (a year, a date) as bytes would match unrelated numbers and
    binary fields; the red-team suite checks those as typed values.
    """
    from policyengine.decision import subject_for
    from policyengine.loading import load_policy_set

    policy_set = load_policy_set(policies)
    subject = subject_for(policy_set, principal=principal)
    found = canaries.forbidden(policy_set, subject, None)
    return sorted({c.encode() for c in found if isinstance(c, str)})


@dataclass
class World:
    """The files of a fuzz world: database, users, key, certificate (None without ``cryptography``)."""

    folder: Path
    policies: Path
    database: Path
    users: Path
    key: Path
    audit: Path
    cert: tuple[Path, Path] | None
    passwords: dict[str, str] = field(default_factory=lambda: dict(PASSWORDS))


def build_world(folder: Path, policies: Path | None = None, *, tls: bool = True) -> World:
    from policyengine.demo.data import build_demo_database
    from policyengine.server.users import set_password

    folder.mkdir(parents=True, exist_ok=True)
    database = folder / f"{DATABASE}.duckdb"
    build_demo_database(database, users=120, reviews=300)
    canaries.plant(database)
    plant_visible(database)
    users = folder / "users.yaml"
    for name, password in PASSWORDS.items():
        set_password(users, name, password)
    key = folder / "key.hex"
    key.write_text(KEY_HEX)
    cert = self_signed_certificate(folder) if tls else None
    return World(folder, Path(policies or DEFAULT_POLICIES), database, users, key, folder / "audit.jsonl", cert)


def self_signed_certificate(folder: Path) -> tuple[Path, Path] | None:
    """A throwaway certificate for 127.0.0.1 (None when the cryptography package is missing: TLS off)."""
    try:
        import datetime as dt
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return None
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=2))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class ServedWorld:
    """``policyengine serve`` on a world, in a subprocess on a free loopback port.

    Its stderr (the server's log) goes to a file; :meth:`read_log` returns what was added since the
    last call, and :meth:`exited` says whether (and how) the process ended.
    """

    def __init__(self, world: World, *, startup_timeout: float = 60.0):
        self.world = world
        self.host = "127.0.0.1"
        self.port = 0
        self.log_path = world.folder / "server.log"
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._stopped = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def tls(self) -> bool:
        return self.world.cert is not None

    def start(self) -> None:
        w = self.world
        command = [sys.executable, "-m", "policyengine", "--policies", str(w.policies),
                   "serve", "--db", str(w.database), "--host", self.host, "--port", "0", "--users", str(w.users),
                   "--key-file", str(w.key),
                   "--audit", str(w.audit), "--watch-interval", "0"]
        if w.cert is not None:
            command += ["--tls-cert", str(w.cert[0]), "--tls-key", str(w.cert[1])]
        env = {k: v for k, v in os.environ.items() if k not in ("POLICYENGINE_KEY", "POLICYENGINE_KEY_FILE")}
        env.update({"COLUMNS": "400", "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"})
        self.out_path = w.folder / "server.out"
        with open(self.out_path, "wb") as out, open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=out, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                            cwd=w.folder, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            found = re.search(r" on [\d.]+:(\d+) ", self.out_path.read_text(errors="replace"))
            if found:
                self.port = int(found.group(1))
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"policyengine serve exited with {self.process.returncode}:\n"
                                   f"{self.log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("policyengine serve did not start in time")

    def exited(self) -> str | None:
        """None while the server runs; else how it ended (exit code or signal) and its last log lines."""
        if self.process is None or self._stopped:
            return None
        code = self.process.poll()
        if code is None:
            return None
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        tail = self.log_path.read_text(errors="replace")[-3000:]
        return f"the server process ended ({how}); its log ends:\n{tail}"

    def read_log(self) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            data = log.read()
        self._log_offset += len(data)
        return data.decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process is None or self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


# --- the wire client ---------------------------------------------------------------------------------

BACKEND_TYPES = frozenset(b"RSKZTDCEINtn123sGHWdcAVv")


class LoginFailed(Exception):
    """The server refused a login the fuzzer expected to succeed (with the server's message)."""


def error_fields(payload: bytes) -> dict[str, str]:
    """The fields of an ErrorResponse/NoticeResponse payload: code letter -> text."""
    out: dict[str, str] = {}
    for part in payload.split(b"\0"):
        if part:
            out.setdefault(chr(part[0]), part[1:].decode("utf-8", "replace"))
    return out


async def read_frame(reader: asyncio.StreamReader, sink: bytearray | None = None) -> tuple[bytes, bytes]:
    """One backend message (type, payload); raw bytes are appended to ``sink`` when given."""
    header = await reader.readexactly(5)
    (length,) = struct.unpack("!i", header[1:])
    if not 4 <= length <= 256 * 1024 * 1024:
        raise ConnectionError(f"the server sent a message of length {length}")
    payload = await reader.readexactly(length - 4)
    if sink is not None:
        sink += header + payload
    return header[:1], payload


def tls_client() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class Login:
    pid: int
    secret: int
    status: bytes  # the ReadyForQuery status


async def scram_login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, user: str, password: str,
                      *, sink: bytearray | None = None, sent: bytearray | None = None,
                      mutate_final: Any = None, sasl_requested: bool = False) -> Login:
    """Answer AuthenticationSASL with a real SCRAM-SHA-256 exchange (scramp), then read up to
    ReadyForQuery. The startup packet has been sent already (``sasl_requested``: and its answer read).

    ``mutate_final`` damages the client-final message (the pre-authentication fuzzer's use); a
    refused login raises :class:`LoginFailed` with the server's message.
    """
    import scramp

    def send(data: bytes) -> None:
        writer.write(data)
        if sent is not None:
            sent.extend(data)

    if not sasl_requested:
        await _expect_auth(reader, sink, 10)
    client = scramp.ScramClient(["SCRAM-SHA-256"], user, password)
    first = client.get_client_first().encode()
    send(frame(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
    await writer.drain()
    server_first = await _expect_auth(reader, sink, 11)
    client.set_server_first(server_first.decode())
    final = client.get_client_final().encode()
    if mutate_final is not None:
        final = mutate_final(final)
    send(frame(b"p", final))
    await writer.drain()
    server_final = await _expect_auth(reader, sink, 12)
    client.set_server_final(server_final.decode())
    await _expect_auth(reader, sink, 0)
    pid = secret = 0
    while True:
        kind, payload = await read_frame(reader, sink)
        if kind == b"K":
            pid, secret = struct.unpack("!ii", payload[:8])
        elif kind == b"E":
            raise LoginFailed(error_fields(payload).get("M", "?"))
        elif kind == b"Z":
            return Login(pid, secret, payload)


async def _expect_auth(reader: asyncio.StreamReader, sink: bytearray | None, code: int) -> bytes:
    while True:
        kind, payload = await read_frame(reader, sink)
        if kind == b"E":
            fields = error_fields(payload)
            raise LoginFailed(f"{fields.get('C', '?')} {fields.get('M', '?')}")
        if kind == b"R":
            (got,) = struct.unpack("!i", payload[:4])
            if got != code:
                raise LoginFailed(f"expected authentication {code}, got {got}")
            return payload[4:]
        if kind in (b"N", b"S", b"v"):  # notices, parameters, protocol negotiation: go on
            continue
        raise LoginFailed(f"unexpected {kind!r} during authentication")


async def connect_and_login(host: str, port: int, user: str, password: str, *, startup: bytes | None = None,
                            timeout: float = 10.0
                            ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Login]:
    """A fresh plaintext connection logged in as ``user`` (with this startup packet, or a minimal one)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(startup or startup_packet({"user": user, "database": DATABASE}))
        login = await asyncio.wait_for(scram_login(reader, writer, user, password), timeout)
    except BaseException:
        writer.close()
        raise
    return reader, writer, login


async def simple_query(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sql: str,
                       sink: bytearray | None = None) -> tuple[list[bytes], list[dict[str, str]]]:
    """Run one simple Query: (the DataRow payloads, the ErrorResponses) up to ReadyForQuery."""
    writer.write(frame(b"Q", sql.encode() + b"\0"))
    await writer.drain()
    rows: list[bytes] = []
    errors: list[dict[str, str]] = []
    while True:
        kind, payload = await read_frame(reader, sink)
        if kind == b"D":
            rows.append(payload)
        elif kind == b"E":
            errors.append(error_fields(payload))
        elif kind == b"Z":
            return rows, errors
