"""The benchmark suite runs end to end at its small scale (seconds), so its code cannot rot.

Numbers are not asserted (speed is measured by ``python -m benchmarks``, not by tests): the tests check
that every section ran and that the report has the issue's table, a row per target, and its plots. A
section whose inputs are missing here (the shared TPC data, PostgreSQL 15) is skipped with the reason.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks import __main__ as bench
from benchmarks import frontdoor, tpcworld


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("benchmarks")
    out = folder / "benchmarks.md"
    code = bench.main(["--scale", "small", "--out", str(out)])
    return {"code": code, "page": out.read_text(), "folder": folder,
            "results": json.loads((folder / "benchmarks" / "results.json").read_text())}


def _requires(reason: str | None) -> None:
    if reason:
        pytest.skip(reason)


def test_the_suite_runs_without_failures(suite):
    assert suite["code"] == 0
    assert suite["page"].startswith("# Benchmarks")
    assert "| what | measured against | target | measured ratio | met? |" in suite["page"]
    assert "python -m benchmarks --scale small" in suite["page"]
    # the page can be written again from the saved results, measuring nothing
    out = suite["folder"] / "benchmarks.md"
    out.unlink()
    assert bench.main(["--render", "--out", str(out)]) == 0
    assert out.read_text() == suite["page"]


def test_synthetic_sections(suite):
    sections = suite["results"]["sections"]
    kinds = {row["column"] for row in sections["kinds"]["result"]["rows"]}
    assert {"hash", "tokenize", "encrypt", "partial", "email", "redact", "generalize", "nullify", "custom"} <= kinds
    assert sections["hash"]["result"]["same_values"]  # the limit computes what the engine computes
    assert "## Overhead by protection kind" in suite["page"]
    assert "## Keyed hash: the full-scan worst case" in suite["page"]
    assert (suite["folder"] / "benchmarks" / "execution.png").stat().st_size > 1000


def test_tpc_sections(suite):
    _requires(tpcworld.available())
    sections = suite["results"]["sections"]
    rewritten = [r for r in sections["rewrite"]["result"]["rows"] if "refused" not in r]
    assert rewritten and all(r["sqlglot_ms"] > 0 and r["first_ms"] > 0 for r in rewritten)
    assert all("group" in r for r in sections["execution"]["result"]["rows"] if "raw_ms" in r)
    for row in ("rewrite, first time", "rewrite, repeated query (cache)", "queries that read no protected column",
                "where they read protected columns"):
        assert f"| {row}" in suite["page"] or row in suite["page"], row
    assert (suite["folder"] / "benchmarks" / "rewrite.png").stat().st_size > 1000


def test_frontdoor_section(suite):
    _requires(frontdoor.missing())
    result = suite["results"]["sections"]["frontdoor"]["result"]
    assert "missing" not in result
    assert result["stream"]["frontdoor"]["rows"] == result["stream"]["rows"]
    for row in ("rows per second to psycopg through the front door", "pgbench transactions per second",
                "server memory while streaming"):
        assert row in suite["page"], row
    assert (suite["folder"] / "benchmarks" / "throughput.png").stat().st_size > 1000
