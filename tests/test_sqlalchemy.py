"""The SQLAlchemy 2 dialect: create_engine, the inspector as two roles, pandas through SQLAlchemy."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from policyengine.demo.data import build_demo_database
from tests.conftest import EXAMPLE

KEY_HEX = "73716c616c6368656d792074657374206b6579"


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sqlalchemy")
    path = folder / "demo.duckdb"
    build_demo_database(path, users=120, reviews=300)
    key_file = folder / "key"
    key_file.write_text(KEY_HEX)
    return path, key_file


def engine_for(database, query: str) -> sa.Engine:
    path, key_file = database
    return sa.create_engine(f"policyengine+duckdb:///{path}?policies={EXAMPLE}&key_file={key_file}&{query}")


def test_inspector_shows_what_each_role_may_read(database):
    with engine_for(database, "principal=bob").connect() as connection:
        inspector = sa.inspect(connection)
        assert inspector.get_table_names() == ["region_countries", "review_summary", "reviews", "user_demographics",
                                               "verified_reviews"]
        columns = {c["name"]: c for c in inspector.get_columns("user_demographics")}
        assert "NationalID" not in columns  # denied to bob: not even listed
        assert isinstance(columns["BirthDate"]["type"], sa.Date)
        assert columns["Email"]["comment"].startswith("restricted; sees email")
        assert inspector.get_pk_constraint("user_demographics")["constrained_columns"] == ["UserID"]
        assert inspector.get_pk_constraint("verified_reviews")["constrained_columns"] == ["ReviewID"]
        assert isinstance({c["name"]: c for c in inspector.get_columns("verified_reviews")}["ReviewSentiment"]["type"],
                          sa.Numeric)
    with engine_for(database, "role=admin").connect() as connection:
        columns = [c["name"] for c in sa.inspect(connection).get_columns("user_demographics")]
        assert "NationalID" in columns
    with engine_for(database, "role=developer&env=prod").connect() as connection:
        assert sa.inspect(connection).get_table_names() == []  # no access in prod: nothing to see


def test_queries_and_pandas_through_sqlalchemy(database):
    with engine_for(database, "principal=bob").connect() as connection:
        frame = pd.read_sql(sa.text("SELECT Email, Country FROM user_demographics"), connection)
        assert len(frame) and frame["Email"].str.startswith("*****@").all()
        reviews = sa.table("reviews", sa.column("Rating"), sa.column("UserID"))
        rows = connection.execute(sa.select(reviews.c.Rating).where(reviews.c.Rating >= 4).limit(3)).fetchall()
        assert len(rows) == 3 and all(r[0] >= 4 for r in rows)
        with pytest.raises(sa.exc.ProgrammingError) as refused:
            connection.execute(sa.text("SELECT NationalID FROM user_demographics"))
        assert refused.value.orig.reason == "column user_demographics.NationalID is denied to this role"
    with engine_for(database, "role=admin").connect() as connection:
        raw = pd.read_sql(sa.text("SELECT Email FROM user_demographics"), connection)
        assert not raw["Email"].str.startswith("*****").any()


def test_reflection_of_a_table(database):
    with engine_for(database, "role=marketing_analyst").connect() as connection:
        table = sa.Table("verified_reviews", sa.MetaData(), autoload_with=connection)
        assert [c.name for c in table.columns] == ["ReviewID", "UserID", "ReviewSentiment", "BirthYear", "Gender",
                                                   "Location"]
        rows = connection.execute(sa.select(table.c.Location).distinct()).fetchall()
        assert {r[0] for r in rows} <= {"US", "GB", "DE", "FR"}  # marketing's row filter


def test_unknown_url_option_is_an_error(database):
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        engine_for(database, "role=admin&colour=blue").connect()
