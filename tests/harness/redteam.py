"""The red-team runner the in-process suites share (tests/test_adversarial.py through the engine,
tests/test_dbapi.py through the DB-API): attacks run against a database with canaries planted in every
protected column; none may leak, and each answer equals the materialized oracle or is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import sqlglot

from policyengine import crypto
from policyengine.decision import subject_for
from policyengine.engine import Engine
from policyengine.fuzz.canaries import forbidden as canary_forbidden
from policyengine.fuzz.canaries import leaks
from policyengine.fuzz.oracle import normalize_rows

KEY = crypto.parse_key("726564207465616d206b6579206f6b21")
NONDETERMINISTIC = ("SAMPLE", "TABLESAMPLE", "POSITIONAL JOIN", "ASOF JOIN")  # ties pick any row


def forbidden(engine: Engine, principal: str, env: str) -> list[Any]:
    return canary_forbidden(engine.policy_set, subject_for(engine.policy_set, principal=principal), env)


class Denied(Exception):
    """A runner's refusal or error, with the text the reader would see."""


def check_attacks(run, oracle: Path, canaries: list[Any],
                  attacks: list[tuple[str, str, Any]]) -> tuple[list[Any], dict[str, int]]:
    """Run each (group, sql, parameters) through ``run``; collect leaks and differences from the oracle.

    ``run(sql, parameters)`` returns rows, or raises :class:`Denied` with the refusal or error text.
    """
    outcomes = {"refused": 0, "equal": 0}
    problems: list[Any] = []
    for group, sql, parameters in attacks:
        try:
            rows = run(sql, parameters)
        except Denied as denied:
            outcomes["refused"] += 1
            problems += [(group, sql, "leak in refusal or error", hit) for hit in leaks(str(denied), canaries)]
            continue
        problems += [(group, sql, "leak in result", hit) for hit in leaks(rows, canaries)]
        if any(word in sql.upper() for word in NONDETERMINISTIC):
            continue
        with duckdb.connect(str(oracle), read_only=True) as con:
            try:
                expected = con.execute(sql, parameters).fetchall()
            except duckdb.Error:
                # sqlglot accepts some syntax DuckDB 2.0 rejects (arrow lambdas, FOR UPDATE) and the
                # engine runs sqlglot's rendering: the oracle runs that same rendering, unrewritten
                try:
                    rendered = sqlglot.transpile(sql, read="duckdb", write="duckdb")[0]
                    expected = con.execute(rendered, parameters).fetchall()
                except duckdb.Error as error:
                    problems.append((group, sql, "ran, but fails on the oracle", str(error)[:120]))
                    continue
        if normalize_rows(rows, False) != normalize_rows(expected, False):
            problems.append((group, sql, "differs from the oracle", None))
        else:
            outcomes["equal"] += 1
    return problems, outcomes
