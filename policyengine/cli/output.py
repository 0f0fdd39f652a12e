"""Rendering rows for people (rich tables) and for scripts (JSON, CSV), one function for every command."""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

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
        write_json([{key: json_value(value) for key, value in row.items()} for row in rows])
    elif fmt is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: _nested_as_json(value) for key, value in row.items()} for row in rows)
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
    return str(_nested_as_json(value))


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it, for values DuckDB returns that JSON cannot take as they are.

    A MAP comes back as a dict whose keys may be dates, numbers or decimals (JSON keys are strings:
    they are written as text), a STRUCT as a dict, a LIST as a list, nested at any depth; a float
    that is not finite has no JSON number, so it is written as text. Other scalars that are not
    JSON (dates, decimals, UUIDs, bytes) keep their text form, as they always had.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {_json_key(key): json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    return str(value)


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, (dict, list, tuple)):
        return json.dumps(json_value(key), separators=(",", ":"))
    return str(json_value(key))


def _nested_as_json(value: Any) -> Any:
    """A MAP, STRUCT or LIST as JSON text in a CSV field or table cell (not Python's repr); other values as is."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(json_value(value), separators=(", ", ": "))
    return value


def write_json(value: Any) -> None:
    sys.stdout.write(json.dumps(json_value(value), indent=2) + "\n")


def lines(items: Iterable[str], *, err: bool = False) -> None:
    target = sys.stderr if err else sys.stdout
    for item in items:
        target.write(item + "\n")
