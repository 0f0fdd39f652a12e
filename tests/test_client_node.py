"""node-postgres (the npm package pg, as pinned by tests/clients/node/package-lock.json) against the front
door and against a real PostgreSQL 15 holding the same visible tables and rows: the simple and extended
protocols, named prepared statements, arrays both ways, errors and a pool must give the Node.js program the
same values and types from both (tests/clients/node/probe.js prints what it received).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.harness.clients import node_postgres
from tests.harness.shop import DATABASE, PASSWORD, PRINCIPAL

#: text, name and varchar: node-postgres reads all three as strings (PostgreSQL's information_schema
#: announces name and varchar where the front door announces text)
STRINGS = {19, 25, 1043}


@pytest.fixture(scope="module")
def answers(client_shop, client_reference) -> tuple[dict[str, Any], dict[str, Any]]:
    node, folder = node_postgres()

    def probe(port: int) -> dict[str, Any]:
        run = subprocess.run([node, str(folder / "probe.js"), str(port), PRINCIPAL, PASSWORD, DATABASE],
                             capture_output=True, text=True, timeout=120, cwd=folder, env={**os.environ, "TZ": "UTC"})
        assert run.returncode == 0, run.stderr[-2000:]
        return json.loads(run.stdout)

    return probe(client_shop.port), probe(client_reference.port)


def _as_read(answer: Any) -> Any:
    """A result with the string types told apart no further than node-postgres tells them apart."""
    return {**answer, "fields": [[name, "string" if oid in STRINGS else oid] for name, oid in answer["fields"]]}


@pytest.mark.parametrize("what", ["simple", "parameters", "arrays", "join", "session", "after"])
def test_node_postgres_reads_as_from_postgresql(answers, what):
    ours, theirs = answers
    assert ours[what] == theirs[what]


def test_node_postgres_named_statements_and_pool(answers):
    ours, theirs = answers
    assert ours["named"] == theirs["named"]
    assert ours["pool"] == theirs["pool"] == ["3"] * 6


def test_node_postgres_catalog_as_from_postgresql(answers):
    ours, theirs = answers
    assert _as_read(ours["catalog"]) == _as_read(theirs["catalog"])
    assert [row["column_name"] for row in ours["catalog"]["rows"]][:4] == ["id", "name", "email", "created_at"]


def test_node_postgres_errors_carry_postgresql_codes(answers):
    """The SQLSTATE a program branches on is PostgreSQL's; the text is the front door's own."""
    ours, theirs = answers
    assert [e["code"] for e in ours["errors"]] == [e["code"] for e in theirs["errors"]] == ["42P01", "42601", "22012"]
