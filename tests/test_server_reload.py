"""Policy reload at the front door: file changes and SIGHUP put a valid set in force; a broken one is
rejected, logged with its located problems, and the set in force stays while the server keeps answering.

Each test edits its own copy of the example policy folder and talks to a started server with a real
client (psycopg 3). The watcher polls every 0.1 s here, so a change is in force well within a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from policyengine.audit import AuditLog
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.server.reload import PolicyWatcher
from policyengine.server.server import Server
from policyengine.server.users import load_users, set_password
from tests.conftest import EXAMPLE
from tests.harness.frontdoor import KEY, PASSWORDS
from tests.harness.process_lines import SERVED_KEY_HEX, expect_line, served

KEY_HEX = SERVED_KEY_HEX  # KEY's text, to check it never reaches a log line
INTERVAL = 0.1
WAIT = 10.0  # generous upper bound; each wait normally ends within a few polls

EMAIL_SQL = "SELECT Email FROM user_demographics ORDER BY Email LIMIT 3"
# Valid change: bob's Email goes from the 'email' mask (*****@domain) to 'redact' (*****)
MASKED, REDACTED = "protection: email}", "protection: redact}"


@dataclass
class Running:
    server: Server
    port: int
    policies: Path
    loop: asyncio.AbstractEventLoop | None = None

    def stop_watching(self) -> None:
        """For tests that reload by hand: no watcher reload racing theirs."""
        assert self.loop is not None and self.server.watcher is not None
        asyncio.run_coroutine_threadsafe(self.server.watcher.stop(), self.loop).result(5)

    def connect(self, user: str) -> Any:
        dsn = (f"host=127.0.0.1 port={self.port} user={user} password={PASSWORDS[user]} dbname=demo "
               "sslmode=disable connect_timeout=10")
        return psycopg.connect(dsn, autocommit=True)

    def emails(self, user: str = "bob") -> list[str]:
        """Through a NEW connection: what a client that logs in now sees."""
        with self.connect(user) as connection:
            return [row[0] for row in connection.execute(EMAIL_SQL).fetchall()]

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.policies / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new))

    @property
    def version(self) -> str:
        return self.server.engine.policy_set.version


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def is_masked(emails: list[str]) -> bool:
    return len(emails) == 3 and all(e.startswith("*****@") for e in emails)


def is_redacted(emails: list[str]) -> bool:
    return len(emails) == 3 and all(e == "*****" for e in emails)


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> tuple[Path, Path]:
    """The demo database and a users file, shared: each test brings its own policy folder."""
    root = tmp_path_factory.mktemp("reload")
    database = root / "demo.duckdb"
    build_demo_database(database, users=120, reviews=300)
    users_file = root / "users.yaml"
    for name, password in PASSWORDS.items():
        set_password(users_file, name, password)
    return database, users_file


@pytest.fixture
def running(material, tmp_path) -> Iterator[Running]:
    """A server on its own thread and loop over a copy of the example policies it watches."""
    database, users_file = material
    policies = tmp_path / "policies"
    shutil.copytree(EXAMPLE, policies)
    engine = Engine.load(policies, database, keys=KEY, audit=AuditLog(tmp_path / "audit.jsonl"))
    server = Server(engine, load_users(users_file), policies=policies, watch_interval=INTERVAL)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []
    task: list[asyncio.Task[None]] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        task.append(loop.create_task(server.serve("127.0.0.1", 0,
                                                  started=lambda p: (port.append(p), started.set()))))
        try:
            loop.run_until_complete(task[0])
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30)
    yield Running(server, port[0], policies, loop)
    loop.call_soon_threadsafe(task[0].cancel)  # serve() stops its watcher on the way out
    thread.join(10)
    engine.close()


@pytest.fixture
def log(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="policyengine.server")
    return caplog


def messages(caplog: pytest.LogCaptureFixture, containing: str) -> list[str]:
    return [r.getMessage() for r in list(caplog.records) if containing in r.getMessage()]


def audit_lines(running: Running) -> list[dict[str, Any]]:
    path = running.policies.parent / "audit.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line.get("event") == "policy_reload"]


# --- 1. a valid change -----------------------------------------------------------------------------


def test_a_valid_change_is_picked_up_by_the_watcher(running, log):
    assert is_masked(running.emails())
    before = running.version
    running.edit("tables/user_demographics.yaml", MASKED, REDACTED)
    wait_for(lambda: running.version != before, "the watcher to put the changed set in force")
    assert is_redacted(running.emails())  # a new connection sees the new protection
    assert all("@" in e and not e.startswith("*") for e in running.emails("frank"))  # admin still raw
    assert messages(log, f"policy set reloaded (file change): version {before} -> {running.version}")
    (line,) = audit_lines(running)
    assert (line["outcome"], line["trigger"], line["version"], line["previous_version"], line["problems"]) \
        == ("reloaded", "file change", running.version, before, 0)


def test_an_open_session_gets_the_new_protection_on_its_next_statement(running):
    """Sessions keep a Subject (roles, attributes); the protections come from the set in force."""
    with running.connect("bob") as connection:
        assert is_masked([r[0] for r in connection.execute(EMAIL_SQL).fetchall()])
        before = running.version
        running.edit("tables/user_demographics.yaml", MASKED, REDACTED)
        wait_for(lambda: running.version != before, "the changed set")
        assert is_redacted([r[0] for r in connection.execute(EMAIL_SQL).fetchall()])


def test_an_open_session_of_a_removed_principal_is_refused(running):
    """SESSION REFRESH (session.py's part): bob's open session is refused once bob is gone."""
    with running.connect("bob") as connection:
        assert connection.execute("SELECT count(*) FROM region_countries").fetchone()
        before = running.version
        running.edit("roles.yaml", "  bob: {roles: [bi_analyst], attributes: {region: EU}}\n", "")
        wait_for(lambda: running.version != before, "the set without bob")
        with pytest.raises(psycopg.Error) as refused:
            connection.execute("SELECT count(*) FROM region_countries").fetchone()
        assert refused.value.sqlstate == "28000"  # invalid authorization: the principal is gone


def test_a_removed_principal_cannot_log_in_any_more(running):
    before = running.version
    running.edit("roles.yaml", "  bob: {roles: [bi_analyst], attributes: {region: EU}}\n", "")
    wait_for(lambda: running.version != before, "the set without bob")
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "bob"'):
        running.emails("bob")


# --- 2. a broken set is rejected; 3. fixing it is picked up -----------------------------------------


def rejected_keeps_serving(running: Running, log: pytest.LogCaptureFixture, located: str) -> None:
    """The rejection is logged with its located problem; the old set answers, for everyone."""
    before = running.version
    line = wait_for(lambda: messages(log, "policy reload rejected (file change)"), "the rejection")[0]
    assert located in line and f"version {before} stays in force" in line
    assert KEY_HEX not in log.text
    assert running.version == before
    assert is_masked(running.emails("bob"))  # the masked value stays masked
    with running.connect("frank") as other:  # and another client is answered
        assert other.execute("SELECT count(*) FROM region_countries").fetchone() == (13,)
    (audit,) = audit_lines(running)
    assert (audit["outcome"], audit["version"], audit["problems"]) == ("rejected", before, 1)


def test_a_yaml_syntax_error_is_rejected_and_its_fix_picked_up(running, log):
    with running.connect("bob") as open_session:
        path = running.policies / "tables" / "user_demographics.yaml"
        good = path.read_text()
        path.write_text(good + "  - {name: Broken, type: STRING\n")
        rejected_keeps_serving(running, log, "tables/user_demographics.yaml: line ")
        assert "invalid YAML" in messages(log, "rejected")[0]
        # a session that was open through the rejection goes on with the set in force
        assert is_masked([r[0] for r in open_session.execute(EMAIL_SQL).fetchall()])
        assert open_session.execute("SELECT count(*) FROM region_countries").fetchone() == (13,)

    before = running.version
    path.write_text(good.replace(MASKED, REDACTED))  # the fix, with a visible change
    wait_for(lambda: running.version != before, "the fixed set")
    assert is_redacted(running.emails())


def test_an_undefined_role_is_rejected_and_its_fix_picked_up(running, log):
    running.edit("roles.yaml", "bob: {roles: [bi_analyst]", "bob: {roles: [bi_analystt]")
    rejected_keeps_serving(running, log, "roles.yaml: principals.bob.roles[0]: undefined role 'bi_analystt'")

    before = running.version
    running.edit("roles.yaml", "bob: {roles: [bi_analystt]", "bob: {roles: [bi_analyst]")
    running.edit("tables/user_demographics.yaml", MASKED, REDACTED)
    wait_for(lambda: running.version != before, "the fixed set")
    assert is_redacted(running.emails())


def test_reverting_to_the_set_in_force_is_a_no_op(running, log):
    """Broken, then put back as it was: the set in force never changed, nothing is swapped."""
    path = running.policies / "roles.yaml"
    good = path.read_text()
    before = running.version
    path.write_text(good + "principals: {}\n")  # a key given twice
    wait_for(lambda: messages(log, "policy reload rejected"), "the rejection")
    path.write_text(good)
    wait_for(lambda: messages(log, "policy set unchanged (file change)"), "the no-op reload")
    assert running.version == before and not messages(log, "policy set reloaded")


# --- the reload API --------------------------------------------------------------------------------


def test_reload_returns_its_outcome(running):
    running.stop_watching()
    before = running.version
    unchanged = running.server.reload_blocking()
    assert (unchanged.status, unchanged.ok, unchanged.version) == ("unchanged", True, before)

    running.edit("roles.yaml", "inherits: [reader]", "inherits: [nobody]")
    rejected = running.server.reload_blocking("test")
    assert not rejected.ok and rejected.status == "rejected" and rejected.version == before
    assert all(p.file == "roles.yaml" and "undefined role 'nobody'" in p.message for p in rejected.problems)
    assert len(rejected.problems) >= 1 and running.version == before

    running.edit("roles.yaml", "inherits: [nobody]", "inherits: [reader]")
    running.edit("tables/user_demographics.yaml", MASKED, REDACTED)
    reloaded = running.server.reload_blocking("test")
    assert (reloaded.status, reloaded.previous_version) == ("reloaded", before)
    assert running.version == reloaded.version != before


# --- the watcher on its own ------------------------------------------------------------------------


def test_the_watcher_reloads_once_for_a_write_in_several_steps_and_not_for_a_touch(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(EXAMPLE, policies)
    calls: list[float] = []

    async def on_change() -> None:
        calls.append(time.monotonic())

    async def scenario() -> None:
        watcher = PolicyWatcher(policies, on_change, interval=0.2)
        watcher.start()
        try:
            path = policies / "tables" / "user_demographics.yaml"
            good = path.read_text()
            path.write_text(good[: len(good) // 2])  # half written...
            path.write_text(good.replace(MASKED, REDACTED))  # ...then finished, within one poll
            await asyncio.sleep(1.0)
            assert len(calls) == 1
            os.utime(path)  # a touch: same content, no reload
            (policies / "tests" / "notes.yaml").write_text("not a policy file\n")  # not read by the loader
            await asyncio.sleep(0.7)
            assert len(calls) == 1
        finally:
            await watcher.stop()

    asyncio.run(scenario())


# --- 4. SIGHUP through `policyengine serve` --------------------------------------------------------


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")
def test_sighup_reloads_policy_serve(material, tmp_path):
    """The command as deployed: --watch-interval 0, so only SIGHUP can have reloaded."""
    database, users_file = material
    policies = tmp_path / "policies"
    shutil.copytree(EXAMPLE, policies)
    audit = tmp_path / "audit.jsonl"
    with served(policies, database, users_file, audit) as server:
        client = Running(server=None, port=server.port, policies=policies)  # type: ignore[arg-type]
        assert is_masked(client.emails())

        client.edit("roles.yaml", "bob: {roles: [bi_analyst]", "bob: {roles: [bi_analystt]")
        client.edit("tables/user_demographics.yaml", MASKED, REDACTED)
        os.kill(server.process.pid, signal.SIGHUP)
        line = expect_line(server.err, "policy reload rejected (SIGHUP)", server.seen)
        assert "roles.yaml: principals.bob.roles[0]: undefined role 'bi_analystt'" in line
        assert is_masked(client.emails())  # the old set: neither change is in force
        assert server.process.poll() is None

        client.edit("roles.yaml", "bob: {roles: [bi_analystt]", "bob: {roles: [bi_analyst]")
        os.kill(server.process.pid, signal.SIGHUP)
        expect_line(server.err, "policy set reloaded (SIGHUP)", server.seen)
        assert is_redacted(client.emails())
        reloads = [json.loads(x) for x in audit.read_text().splitlines() if '"policy_reload"' in x]
        assert [(r["outcome"], r["trigger"]) for r in reloads] \
            == [("rejected", "SIGHUP"), ("reloaded", "SIGHUP")]
