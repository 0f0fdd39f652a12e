"""The PostgreSQL 15 side of the differential fuzzer: a throwaway cluster, and the demo tables loaded into it.

The cluster is benchmarks/frontdoor.py's ``PostgreSQL`` (the benchmark owns it; found beside this
package in a clone), started with the session settings the front door reports (:data:`SETTINGS`)
set cluster-wide. Without a clone or the server binaries, ``policyengine fuzz --only postgres``
takes ``--postgres DSN`` instead: a PostgreSQL 15 database the fuzzer may create its tables in.

:func:`load` copies the demo database's tables into schema ``public`` with the PostgreSQL types the
front door announces for their columns (its RowDescription OIDs: VARCHAR as text, DECIMAL(p,s) as
numeric(p,s), ...), and their primary keys, so that a principal who sees everything raw must get
exactly PostgreSQL's answers.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[2]
#: the session settings both servers must share: the front door's defaults
SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO, MDY", "IntervalStyle": "postgres", "extra_float_digits": "1"}
#: DuckDB's type -> the PostgreSQL type the front door announces for it (DECIMAL keeps its precision)
PG_TYPES = {"VARCHAR": "text", "INTEGER": "integer", "BIGINT": "bigint", "SMALLINT": "smallint",
            "DATE": "date", "TIMESTAMP": "timestamp", "BOOLEAN": "boolean", "DOUBLE": "double precision",
            "FLOAT": "real", "TIMESTAMP WITH TIME ZONE": "timestamptz", "INTERVAL": "interval"}
PSYCOPG_MISSING = "needs psycopg 3: pip install 'psycopg[binary]'"


@dataclass
class Postgres15:
    """A started PostgreSQL: its port and superuser, and connections to it."""

    cluster: Any  # benchmarks.frontdoor.PostgreSQL
    port: int
    user: str
    password: str
    version: str = ""

    def dsn(self, dbname: str = "postgres") -> str:
        return (f"host=127.0.0.1 port={self.port} user={self.user} password={self.password} dbname={dbname} "
                "sslmode=disable")

    def connect(self, dbname: str = "postgres", autocommit: bool = True) -> Any:
        import psycopg

        return psycopg.connect(self.dsn(dbname), autocommit=autocommit)

    def create_database(self, name: str) -> str:
        """A new, empty database (dropped first if an earlier use left it); its connection string."""
        with self.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


def _bench() -> Any:
    """benchmarks/frontdoor.py of the clone this package runs from (not part of an installed package)."""
    if not (ROOT / "benchmarks" / "frontdoor.py").exists():
        raise ImportError("benchmarks/frontdoor.py is not here (an installed package): start a PostgreSQL 15 "
                          "and pass --postgres DSN")
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    return importlib.import_module("benchmarks.frontdoor")


def missing() -> str | None:
    """Why a throwaway PostgreSQL 15 cannot be started here (binaries, psycopg, the postgres user), or None."""
    try:
        bench = _bench()
    except ImportError as error:
        return str(error)
    return bench.missing()


def throwaway() -> Iterator[Postgres15]:
    """Start a cluster in a new folder under /tmp (as root, the postgres user must reach it), yield it, and
    stop and remove it when the generator is closed. Raises RuntimeError if PostgreSQL does not start or
    does not take :data:`SETTINGS`; callers check :func:`missing` first."""

    bench = _bench()
    folder = Path(tempfile.mkdtemp(prefix="pe-pg15-"))
    cluster = bench.PostgreSQL(folder)
    try:
        cluster.start()
        password = bench.PASSWORDS[bench.PG_USER]
        server = Postgres15(cluster, cluster.port, bench.PG_USER, password)
        with server.connect() as connection:
            for name, value in SETTINGS.items():
                connection.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            connection.execute("SELECT pg_reload_conf()")
            server.version = connection.execute("SHOW server_version").fetchone()[0]
        shown: dict[str, str] = {}
        for _ in range(100):  # the postmaster rereads its configuration in its own time
            with server.connect() as connection:
                shown = {name: connection.execute(f"SHOW {name}").fetchone()[0] for name in SETTINGS}
            if shown == SETTINGS:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"PostgreSQL did not take the settings {SETTINGS}: {shown}")
        yield server
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def apply_settings(connection: Any) -> None:
    """The shared settings on one session (for a PostgreSQL the fuzzer did not start)."""
    for name, value in SETTINGS.items():
        connection.execute(f"SET {name} = '{value}'")


def pg_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.replace("DECIMAL", "numeric")
    if duckdb_type not in PG_TYPES:
        raise ValueError(f"no PostgreSQL type for DuckDB's {duckdb_type}")
    return PG_TYPES[duckdb_type]


def load(connection: Any, database: Path) -> dict[str, int]:
    """Copy every table of the DuckDB file into ``connection``'s schema public (replacing tables of the
    same names); rows per table."""
    counts: dict[str, int] = {}
    with duckdb.connect(str(database), read_only=True) as source:
        tables = [name for (name,) in source.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY table_name").fetchall()]
        for table in tables:
            columns = source.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position", [table]).fetchall()
            keys = source.execute(
                "SELECT constraint_column_names FROM duckdb_constraints() "
                "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'", [table]).fetchall()
            body = [f'"{name}" {pg_type(kind)}{"" if nullable == "YES" else " NOT NULL"}'
                    for name, kind, nullable in columns]
            if keys:
                body.append("PRIMARY KEY (" + ", ".join(f'"{c}"' for c in keys[0][0]) + ")")
            connection.execute(f'DROP TABLE IF EXISTS public."{table}" CASCADE')
            connection.execute(f'CREATE TABLE public."{table}" ({", ".join(body)})')
            rows = source.execute(f'SELECT * FROM "{table}"').fetchall()
            names = ", ".join(f'"{name}"' for name, _, _ in columns)
            with connection.cursor() as cursor, cursor.copy(f'COPY public."{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            connection.execute(f'ANALYZE public."{table}"')
            counts[table] = len(rows)
    return counts
