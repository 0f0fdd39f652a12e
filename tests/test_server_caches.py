"""The front door's kept results use the one bounded cache: the shadow catalogs it pushes out are closed,
the least recently used first, and the inferred parameter types it hands out are copies."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import pytest

from policyengine.server import catalog, parameters


def test_shadow_catalogs_pushed_out_are_closed_least_recently_used_first(monkeypatch):
    monkeypatch.setattr(catalog, "KEEP", 2)
    engine = SimpleNamespace(policy_set=SimpleNamespace(version="v1"), backend=None)
    catalogs = catalog.Catalogs(engine, "demo", {})
    built: list[duckdb.DuckDBPyConnection] = []
    monkeypatch.setattr(catalogs, "_build", lambda *_: built.append(duckdb.connect()) or built[-1])
    a, b, c = (SimpleNamespace(name=name, roles=("r",)) for name in "abc")
    first = catalogs.shadow(a)
    catalogs.shadow(b)
    assert catalogs.shadow(a) is first and len(built) == 2  # kept, and now the most recently used
    catalogs.shadow(c)  # pushes out b's
    with pytest.raises(duckdb.ConnectionException):
        built[1].execute("SELECT 1")
    assert first.execute("SELECT 1").fetchone() == (1,)
    catalogs.close()
    for connection in (built[0], built[2]):
        with pytest.raises(duckdb.ConnectionException):
            connection.execute("SELECT 1")


def test_inferred_parameter_types_are_kept_bounded_and_handed_out_as_copies(example):
    sql = 'SELECT * FROM reviews WHERE "ReviewID" = $1 LIMIT $2'
    found = parameters.infer_parameter_types(sql, example)
    assert found[2] == parameters.INT8
    found[2] = -1
    assert parameters.infer_parameter_types(sql, example)[2] == parameters.INT8
    assert (example.version, sql) in parameters._INFERRED and parameters._INFERRED.size == 2048


def test_failed_logins_wait_longer_per_address_and_the_addresses_kept_are_bounded(monkeypatch):
    import asyncio

    from policyengine.bounded_cache import BoundedCache
    from policyengine.server import server

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(server.asyncio, "sleep", sleep)
    state = SimpleNamespace(_failures=BoundedCache(2))
    writer = lambda address: SimpleNamespace(get_extra_info=lambda _: (address, 5432))  # noqa: E731

    async def fail(*addresses: str) -> None:
        for address in addresses:
            await server.Server.login_failed(state, writer(address))

    asyncio.run(fail("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1"))
    # 10.0.0.1 was pushed out by .2 and .3, so its third failure counts as its first
    assert waits == pytest.approx([0.2, 0.4, 0.2, 0.2, 0.2])
    assert sorted(state._failures.keys()) == ["10.0.0.1", "10.0.0.3"]
    built = server.Server(SimpleNamespace(backend=None, policy_set=SimpleNamespace(root=None)), {})
    try:
        assert built._failures.size == server.FAILED_ADDRESSES_KEPT
    finally:
        built.workers.shutdown()
