"""Precision and recall of the detectors on the labelled data set (:mod:`policyengine.dlp.labelled`).

Two levels, because the two users of the detectors work at two levels:

- **value level** (what the egress check does): for each value detector, over every value of every
  column, did it find its kind where the value holds it (true positive), where it does not (false
  positive), or miss it (false negative). The column's name is given as context, as the egress check
  gives the source column's name.
- **column level** (what ``policyengine scan`` does): for each kind, over every column, did the
  classifier say the column holds it. "any" is the question the scan answers first: is this column
  sensitive at all.

``python -m policyengine.dlp.evaluate`` prints both tables as Markdown (they are in docs/dlp.md) and
``--dump FILE`` writes the data set as JSON, for measuring another detector (Presidio) on the same values.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from policyengine.dlp.classify import classify_column
from policyengine.dlp.detectors import DETECTORS, TITLES, hits
from policyengine.dlp.labelled import LabelledSet, build
from policyengine.dlp.names import NEUTRAL, name_evidence

#: the kinds judged per column (value kinds, and the three found only per column)
COLUMN_KINDS = tuple(d.kind for d in DETECTORS) + ("date_of_birth", "person_name", "location")


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    #: what went wrong, for the report: column keys (column level) or column key -> count (value level)
    false_positives: dict[str, int] = field(default_factory=dict)
    false_negatives: dict[str, int] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def add(self, predicted: bool, actual: bool, where: str) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
            self.false_positives[where] = self.false_positives.get(where, 0) + 1
        elif actual:
            self.fn += 1
            self.false_negatives[where] = self.false_negatives.get(where, 0) + 1


@dataclass
class ColumnResult:
    """One column: its truth, what the classifier said, and the value detectors' score on its values."""

    key: str
    note: str
    truth: frozenset[str]
    found: frozenset[str]
    values: Score

    @property
    def outcome(self) -> str:
        if self.truth == self.found:
            return "right" if self.truth else "right (nothing)"
        missed, extra = self.truth - self.found, self.found - self.truth
        parts = ([f"missed {', '.join(sorted(missed))}"] if missed else []) + (
            [f"wrongly {', '.join(sorted(extra))}"] if extra else [])
        return "; ".join(parts)


@dataclass
class Report:
    values: dict[str, Score]
    columns: dict[str, Score]
    value_count: int
    column_count: int
    per_column: list[ColumnResult] = field(default_factory=list)


Finder = Callable[[str, str], set[str]]


def rules_finder(text: str, column: str) -> set[str]:
    """The project's detectors on one value, with the column's name as context."""
    return {h.kind for h in hits(text, name_evidence(column))}


def rules_finder_without_names(text: str, column: str) -> set[str]:
    return {h.kind for h in hits(text, NEUTRAL)}


def measure(data: LabelledSet | None = None, finder: Finder = rules_finder) -> Report:
    data = data or build()
    values = {d.kind: Score() for d in DETECTORS}
    per_value: dict[str, Score] = {}
    count = 0
    for column in data.columns:
        own = per_value.setdefault(column.key, Score())
        for value, truth in zip(column.values, column.value_kinds):
            if not isinstance(value, str):
                continue
            count += 1
            found = finder(value, column.name)
            for kind, score in values.items():
                score.add(kind in found, kind in truth, column.key)
                own.add(kind in found, kind in truth, kind)
    columns = {kind: Score() for kind in COLUMN_KINDS + ("any",)}
    per_column: list[ColumnResult] = []
    for column in data.columns:
        verdict = classify_column(column.name, column.values, as_of=data.as_of)
        predicted = verdict.kinds & frozenset(COLUMN_KINDS)
        for kind in COLUMN_KINDS:
            columns[kind].add(kind in predicted, kind in column.kinds, column.key)
        columns["any"].add(bool(predicted), bool(column.kinds), column.key)
        per_column.append(ColumnResult(column.key, column.note, column.kinds, predicted, per_value[column.key]))
    return Report(values, columns, count, len(data.columns), per_column)


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _misses(found: dict[str, int], limit: int = 4) -> str:
    items = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k} ({v})" if v > 1 else k for k, v in items[:limit])
    return text + (f", +{len(items) - limit} more" if len(items) > limit else "")


def markdown(report: Report) -> str:
    lines = [f"Value level ({report.value_count} text values, column names as context):", "",
             "| detector | TP | FP | FN | precision | recall | false positives in | missed in |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for kind, score in report.values.items():
        lines.append(f"| {kind} | {score.tp} | {score.fp} | {score.fn} | {_pct(score.precision)} | "
                     f"{_pct(score.recall)} | {_misses(score.false_positives)} | {_misses(score.false_negatives)} |")
    lines += ["", f"Column level ({report.column_count} columns):", "",
              "| kind | TP | FP | FN | precision | recall | false positives | missed |",
              "|---|---:|---:|---:|---:|---:|---|---|"]
    for kind, score in report.columns.items():
        lines.append(f"| {kind} | {score.tp} | {score.fp} | {score.fn} | {_pct(score.precision)} | "
                     f"{_pct(score.recall)} | {_misses(score.false_positives)} | {_misses(score.false_negatives)} |")
    lines += ["", "Per column (value detectors' precision and recall over the column's own values; "
              "n/a: nothing to find and nothing found):", "",
              "| column | what it is | holds | scan says | column verdict | value precision | value recall |",
              "|---|---|---|---|---|---:|---:|"]
    for result in report.per_column:
        score = result.values
        precision = _pct(score.precision) if score.tp + score.fp else "n/a"
        recall = _pct(score.recall) if score.tp + score.fn else "n/a"
        lines.append(f"| {result.key} | {result.note} | {', '.join(sorted(result.truth)) or '-'} | "
                     f"{', '.join(sorted(result.found)) or '-'} | {result.outcome} | {precision} | {recall} |")
    return "\n".join(lines)


def dump(data: LabelledSet) -> list[dict[str, Any]]:
    """The data set as JSON-ready rows: one object per column."""
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value

    return [{"table": c.table, "name": c.name, "type": c.sql_type, "kinds": sorted(c.kinds), "note": c.note,
             "near_miss": c.near_miss, "values": [plain(v) for v in c.values],
             "value_kinds": [sorted(k) for k in c.value_kinds]} for c in data.columns]


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", help="write the labelled data set as JSON to this file")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(list(argv) if argv is not None else None)
    data = build(args.seed) if args.seed is not None else build()
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as handle:
            json.dump({"as_of": data.as_of.isoformat(), "columns": dump(data)}, handle)
    sys.stdout.write(markdown(measure(data)) + "\n")
    without = measure(data, rules_finder_without_names)
    sys.stdout.write("\nValue level without column names:\n\n| detector | precision | recall |\n|---|---:|---:|\n")
    for kind, score in without.values.items():
        sys.stdout.write(f"| {kind} | {_pct(score.precision)} | {_pct(score.recall)} |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["COLUMN_KINDS", "Report", "Score", "TITLES", "markdown", "measure", "rules_finder"]
