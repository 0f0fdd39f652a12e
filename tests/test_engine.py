"""The engine on the demo database, held against the oracle: every principal, two environments.

For each query the engine's result on the real data must equal the untouched query's result on a
copy where that principal's protections and row filters were materialized by :mod:`policyengine.fuzz.oracle`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from policyengine import crypto
from policyengine.backends.duckdb import DuckDBBackend
from policyengine.decision import subject_for
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.fuzz.oracle import materialize, normalize_rows
from policyengine.loading import load_policy_set
from policyengine.rewrite import Refused
from tests.conftest import EXAMPLE

KEY = crypto.parse_key("6b6579206f6620746865206f7261636c652074657374")

QUERIES = [
    ("SELECT * FROM user_demographics", False),
    ("SELECT * FROM reviews", False),
    ("SELECT * FROM verified_reviews", False),
    ("SELECT * FROM region_countries", False),
    ("SELECT r.ReviewID, u.FullName, u.Email, u.BirthDate FROM reviews r "
     "JOIN user_demographics u ON r.UserID = u.UserID", False),
    ("SELECT Country, count(*), min(BirthDate), max(Email) FROM user_demographics GROUP BY Country", False),
    ("SELECT Email FROM user_demographics WHERE Email LIKE 'a%'", False),
    ("SELECT count(*) FROM user_demographics WHERE Phone LIKE '%1'", False),
    ("SELECT UserID, count(*) AS n FROM reviews GROUP BY UserID ORDER BY n DESC, UserID LIMIT 5", True),
    ("SELECT u FROM user_demographics u", False),
    ("SELECT BirthYear, Gender, count(*) FROM verified_reviews GROUP BY ALL", False),
    ("WITH t AS (SELECT * FROM reviews WHERE Rating >= 4) SELECT ReviewText, CreatedAt FROM t", False),
    ("SELECT Location, avg(ReviewSentiment) FROM verified_reviews GROUP BY 1 HAVING count(*) > 10", False),
    ("SELECT * FROM verified_reviews v WHERE EXISTS "
     "(SELECT 1 FROM user_demographics u WHERE u.Country = v.Location AND u.Email LIKE '%gmail%')", False),
    ("SELECT City, PostalCode, Iban FROM user_demographics WHERE MarketingConsent "
     "ORDER BY City NULLS FIRST, Iban LIMIT 20", True),
    ("SELECT Email FROM user_demographics UNION SELECT ReviewText FROM reviews", False),
    ("SELECT row_number() OVER (ORDER BY Email, UserID) AS rn, FullName FROM user_demographics QUALIFY rn <= 5", False),
]

PRINCIPALS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"]
ENVIRONMENTS = ["dev", "prod"]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo_database(path, users=300, reviews=1500)
    return path


@pytest.fixture(scope="module")
def raw_db(demo_db, tmp_path_factory) -> Path:
    """A copy for the oracle: DuckDB will not open the engine's (hardened) file with another configuration."""
    copy = tmp_path_factory.mktemp("raw") / "raw.duckdb"
    shutil.copyfile(demo_db, copy)
    return copy


@pytest.fixture(scope="module")
def engine(demo_db) -> Engine:
    engine = Engine.load(EXAMPLE, demo_db, keys=KEY)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def oracles(engine, raw_db, tmp_path_factory):
    made: dict[tuple[str, str], Path | None] = {}

    def oracle(principal: str, env: str) -> Path:
        if (principal, env) not in made:
            target = tmp_path_factory.mktemp("oracle") / f"{principal}-{env}.duckdb"
            subject = subject_for(engine.policy_set, principal=principal)
            materialize(engine.policy_set, subject, env, raw_db, target, KEY)
            made[(principal, env)] = target
        return made[(principal, env)]

    return oracle


def run_oracle(path: Path, sql: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_engine_equals_oracle(engine, oracles, principal, env):
    subject = subject_for(engine.policy_set, principal=principal)
    checked = 0
    for sql, ordered in QUERIES:
        try:
            got = engine.query_for(subject, sql, env=env).fetchall()
        except Refused as refusal:
            decision_refused = "has no access" in refusal.reason or "is denied" in refusal.reason
            assert decision_refused, (sql, refusal.reason)
            continue
        expected = run_oracle(oracles(principal, env), sql)
        assert normalize_rows(got, ordered) == normalize_rows(expected, ordered), sql
        checked += 1
    no_access = {("erin", "prod"), ("heidi", "dev"), ("ivan", "prod")}
    assert checked == 0 if (principal, env) in no_access else checked >= 15


def test_all_clear_role_sees_raw_data(engine, raw_db):
    for sql, ordered in QUERIES:
        got = engine.query(sql, role="admin").fetchall()
        assert normalize_rows(got, ordered) == normalize_rows(run_oracle(raw_db, sql), ordered), sql


def test_masked_values_are_not_raw(engine, raw_db):
    raw_emails = {row[0] for row in run_oracle(raw_db, "SELECT Email FROM user_demographics")}
    masked = {row[0] for row in engine.query("SELECT Email FROM user_demographics", principal="alice").fetchall()}
    assert masked and not masked & raw_emails
    assert all(value.startswith("*****@") for value in masked)


def test_tokens_join_across_tables(engine):
    joined = engine.query("SELECT count(*) FROM reviews r JOIN user_demographics u ON r.UserID = u.UserID",
                          principal="dave").fetchall()[0][0]
    assert joined == 1500  # every review finds its author through the tokenized key


def test_missing_key_refuses_keyed_columns(demo_db, monkeypatch):
    for name in ("POLICYENGINE_KEY", "POLICYENGINE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    keyless = Engine(load_policy_set(EXAMPLE), DuckDBBackend(demo_db, keys=None))
    with pytest.raises(Refused, match="needs a key"):
        keyless.query("SELECT UserID, Rating FROM reviews", role="marketing_analyst")
    with pytest.raises(Refused, match="needs a key"):
        keyless.query("SELECT * FROM reviews", role="marketing_analyst")
    assert len(keyless.query("SELECT Rating FROM reviews", role="marketing_analyst").fetchall()) > 0
    assert keyless.query("SELECT count(*) FROM region_countries", role="marketing_analyst").fetchall() == [(13,)]


def test_rewrite_cache_is_keyed_by_subject_environment_and_text(engine):
    bob = subject_for(engine.policy_set, principal="bob")
    carol = subject_for(engine.policy_set, principal="carol")
    sql = "SELECT Location FROM verified_reviews"
    first = engine.rewrite_for(bob, sql)
    assert engine.rewrite_for(bob, sql) is first
    assert engine.rewrite_for(carol, sql) is not first  # same roles, other attributes: another row filter
    assert "'NA'" in engine.rewrite_for(carol, sql).sql and "'EU'" in first.sql
    assert engine.rewrite_for(bob, sql, env="dev") is not first
    assert engine.rewrite_for(bob, sql + " ") is not first


def test_policy_change_gets_a_new_version(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "policies")
    before = Engine.load(tmp_path / "policies").policy_set.version
    roles = tmp_path / "policies" / "roles.yaml"
    roles.write_text(roles.read_text().replace("clearance: regular", "clearance: internal", 1))
    after = Engine.load(tmp_path / "policies").policy_set.version
    assert before != after


def test_every_statement_that_ran_is_audited_even_unread(demo_db, tmp_path):
    log = tmp_path / "audit.jsonl"
    audited = Engine.load(EXAMPLE, demo_db, keys=KEY, audit=log)
    audited.query("SELECT * FROM reviews", principal="bob").close()  # closed without reading
    partial = audited.query("SELECT * FROM reviews", principal="bob")
    next(partial.batches())
    del partial
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and all('"decision":"allowed"' in line for line in lines)


def test_audit_lines_survive_rotation_and_deletion(demo_db, tmp_path, monkeypatch):
    """The log keeps its file open, flushes every line, and follows logrotate: a moved or deleted
    file is replaced by a new one at the path, and no line is lost or written to the old one twice."""
    import json

    from policyengine import audit as audit_module

    monkeypatch.setattr(audit_module, "ROTATION_CHECK_SECONDS", 0.0)
    log = tmp_path / "logs" / "audit.jsonl"
    audited = Engine.load(EXAMPLE, demo_db, keys=KEY, audit=log)
    query = 'SELECT "ReviewID", "Rating" FROM reviews LIMIT 1'
    audited.query(query, principal="bob").fetchall()
    assert len(log.read_text().splitlines()) == 1  # on disk at once, not at close
    rotated = tmp_path / "logs" / "audit.jsonl.1"
    log.rename(rotated)
    audited.query(query, principal="bob").fetchall()
    log.unlink()
    audited.query(query, principal="frank").fetchall()
    audited.close()
    old, new = rotated.read_text().splitlines(), log.read_text().splitlines()
    assert len(old) == 1 and len(new) == 1
    entry = json.loads(new[0])
    assert entry["principal"] == "frank" and entry["rewritten"].startswith("SELECT")
    assert entry["reads"][0]["table"] == "reviews" and entry["decision"] == "allowed"
