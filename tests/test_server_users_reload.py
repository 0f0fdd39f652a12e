"""The users file reloads on SIGHUP like the policy set (issue #17): a new password or a removed user is in
force for the next login; a file that cannot be read whole (bad YAML, a bad verifier, gone) is rejected
and logged, and the users in force stay: never a partial set, never looser."""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading

import psycopg
import pytest

from policyengine.demo.data import build_demo_database
from policyengine.server.reload import reload_users
from policyengine.server.users import load_users, remove_user, set_password
from tests.conftest import ROOT
from tests.harness.frontdoor import PASSWORDS
from tests.harness.process_lines import SERVED_KEY_HEX as KEY_HEX
from tests.harness.process_lines import expect_line as _expect
from tests.harness.process_lines import read_lines as _lines


def login(port: int, user: str, password: str) -> str | None:
    """None if ``user`` logs in with ``password``, else the SQLSTATE of the refusal."""
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname="demo",
                             sslmode="disable", connect_timeout=10) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError as error:
        return error.sqlstate or ("28P01" if "password authentication failed" in str(error) else str(error))
    return None


def test_a_bad_users_file_is_rejected_whole_and_logged(tmp_path, caplog):
    path = tmp_path / "users.yaml"
    for name, password in PASSWORDS.items():
        set_password(path, name, password)
    current = load_users(path)
    caplog.set_level(logging.DEBUG, logger="policyengine.server")
    assert reload_users(current, path, trigger="test") is None  # unchanged
    text = path.read_text()
    for broken in (text.replace("SCRAM-SHA-256$", "MD5$", 1), "users: [", "users: nobody"):
        path.write_text(broken)
        assert reload_users(current, path, trigger="test") is None
    path.unlink()
    assert reload_users(current, path, trigger="test") is None
    rejected = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == 4 and all("the 3 users in force stay" in line for line in rejected)
    assert "not a SCRAM-SHA-256 verifier" in rejected[0] and "no such file" in rejected[3]
    path.write_text(text)
    remove_user(path, "erin")
    assert sorted(reload_users(current, path, trigger="test") or {}) == ["bob", "frank"]


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")
def test_sighup_reloads_the_users_file_of_policyengine_serve(tmp_path):
    """The command as deployed: a new password, a rejected file, a removed user, each after SIGHUP."""
    database = tmp_path / "demo.duckdb"
    build_demo_database(database, users=40, reviews=60)
    users_file = tmp_path / "users.yaml"
    for name, password in PASSWORDS.items():
        set_password(users_file, name, password)
    audit = tmp_path / "audit.jsonl"
    env = {**os.environ, "POLICYENGINE_KEY": KEY_HEX, "PYTHONUNBUFFERED": "1"}
    env.pop("POLICYENGINE_KEY_FILE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "policyengine", "--policies", str(ROOT / "policies"), "serve", "--db", str(database),
         "--port", "0", "--users", str(users_file), "--audit", str(audit), "--watch-interval", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    readers = [threading.Thread(target=_lines, args=(stream, into), daemon=True)
               for stream, into in ((proc.stdout, out), (proc.stderr, err))]
    for reader in readers:
        reader.start()
    seen: list[str] = []
    try:
        serving = _expect(out, "policyengine serving", seen)
        port = int(serving.split("127.0.0.1:")[1].split()[0])
        assert login(port, "bob", PASSWORDS["bob"]) is None

        set_password(users_file, "bob", "bob-pass-2")
        os.kill(proc.pid, signal.SIGHUP)
        _expect(err, "users file reloaded (SIGHUP): 3 users (0 added, 0 removed, 1 new passwords)", seen)
        assert login(port, "bob", PASSWORDS["bob"]) == "28P01"
        assert login(port, "bob", "bob-pass-2") is None

        good = users_file.read_text()
        users_file.write_text(good.replace("frank:", "frank: not-a-verifier\n  x:", 1))  # half-edited
        os.kill(proc.pid, signal.SIGHUP)
        line = _expect(err, "users file reload rejected (SIGHUP)", seen)
        assert "the 3 users in force stay" in line and "SCRAM-SHA-256$" not in line
        assert login(port, "bob", "bob-pass-2") is None and login(port, "frank", PASSWORDS["frank"]) is None

        users_file.write_text(good)
        remove_user(users_file, "frank")
        os.kill(proc.pid, signal.SIGHUP)
        _expect(err, "users file reloaded (SIGHUP): 2 users (0 added, 1 removed, 0 new passwords)", seen)
        assert login(port, "frank", PASSWORDS["frank"]) == "28P01"
        assert login(port, "erin", PASSWORDS["erin"]) is None
        assert proc.poll() is None
        reloads = [json.loads(x) for x in audit.read_text().splitlines() if '"users_reload"' in x]
        assert [(r["outcome"], r["trigger"]) for r in reloads] \
            == [("reloaded", "SIGHUP"), ("rejected", "SIGHUP"), ("reloaded", "SIGHUP")]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        for reader in readers:
            reader.join(5)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]

