"""Scan findings, as ``policyengine scan --format json`` writes them, read for the access report.

The report needs only a small part of a finding, and the scanner is developed on its own, so the
shape read here is deliberately minimal: a JSON list (or ``{"findings": [...]}``) of objects with

- ``table``, ``column``: where (text, required),
- ``detector``: what found it (text, required),
- ``sensitivity_declared``: the level the contract gave the column when scanned (text or null),
- ``sensitivity_suggested``: the level the detector suggests (text or null).

Every other field is ignored, and never shown: a scanner may record sample values as evidence, and
the report shows policy, never data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policyengine.model.base import describe_value
from policyengine.model.problems import Problem, format_path
from policyengine.model.reading import ReadError, read_file

REQUIRED = ("table", "column", "detector")
OPTIONAL = ("sensitivity_declared", "sensitivity_suggested")


@dataclass(frozen=True)
class Finding:
    table: str
    column: str
    detector: str
    sensitivity_declared: str | None
    sensitivity_suggested: str | None


class FindingsInvalid(ValueError):
    """The findings file cannot be read; carries every problem, located like policy problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def read_findings(path: str | Path, shown: str | None = None) -> list[Finding]:
    """The findings in ``path``; raises :class:`FindingsInvalid` naming each malformed field."""
    name = shown or str(path)
    try:
        data = read_file(Path(path))
    except ReadError as error:
        raise FindingsInvalid([Problem(name, "", str(error))]) from None
    prefix: tuple[str | int, ...] = ()
    if isinstance(data, dict) and "findings" in data:
        data, prefix = data["findings"], ("findings",)
    if not isinstance(data, list):
        raise FindingsInvalid([Problem(name, format_path(prefix), "expected a list of findings "
                                                                  "({table, column, detector, ...})")])
    problems: list[Problem] = []
    findings: list[Finding] = []
    for index, item in enumerate(data):
        at = prefix + (index,)
        if not isinstance(item, dict):
            problems.append(Problem(name, format_path(at),
                                    f"expected a finding (a mapping), got {describe_value(item)}"))
            continue
        values: dict[str, Any] = {}
        for key in REQUIRED:
            value = item.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append(Problem(name, format_path(at + (key,)), f"expected text, got {describe_value(value)}"))
            values[key] = value.strip() if isinstance(value, str) else ""
        for key in OPTIONAL:
            value = item.get(key)
            if value is not None and not isinstance(value, str):
                problems.append(Problem(name, format_path(at + (key,)),
                                        f"expected a level name or null, got {describe_value(value)}"))
                value = None
            values[key] = value.strip().lower() if isinstance(value, str) and value.strip() else None
        findings.append(Finding(**values))
    if problems:
        raise FindingsInvalid(problems)
    return findings
