"""Both backends, and every result they (or a result hook) return, are what the engine expects of them.

The engine and the front ends use a backend only through :class:`policyengine.backends.base.Backend`
and a result only through :class:`~policyengine.backends.base.ResultRows`. ``isinstance`` with a
``runtime_checkable`` protocol checks only that each member exists, so each declared method is also
compared by signature (parameter names, kinds and defaults): a backend whose ``execute`` lost its
``arrow`` parameter fails here, not in the front door at run time. No type checker is needed.
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from policyengine.backends.base import Backend, ResultRows
from policyengine.backends.duckdb import ArrowResultStream, DuckDBBackend, ResultStream
from policyengine.backends.snowflake import SnowflakeBackend, SnowflakeResult
from policyengine.demo.data import build_demo_database
from policyengine.dlp.egress import EgressStream
from policyengine.engine import Engine
from tests.conftest import EXAMPLE


def declared(protocol: type) -> dict[str, Any]:
    """The protocol's own members: attribute annotations, properties and methods."""
    members: dict[str, Any] = {name: "attribute" for name in protocol.__annotations__}
    for name, value in vars(protocol).items():
        if isinstance(value, property):
            members[name] = "property"
        elif inspect.isfunction(value) and not name.startswith("_"):
            members[name] = value
    return members


def parameters(function: Any) -> list[tuple[str, Any, Any]]:
    """Names, kinds and defaults, without ``self``: what a caller relies on."""
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in list(signature.parameters.values())[1:]]


def unmet(protocol: type, implementation: type) -> list[str]:
    problems = []
    for name, kind in declared(protocol).items():
        if not hasattr(implementation, name) and name not in getattr(implementation, "__annotations__", {}):
            # an attribute may be set in __init__ only: the instance check below covers those
            if kind != "attribute":
                problems.append(f"{implementation.__name__} has no {name}")
            continue
        if inspect.isfunction(kind):
            own = getattr(implementation, name)
            if not callable(own):
                problems.append(f"{implementation.__name__}.{name} is not a method")
            elif parameters(own) != parameters(kind):
                problems.append(f"{implementation.__name__}.{name}{inspect.signature(own)} is not "
                                f"{name}{inspect.signature(kind)}")
        elif kind == "property" and inspect.isfunction(getattr(implementation, name, None)):
            problems.append(f"{implementation.__name__}.{name} is a method, the protocol reads it as a value")
    return problems


@pytest.mark.parametrize("implementation", [DuckDBBackend, SnowflakeBackend])
def test_each_backend_declares_every_member_with_its_signature(implementation: type) -> None:
    assert unmet(Backend, implementation) == []


@pytest.mark.parametrize("implementation", [ResultStream, ArrowResultStream, SnowflakeResult, EgressStream])
def test_each_result_declares_every_member_with_its_signature(implementation: type) -> None:
    assert unmet(ResultRows, implementation) == []


def test_the_signature_check_finds_a_missing_parameter_and_a_missing_member() -> None:
    class Incomplete:
        dialect = "duckdb"
        path = None
        udf_prefix = None
        has_key = False

        def resolver(self, policy_set):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def execute(self, rewritten, parameters=None, started=None):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def close(self) -> None:
            pass

    problems = unmet(Backend, Incomplete)
    assert any(p.startswith("Incomplete.execute(") for p in problems)
    assert "Incomplete has no columns" in problems and "Incomplete has no interrupt" in problems
    assert not isinstance(Incomplete(), Backend)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = tmp_path_factory.mktemp("protocol")
    path = folder / "demo.duckdb"
    build_demo_database(path, users=50, reviews=200)
    # a copy of the example set, so no key beside it (a developer's policyengine.key after `demo`) is found
    shutil.copytree(EXAMPLE, folder / "policies", ignore=shutil.ignore_patterns("__pycache__"))
    engine = Engine.load(folder / "policies", path)
    yield engine
    engine.close()


class FakeConnection:
    """Enough of a PEP 249 connection to make a SnowflakeBackend (nothing is run on it here)."""

    def cursor(self) -> Any:
        raise AssertionError("not used")

    def close(self) -> None:
        pass


def test_both_backends_are_instances_of_the_protocol(engine: Engine) -> None:
    snowflake = SnowflakeBackend(FakeConnection(), database="ANALYTICS", schema="SALES")
    assert isinstance(engine.backend, Backend) and isinstance(snowflake, Backend)
    assert isinstance(engine.backend, DuckDBBackend) and engine.backend.path == Path(engine.backend.path)
    # what each says instead of a missing member
    assert engine.backend.udf_prefix is None and snowflake.udf_prefix == "ANALYTICS.SALES"
    assert snowflake.path is None and snowflake.columns() is None and snowflake.has_key
    assert not engine.backend.has_key  # loaded without a key
    assert engine.backend.columns()[("main", "reviews")]


def test_a_duckdb_result_reads_the_same_rows_as_rows_and_as_arrow(engine: Engine) -> None:
    sql = "SELECT ReviewID, Rating FROM reviews ORDER BY ReviewID LIMIT 7"
    subject = engine.subject(role="admin")
    rows = engine.query_for(subject, sql).fetchall()
    result = engine.query_for(subject, sql)
    assert isinstance(result._stream, ResultRows) and not result.streams_arrow
    batches = list(result.arrow_batches())
    assert [tuple(r.values()) for b in batches for r in b.to_pylist()] == rows
    stream = engine.backend.execute(engine.rewrite_for(subject, sql))
    whole = stream.arrow()
    assert isinstance(whole, pa.Table) and whole.num_rows == 7


def test_an_arrow_stream_reads_whole_as_a_table_and_a_frame(engine: Engine) -> None:
    """A statement whose last run was large streams as Arrow when the caller takes Arrow; its
    ``arrow()`` and ``df()`` give the same rows as its text run as rows."""
    sql = "SELECT a.ReviewID, b.Rating FROM reviews a CROSS JOIN reviews b ORDER BY 1, 2"
    subject = engine.subject(role="admin")
    rewritten = engine.rewrite_for(subject, sql)
    rows = engine.backend.execute(rewritten).fetchall()  # more than a batch: noted as large
    assert len(rows) > engine.backend.limits.batch_rows
    first = engine.backend.execute(rewritten, arrow=lambda types: True)
    assert isinstance(first, ArrowResultStream) and first.streams_arrow
    table = first.arrow()
    assert [tuple(r.values()) for r in table.to_pylist()] == rows
    frame = engine.backend.execute(rewritten, arrow=lambda types: True).df()
    assert list(frame.itertuples(index=False, name=None)) == rows
