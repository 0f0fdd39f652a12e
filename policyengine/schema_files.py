"""JSON Schemas of the three policy files and of policy test case files, for editors (YAML and JSON
language servers).

Generated from the same pydantic models that validate the files, then widened where the loader is
more forgiving than JSON Schema can say directly: enumerated values are accepted in lower, upper
and capitalised spelling (the seed writes ``REQUIRED`` and ``None``), a protection may be a bare
kind name, and a table file may hold one contract, a list of them, or a BigQuery-style column list.
The loader remains the authority: it also matches keys case-insensitively and checks what needs
more than one file.

Not under :mod:`policyengine.model`: the case files' model is the test runner's
(:mod:`policyengine.testing.case_model`), a front end, and the model imports nothing above it
(docs/architecture.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from policyengine.model.files import ContractSpec, RolesFile, SettingsFile
from policyengine.model.protections import KINDS
from policyengine.testing.case_model import CaseFile

FOLDER = Path(__file__).resolve().parent / "schema"
BASE = "https://policyengine.dev/schema/"


def _spellings(values: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        for variant in (value, value.upper(), value.capitalize()):
            if variant not in out:
                out.append(variant)
    return out


def _widen(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: _widen(value) for key, value in node.items() if key != "discriminator"}
        if isinstance(node.get("enum"), list) and all(isinstance(v, str) for v in node["enum"]):
            node["enum"] = _spellings(node["enum"])
        if node.get("type") == "string" and "const" in node:
            node["enum"] = _spellings([node.pop("const")])
        return node
    if isinstance(node, list):
        return [_widen(item) for item in node]
    return node


def _clearance() -> dict[str, Any]:
    level = {"type": "string", "minLength": 1, "description": "a sensitivity level, or none"}
    return {"anyOf": [level, {"type": "object", "additionalProperties": level,
                              "description": "environment -> level (or none)"}, {"type": "null"}]}


def settings_schema() -> dict[str, Any]:
    schema = _widen(SettingsFile.model_json_schema(by_alias=True))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": BASE + "policyengine.schema.json",
            "title": "policyengine settings (policyengine.yaml)", **schema}


def roles_schema() -> dict[str, Any]:
    schema = _widen(RolesFile.model_json_schema(by_alias=True))
    schema["$defs"]["RoleSpec"]["properties"]["clearance"] = _clearance()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": BASE + "roles.schema.json",
            "title": "policyengine roles and principals (roles.yaml)", **schema}


def table_schema() -> dict[str, Any]:
    contract = _widen(ContractSpec.model_json_schema(by_alias=True))
    defs = contract.pop("$defs")
    column = defs["ColumnSpec"]
    protection = column["properties"]["protection"]
    column["properties"]["protection"] = {"anyOf": [
        {"type": "string", "enum": _spellings(list(KINDS)), "description": "a protection kind with no parameters"},
        protection, {"type": "null"}]}
    defs["ContractSpec"] = contract
    single = {"$ref": "#/$defs/ContractSpec"}
    bigquery = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/ColumnSpec"},
                "description": "a BigQuery-style schema list: one table named after the file"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": BASE + "table.schema.json",
        "title": "policyengine table contract (tables/*.yaml|json)", "$defs": defs,
        "anyOf": [single, {"type": "array", "minItems": 1, "items": single}, bigquery,
                  {"type": "object", "properties": {"tables": {"type": "array", "items": single}},
                   "required": ["tables"], "additionalProperties": False}],
    }


def cases_schema() -> dict[str, Any]:
    """Policy test case files (``tests/*.yaml``); the shorthands the loader takes are spelled out:
    ``role`` may be one name, ``masked`` a list of column names, and a case names a role or a principal."""
    schema = _widen(CaseFile.model_json_schema(by_alias=True))
    defs = schema["$defs"]
    name = {"type": "string", "minLength": 1}
    case = defs["CaseSpec"]
    case["properties"]["role"]["anyOf"].insert(0, {**name, "description": "one role"})
    case["anyOf"] = [{"required": ["role"]}, {"required": ["principal"]}]
    expect = defs["Expectation"]["properties"]
    expect["masked"]["anyOf"].insert(0, {"type": "array", "minItems": 1, "items": name,
                                         "description": "column names, masked by any protection"})
    expect["masked"]["anyOf"][1]["minProperties"] = 1
    value = {"type": ["string", "number", "boolean", "null"]}
    expect["equals"]["anyOf"][0]["items"] = {"type": "array", "items": value, "description": "one row"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": BASE + "cases.schema.json",
            "title": "policyengine policy test cases (tests/*.yaml|json)", **schema}


SCHEMAS = {
    "policyengine.schema.json": settings_schema,
    "roles.schema.json": roles_schema,
    "table.schema.json": table_schema,
    "cases.schema.json": cases_schema,
}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, sort_keys=False) + "\n" for name, build in SCHEMAS.items()}


def write(folder: Path = FOLDER) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        (folder / name).write_text(text)
        written.append(folder / name)
    return written

