"""pgcli (PyPI, with pgspecial) against the front door and against a real PostgreSQL 15 holding the same
visible tables and rows.

As it connects, pgcli's completion refresher sends its own catalog queries (search path, schemata, tables
and their columns, foreign keys, views, types, databases, functions, and the casing query): every one must
run, list exactly what PostgreSQL lists in ``public``, and elsewhere only what PostgreSQL also lists (the
front door shows fewer catalog relations, databases and functions). Its backslash commands and a query,
run by the pgcli program itself, must print what they print from PostgreSQL.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest

from tests.harness.clients import pgcli
from tests.harness.shop import DATABASE, PASSWORD, PRINCIPAL

#: the PGExecute methods pgcli's CompletionRefresher calls as it connects (completion_refresher.py), in order
REFRESHER_QUERIES = ("search_path", "schemata", "tables", "table_columns", "foreignkeys", "views", "view_columns",
                     "datatypes", "databases", "casing", "functions")
COMMANDS = [r"\dt", r"\d orders", r"\d customers", r"\dn", r"\di", r"\dv", r"\dT", r"\df",
            "SELECT id, name, email, created_at FROM customers ORDER BY id LIMIT 3",
            "SELECT status, count(*), sum(total) FROM orders GROUP BY status ORDER BY status"]


def _executor(port: int) -> Any:
    pgcli()  # the program is there (or the test fails in CI, skips elsewhere); its package is imported here
    from pgcli.pgexecute import PGExecute

    return PGExecute(database=DATABASE, user=PRINCIPAL, password=PASSWORD, host="127.0.0.1", port=port, dsn=None,
                     sslmode="disable")


def _listed(port: int) -> dict[str, list[Any]]:
    executor = _executor(port)
    try:
        return {name: [tuple(item) if isinstance(item, (tuple, list)) else item
                       for item in getattr(executor, name)()] for name in REFRESHER_QUERIES}
    finally:
        executor.conn.close()


def _schema(item: Any) -> str | None:
    return item[0] if isinstance(item, tuple) and item and isinstance(item[0], str) else \
        getattr(item, "schema_name", None)


@pytest.mark.parametrize("query", REFRESHER_QUERIES)
def test_pgcli_completion_refresher_lists_what_postgresql_lists(client_shop, client_reference, query):
    ours, theirs = _listed(client_shop.port)[query], _listed(client_reference.port)[query]
    if query in ("search_path", "datatypes", "casing", "foreignkeys"):
        assert ours == theirs
        return
    assert [i for i in ours if _schema(i) == "public"] == [i for i in theirs if _schema(i) == "public"]
    assert set(ours) <= set(theirs), sorted(set(ours) - set(theirs), key=repr)[:10]


def test_pgcli_completion_refresher_runs_whole(client_shop):
    """The refreshers themselves, into pgcli's completer, as its background thread runs them at start."""
    executor = _executor(client_shop.port)
    from pgcli.completion_refresher import CompletionRefresher
    from pgcli.pgcompleter import PGCompleter

    completer = PGCompleter(smart_completion=True, settings={"generate_casing_file": False})
    try:
        for refresher in CompletionRefresher.refreshers.values():
            refresher(completer, executor)
    finally:
        executor.conn.close()
    assert {"customers", "orders"} <= set(completer.dbmetadata["tables"]["public"])
    assert list(completer.dbmetadata["tables"]["public"]["customers"]) == ["id", "name", "email", "created_at"]


def _run(port: int, home: str, *commands: str) -> str:
    args = [str(pgcli()), "-h", "127.0.0.1", "-p", str(port), "-u", PRINCIPAL, "-d", DATABASE, "--less-chatty"]
    for command in commands:
        args += ["-c", command]
    env = {**os.environ, "PGPASSWORD": PASSWORD, "HOME": home, "TZ": "UTC", "PGCONNECT_TIMEOUT": "10"}
    run = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    return re.sub(r"(?m)^Time: .*\n", "", run.stdout)


def test_pgcli_prints_what_it_prints_from_postgresql(client_shop, client_reference, tmp_path):
    ours = _run(client_shop.port, str(tmp_path / "ours"), *COMMANDS)
    theirs = _run(client_reference.port, str(tmp_path / "theirs"), *COMMANDS)
    assert ours == theirs
    assert "*****@example.com" in ours and "ssn" not in ours


def test_pgcli_lists_the_database_as_postgresql_does(client_shop, client_reference, tmp_path):
    """\\l: PostgreSQL lists its other databases too; the front door's one row is among its rows."""
    def rows(text: str) -> list[list[str]]:
        return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
                if line.startswith("|") and "Name" not in line]
    ours = rows(_run(client_shop.port, str(tmp_path / "ours"), r"\l"))
    theirs = rows(_run(client_reference.port, str(tmp_path / "theirs"), r"\l"))
    assert [row for row in ours if row[0] == DATABASE] == [row for row in theirs if row[0] == DATABASE] != []
