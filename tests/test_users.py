"""The users file and `policyengine user`: verifiers, never passwords; a real SCRAM exchange against them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from scramp import ScramClient, ScramMechanism

from policyengine.server.scram import ScramFailed
from policyengine.server.users import UsersFileError, Verifier, load_users, make_verifier, set_password
from tests.conftest import EXAMPLE


def exchange(verifier: Verifier, password: str) -> None:
    """A full SCRAM-SHA-256 exchange: scramp's client (an independent implementation) with the password,
    our server with only the verifier; the client also checks the server's signature."""
    server = verifier.exchange()
    client = ScramClient(["SCRAM-SHA-256"], "alice", password)
    client.set_server_first(server.first(client.get_client_first()))
    client.set_server_final(server.final(client.get_client_final()))


def test_scramps_own_verifier_works_with_our_server():
    salt, stored_key, server_key, iterations = ScramMechanism("SCRAM-SHA-256").make_auth_info(
        "pw", iteration_count=4096)
    exchange(Verifier(salt, stored_key, server_key, iterations), "pw")


def test_verifier_round_trips_in_postgres_format():
    verifier = make_verifier("correct horse")
    text = str(verifier)
    assert text.startswith("SCRAM-SHA-256$4096:") and "correct horse" not in text
    assert Verifier.parse(text) == verifier
    with pytest.raises(UsersFileError):
        Verifier.parse("md5abcdef")


def test_the_right_password_passes_and_a_wrong_one_fails():
    verifier = make_verifier("s3cret")
    exchange(verifier, "s3cret")
    with pytest.raises(ScramFailed):
        exchange(verifier, "S3cret")


def test_users_file_is_private_and_holds_no_password(tmp_path):
    path = tmp_path / "users.yaml"
    set_password(path, "Alice", "pa55word")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "pa55word" not in path.read_text()
    users = load_users(path)
    assert list(users) == ["alice"]
    exchange(users["alice"], "pa55word")


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "policyengine", "-p", str(EXAMPLE), *args], input=stdin,
                            capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_cli_add_list_remove(tmp_path):
    path = str(tmp_path / "users.yaml")
    added = run("user", "add", "bob", "--users", path, "--password-stdin", stdin="hunter22\n")
    assert added.returncode == 0
    listed = run("user", "list", "--users", path, "-f", "csv")
    assert listed.stdout.splitlines() == ["user,roles", "bob,bi_analyst"]
    assert "hunter22" not in open(path).read()
    assert run("user", "add", "mallory", "--users", path, "--password-stdin", stdin="x\n").returncode == 1
    assert run("user", "remove", "bob", "--users", path).returncode == 0
    assert run("user", "remove", "bob", "--users", path).returncode == 1


def test_user_add_reads_a_password_that_is_not_utf8_as_its_bytes(tmp_path):
    """PostgreSQL hashes such a password raw (server/scram.py); `user add --password-stdin` used to crash
    decoding it. The stored verifier is the one for the raw bytes."""
    users = tmp_path / "users.yaml"
    raw = b"p\xe4ss"  # Latin-1, not UTF-8
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYENGINE_")}
    result = subprocess.run([sys.executable, "-m", "policyengine", "-p", str(EXAMPLE), "user", "add", "bob",
                             "--password-stdin", "--users", str(users)], input=raw + b"\n", capture_output=True,
                            env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    stored = load_users(users)["bob"]
    assert stored == make_verifier(raw, iterations=stored.iterations, salt=stored.salt)
    assert stored != make_verifier("päss", iterations=stored.iterations, salt=stored.salt)
