"""The published JSON Schemas: current with the models, and accepting what the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from policyengine.model.reading import read_file
from policyengine.schema_files import FOLDER, render
from tests.conftest import EXAMPLE

MALFORMED = Path(__file__).parent / "malformed"


def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((FOLDER / name).read_text())
    return jsonschema.Draft202012Validator(schema)


def test_published_schemas_are_current():
    for name, text in render().items():
        assert (FOLDER / name).read_text() == text, f"{name} is stale: run `policyengine schema -o policyengine/schema`"


#: spells keys in other cases: the loader matches keys case-insensitively, JSON Schema cannot say so
BEYOND_SCHEMA = {"keys_in_other_cases"}


def valid_sets() -> list[Path]:
    cases = sorted(p for p in (MALFORMED / "_valid").iterdir() if p.is_dir() and p.name not in BEYOND_SCHEMA)
    return [EXAMPLE, *cases]


@pytest.mark.parametrize("folder", valid_sets(), ids=lambda p: p.name)
def test_files_the_loader_accepts_validate_against_the_schemas(folder):
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json") or "expected" in path.name:
            continue
        data = read_file(path)
        name = ("cases.schema.json" if path.relative_to(folder).parts[0] == "tests" else
                "roles.schema.json" if path.stem == "roles" else
                "policyengine.schema.json" if path.stem == "policyengine" else "table.schema.json")
        if data is None:
            continue
        errors = [e.message for e in validator(name).iter_errors(data)]
        assert errors == [], f"{path}: {errors[:3]}"


@pytest.mark.parametrize(("name", "document", "fragment"), [
    ("table.schema.json", {"columns": [{"name": "a", "type": "STRING", "protecton": "hash"}]}, "protecton"),
    ("table.schema.json", {"columns": [{"name": "a", "type": "STRING", "protection": "scramble"}]}, "scramble"),
    ("roles.schema.json", {"roles": {"r": {"clearance": 3}}}, "3"),
    ("policyengine.schema.json", {"unknown_table": "maybe"}, "maybe"),
    ("cases.schema.json", {"cases": [{"role": "r", "sql": "SELECT 1", "expect": {"row": 0}}]}, "row"),
    ("cases.schema.json", {"cases": [{"role": "r", "sql": "SELECT 1", "expect": {"rows": "5"}}]}, "5"),
    ("cases.schema.json", {"cases": [{"role": "r", "sql": "SELECT 1", "expect": {"masked": {"a": "scramble"}}}]},
     "scramble"),
    ("cases.schema.json", {"cases": [{"role": "r", "sql": "SELECT 1", "expect": {"equals": ["DE"]}}]}, "DE"),
    ("cases.schema.json", {"cases": [{"sql": "SELECT 1", "expect": {"rows": 0}}]}, "not valid under any"),
])
def test_schemas_reject_what_the_loader_rejects(name, document, fragment):
    errors = list(validator(name).iter_errors(document))
    assert errors and any(fragment in str(e.message) or fragment in json.dumps(e.instance) for e in errors)


def test_the_case_schema_takes_the_loaders_shorthands():
    """``role`` as one name or a list, ``masked`` as a list or a mapping to kinds, ``refused`` as text or a flag."""
    from policyengine.testing.case_model import CaseFile

    document = {"cases": [
        {"name": "a", "role": "reader", "env": "prod", "sql": "SELECT 1", "expect": {"masked": ["Email"], "rows": 0}},
        {"role": ["reader", "support"], "sql": "SELECT 1", "expect": {"masked": {"Email": "EMAIL", "Phone": None}}},
        {"principal": "alice", "sql": "SELECT 1", "expect": {"refused": "denied"}},
        {"principal": "alice", "sql": "SELECT 1", "expect": {"refused": True}},
        {"principal": "alice", "sql": "SELECT 1",
         "expect": {"equals": [["EU", 3, 0.5, True, None]], "ordered": True, "raw": ["x"]}},
    ]}
    CaseFile.model_validate(document)
    assert [e.message for e in validator("cases.schema.json").iter_errors(document)] == []
