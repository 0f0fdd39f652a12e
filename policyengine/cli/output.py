"""Rendering rows for people (rich tables) and for scripts (JSON, CSV), one function for every command."""

from __future__ import annotations

import csv
import json
import os
import sys
from enum import Enum
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.table import Table


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _width() -> int | None:
    """Full width in a terminal; a wide page when piped, so tables are not folded to 80 columns."""
    if sys.stdout.isatty():
        return None
    return int(os.environ.get("COLUMNS", "200"))


stdout = Console(soft_wrap=False, width=_width())
stderr = Console(stderr=True, soft_wrap=False, width=_width())


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: Format, *, title: str | None = None,
           styles: dict[str, str] | None = None) -> None:
    if fmt is Format.json:
        sys.stdout.write(json.dumps(list(rows), indent=2, default=str) + "\n")
    elif fmt is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in columns:
            table.add_column(column, style=(styles or {}).get(column))
        for row in rows:
            table.add_row(*(_cell(row.get(column)) for column in columns))
        stdout.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    return str(value)


def write_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def lines(items: Iterable[str], *, err: bool = False) -> None:
    target = sys.stderr if err else sys.stdout
    for item in items:
        target.write(item + "\n")
