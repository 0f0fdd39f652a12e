"""The key for hash, tokenize and encrypt: one lookup order at every entry point, and a statement is
refused for a missing key only when it reads a keyed column.

Each test works on a copy of the example policy set in a folder of its own, so a developer's
``policyengine.key`` beside the repository's ``policies/`` is never read.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from policyengine.crypto import KEY_FILE_NAME, KeyError_, key_file_beside, load_key, parse_key
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.rewrite import Refused
from tests.conftest import EXAMPLE

KEY = "00112233445566778899aabbccddeeff"
OTHER = "ffeeddccbbaa99887766554433221100"
#: every column of reviews but its tokenized UserID; verified_reviews' UserID is hashed
UNKEYED = ("SELECT Location, count(*) AS n FROM verified_reviews GROUP BY 1 ORDER BY 1",
           "SELECT ReviewID, Rating FROM reviews WHERE Rating >= 4 ORDER BY ReviewID LIMIT 3",
           "SELECT count(*) FROM reviews r JOIN user_demographics u ON r.ReviewID = u.Email",
           "SELECT EXISTS (SELECT * FROM reviews)")
KEYED = ("SELECT UserID FROM verified_reviews LIMIT 1",
         "SELECT * FROM reviews LIMIT 1",
         "SELECT r.* FROM reviews r LIMIT 1",
         "SELECT count(DISTINCT UserID) FROM reviews",
         "SELECT Location FROM verified_reviews ORDER BY UserID LIMIT 1",
         "SELECT Location FROM verified_reviews WHERE userid IS NOT NULL LIMIT 1",
         "SELECT v FROM verified_reviews v LIMIT 1")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys-db") / "demo.duckdb"
    build_demo_database(path, users=100, reviews=300)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A team's folder: the example policy set as ``policies/``, no key anywhere yet."""
    shutil.copytree(EXAMPLE, tmp_path / "policies", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POLICYENGINE_KEY", "POLICYENGINE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


# --- the lookup order ------------------------------------------------------------------------------


def test_the_order_is_environment_then_option_then_the_file_beside_the_policy_set(project: Path) -> None:
    policies = project / "policies"
    beside = project / KEY_FILE_NAME
    option = project / "option.key"
    env_file = project / "env.key"
    beside.write_text(OTHER)
    option.write_text(KEY)
    env_file.write_text(KEY)
    assert key_file_beside(policies) == beside
    # 4. only the file beside the policy set
    assert load_key(policies=policies, environ={}).master == bytes.fromhex(OTHER)
    # 3. the explicit option wins over the file beside (which is not even read)
    assert load_key(option, policies=policies, environ={}).master == bytes.fromhex(KEY)
    # 2. and 1. the environment, agreeing with the option
    assert load_key(option, policies=policies, environ={"POLICYENGINE_KEY_FILE": str(env_file)}).master == \
        bytes.fromhex(KEY)
    assert load_key(None, policies=policies, environ={"POLICYENGINE_KEY": KEY}).master == bytes.fromhex(KEY)
    # nothing anywhere: no key, and that is not an error
    beside.unlink()
    assert load_key(policies=policies, environ={}) is None


def test_two_sources_naming_different_keys_are_an_error_not_a_silent_choice(project: Path) -> None:
    option = project / "option.key"
    option.write_text(OTHER)
    with pytest.raises(KeyError_, match="POLICYENGINE_KEY and the key file option .* name different keys"):
        load_key(option, environ={"POLICYENGINE_KEY": KEY})
    env_file = project / "env.key"
    env_file.write_text(KEY)
    with pytest.raises(KeyError_, match="name different keys"):
        load_key(None, environ={"POLICYENGINE_KEY": OTHER, "POLICYENGINE_KEY_FILE": str(env_file)})


def test_unusable_keys_name_their_source_and_never_the_key(project: Path) -> None:
    short = project / "short.key"
    short.write_text("abcd")
    with pytest.raises(KeyError_) as raised:
        load_key(short, environ={})
    assert "short.key" in str(raised.value) and "at least 16 bytes" in str(raised.value)
    assert "abcd" not in str(raised.value)
    with pytest.raises(KeyError_, match="POLICYENGINE_KEY: the key must be hex or base64"):
        load_key(environ={"POLICYENGINE_KEY": "not a key!"})
    with pytest.raises(KeyError_, match="cannot read the key file .*missing.key"):
        load_key(project / "missing.key", environ={})
    (project / KEY_FILE_NAME).write_text("zz")
    with pytest.raises(KeyError_, match="beside the policy set"):
        load_key(policies=project / "policies", environ={})


# --- a missing key refuses only what reads a keyed column ----------------------------------------------


def test_without_a_key_only_statements_that_read_a_keyed_column_are_refused(project: Path, database: Path) -> None:
    engine = Engine.load(project / "policies", database)
    assert engine.backend.keys is None
    try:
        for sql in UNKEYED:
            assert engine.query(sql, principal="bob").fetchall() is not None, sql
        for sql in KEYED:
            with pytest.raises(Refused, match=r"UserID is protected by (hash|tokenize), which needs a key"):
                engine.query(sql, principal="bob").fetchall()
        # frank reads UserID raw: no key needed for him
        assert engine.query("SELECT UserID FROM reviews LIMIT 1", principal="frank").fetchall()
    finally:
        engine.close()


def test_with_the_key_the_unkeyed_statements_answer_as_before(project: Path, database: Path) -> None:
    """The same answers with and without a key: leaving keyed columns out changes nothing else."""
    keyless = Engine.load(project / "policies", database)
    keyed = Engine.load(project / "policies", database, keys=parse_key(KEY))
    try:
        for sql in UNKEYED:
            assert keyless.query(sql, principal="bob").fetchall() == keyed.query(sql, principal="bob").fetchall()
        assert keyed.query(KEYED[0], principal="bob").fetchall()
    finally:
        keyless.close()
        keyed.close()


# --- every entry point finds the key beside the policy set ---------------------------------------------


def test_python_api_dbapi_and_sqlalchemy_find_the_key_beside_the_policy_set(project: Path, database: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import policyengine

    (project / KEY_FILE_NAME).write_text(KEY)
    monkeypatch.chdir(project)
    engine = Engine.load("policies", db=database)
    try:
        assert engine.backend.keys == parse_key(KEY)
        hashed = engine.query(KEYED[0], principal="bob").fetchall()
    finally:
        engine.close()
    with policyengine.connect(database, principal="bob", policies="policies") as connection:
        cursor = connection.cursor()
        cursor.execute(KEYED[0])
        assert cursor.fetchall() == hashed
    sqlalchemy = pytest.importorskip("sqlalchemy")
    url = f"policyengine+duckdb:///{database}?principal=bob&policies=policies"
    with sqlalchemy.create_engine(url).connect() as connection:
        assert [tuple(row) for row in connection.exec_driver_sql(KEYED[0])] == hashed


def test_dbapi_reports_an_unusable_key_as_a_dbapi_error(project: Path, database: Path) -> None:
    import policyengine
    from policyengine.dbapi import InterfaceError

    bad = project / "bad.key"
    bad.write_text("abcd")
    with pytest.raises(InterfaceError, match="bad.key"):
        policyengine.connect(database, principal="bob", policies=project / "policies", key_file=bad)


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POLICYENGINE_")}
    result = subprocess.run([sys.executable, "-m", "policyengine", *args], cwd=cwd, env={**clean, **(env or {})},
                            capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_cli_keygen_save_writes_the_key_beside_the_policy_set_and_query_finds_it(project: Path,
                                                                                 database: Path) -> None:
    refused = _cli(project, "query", "-u", "bob", "--db", str(database), KEYED[0])
    assert refused.returncode == 2 and "needs a key" in refused.stderr
    answered = _cli(project, "query", "-u", "bob", "--db", str(database), "-f", "csv", UNKEYED[0])
    assert answered.returncode == 0 and answered.stdout.startswith("Location,n")

    saved = _cli(project, "keygen", "--save")
    key_file = project / KEY_FILE_NAME
    assert saved.returncode == 0 and str(key_file) in saved.stdout and ".gitignore" in saved.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert parse_key(key_file.read_text())  # a usable key
    again = _cli(project, "keygen", "--save")
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr

    found = _cli(project, "query", "-u", "bob", "--db", str(database), "-f", "csv", KEYED[0])
    assert found.returncode == 0, found.stderr
    # a different policy set folder has its own (absent) key
    elsewhere = project / "elsewhere"
    shutil.copytree(project / "policies", elsewhere / "policies")
    assert _cli(elsewhere, "query", "-u", "bob", "--db", str(database), KEYED[0]).returncode == 2


def test_cli_conflicting_keys_exit_1_naming_both_sources(project: Path, database: Path) -> None:
    option = project / "option.key"
    option.write_text(OTHER)
    result = _cli(project, "query", "-u", "bob", "--db", str(database), "--key-file", str(option), KEYED[0],
                  env={"POLICYENGINE_KEY": KEY})
    assert result.returncode == 1
    assert "POLICYENGINE_KEY and the key file option" in result.stderr and OTHER not in result.stderr


def test_demo_writes_its_key_beside_the_policy_set_once_and_says_so(project: Path) -> None:
    first = _cli(project, "demo")
    key_file = project / KEY_FILE_NAME
    assert first.returncode == 0, first.stderr
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"wrote a new key for hash, tokenize and encrypt to {key_file}" in " ".join(first.stderr.split())
    key = key_file.read_text()
    second = _cli(project, "demo")
    assert second.returncode == 0 and "wrote a new key" not in second.stderr
    assert key_file.read_text() == key
    # what the demo showed, the query command shows too, with nothing configured
    bob = _cli(project, "query", "-u", "bob", "--db", "demo.duckdb", "-f", "csv",
               "SELECT UserID FROM verified_reviews ORDER BY ReviewID LIMIT 1")
    assert bob.returncode == 0 and len(bob.stdout.splitlines()[1]) == 64  # a keyed hash, hex


def test_serve_finds_the_key_beside_the_policy_set(project: Path, database: Path) -> None:
    """``policyengine serve`` started as a user starts it, a real psycopg client logged in as bob."""
    psycopg = pytest.importorskip("psycopg")
    (project / KEY_FILE_NAME).write_text(KEY)
    added = subprocess.run([sys.executable, "-m", "policyengine", "user", "add", "bob", "--password-stdin"],
                           cwd=project, input="s3cret-bob\n", capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if not k.startswith("POLICYENGINE_")})
    assert added.returncode == 0, added.stderr
    server = subprocess.Popen([sys.executable, "-m", "policyengine", "serve", "--db", str(database), "--port", "0",
                               "--watch-interval", "0"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={k: v for k, v in os.environ.items() if not k.startswith("POLICYENGINE_")})
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        port = int(banner.split(" on ")[1].split(":")[1].split()[0])
        with psycopg.connect(host="127.0.0.1", port=port, user="bob", password="s3cret-bob", dbname="demo",
                             sslmode="disable", connect_timeout=10) as connection:
            hashed = connection.execute(KEYED[0]).fetchall()
        engine = Engine.load(project / "policies", database, keys=parse_key(KEY))
        try:
            assert [tuple(row) for row in hashed] == engine.query(KEYED[0], principal="bob").fetchall()
        finally:
            engine.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
