"""docs/policy-model.md's reference tables name exactly the keys the published JSON Schemas have.

The schemas (``policyengine/schema/*.json``, kept current with the pydantic models by
tests/test_schema.py) are walked recursively: every property of every object, through lists
(``columns[].name``), mappings of names (``roles.<role>.clearance``), ``$ref``, ``anyOf``/``oneOf``,
and each protection kind's own options (``columns[].protection.show_last`` of ``partial``). A key the
model has and the reference does not, or a key the reference names and the model does not, fails;
so do a ``required`` or a default that disagrees with the model, and an allowed value left unsaid.

A reference table follows a marker ``<!-- reference: <schema file> -->``; its first column is the
key's path in backticks, and a column headed ``kind`` qualifies the key by protection kind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from policyengine.schema_files import FOLDER
from tests.conftest import ROOT

DOC = ROOT / "docs" / "policy-model.md"
SCHEMA_FILES = ("policyengine.schema.json", "roles.schema.json", "table.schema.json", "cases.schema.json")
MISSING = object()


@dataclass
class Key:
    """What the schema says of one key: whether it is required, its default, its allowed values."""

    required: bool
    default: Any = MISSING
    values: list[str] = field(default_factory=list)


def _placeholders(path: str) -> str:
    """``roles.<role>.clearance`` and ``roles.<name>.clearance`` are one path."""
    return re.sub(r"<[^>]*>", "<>", path)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _values(node: dict[str, Any]) -> list[str]:
    """The allowed text values of a property (the schema lists each in several spellings)."""
    found: list[str] = []
    for option in [node, *node.get("anyOf", [])]:
        for value in option.get("enum", []):
            if isinstance(value, str) and value.lower() not in found:
                found.append(value.lower())
    return found


def _kind(node: dict[str, Any]) -> str | None:
    """The protection kind an object variant stands for, from its ``kind`` property."""
    kind = node.get("properties", {}).get("kind")
    if not isinstance(kind, dict):
        return None
    values = kind.get("enum") or ([kind["const"]] if "const" in kind else [])
    return values[0].lower() if values else None


def schema_keys(schema: dict[str, Any]) -> dict[str, Key]:
    """Every key of the schema by its path; keys of a protection kind as ``path@kind``.

    A ``$defs`` entry is walked where it is first reached (a contract's columns at ``columns[]``),
    not again where the same thing is reachable in another layout (a list of contracts, or a
    BigQuery-style list of columns): the keys are the same there and documented once.
    """
    keys: dict[str, Key] = {}
    walked: set[str] = set()

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in walked:
                walked.add(name)
                walk(schema["$defs"][name], path)
            return
        for combinator in ("anyOf", "oneOf", "allOf"):
            for option in node.get(combinator, []):
                walk(option, path)
        if isinstance(node.get("items"), dict):
            walk(node["items"], path + "[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], path + ".<>")
        kind = _kind(node)
        required = set(node.get("required", []))
        for name, sub in node.get("properties", {}).items():
            key = _join(path, name)
            keys[f"{key}@{kind}" if kind else key] = Key(
                required=name in required, default=sub.get("default", MISSING),
                values=[] if kind and name == "kind" else _values(sub))
            walk(sub, key)

    walk(schema, "")
    return keys


@dataclass
class Row:
    key: str
    line: int
    default: str
    text: str


def reference_rows(text: str) -> dict[str, list[Row]]:
    """The reference tables' rows, by the schema file their marker names."""
    rows: dict[str, list[Row]] = {}
    lines = text.splitlines()
    for number, line in enumerate(lines):
        marker = re.fullmatch(r"\s*<!--\s*reference:\s*(\S+)\s*-->\s*", line)
        if not marker:
            continue
        start = next(i for i in range(number + 1, len(lines)) if lines[i].startswith("|"))
        header = [cell.strip().lower() for cell in lines[start].strip().strip("|").split("|")]
        assert header[0] == "key" and "default" in header, (
            f"line {start + 1}: a reference table's header is key | ... | default | ...")
        found = rows.setdefault(marker.group(1), [])
        for index in range(start + 2, len(lines)):
            if not lines[index].startswith("|"):
                break
            cells = [cell.strip() for cell in lines[index].strip().strip("|").split("|")]
            assert len(cells) == len(header), f"line {index + 1}: {len(cells)} cells, the header has {len(header)}"
            path = re.fullmatch(r"`([^`]+)`", cells[0])
            assert path, f"line {index + 1}: the first cell must be one key path in backticks, not {cells[0]!r}"
            key = _placeholders(path.group(1))
            if "kind" in header:
                kind = re.fullmatch(r"`([^`]+)`", cells[header.index("kind")])
                assert kind, f"line {index + 1}: the kind cell must be one kind in backticks"
                key += "@" + kind.group(1)
            found.append(Row(key, index + 1, cells[header.index("default")], lines[index]))
    return rows


def _shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def reference_problems(text: str, schemas: dict[str, dict[str, Any]]) -> list[str]:
    """Everything in which the reference and the schemas disagree, one message each."""
    problems: list[str] = []
    documented = reference_rows(text)
    for name in sorted(set(documented) - set(schemas)):
        problems.append(f"a reference table is marked for {name}, which is not a published schema")
    for name, schema in schemas.items():
        keys = {_placeholders(path): key for path, key in schema_keys(schema).items()}
        rows: dict[str, Row] = {}
        for row in documented.get(name, []):
            if row.key in rows:
                problems.append(f"{name}: line {row.line}: `{row.key}` is documented twice")
            rows[row.key] = row
        for path in keys.keys() - rows.keys():
            problems.append(f"{name}: `{path}` is a key of the model with no row in the reference")
        for path in rows.keys() - keys.keys():
            problems.append(f"{name}: line {rows[path].line}: `{path}` is not a key of the model")
        for path in keys.keys() & rows.keys():
            key, row = keys[path], rows[path]
            says_required = row.default.lower().startswith("required")
            if key.required != says_required:
                problems.append(f"{name}: line {row.line}: `{path}` is {'required' if key.required else 'optional'}"
                                f" in the model, the reference says {row.default!r}")
            if key.default is not MISSING and key.default is not None and f"`{_shown(key.default)}`" not in row.default:
                problems.append(f"{name}: line {row.line}: `{path}` defaults to `{_shown(key.default)}` in the model, "
                                f"the reference says {row.default!r}")
            for value in key.values:
                if f"`{value}`" not in row.text:
                    problems.append(f"{name}: line {row.line}: `{path}` may be `{value}`, which its row does not say")
    return sorted(problems)


def published() -> dict[str, dict[str, Any]]:
    return {name: json.loads((FOLDER / name).read_text()) for name in SCHEMA_FILES}


def test_the_reference_names_every_key_of_every_file_and_no_other():
    problems = reference_problems(DOC.read_text(), published())
    assert problems == [], "docs/policy-model.md's reference disagrees with the models:\n" + "\n".join(problems)


def test_every_published_schema_is_checked():
    """A new schema file (a fifth kind of file) must get its reference table too."""
    assert sorted(path.name for path in FOLDER.glob("*.schema.json")) == sorted(SCHEMA_FILES)


def test_the_walk_reaches_nested_keys_and_every_protection_kinds_options():
    keys = schema_keys(published()["table.schema.json"])
    for path in ("columns[].protection.show_last@partial", "columns[].protection.kind@deny",
                 "columns[].protection.bucket@generalize", "row_access[].where", "derivation.catalogs", "tables"):
        assert path in keys, path
    assert keys["columns[].mode"].values == ["required", "nullable", "repeated"]
    assert keys["columns[].name"].required and not keys["columns[].protection"].required
    roles = schema_keys(published()["roles.schema.json"])
    assert "roles.<>.clearance" in roles and "principals.<>.attributes" in roles


def _without_row(text: str, path: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith(f"| `{path}`")]
    assert len(lines) < len(text.splitlines()), f"no row for {path}"
    return "\n".join(lines)


@pytest.mark.parametrize(("change", "expected"), [
    (lambda text: _without_row(text, "columns[].protection.show_last"),
     "`columns[].protection.show_last@partial` is a key of the model with no row"),
    (lambda text: _without_row(text, "egress_check"), "`egress_check` is a key of the model with no row"),
    (lambda text: _without_row(text, "cases[].expect.rows_at_most"), "`cases[].expect.rows_at_most` is a key"),
    (lambda text: text.replace("| `columns[].primary_key` |", "| `columns[].primary_keys` |"),
     "`columns[].primary_keys` is not a key of the model"),
    (lambda text: re.sub(r"(\| `derivation.dialect` \|[^|]*\|) `duckdb`", r"\1 `sqlite`", text),
     "`derivation.dialect` defaults to `duckdb`"),
    (lambda text: text.replace("| `columns[].name` | text | required", "| `columns[].name` | text | optional"),
     "`columns[].name` is required in the model"),
])
def test_the_check_fails_when_the_reference_drifts(change: Callable[[str], str], expected: str):
    """Each way the reference can drift from the models is caught (a row removed, a key misspelt,
    a default or requirement changed)."""
    problems = reference_problems(change(DOC.read_text()), published())
    assert any(expected in problem for problem in problems), problems


def test_the_check_fails_when_the_model_grows_a_key():
    schemas = published()
    schemas["roles.schema.json"]["$defs"]["RoleSpec"]["properties"]["expires"] = {"type": "string"}
    schemas["table.schema.json"]["$defs"]["Partial"]["properties"]["pad"] = {"type": "integer"}
    problems = reference_problems(DOC.read_text(), schemas)
    assert any("`roles.<>.expires` is a key of the model with no row" in p for p in problems), problems
    assert any("`columns[].protection.pad@partial` is a key of the model with no row" in p for p in problems)
