"""Shared fixtures: the example policy set, and small policy sets written on the fly."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from policyengine import PolicySet, load_policy_set
from tests.harness.postgres15 import postgres15  # noqa: F401  # the shared PostgreSQL 15 fixture
from tests.harness.shop import client_reference, client_shop  # noqa: F401  # the client tests' shop

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "policies"
#: the project's shared material (TPC-H/TPC-DS data, the seed): beside the clone in CI, or named by
#: POLICYENGINE_SHARED; a clone without it skips the tests that need it, saying why
SHARED = Path(os.environ.get("POLICYENGINE_SHARED", ROOT.parent / "shared"))
requires_shared = pytest.mark.skipif(
    not (SHARED / "bench").is_dir(),
    reason=f"needs the shared benchmark data at {SHARED} (set POLICYENGINE_SHARED to its folder)",
)


@pytest.fixture(scope="session")
def example() -> PolicySet:
    return load_policy_set(EXAMPLE)


@pytest.fixture
def write_set(tmp_path: Path) -> Callable[..., Path]:
    """Write a policy set from {relative path: text} and return its folder."""

    def write(files: dict[str, str]) -> Path:
        for rel, text in files.items():
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"))
        return tmp_path

    return write


@pytest.fixture(scope="module")
def frontdoor(tmp_path_factory):
    """A front door on the demo database (bob, frank and erin with their passwords, TLS offered), started
    once per module: tests/harness/frontdoor.py has its clients and oracles."""
    from policyengine.demo.data import build_demo_database
    from policyengine.engine import Engine
    from policyengine.server.server import Server, tls_context
    from policyengine.server.users import load_users, set_password
    from tests.harness.frontdoor import KEY, PASSWORDS, self_signed, serve

    root = tmp_path_factory.mktemp("server")
    database = root / "demo.duckdb"
    build_demo_database(database, users=120, reviews=300)
    users_file = root / "users.yaml"
    for name, password in PASSWORDS.items():
        set_password(users_file, name, password)
    engine = Engine.load(EXAMPLE, database, keys=KEY, audit=root / "audit.jsonl")
    server = Server(engine, load_users(users_file), tls=tls_context(*self_signed(root)))
    try:
        yield from serve(engine, server, root)
    finally:
        engine.close()


@pytest.fixture(scope="module")
def server_port(frontdoor):
    return frontdoor.port
