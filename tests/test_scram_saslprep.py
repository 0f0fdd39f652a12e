"""SCRAM-SHA-256 and SASLprep against a real PostgreSQL 15: our verifiers equal the ones PostgreSQL
stores for the same password, salt and iterations, and PostgreSQL's own client (libpq, through psql
and psycopg, which prepares the password itself) logs in to the front door with each password.

The passwords cover each branch of PostgreSQL's saslprep.c: plain ASCII (not prepared at all, even
with a control character), mapping (non-ASCII spaces to a space, soft hyphen and the like to
nothing), NFKC, prohibited characters and broken bidirectional strings (the raw bytes are hashed
instead), bytes that are not UTF-8, and the places where PostgreSQL's order of steps differs from
RFC 4013's text and from scramp's saslprep (U+200B, checks before normalisation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from policyengine.server.scram import ScramFailed, ScramMalformed, ScramServer, mock_exchange, saslprep
from policyengine.server.users import Verifier, load_users, make_verifier
from tests.conftest import EXAMPLE

psycopg = pytest.importorskip("psycopg")
from psycopg import sql  # noqa: E402

#: name -> password; the comment says what PostgreSQL hashes
PASSWORDS: dict[str, str] = {
    "ascii": "correct horse battery staple",
    "ascii-control": "tab\there\x07",  # pure ASCII: as it is, control characters and all
    "latin": "pässwörd",  # UTF-8, already NFKC
    "roman-nine": "Ⅸ",  # U+2168: NFKC gives "IX"
    "soft-hyphen": "pass\u00adword",  # B.1: mapped to nothing, "password"
    "ideographic-space": "pass\u3000word",  # C.1.2: mapped to a space, "pass word"
    "zero-width-space": "x\u200by",  # in C.1.2 and B.1: PostgreSQL tests C.1.2 first, "x y"
    "private-use": "pass\ue000word",  # prohibited (C.3): the raw UTF-8 bytes
    "before-nfkc": "a\u0340",  # U+0340 is prohibited (C.8), its NFKC U+0300 is not: raw bytes
    "bidi-before-nfkc": "\ufb1d",  # RandALCat; NFKC ends it with U+05B4 (not RandALCat): prepared
    "rtl": "\u05d0\u05d1\u05d2",  # a right-to-left string: prepared
    "rtl-with-ltr": "\u05d0a\u05d1",  # RandALCat with an LCat character: raw bytes
    "rtl-then-digit": "\u0627\u0031",  # RFC 4013's example: must end with RandALCat, raw bytes
    "feminine-ordinal": "\u00aa",  # RFC 4013's example: "a"
    "rfc-ix": "I\u00adX",  # RFC 4013's example: "IX"
    "compatibility": "\ufb01\u2460",  # ligature fi, circled one: "fi1"
    "after-unicode-3.2": "\U0001f100",  # assigned after 3.2 (A.1 unassigned): raw, not NFKC's "0."
    "only-mapped-away": "\u00ad\u200d",  # maps to an empty string: raw bytes
}
#: PostgreSQL takes any bytes in a SQL_ASCII database; libpq and the server use them raw
NOT_UTF8 = b"\xff\xfe-not-utf8-\xe9"


# --- the exchange, without a network -----------------------------------------------------------------

def client_proof(password: str, server_first: str, client_first_bare: str, without_proof: str) -> str:
    """The client's proof, computed here from RFC 5802's formulas (not from the server's code)."""
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    auth = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth, hashlib.sha256).digest()
    return base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()


def login(server: ScramServer, password: str, first: str = "n,,n=,r=clientnonce", binding: str = "biws",
          extension: str = "") -> str:
    server_first = server.first(first)
    nonce = server_first.split(",")[0][2:]
    without_proof = f"c={binding},r={nonce}{extension}"
    bare = first.split(",", 2)[2]
    return server.final(f"{without_proof},p={client_proof(password, server_first, bare, without_proof)}")


def test_postgresql_clients_empty_user_name_is_accepted_and_the_proof_checked():
    verifier = make_verifier("pässwörd")
    assert login(verifier.exchange(), "pässwörd").startswith("v=")
    assert login(verifier.exchange(), "pässwörd", first="n,,n=someone,r=abc", extension=",x=ignored")
    assert login(verifier.exchange(), "pässwörd", first="y,,n=,r=abc", binding="eSws")
    with pytest.raises(ScramFailed) as wrong:
        login(verifier.exchange(), "passwörd")
    assert not isinstance(wrong.value, ScramMalformed) and wrong.value.sqlstate == "28P01"


def test_a_mock_exchange_fails_at_the_proof_with_a_salt_of_its_own():
    first, again, other = (mock_exchange(name, 4096).first("n,,n=,r=abc") for name in ("ghost", "ghost", "spook"))
    salt = lambda message: message.split(",")[1]  # noqa: E731
    assert salt(first) == salt(again) != salt(other)
    doomed = mock_exchange("ghost", 4096)
    with pytest.raises(ScramFailed):
        login(doomed, "anything")


@pytest.mark.parametrize(("first", "sqlstate"), [
    ("", "08P01"),
    ("x,,n=,r=abc", "08P01"),
    ("p=tls-server-end-point,,n=,r=abc", "08P01"),  # SCRAM-SHA-256-PLUS is not offered
    ("n,a=admin,n=,r=abc", "0A000"),  # authzid
    ("n,,m=ext,n=,r=abc", "0A000"),  # mandatory extension
    ("n,,r=abc", "08P01"),
    ("n,,n=,r=a\x7fb", "08P01"),
    ("n,,n=,r=abc\0", "08P01"),
    ("n,,n=,r=abc,1=x", "08P01"),
    ("nn,n=,r=abc", "08P01"),
])
def test_malformed_client_first_messages_are_refused_as_postgresql_does(first, sqlstate):
    with pytest.raises(ScramMalformed) as refused:
        make_verifier("pw").exchange().first(first)
    assert refused.value.sqlstate == sqlstate


@pytest.mark.parametrize("damage", [
    lambda m: m.replace("c=biws", "c=eSws"),  # the flag the client did not send
    lambda m: m.replace("c=biws", "c=biws="),
    lambda m: m.replace("r=", "r=x", 1),  # nonce mismatch
    lambda m: m.rsplit(",p=", 1)[0],  # no proof
    lambda m: m.rsplit(",p=", 1)[0] + ",p=AAAA",  # a proof of the wrong length
    lambda m: m.rsplit(",p=", 1)[0] + ",p=!!!",
    lambda m: m + ",x=after-the-proof",
    lambda m: "",
])
def test_malformed_client_final_messages_are_refused_as_postgresql_does(damage):
    server = make_verifier("pw").exchange()
    server_first = server.first("n,,n=,r=abc")
    nonce = server_first.split(",")[0][2:]
    good = f"c=biws,r={nonce},p={client_proof('pw', server_first, 'n=,r=abc', f'c=biws,r={nonce}')}"
    with pytest.raises(ScramMalformed) as refused:
        server.final(damage(good))
    assert refused.value.sqlstate == "08P01"
    assert "pw" not in str(refused.value)


def test_a_refusal_never_quotes_the_message():
    with pytest.raises(ScramMalformed) as refused:
        make_verifier("pw").exchange().first("q,,n=secret-looking,r=abc")
    assert "secret-looking" not in str(refused.value)


# --- a real PostgreSQL 15 --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgresql(postgres15: Any) -> Iterator[Any]:
    """The session's throwaway PostgreSQL 15 (tests/harness/postgres15.py: benchmarks/frontdoor.py's
    cluster, SCRAM on loopback), connected as its superuser, and the cluster; or a skip saying what is
    missing."""
    with postgres15.connect() as connection:
        connection.execute("SET password_encryption = 'scram-sha-256'")
        yield connection, postgres15


def stored_verifier(connection: Any, role: str) -> str:
    row = connection.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role]).fetchone()
    assert row is not None and row[0].startswith("SCRAM-SHA-256$")
    return row[0]


def test_our_verifiers_equal_postgresqls(postgresql):
    connection, _ = postgresql
    differing: dict[str, str] = {}
    for index, (case, password) in enumerate(PASSWORDS.items()):
        role = f"scram_case_{index}"
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role),
                                                                               sql.Literal(password)))
        theirs = stored_verifier(connection, role)
        parsed = Verifier.parse(theirs)
        ours = make_verifier(password, parsed.iterations, parsed.salt)
        if str(ours) != theirs:
            differing[case] = f"ours {ours} != PostgreSQL's {theirs}"
    assert differing == {}


def _table_edges() -> list[int]:
    """Every non-ASCII code point where membership of one of the stringprep tables our SASLprep reads
    changes (both sides of each edge), and a seeded sample of others: where Python's tables and
    saslprep.c's ranges could disagree."""
    import random
    import stringprep

    tables = [getattr(stringprep, name) for name in ("in_table_a1", "in_table_b1", "in_table_c12", "in_table_c21_c22",
                                                      "in_table_c3", "in_table_c4", "in_table_c6", "in_table_c7",
                                                      "in_table_c8", "in_table_c9", "in_table_d1", "in_table_d2")]
    usable = [c for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF]  # surrogates cannot be UTF-8
    edges: set[int] = set()
    before = None
    for code in usable:
        membership = tuple(table(chr(code)) for table in tables)
        if before is not None and membership != before[1]:
            edges.update((before[0], code))
        before = (code, membership)
    return sorted(edges | set(random.Random(20).sample(usable, 300)))


def test_our_saslprep_equals_postgresqls_at_every_table_edge(postgresql):
    """About 2000 passwords, each a role created and dropped: a character alone (a right-to-left one
    alone is a valid string) or between two Latin letters (where it must not be)."""
    connection, _ = postgresql
    differing: list[str] = []
    for index, code in enumerate(_table_edges()):
        password = chr(code) if index % 2 else f"a{chr(code)}b"
        with connection.transaction():
            connection.execute(sql.SQL("CREATE ROLE scram_edge LOGIN PASSWORD {}").format(sql.Literal(password)))
            theirs = stored_verifier(connection, "scram_edge")
            connection.execute("DROP ROLE scram_edge")
        parsed = Verifier.parse(theirs)
        if str(make_verifier(password, parsed.iterations, parsed.salt)) != theirs:
            differing.append(f"U+{code:04X} in {password!r}")
    assert differing == []


def test_bytes_that_are_not_utf8_are_hashed_raw_as_postgresql_does(postgresql):
    connection, cluster = postgresql
    connection.execute("CREATE DATABASE scram_sql_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                       "TEMPLATE template0")
    with cluster.connect("scram_sql_ascii") as ascii_db:
        ascii_db.execute(b"SET password_encryption = 'scram-sha-256'")
        ascii_db.execute(b"CREATE ROLE scram_not_utf8 LOGIN PASSWORD '" + NOT_UTF8 + b"'")
    theirs = stored_verifier(connection, "scram_not_utf8")
    parsed = Verifier.parse(theirs)
    assert str(make_verifier(NOT_UTF8, parsed.iterations, parsed.salt)) == theirs
    # a command-line argument that was not UTF-8 reaches Python as surrogate escapes: the same bytes
    as_argument = NOT_UTF8.decode("utf-8", "surrogateescape")
    assert str(make_verifier(as_argument, parsed.iterations, parsed.salt)) == theirs


# --- logging in to the front door with PostgreSQL's client -------------------------------------------

#: principals of the example policy set, one per password (the front door only knows principals)
PRINCIPALS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"]
LOGIN_CASES = ["latin", "roman-nine", "soft-hyphen", "ideographic-space", "private-use", "before-nfkc",
               "bidi-before-nfkc", "zero-width-space", "ascii-control"]


@pytest.fixture(scope="module")
def accounts(frontdoor) -> dict[str, str]:
    """principal -> password, set on this module's own front door (tests/conftest.py's)."""
    chosen = dict(zip(PRINCIPALS, (PASSWORDS[case] for case in LOGIN_CASES), strict=True))
    for principal, password in chosen.items():
        frontdoor.server.users[principal] = make_verifier(password)
    return chosen


def connect(port: int, user: str, password: str) -> Any:
    return psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname="demo",
                           sslmode="disable", connect_timeout=10)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_psycopg_logs_in_with_each_password_and_not_with_a_wrong_one(frontdoor, accounts, principal):
    password = accounts[principal]
    with connect(frontdoor.port, principal, password) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError) as refused:
        connect(frontdoor.port, principal, password + "x")
    assert f'password authentication failed for user "{principal}"' in str(refused.value)
    assert password not in str(refused.value)


@pytest.mark.parametrize("principal", ["bob", "carol"])
def test_psql_logs_in_with_the_unprepared_and_the_prepared_spelling(frontdoor, accounts, principal):
    """libpq prepares the password: the NFKC and mapped spellings are the same password."""
    psql = _psql_or_skip()
    prepared = saslprep(accounts[principal]).decode()
    for spelling in (accounts[principal], prepared):
        result = _psql(psql, frontdoor.port, principal, spelling.encode())
        assert result.returncode == 0 and result.stdout.strip() == b"1", result.stderr


def test_psql_logs_in_with_a_password_that_is_not_utf8(frontdoor, accounts):
    psql = _psql_or_skip()
    frontdoor.server.users["grace"] = make_verifier(NOT_UTF8)
    try:
        assert _psql(psql, frontdoor.port, "grace", NOT_UTF8).returncode == 0
        refused = _psql(psql, frontdoor.port, "grace", NOT_UTF8[:-1])
        assert refused.returncode != 0 and b'password authentication failed for user "grace"' in refused.stderr
    finally:
        frontdoor.server.users["grace"] = make_verifier(accounts["grace"])


def _psql_or_skip() -> str:
    found = shutil.which("psql")
    if found is None:
        pytest.skip("needs psql: apt-get install postgresql-client")
    return found


def _psql(psql: str, port: int, user: str, password: bytes) -> subprocess.CompletedProcess[bytes]:
    environment = {**os.environb, b"PGPASSWORD": password, b"PGCONNECT_TIMEOUT": b"10"}
    return subprocess.run([psql, f"host=127.0.0.1 port={port} user={user} dbname=demo sslmode=disable", "-X", "-A",
                           "-t", "-c", "SELECT 1"], capture_output=True, timeout=60, env=environment)


# --- the wire: the same damaged messages to the front door and to PostgreSQL ------------------------

def _frame(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _read(sock: socket.socket) -> tuple[bytes, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    head = exactly(5)
    return head[:1], exactly(struct.unpack("!i", head[1:])[0] - 4)


def _start(port: int, user: str, database: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    body = struct.pack("!i", 196608) + f"user\0{user}\0database\0{database}\0\0".encode()
    sock.sendall(struct.pack("!i", len(body) + 4) + body)
    kind, payload = _read(sock)
    assert kind == b"R" and payload[:4] == struct.pack("!i", 10) and b"SCRAM-SHA-256\0" in payload
    return sock


def _answer(sock: socket.socket) -> str:
    """The SQLSTATE of an ErrorResponse, or "R<n>" for an Authentication message."""
    kind, payload = _read(sock)
    if kind == b"R":
        return f"R{struct.unpack('!i', payload[:4])[0]}"
    assert kind == b"E", kind
    fields = {part[:1]: part[1:] for part in payload.split(b"\0") if part}
    return fields[b"C"].decode()


def _initial(first: bytes) -> bytes:
    return b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first


INITIAL_RESPONSES = {
    "other-mechanism": b"SCRAM-SHA-1\0" + struct.pack("!i", 3) + b"n,,",
    "length-past-the-end": b"SCRAM-SHA-256\0" + struct.pack("!i", 99) + b"n,,n=,r=abc",
    "bytes-after-the-response": b"SCRAM-SHA-256\0" + struct.pack("!i", 3) + b"n,,n=,r=abc",
    "no-nul-after-mechanism": b"SCRAM-SHA-256",
    "empty-client-first": _initial(b""),
    "authzid": _initial(b"n,a=someone,n=,r=abc"),
    "unknown-flag": _initial(b"x,,n=,r=abc"),
    "channel-binding": _initial(b"p=tls-server-end-point,,n=,r=abc"),
    "mandatory-extension": _initial(b"n,,m=ext,n=,r=abc"),
    "no-user-attribute": _initial(b"n,,r=abc"),
    "empty-nonce": _initial(b"n,,n=,r="),
    "unprintable-nonce": _initial(b"n,,n=,r=a\x7fb"),
    "bad-extension-name": _initial(b"n,,n=,r=abc,1=x"),
    "no-comma-after-flag": _initial(b"nn,n=,r=abc"),
    "trailing-comma": _initial(b"n,,n=,r=abc,"),
    "user-name-given": _initial(b"n,,n=somebody,r=abc"),
    "user-name-not-utf8": _initial(b"n,,n=\xff\xfe,r=abc"),
}

FINAL_DAMAGE = {
    "none": lambda m: m,
    "other-flag": lambda m: m.replace("c=biws", "c=eSws"),
    "binding-padded": lambda m: m.replace("c=biws", "c=biws="),
    "nonce": lambda m: m.replace("r=", "r=x", 1),
    "no-proof": lambda m: m.rsplit(",p=", 1)[0],
    "short-proof": lambda m: m.rsplit(",p=", 1)[0] + ",p=AAAA",
    "proof-not-base64": lambda m: m.rsplit(",p=", 1)[0] + ",p=!!!",
    "after-the-proof": lambda m: m + ",x=after",
    "empty": lambda m: "",
    "wrong-proof": lambda m: m.rsplit(",p=", 1)[0] + ",p=" + "A" * 43 + "=",
    "extension-not-signed": lambda m: m.replace(",p=", ",x=ext,p="),
}


@pytest.fixture(scope="module")
def targets(frontdoor, accounts, postgresql) -> dict[str, tuple[int, str, str, str]]:
    """name -> (port, user, password, database) of the two servers compared."""
    from benchmarks import frontdoor as bench

    _, cluster = postgresql
    return {"front door": (frontdoor.port, "frank", accounts["frank"], "demo"),
            "postgresql": (cluster.port, bench.PG_USER, bench.PASSWORDS[bench.PG_USER], "postgres")}


@pytest.mark.parametrize("case", INITIAL_RESPONSES)
def test_initial_responses_are_answered_as_postgresql_answers_them(targets, case):
    answers = {}
    for name, (port, user, _, database) in targets.items():
        with _start(port, user, database) as sock:
            sock.sendall(_frame(b"p", INITIAL_RESPONSES[case]))
            answers[name] = _answer(sock)
    assert answers["front door"] == answers["postgresql"], answers


@pytest.mark.parametrize("case", FINAL_DAMAGE)
def test_client_final_messages_are_answered_as_postgresql_answers_them(targets, case):
    answers = {}
    for name, (port, user, password, database) in targets.items():
        with _start(port, user, database) as sock:
            sock.sendall(_frame(b"p", _initial(b"n,,n=,r=abc")))
            kind, payload = _read(sock)
            server_first = payload[4:].decode()
            nonce = server_first.split(",")[0][2:]
            without_proof = f"c=biws,r={nonce}"
            good = f"{without_proof},p={client_proof(password, server_first, 'n=,r=abc', without_proof)}"
            sock.sendall(_frame(b"p", FINAL_DAMAGE[case](good).encode()))
            answers[name] = _answer(sock)
    assert answers["front door"] == answers["postgresql"], answers
    # and the test can fail: a success, a wrong password and a malformed message are told apart
    assert answers["front door"] == {"none": "R12", "wrong-proof": "28P01", "extension-not-signed": "28P01"}.get(
        case, "08P01")


def test_no_initial_response_gets_an_empty_challenge_first(targets):
    """A SASLInitialResponse without data (length -1) is answered with an empty
    AuthenticationSASLContinue; the client-first message then comes in a SASLResponse."""
    for name, (port, user, password, database) in targets.items():
        with _start(port, user, database) as sock:
            sock.sendall(_frame(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", -1)))
            assert _read(sock) == (b"R", struct.pack("!i", 11)), name
            sock.sendall(_frame(b"p", b"n,,n=,r=rawclientnonce"))
            kind, payload = _read(sock)
            assert kind == b"R" and payload[:4] == struct.pack("!i", 11), name
            server_first = payload[4:].decode()
            without_proof = f"c=biws,r={server_first.split(',')[0][2:]}"
            proof = client_proof(password, server_first, "n=,r=rawclientnonce", without_proof)
            sock.sendall(_frame(b"p", f"{without_proof},p={proof}".encode()))
            assert _answer(sock) == "R12", name
            assert _answer(sock) == "R0", name


def test_user_add_stores_the_prepared_password(tmp_path):
    """`policyengine user add` goes through the same SASLprep: the stored verifier is the one for
    "IX" when the password typed is U+2168, as PostgreSQL's would be."""
    path = tmp_path / "users.yaml"
    added = subprocess.run([sys.executable, "-m", "policyengine", "-p", str(EXAMPLE), "user", "add", "bob", "--users",
                            str(path), "--password-stdin"], input="Ⅸ\n".encode(), capture_output=True, timeout=60,
                           env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert added.returncode == 0, added.stderr
    stored = load_users(path)["bob"]
    assert stored == make_verifier("IX", stored.iterations, stored.salt)
    raw = hashlib.pbkdf2_hmac("sha256", "Ⅸ".encode(), stored.salt, stored.iterations)  # not the raw UTF-8 bytes
    assert stored.server_key != hmac.new(raw, b"Server Key", hashlib.sha256).digest()
