"""A derived table's contract as a document: made new, or merged into the one already written.

``policyengine derive`` owns what lineage decides (each column's type, sensitivity, protection,
``originatingSource``, the list of columns, and ``derivation``); everything a person wrote beside
it is kept as written (descriptions, ``mode``, ``primary_key``, ``meta``, ``row_access``, the
contract's header keys, the spelling of the keys themselves). Pure: documents in, documents and
text out; the command does the reading and writing.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

import yaml

from policyengine.lineage.propagate import Propagated, protection_value
from policyengine.model.base import normalize_key
from policyengine.model.policyset import name_key
from policyengine.model.reading import ReadError, parse_text
from policyengine.model.types import UnknownType, parse_column_type

HEADER = ("# Derived by `policyengine derive` from the SQL under `derivation:`. Run it again after changing the\n"
          "# SQL: it recomputes each column's type, sensitivity, protection and originatingSource, and keeps\n"
          "# what was written here by hand (descriptions, row_access, a stricter level or protection).\n")


def _key(mapping: dict[str, Any], name: str) -> str | None:
    """The key of ``mapping`` that means ``name`` (keys match with case, '_' and '-' ignored)."""
    wanted = normalize_key(name)
    return next((k for k in mapping if normalize_key(k) == wanted), None)


def _set(mapping: dict[str, Any], name: str, value: Any) -> None:
    """Set ``name``, under the spelling the mapping already uses for it."""
    mapping[_key(mapping, name) or name] = value


def _drop(mapping: dict[str, Any], name: str) -> None:
    key = _key(mapping, name)
    if key is not None:
        del mapping[key]


def origin_text(column: Propagated, system: str, previous: str | None) -> str | None:
    """``originatingSource`` for the column: ``system:table.column`` of the source that sets its
    sensitivity, in the previous spelling when that names the same column; a previous source
    outside the set (no ``.column`` part) is kept when lineage has none."""
    if column.origin is None or not column.determined:
        if previous and "." not in previous.split(":", 1)[-1]:
            return previous
        return None
    if previous:
        reference = previous.split(":", 1)[-1]
        if name_key(reference) == name_key(str(column.origin)):
            return previous
    return f"{system}:{column.origin}" if system else str(column.origin)


def contract_document(table: str, columns: Sequence[Propagated], *, sql: str, dialect: str, system: str,
                      existing: dict[str, Any] | None = None, description: str | None = None,
                      catalogs: Sequence[str] = ()) -> dict[str, Any]:
    """The contract of the derived table: ``existing`` (the contract as read from its file) updated,
    or a new one."""
    document: dict[str, Any] = copy.deepcopy(existing) if existing is not None else {"table": table}
    if existing is None and description:
        document["description"] = description
    written = {}
    columns_key = _key(document, "columns") or "columns"
    for item in document.get(columns_key) or []:
        if isinstance(item, dict):
            name = item.get(_key(item, "name") or "name")
            if isinstance(name, str):
                written.setdefault(name_key(name), item)
    out_columns = []
    for column in columns:
        item = written.get(name_key(column.name))
        item = dict(item) if item is not None else {"name": column.name}
        previous_type = item.get(_key(item, "type") or "type")
        _set(item, "type", previous_type if _same_type(previous_type, column) else column.type.sql)
        _set(item, "sensitivity", column.sensitivity)
        _set(item, "protection", protection_value(column.protection))
        previous = item.get(_key(item, "originatingSource") or "originatingSource")
        origin = origin_text(column, system, previous if isinstance(previous, str) else None)
        if origin is None:
            _drop(item, "originatingSource")
        else:
            _set(item, "originatingSource", origin)
        out_columns.append(item)
    derivation: dict[str, Any] = {"dialect": dialect}
    if catalogs:
        derivation["catalogs"] = list(catalogs)
    derivation["sql"] = sql.strip() + "\n"
    ordered: dict[str, Any] = {}
    for key, value in document.items():  # keep the document's order; derivation goes before the columns
        if normalize_key(key) in ("columns", "derivation"):
            continue
        ordered[key] = value
    ordered[_key(document, "derivation") or "derivation"] = derivation
    ordered[columns_key] = out_columns
    for key in list(ordered):
        if normalize_key(key) == "rowaccess":
            ordered[key] = ordered.pop(key)
    return ordered


def _same_type(previous: Any, column: Propagated) -> bool:
    if not isinstance(previous, str):
        return False
    try:
        return parse_column_type(previous).sql == column.type.sql
    except UnknownType:
        return False


# --- text ------------------------------------------------------------------------------------------

def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1_000_000, allow_unicode=True)
    text = text.strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")].strip()
    elif text.endswith("..."):
        text = text[:-3].strip()
    return text


def _block(value: Any, indent: str) -> str:
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=110, allow_unicode=True)
    return "".join(indent + line + "\n" for line in text.splitlines())


def _literal(text: str, indent: str) -> str | None:
    """A YAML literal block for ``text``, or None when one cannot hold it exactly."""
    if any((ord(ch) < 32 and ch not in "\n\t") or ch in "\x7f\ufeff" for ch in text) or "\t" in text:
        return None
    body = text.rstrip("\n")
    lines = body.split("\n")
    if any(line != line.rstrip() for line in lines):
        return None  # trailing spaces: a literal block keeps them, but editors strip them
    indicator = "2" if lines and lines[0][:1] == " " else ""
    return f"|{indicator}\n" + "".join((indent + line if line else "") + "\n" for line in lines)


def _section(key: str, value: Any) -> str:
    normalized = normalize_key(key)
    if normalized == "columns" and isinstance(value, list):
        return f"{key}:\n" + "".join(f"  - {_flow(item)}\n" for item in value)
    if normalized == "derivation" and isinstance(value, dict):
        lines = [f"{key}:\n"]
        for inner, item in value.items():
            literal = _literal(item, "    ") if isinstance(item, str) and "\n" in item else None
            lines.append(f"  {inner}: {literal}" if literal is not None else f"  {inner}: {_flow(item)}\n")
        return "".join(lines)
    if isinstance(value, (dict, list)) and value:
        return f"{key}:\n" + _block(value, "  ")
    return f"{key}: {_flow(value)}\n"


_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*)\s*:(\s|$)")


def _top_level(text: str) -> tuple[list[str], list[tuple[str, list[str]]]] | None:
    """A YAML file's lines before its first key, and each top-level key with its lines; None when the
    file is not a plain block mapping (its layout is then not kept)."""
    preamble: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines(keepends=True):
        match = _TOP_KEY.match(line)
        if match:
            sections.append((match.group(1), [line]))
        elif sections:
            sections[-1][1].append(line)
        elif line.strip() == "" or line.lstrip().startswith("#"):
            preamble.append(line)
        else:
            return None
    return (preamble, sections) if sections else None


def render_yaml(document: dict[str, Any], original: str | None = None) -> str:
    """The contract as YAML in the example set's style: one line per column, the SQL as a literal
    block. With ``original`` (the file as it was), only the sections derive owns (``columns``,
    ``derivation``) are written anew: every other key keeps its text, comments included. Checked by
    reading it back; where a layout would not read back the same, plain PyYAML output is used."""
    candidates = []
    layout = _top_level(original) if original is not None else None
    if layout is not None:
        preamble, sections = layout
        written = {normalize_key(key) for key, _ in sections}
        parts = list(preamble) or [HEADER]
        for key, lines in sections:
            normalized = normalize_key(key)
            if normalized in ("columns", "derivation"):
                if normalized == "columns" and "derivation" not in written:
                    derivation = _key(document, "derivation")
                    if derivation is not None:
                        parts.append(_section(derivation, document[derivation]))
                real = _key(document, key)
                if real is not None:
                    parts.append(_section(real, document[real]))
            elif _key(document, key) is not None:
                block = "".join(lines)
                parts.append(block if block.endswith("\n") else block + "\n")
        candidates.append("".join(parts))
    candidates.append(HEADER + "".join(_section(key, value) for key, value in document.items()))
    for text in candidates:
        try:
            if parse_text(text, json_file=False) == document:
                return text
        except ReadError:
            continue
    return HEADER + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=110, allow_unicode=True)


def render_json(document: dict[str, Any] | list[Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
