"""The front door's worker pool: few threads for quick statements, a new one when long ones hold them all."""

from __future__ import annotations

import threading
import time

import pytest

from policyengine.server.workers import ElasticPool


def test_results_and_exceptions_reach_the_caller():
    pool = ElasticPool(core=2)
    try:
        assert pool.submit(lambda a, b: a + b, 2, 3).result(5) == 5
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result(5)
    finally:
        pool.shutdown()


def test_quick_tasks_do_not_multiply_threads():
    # patience well above a 1 ms task even on a starved machine (quickstart.sh beside another suite took one
    # past 50 ms and the pool rightly grew): what is tested is that quick tasks never look stuck
    pool = ElasticPool(core=2, patience=0.5)
    try:
        futures = [pool.submit(time.sleep, 0.001) for _ in range(2000)]
        for future in futures:
            future.result(30)
        assert pool.threads == 2
    finally:
        pool.shutdown()


def test_long_tasks_do_not_starve_a_quick_one():
    """Every core thread busy for a long time: a quick task still runs within about ``patience``."""
    pool = ElasticPool(core=2, patience=0.05, linger=0.2)
    release = threading.Event()
    try:
        blockers = [pool.submit(release.wait, 30) for _ in range(5)]  # more long tasks than core threads
        started = time.monotonic()
        assert pool.submit(lambda: "quick").result(10) == "quick"
        waited = time.monotonic() - started
        assert waited < 2, f"the quick task waited {waited:.2f}s behind long ones"
        assert pool.threads > 2
        release.set()
        for blocker in blockers:
            assert blocker.result(10)
        deadline = time.monotonic() + 10
        while pool.threads > 2 and time.monotonic() < deadline:  # the extra threads leave when idle
            time.sleep(0.05)
        assert pool.threads == 2
    finally:
        release.set()
        pool.shutdown()


def test_a_limit_caps_the_threads():
    pool = ElasticPool(core=1, limit=3, patience=0.02)
    release = threading.Event()
    try:
        blockers = [pool.submit(release.wait, 30) for _ in range(6)]
        time.sleep(0.5)
        assert pool.threads == 3
        release.set()
        assert all(blocker.result(10) for blocker in blockers)
    finally:
        release.set()
        pool.shutdown()


def test_shutdown_refuses_new_work():
    pool = ElasticPool(core=1)
    pool.submit(lambda: None).result(5)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    assert pool.threads == 0
