"""A bare role (or a principal) without an attribute its row filter reads sees no rows (fail closed),
and is told so: ``Rewritten.notices``, ``QueryResult.notices`` and, in the DB-API, a PolicyNotice
warning kept in ``Cursor.messages``. The front door's NoticeResponse is in test_frontdoor_edges.py."""

from __future__ import annotations

import warnings

import pytest

import policyengine
from policyengine import crypto, load_policy_set
from policyengine.dbapi import PolicyNotice
from policyengine.decision import subject_for
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.rewrite import rewrite
from tests.conftest import EXAMPLE

KEY = crypto.parse_key("61747472696275746573206e6f7469636573")
NOTICE = ("row filter of user_demographics reads principal attribute 'region', which role bi_analyst alone "
          "does not have: 0 rows")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    database = tmp_path_factory.mktemp("notices") / "demo.duckdb"
    build_demo_database(database, users=100, reviews=200)
    engine = Engine.load(EXAMPLE, database, keys=KEY)
    engine.database = database  # for the DB-API test's connect()
    yield engine
    engine.close()


def test_rewrite_names_the_missing_attribute():
    policy_set = load_policy_set(EXAMPLE)
    bare = rewrite("SELECT count(*) FROM user_demographics", policy_set, subject_for(policy_set, roles=["bi_analyst"]),
                   None)
    assert bare.notices == (NOTICE,)
    bob = rewrite("SELECT count(*) FROM user_demographics", policy_set, subject_for(policy_set, principal="bob"), None)
    assert bob.notices == ()
    # a rule of another role that shows every row: the filter is dropped, nothing to tell
    both = rewrite("SELECT count(*) FROM user_demographics", policy_set,
                   subject_for(policy_set, roles=["bi_analyst", "support"]), None)
    assert both.notices == ()
    # no row filter read: nothing to tell
    assert rewrite("SELECT count(*) FROM reviews", policy_set, subject_for(policy_set, roles=["bi_analyst"]),
                   None).notices == ()


def test_query_result_carries_the_notice_and_stays_empty(engine):
    result = engine.query("SELECT Email FROM user_demographics", role="bi_analyst")
    assert result.fetchall() == []  # fail closed, as before
    assert result.notices == (NOTICE,)
    assert "region" not in " ".join(engine.query("SELECT 1", role="bi_analyst").notices)
    bob = engine.query("SELECT Email FROM user_demographics", principal="bob")
    assert bob.fetchall() and bob.notices == ()


def test_notice_names_the_principal():
    policy_set = load_policy_set(EXAMPLE)
    subject = subject_for(policy_set, principal="carol")
    stripped = type(subject)(subject.roles, subject.name, {})  # carol without her region
    assert rewrite("SELECT * FROM verified_reviews", policy_set, stripped, None).notices == (
        "row filter of verified_reviews reads principal attribute 'region', which principal carol does not "
        "have: 0 rows",)


def test_dbapi_warns_and_keeps_the_message(engine):
    connection = policyengine.connect(engine.database, role="bi_analyst", engine=engine)
    cursor = connection.cursor()
    with pytest.warns(PolicyNotice, match="principal attribute 'region'"):
        cursor.execute("SELECT count(*) FROM user_demographics")
    assert cursor.fetchall() == [(0,)]
    assert cursor.messages == [(PolicyNotice, NOTICE)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no notice, no warning
        cursor.execute("SELECT count(*) FROM reviews")
    assert cursor.messages == []
