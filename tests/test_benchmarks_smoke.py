"""The benchmark code runs (numbers are not asserted: speed is measured in benchmarks, not tests)."""

from __future__ import annotations

from benchmarks import rewrite
from tests.conftest import requires_shared

pytestmark = requires_shared


def test_rewrite_benchmark_runs_and_reports():
    rows = rewrite.run(repeat=1, limit=2)
    assert len(rows) == 4
    report = rewrite.markdown(rows, "python -m benchmarks --repeat 1 --limit 2")
    assert "rewrite, very first query of a subject" in report
    assert all(row.roundtrip_ms > 0 for row in rows)
