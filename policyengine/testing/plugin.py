"""The pytest plugin (registered through the ``pytest11`` entry point): fixtures for policy tests.

Configure in ``pytest.ini``/``pyproject.toml`` (``[tool.pytest.ini_options]``) or on the command line:

- ``policyengine_policies`` / ``--policyengine-policies``: the policy set folder (default ``policies``);
- ``policyengine_database`` / ``--policyengine-database``: the DuckDB database to test against;
- ``policyengine_key_file``: a key file for hash, tokenize and encrypt (or ``POLICYENGINE_KEY``).

Fixtures: ``policy_engine`` (one loaded policy set and database per session) and
``policy_connection``, a factory: ``policy_connection(role="bi_analyst", env="prod")`` or
``policy_connection(principal="bob")`` gives a DB-API connection as that subject.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("policyengine")
    group.addoption("--policyengine-policies", default=None, help="policy set folder")
    group.addoption("--policyengine-database", default=None, help="DuckDB database to test against")
    parser.addini("policyengine_policies", "policy set folder", default="policies")
    parser.addini("policyengine_database", "DuckDB database to test against", default="")
    parser.addini("policyengine_key_file", "key file for hash, tokenize and encrypt", default="")


def _setting(config: pytest.Config, option: str, ini: str) -> str:
    value = config.getoption(option) or config.getini(ini)
    return str(value) if value else ""


def _path(config: pytest.Config, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else Path(config.rootpath) / path


@pytest.fixture(scope="session")
def policy_engine(pytestconfig: pytest.Config) -> Iterator[Any]:
    from policyengine.engine import Engine
    from policyengine.model import PolicySetInvalid

    policies = _path(pytestconfig, _setting(pytestconfig, "--policyengine-policies", "policyengine_policies"))
    database = _setting(pytestconfig, "--policyengine-database", "policyengine_database")
    if not database:
        raise pytest.UsageError("policyengine: set policyengine_database (ini) or --policyengine-database")
    key_file = pytestconfig.getini("policyengine_key_file") or None
    try:
        engine = Engine.load(policies, _path(pytestconfig, database),
                             key_file=_path(pytestconfig, key_file) if key_file else None)
    except PolicySetInvalid as invalid:
        raise pytest.UsageError("policyengine: invalid policy set\n" + "\n".join(map(str, invalid.problems))) from None
    yield engine
    engine.close()


@pytest.fixture
def policy_connection(policy_engine: Any) -> Iterator[Callable[..., Any]]:
    from policyengine.dbapi import connect

    opened: list[Any] = []

    def open_as(*, role: str | None = None, roles: tuple[str, ...] = (), principal: str | None = None,
                env: str | None = None) -> Any:
        connection = connect(policy_engine.backend.path, role=role, roles=roles, principal=principal, env=env,
                             engine=policy_engine)
        opened.append(connection)
        return connection

    yield open_as
    for connection in opened:
        connection.close()
