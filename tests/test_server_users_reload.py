"""The users file reloads on SIGHUP like the policy set (issue #17): a new password or a removed user is in
force for the next login; a file that cannot be read whole (bad YAML, a bad verifier, gone) is rejected
and logged, and the users in force stay: never a partial set, never looser."""

from __future__ import annotations

import json
import logging
import os
import signal

import psycopg
import pytest

from policyengine.demo.data import build_demo_database
from policyengine.server.reload import reload_users
from policyengine.server.users import load_users, remove_user, set_password
from tests.conftest import ROOT
from tests.harness.frontdoor import PASSWORDS
from tests.harness.process_lines import expect_line as _expect
from tests.harness.process_lines import served


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
    with served(ROOT / "policies", database, users_file, audit) as server:
        assert login(server.port, "bob", PASSWORDS["bob"]) is None

        set_password(users_file, "bob", "bob-pass-2")
        os.kill(server.process.pid, signal.SIGHUP)
        _expect(server.err, "users file reloaded (SIGHUP): 3 users (0 added, 0 removed, 1 new passwords)", server.seen)
        assert login(server.port, "bob", PASSWORDS["bob"]) == "28P01"
        assert login(server.port, "bob", "bob-pass-2") is None

        good = users_file.read_text()
        users_file.write_text(good.replace("frank:", "frank: not-a-verifier\n  x:", 1))  # half-edited
        os.kill(server.process.pid, signal.SIGHUP)
        line = _expect(server.err, "users file reload rejected (SIGHUP)", server.seen)
        assert "the 3 users in force stay" in line and "SCRAM-SHA-256$" not in line
        assert login(server.port, "bob", "bob-pass-2") is None
        assert login(server.port, "frank", PASSWORDS["frank"]) is None

        users_file.write_text(good)
        remove_user(users_file, "frank")
        os.kill(server.process.pid, signal.SIGHUP)
        _expect(server.err, "users file reloaded (SIGHUP): 2 users (0 added, 1 removed, 0 new passwords)", server.seen)
        assert login(server.port, "frank", PASSWORDS["frank"]) == "28P01"
        assert login(server.port, "erin", PASSWORDS["erin"]) is None
        assert server.process.poll() is None
        reloads = [json.loads(x) for x in audit.read_text().splitlines() if '"users_reload"' in x]
        assert [(r["outcome"], r["trigger"]) for r in reloads] \
            == [("reloaded", "SIGHUP"), ("rejected", "SIGHUP"), ("reloaded", "SIGHUP")]

