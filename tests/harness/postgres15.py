"""A throwaway PostgreSQL 15 for the tests that compare with the real thing.

One cluster per test session, started on first use: benchmarks/frontdoor.py's ``PostgreSQL`` (the
benchmark owns it: initdb with SCRAM on loopback, as the postgres user when run as root), started by
:func:`policyengine.fuzz.postgres_load.throwaway` with the settings every comparison assumes set
cluster-wide (TimeZone UTC, DateStyle ISO, IntervalStyle postgres, extra_float_digits 1: the front
door's). The ``postgres15`` fixture (registered in tests/conftest.py) gives a :class:`Postgres15`
(``port``, ``dsn()``, ``connect()``, ``create_database()``); a machine without the server binaries,
psycopg or (as root) the postgres user skips the tests that ask for it, saying what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from policyengine.fuzz.postgres_load import SETTINGS, Postgres15, missing, throwaway

__all__ = ["SETTINGS", "Postgres15", "postgres15"]


@pytest.fixture(scope="session")
def postgres15() -> Iterator[Postgres15]:
    """A PostgreSQL 15 shared by the session's tests (each makes its own databases, roles or temporary
    tables in it), or a skip saying what is missing."""
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    yield from throwaway()
