"""The front door with a real client: psql against a started server, logged in as principals."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from tests.harness.frontdoor import PASSWORDS, PGBENCH, listed, needs_pgbench, needs_psql, psql

# the frontdoor and server_port fixtures are tests/conftest.py's; psql's tests skip where it is not installed,
# the psycopg tests run regardless


@needs_psql
def test_masked_for_bob_raw_for_frank(server_port):
    masked = psql(server_port, "bob", PASSWORDS["bob"], "SELECT Email FROM user_demographics ORDER BY Email LIMIT 3")
    assert masked.returncode == 0, masked.stderr
    emails = masked.stdout.split()
    assert len(emails) == 3 and all(e.startswith("*****@") for e in emails)
    raw = psql(server_port, "frank", PASSWORDS["frank"], "SELECT Email FROM user_demographics ORDER BY Email LIMIT 3")
    assert all("@" in e and not e.startswith("*****") for e in raw.stdout.split())


@needs_psql
def test_refusal_carries_the_reason_and_the_session_goes_on(server_port):
    result = psql(server_port, "bob", PASSWORDS["bob"], "SELECT NationalID FROM user_demographics",
                  "SELECT count(*) FROM region_countries")
    assert "column user_demographics.NationalID is denied to this role" in result.stderr
    assert result.stdout.strip() == "13"


@needs_psql
def test_no_access_in_the_environment(server_port):
    result = psql(server_port, "erin", PASSWORDS["erin"], "SELECT count(*) FROM reviews")
    assert "has no access in prod" in result.stderr


@needs_psql
def test_wrong_password_and_unknown_user_fail_alike(server_port):
    wrong = psql(server_port, "bob", "not-it", "SELECT 1")
    unknown = psql(server_port, "mallory", "whatever", "SELECT 1")
    assert wrong.returncode != 0 and 'password authentication failed for user "bob"' in wrong.stderr
    assert unknown.returncode != 0 and 'password authentication failed for user "mallory"' in unknown.stderr


@needs_psql
def test_several_statements_set_show_and_transactions(server_port):
    result = psql(server_port, "frank", PASSWORDS["frank"], "SET application_name = 'bi'; SHOW application_name",
                  "BEGIN", "SELECT 1 + 1", "COMMIT")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert "bi" in lines and "2" in lines


@needs_psql
def test_statements_that_write_are_refused(server_port):
    result = psql(server_port, "frank", PASSWORDS["frank"], "DROP TABLE reviews")
    assert "only queries are allowed, not DROP" in result.stderr


def test_psycopg_extended_protocol_with_parameters(server_port):
    import psycopg

    dsn = f"host=127.0.0.1 port={server_port} user=bob password={PASSWORDS['bob']} dbname=demo sslmode=disable"
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute("SELECT Email, Country FROM user_demographics WHERE Country = %s ORDER BY Email",
                                  ["DE"]).fetchall()
        assert rows and all(email.startswith("*****@") and country == "DE" for email, country in rows)
        assert connection.execute("SELECT count(*) FROM user_demographics WHERE Country = %s", ["US"]).fetchone() \
            == (0,)  # bob's region filter, whatever the parameter says
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="NationalID is denied"):
            connection.execute("SELECT NationalID FROM user_demographics WHERE Country = %s", ["DE"])
        # the session goes on after an error
        assert connection.execute("SELECT %s::int + 1", [41]).fetchone() == (42,)
        prepared = connection.execute("SELECT ReviewID FROM verified_reviews WHERE BirthYear >= %s LIMIT 3", [1900],
                                      prepare=True).fetchall()
        assert len(prepared) == 3


@needs_psql
def test_tls_with_sslmode_require(server_port):
    result = psql(server_port, "bob", PASSWORDS["bob"], "SELECT Email FROM user_demographics LIMIT 1",
                  sslmode="require")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("*****@")
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={server_port} user=frank password={PASSWORDS['frank']} "
                         "dbname=demo sslmode=require") as connection:
        assert connection.pgconn.ssl_in_use
        assert connection.execute("SELECT count(*) FROM region_countries").fetchone() == (13,)


def test_cancel_interrupts_a_running_query(server_port):
    import psycopg

    dsn = f"host=127.0.0.1 port={server_port} user=frank password={PASSWORDS['frank']} dbname=demo sslmode=disable"
    with psycopg.connect(dsn, autocommit=True) as connection:
        timer = threading.Timer(1.0, connection.cancel_safe)
        timer.start()
        started = __import__("time").monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            connection.execute("SELECT count(*) FROM range(200000) a, range(200000) b").fetchall()
        assert __import__("time").monotonic() - started < 30
        timer.join()
        assert connection.execute("SELECT 1").fetchone() == (1,)  # the session is still usable


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


@needs_psql
@pytest.mark.parametrize("data", [
    b"\x00\x00\x00\x08\x04\xd2\x16\x2f",  # SSLRequest, then nothing
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not PostgreSQL at all
    b"\x00\x00\x00\x03",  # a length shorter than its own header
    b"\x7f\xff\xff\xff" + b"x" * 100,  # a huge length
    b"\x00\x00\x00\x10\x00\x03\x00\x00user\x00b",  # truncated startup
    bytes(range(256)) * 4,  # noise
])
def test_garbage_closes_only_that_connection(server_port, data):
    answer = raw_exchange(server_port, data)
    assert b"Traceback" not in answer
    after = psql(server_port, "frank", PASSWORDS["frank"], "SELECT 1")
    assert after.stdout.strip() == "1"


@needs_psql
def test_oversized_message_after_login_is_a_protocol_violation(server_port):
    import struct as st

    startup_body = st.pack("!i", 196608) + b"user\x00frank\x00database\x00demo\x00\x00"
    answer = raw_exchange(server_port,
                          st.pack("!i", len(startup_body) + 4) + startup_body + b"p" + st.pack("!i", 2**30))
    assert answer.startswith(b"R")  # the SASL request, then the connection ends
    assert psql(server_port, "frank", PASSWORDS["frank"], "SELECT 2").stdout.strip() == "2"


def test_fifty_concurrent_clients(server_port):
    import concurrent.futures

    import psycopg

    def one(index: int) -> int:
        name = ["bob", "frank"][index % 2]
        dsn = f"host=127.0.0.1 port={server_port} user={name} password={PASSWORDS[name]} dbname=demo sslmode=disable"
        with psycopg.connect(dsn, autocommit=True) as connection:
            total = 0
            for _ in range(5):
                total += connection.execute("SELECT count(*) FROM reviews WHERE Rating >= %s",
                                            [index % 5]).fetchone()[0]
            return total

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    assert len(results) == 50 and all(r >= 0 for r in results)
    # the same question gets the same answer whoever else is asking
    assert results[0] == results[10] and results[1] == results[11]


@needs_pgbench
@pytest.mark.parametrize("mode", ["simple", "extended"])
@pytest.mark.parametrize("principal", ["bob", "frank"])
def test_pgbench_point_queries(server_port, tmp_path, mode, principal):
    """Each transaction checks what it got: bob's Email masked, frank's raw; a wrong one fails the
    transaction (a conversion error), and pgbench counts failures."""
    wrong = ":masked != :seen" if principal == "bob" else ":masked != 0"
    script = tmp_path / "point.sql"
    script.write_text("\\set n random(60, 120)\n"
                      "SELECT coalesce(sum(CASE WHEN Email LIKE '*****@%' THEN 1 ELSE 0 END), 0) AS masked, "
                      "count(*) AS seen FROM user_demographics WHERE UserID <= 'U' || lpad(:n::text, 6, '0') \\gset\n"
                      f"\\if {wrong} or :seen = 0\n"
                      "SELECT CAST('the wrong value came back' AS INTEGER);\n"
                      "\\endif\n")
    env = {**os.environ, "PGPASSWORD": PASSWORDS[principal]}
    result = subprocess.run([PGBENCH, "-n", "-h", "127.0.0.1", "-p", str(server_port), "-U", principal, "-f",
                             str(script), "-M", mode, "-c", "4", "-t", "25", "demo"], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "number of transactions actually processed: 100/100" in result.stdout
    assert "number of failed transactions: 0" in result.stdout


# --- the per-principal catalog, through psql's own \d queries ---------------------------------------

@needs_psql
def test_psql_lists_databases(server_port):
    result = psql(server_port, "bob", PASSWORDS["bob"], r"\l")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("|")[0] == "demo"


@needs_psql
@pytest.mark.parametrize("principal", ["bob", "frank", "erin"])
def test_psql_lists_exactly_the_tables_the_principal_may_read(frontdoor, principal):
    result = psql(frontdoor.port, principal, PASSWORDS[principal], r"\dt")
    assert result.returncode == 0, result.stderr
    tables = sorted(line.split("|")[1] for line in result.stdout.splitlines() if line)
    assert tables == sorted(listed(frontdoor, principal))
    if principal == "erin":  # no access at all in prod: nothing is listed
        assert tables == []


@needs_psql
@pytest.mark.parametrize("principal", ["bob", "frank"])
def test_psql_describes_a_table_without_denied_columns(frontdoor, principal):
    result = psql(frontdoor.port, principal, PASSWORDS[principal], r"\d user_demographics", r"\d verified_reviews")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    columns = [line.split("|")[0] for line in lines if line.count("|") >= 4]
    expected = listed(frontdoor, principal)
    assert columns == expected["user_demographics"] + expected["verified_reviews"]
    assert ("NationalID" in columns) == (principal == "frank")  # denied to bob: not even listed
    assert "ReviewSentiment|numeric(38,9)||not null|" in lines
    keys = psql(frontdoor.port, principal, PASSWORDS[principal],
                "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "WHERE t.relname = 'verified_reviews' AND c.contype = 'p'")
    assert keys.stdout.strip() == 'PRIMARY KEY ("ReviewID")'


@needs_psql
def test_psql_describe_of_a_denied_table_finds_nothing(server_port):
    result = psql(server_port, "erin", PASSWORDS["erin"], r"\d verified_reviews")
    assert 'Did not find any relation named "verified_reviews"' in result.stderr


@needs_psql
def test_catalog_statements_cannot_reach_the_data(server_port):
    mixed = psql(server_port, "frank", PASSWORDS["frank"],
                 "SELECT c.relname, r.\"Email\" FROM pg_catalog.pg_class c, user_demographics r LIMIT 1")
    assert "a statement may read the catalog or data tables, not both" in mixed.stderr
    files = psql(server_port, "frank", PASSWORDS["frank"],
                 "SELECT * FROM pg_catalog.pg_class, read_csv('/etc/passwd')")
    assert "not permitted by the database's hardening" in files.stderr  # the shadow catalog reads no files
    assert "root:" not in files.stdout + files.stderr
