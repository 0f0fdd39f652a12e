"""The front door with psycopg (a real client): MAP values arrive as json, result columns carry the
names the unrewritten statement has on raw DuckDB, and a row filter that reads a principal attribute
the user lacks says so with a NoticeResponse (severity NOTICE)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from policyengine import crypto
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.server.server import Server
from policyengine.server.users import load_users, set_password
from tests.conftest import EXAMPLE
from tests.harness.frontdoor import serve

psycopg = pytest.importorskip("psycopg")

KEY = crypto.parse_key("66726f6e7420646f6f72206564676573")
PASSWORDS = {"bob": "bob-pass-2", "frank": "frank-pass-2", "zed": "zed-pass-2"}


@dataclass
class FrontDoor:
    port: int
    engine: Engine
    raw: Path


@pytest.fixture(scope="module")
def frontdoor(tmp_path_factory):
    root = tmp_path_factory.mktemp("frontdoor-edges")
    policies = root / "policies"
    shutil.copytree(EXAMPLE, policies)
    roles = policies / "roles.yaml"
    # zed: a bi_analyst with no region attribute, whose region row filter can show nothing
    roles.write_text(roles.read_text().rstrip("\n") + "\n  zed: {roles: [bi_analyst]}\n")
    database = root / "demo.duckdb"
    build_demo_database(database, users=120, reviews=300)
    raw = root / "raw" / "demo.duckdb"
    raw.parent.mkdir()
    shutil.copyfile(database, raw)
    users_file = root / "users.yaml"
    for name, password in PASSWORDS.items():
        set_password(users_file, name, password)
    engine = Engine.load(policies, database, keys=KEY)
    server = Server(engine, load_users(users_file))
    running = serve(engine, server, root)
    started = next(running)
    yield FrontDoor(started.port, engine, raw)
    running.close()
    engine.close()


def connect(frontdoor: FrontDoor, user: str):
    dsn = (f"host=127.0.0.1 port={frontdoor.port} user={user} password={PASSWORDS[user]} dbname=demo "
           "sslmode=disable")
    return psycopg.connect(dsn, autocommit=True)


# --- MAP as json ---------------------------------------------------------------------------------

@pytest.mark.parametrize("binary", [False, True])
def test_map_arrives_as_json(frontdoor, binary):
    with connect(frontdoor, "bob") as connection:
        cursor = connection.cursor(binary=binary)
        cursor.execute("SELECT MAP {'a': 1}")
        assert cursor.description[0].type_code == 114  # json
        assert cursor.fetchone()[0] == {"a": 1}


def test_nested_map_values_parse_as_json(frontdoor):
    with connect(frontdoor, "frank") as connection:
        row = connection.execute("SELECT MAP {'k': {'d': DATE '2024-02-03', 'x': [1.5, NULL]}}, MAP {1: 'one'}, "
                                 "MAP {'a': 1}::MAP(VARCHAR, INTEGER) IS NULL").fetchone()
        assert row == ({"k": {"d": "2024-02-03", "x": [1.5, None]}}, {"1": "one"}, False)


def test_map_over_protected_columns_is_protected_json(frontdoor):
    """A map built from bob's masked Email carries the masked values, as json."""
    with connect(frontdoor, "bob") as connection:
        rows = connection.execute("SELECT MAP {Country: Email} FROM user_demographics LIMIT 5").fetchall()
        assert rows and all(isinstance(value, dict) for (value,) in rows)
        assert all(email.startswith("*****@") for (value,) in rows for email in value.values() if email)
        assert all(key != "Country" for (value,) in rows for key in value)  # keys are the Country values


# --- result names -------------------------------------------------------------------------------

#: statement -> the names PostgreSQL 15 gives its columns (parse_target.c's FigureColname: a function's
#: name, a sublink's inner column, ?column? for an operator), whatever the rewrite did to the tables
NAMED = {
    "SELECT EXISTS (SELECT 1 FROM reviews), (SELECT max(Rating) FROM reviews)": ["exists", "max"],
    "SELECT (SELECT count(*) FROM user_demographics WHERE Email LIKE '%a%'), upper(ReviewText) FROM reviews LIMIT 1":
        ["count", "upper"],
    "SELECT count(*), Rating + 1 FROM reviews GROUP BY Rating": ["count", "?column?"],
}


@pytest.mark.parametrize("sql", list(NAMED))
def test_front_door_names_are_postgresqls_for_masked_and_raw_readers(frontdoor, sql):
    for user in ("bob", "frank"):
        with connect(frontdoor, user) as connection:
            cursor = connection.execute(sql)
            cursor.fetchall()
            assert [column.name for column in cursor.description] == NAMED[sql], user
            assert not any("__pe_" in column.name for column in cursor.description)


# --- notices ------------------------------------------------------------------------------------

def test_missing_principal_attribute_is_a_notice(frontdoor):
    notices = []
    with connect(frontdoor, "zed") as connection:
        # a Diagnostic is valid only inside the handler: its fields are read there
        connection.add_notice_handler(lambda d: notices.append((d.severity, d.sqlstate, d.message_primary)))
        assert connection.execute("SELECT count(*) FROM user_demographics").fetchone() == (0,)
        # extended protocol (parameters) too
        assert connection.execute("SELECT count(*) FROM user_demographics WHERE Gender <> %s", ["x"]).fetchone() == (0,)
    assert len(notices) == 2
    assert notices == [("NOTICE", "00000", "row filter of user_demographics reads principal attribute 'region', "
                                           "which principal zed does not have: 0 rows")] * 2


def test_no_notice_when_the_attribute_is_there(frontdoor):
    notices = []
    with connect(frontdoor, "bob") as connection:
        connection.add_notice_handler(lambda d: notices.append(d.message_primary))
        assert connection.execute("SELECT count(*) FROM user_demographics").fetchone()[0] > 0
    assert notices == []
