"""The command line as scripts use it: exit codes, formats, --help everywhere, no tracebacks."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, ROOT

COMMAND = [sys.executable, "-m", "policyengine"]


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    environment.pop("POLICYENGINE_POLICIES", None) if env is None else None
    result = subprocess.run([*COMMAND, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


@pytest.mark.parametrize("args", [[], ["validate"], ["explain"], ["demo"]])
def test_help_everywhere(args):
    result = run(*args, "--help")
    assert result.returncode == 0
    assert "Usage: policyengine" in result.stdout


def test_validate_ok():
    result = run("--policies", str(EXAMPLE), "validate")
    assert result.returncode == 0
    assert "valid" in result.stdout and "5 tables, 9 roles, 9 principals" in result.stdout


def test_validate_json():
    result = run("-p", str(EXAMPLE), "validate", "--format", "json")
    summary = json.loads(result.stdout)
    assert summary["valid"] is True and summary["tables"] == 5 and len(summary["version"]) == 16


def test_validate_reports_every_problem_and_exits_1(write_set):
    folder = write_set({
        "roles.yaml": "roles:\n  a: {clearance: secret, inherits: [ghost]}\n",
        "tables/t.yaml": "columns:\n  - {name: x, type: BLOB2}\n  - {name: X, type: STRING}\n",
    })
    result = run("-p", str(folder), "validate")
    assert result.returncode == 1
    assert result.stderr.splitlines()[:4] == [
        "tables/t.yaml: columns[0].type: unknown column type 'BLOB2' (expected one of STRING, VARCHAR, INTEGER, "
        "INT64, BIGINT, FLOAT, DOUBLE, DECIMAL(p,s), NUMERIC, BOOLEAN, DATE, TIMESTAMP, TIME, BYTES)",
        "tables/t.yaml: columns[1].name: duplicate column 'X' in table t",
        "roles.yaml: roles.a.inherits[0]: undefined role 'ghost'",
        "roles.yaml: roles.a.clearance: unknown level 'secret' (levels: public, regular, internal, confidential, "
        "restricted, or none)",
    ]
    assert "4 problems" in result.stderr


def test_validate_json_lists_problems(write_set):
    folder = write_set({"roles.yaml": "roles: [1, 2]\n"})
    result = run("-p", str(folder), "validate", "-f", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"valid": False, "problems": [
        {"file": "roles.yaml", "path": "roles", "message": "expected a mapping, got a list"}]}


def test_policies_from_environment_variable(tmp_path):
    result = run("validate", cwd=tmp_path, env={"POLICYENGINE_POLICIES": str(EXAMPLE)})
    assert result.returncode == 0


def test_missing_folder_exits_1(tmp_path):
    result = run("validate", cwd=tmp_path)
    assert result.returncode == 1
    assert "policies: policy folder not found" in result.stderr


@pytest.mark.parametrize("args", [["explain", "--bogus"], ["nosuchcommand"],
                                  ["explain", "--format", "xml", "-r", "admin"]])
def test_usage_errors_exit_1(args):
    result = run("-p", str(EXAMPLE), *args)
    assert result.returncode == 1


def test_explain_unknown_role_exits_1():
    result = run("-p", str(EXAMPLE), "explain", "--role", "nobody")
    assert result.returncode == 1
    assert "unknown role 'nobody'" in result.stderr


def test_explain_table_shows_what_the_role_sees():
    result = run("-p", str(EXAMPLE), "explain", "--role", "support", "--env", "staging", "--table", "user_demographics")
    assert result.returncode == 0
    text = result.stdout
    assert "role support in staging" in text
    email_line = next(line for line in text.splitlines() if " Email " in line)
    assert "raw" in email_line and "unmask exception (role support)" in email_line
    assert "denied" in next(line for line in text.splitlines() if " NationalID " in line)


def test_explain_json_for_principal():
    result = run("-p", str(EXAMPLE), "explain", "--principal", "bob", "--format", "json", "--table", "verified_reviews")
    [decision] = json.loads(result.stdout)
    assert decision["principal"] == "bob" and decision["environment"] == "prod" and decision["allowed"]
    columns = {c["column"]: c for c in decision["columns"]}
    assert columns["UserID"]["sees"] == "hash" and columns["UserID"]["protection"] == {"kind": "hash"}
    assert columns["BirthYear"]["protection"] == {"kind": "generalize", "to": None, "bucket": 10, "keep": None}
    assert columns["Location"]["sees"] == "raw"
    assert "region_countries" in decision["rows"]


def test_explain_csv_refused_environment():
    ok = run("-p", str(EXAMPLE), "explain", "-r", "developer", "-e", "dev", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(ok.stdout)))
    assert len(rows) == 2 + 6 + 12 + 6 + 9 and all(r["sees"] == "raw" for r in rows)
    refused = run("-p", str(EXAMPLE), "explain", "-r", "developer", "-e", "prod")
    assert refused.returncode == 0
    assert refused.stdout.count("refused — role developer has no access in prod") == 5
