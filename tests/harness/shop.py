"""The shop the BI-tool tests share: a front door over a small shop database, and a PostgreSQL 15 with
the same visible tables.

The shop has ``customers`` and ``orders`` (the names the BI corpus's examples use, /work/shared/clients/bi)
and one principal, ``ana``, who sees some columns masked and ``ssn`` not at all. :func:`start_shop` starts
the front door over it; :func:`start_reference` starts a real PostgreSQL 15 holding what the front door
lists for ana (tables, columns, types, nullability, keys, comments, grants), and with ``rows=True`` also
the rows ana reads, so that a client's data answers can be compared too. Test modules wrap the two in
module-scoped fixtures of their own (each module gets its own servers).
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PRINCIPAL, PASSWORD = "ana", "ana-pass-1"
DATABASE = "demo"

POLICIES = {
    "policyengine.yaml": """
        sensitivity_levels: [public, regular, internal, confidential, restricted]
        unknown_table: deny
        default_sensitivity: public
    """,
    "roles.yaml": """
        roles:
          analyst: {clearance: internal}
        principals:
          ana: {roles: [analyst]}
    """,
    "tables/customers.yaml": """
        table: customers
        description: One row per customer
        columns:
          - {name: id, type: INTEGER, mode: REQUIRED, primary_key: true, sensitivity: regular}
          - {name: name, type: STRING, mode: REQUIRED, sensitivity: regular, description: Full name}
          - {name: email, type: STRING, sensitivity: confidential, protection: email}
          - {name: ssn, type: STRING, sensitivity: restricted, protection: deny}
          - {name: created_at, type: TIMESTAMP, sensitivity: regular}
    """,
    "tables/orders.yaml": """
        table: orders
        columns:
          - {name: id, type: INTEGER, mode: REQUIRED, primary_key: true, sensitivity: regular}
          - {name: customer_id, type: INTEGER, mode: REQUIRED, sensitivity: regular}
          - {name: total, type: "DECIMAL(10,2)", sensitivity: regular}
          - {name: status, type: STRING, sensitivity: regular}
          - {name: created_at, type: TIMESTAMP, sensitivity: regular}
    """,
}
DATA = """
    CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, email VARCHAR, ssn VARCHAR,
                            created_at TIMESTAMP);
    INSERT INTO customers SELECT i, 'Customer ' || i, 'c' || i || '@example.com', '123-45-' || (1000 + i),
                                 TIMESTAMP '2024-01-01' + INTERVAL (i) DAY FROM range(1, 21) t(i);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, total DECIMAL(10,2), status VARCHAR,
                         created_at TIMESTAMP);
    INSERT INTO orders SELECT i, 1 + i % 20, i * 3.5, CASE WHEN i % 2 = 0 THEN 'paid' ELSE 'open' END,
                              TIMESTAMP '2024-01-01' + INTERVAL (i * 5) DAY FROM range(1, 61) t(i);
"""


@dataclass
class Shop:
    """A started front door over the shop database, and what it lists for the principal."""

    port: int
    engine: Any
    oids: dict[str, str]  # the corpus's example OIDs -> this server's


def start_shop(tmp_path_factory: Any) -> Iterator[Shop]:
    """The front door over the shop database, until the generator is closed."""
    import duckdb

    from policyengine.engine import Engine
    from policyengine.server.server import Server
    from policyengine.server.users import load_users, set_password
    from tests.harness.frontdoor import KEY, serve

    root = tmp_path_factory.mktemp("bi")
    for name, text in POLICIES.items():
        (root / "policies" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "policies" / name).write_text(textwrap.dedent(text).lstrip("\n"))
    database = root / f"{DATABASE}.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute(textwrap.dedent(DATA))
    users = root / "users.yaml"
    set_password(users, PRINCIPAL, PASSWORD)
    engine = Engine.load(root / "policies", database, keys=KEY, audit=root / "audit.jsonl")
    server = Server(engine, load_users(users), watch_interval=0)
    try:
        for door in serve(engine, server, root):
            with connect(door.port) as conn:
                oids = dict(conn.execute(
                    "SELECT relname, oid::text FROM pg_catalog.pg_class WHERE relname IN ('orders', 'customers')"))
            yield Shop(door.port, engine, {"16409": oids["orders"], "16397": oids["customers"]})
    finally:
        engine.close()


def connect(port: int, user: str = PRINCIPAL, password: str = PASSWORD) -> Any:
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname=DATABASE,
                           sslmode="disable", autocommit=True, connect_timeout=10)


@dataclass
class Reference:
    port: int
    oids: dict[str, str]


def start_reference(shop: Shop, *, rows: bool = False) -> Iterator[Reference]:
    """A real PostgreSQL 15 with the tables the principal sees, as the front door reports them (columns,
    types, nullability, keys, comments), owned by a role named as the front door's owner; with ``rows``,
    holding the rows the principal reads from the front door too. Skips, saying why, without a server."""
    import psycopg
    from psycopg import sql

    from benchmarks import frontdoor as bench

    missing = bench.missing()
    if missing is not None:
        pytest.skip(missing)
    folder = Path(tempfile.mkdtemp(prefix="pe-bi-"))
    cluster = bench.PostgreSQL(folder)
    try:
        cluster.start()
        admin = dict(host="127.0.0.1", port=cluster.port, user=bench.PG_USER, password=bench.PASSWORDS[bench.PG_USER],
                     autocommit=True)
        with psycopg.connect(dbname="postgres", **admin) as conn:
            conn.execute("CREATE ROLE policyengine")
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER policyengine")
            conn.execute(f"ALTER DATABASE {DATABASE} SET TimeZone TO 'UTC'")  # the front door's default zone
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(PRINCIPAL),
                                                                            sql.Literal(PASSWORD)))
        with connect(shop.port) as ours, psycopg.connect(dbname=DATABASE, **admin) as conn:
            for statement in replica(ours):
                conn.execute(statement)
            if rows:
                copy_rows(ours, conn)
            oids = dict(conn.execute(
                "SELECT relname, oid::text FROM pg_class WHERE relname IN ('orders', 'customers')"))
        yield Reference(cluster.port, {"16409": oids["orders"], "16397": oids["customers"]})
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def replica(ours: Any) -> list[str]:
    """DDL for PostgreSQL that recreates what the front door lists: tables, columns, keys, comments, grants."""
    from psycopg import sql

    tables = [name for (name,) in ours.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")]
    statements = []
    for table in tables:
        columns = ours.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(c.oid, a.attnum) "
            "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relname = %s AND a.attnum > 0 ORDER BY a.attnum", [table]).fetchall()
        key = [name for (name,) in ours.execute(
            "SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
            "WHERE c.relname = %s AND i.indisprimary ORDER BY a.attnum", [table])]
        parts = [sql.SQL("{} {}{}").format(sql.Identifier(name), sql.SQL(kind), sql.SQL(" NOT NULL" * required))
                 for name, kind, required, _ in columns]
        if key:
            parts.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, key))))
        statements.append(sql.SQL("CREATE TABLE public.{} ({})").format(sql.Identifier(table),
                                                                         sql.SQL(", ").join(parts)))
        comment = ours.execute("SELECT obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c "
                               "WHERE c.relname = %s", [table]).fetchone()
        if comment and comment[0]:
            statements.append(sql.SQL("COMMENT ON TABLE public.{} IS {}").format(sql.Identifier(table),
                                                                                 sql.Literal(comment[0])))
        for name, _, _, description in columns:
            if description:
                statements.append(sql.SQL("COMMENT ON COLUMN public.{}.{} IS {}").format(
                    sql.Identifier(table), sql.Identifier(name), sql.Literal(description)))
        statements.append(sql.SQL("ALTER TABLE public.{} OWNER TO policyengine").format(sql.Identifier(table)))
        statements.append(sql.SQL("GRANT SELECT ON public.{} TO {}").format(sql.Identifier(table),
                                                                           sql.Identifier(PRINCIPAL)))
    return statements


def copy_rows(ours: Any, conn: Any) -> None:
    """The rows the principal reads from each table, as the front door gives them, into PostgreSQL's tables."""
    from psycopg import sql

    tables = [name for (name,) in ours.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")]
    for table in tables:
        cursor = ours.execute(sql.SQL("SELECT * FROM public.{}").format(sql.Identifier(table)))
        names = [column.name for column in cursor.description]
        found = cursor.fetchall()
        if found:
            with conn.cursor() as into:
                into.executemany(sql.SQL("INSERT INTO public.{} ({}) VALUES ({})").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names)),
                    sql.SQL(", ").join(sql.Placeholder() * len(names))), found)


@pytest.fixture(scope="module")
def client_shop(tmp_path_factory: Any) -> Iterator[Shop]:
    """The shop front door a client test drives (one per module)."""
    yield from start_shop(tmp_path_factory)


@pytest.fixture(scope="module")
def client_reference(client_shop: Shop) -> Iterator[Reference]:
    """The PostgreSQL 15 holding the same tables and the rows ana may read."""
    yield from start_reference(client_shop, rows=True)
