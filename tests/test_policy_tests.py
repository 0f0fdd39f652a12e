"""``policyengine test``: declarative policy test cases (``<policy set>/tests/*.yaml``) as a user runs them.

The shipped cases must pass against the demo database; a wrong case, and a right case after the
policy it checks was weakened, must fail (exit 1) saying expected vs got; a malformed case file is
unusable input (exit 2) with every problem located; the loader never reads ``tests/`` as tables.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from policyengine import load_policy_set
from policyengine.crypto import parse_key
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.model.reading import read_file
from policyengine.testing.case_model import CasesInvalid, load_cases
from policyengine.testing.cases import run_cases
from tests.conftest import EXAMPLE

KEY = "00112233445566778899aabbccddeeff"
SHIPPED = EXAMPLE / "tests" / "example_cases.yaml"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``policyengine demo`` leaves behind: the full demo database, and the key beside the policy set
    (``policies/`` here, a copy of the example set); ``demo.key`` is the same key for ``--key-file``."""
    folder = tmp_path_factory.mktemp("policy-tests")
    build_demo_database(folder / "demo.duckdb")
    (folder / "demo.key").write_text(KEY + "\n")
    copy_set(folder)
    return folder


def run(cwd: Path, *args: str, policies: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``policyengine test`` in ``cwd``, on the copy of the example set there unless told otherwise."""
    policies = policies if policies is not None else cwd / "policies"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYENGINE_")}
    result = subprocess.run([sys.executable, "-m", "policyengine", "-p", str(policies), "test", *args], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def copy_set(tmp_path: Path) -> Path:
    """A copy of the example set in ``tmp_path/policies``, with the key beside it where ``policyengine demo``
    would have written it (the repository's own ``policyengine.key``, if a developer has one, is never read)."""
    target = tmp_path / "policies"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "policyengine.key").write_text(KEY + "\n")
    return target


def write_cases(policies: Path, name: str, text: str) -> Path:
    path = policies / "tests" / name
    path.write_text(text)
    return path


# --- the shipped cases ------------------------------------------------------------------------------


def test_shipped_cases_pass_with_the_demo_defaults(workdir):
    """Run as after ``policyengine demo``: demo.duckdb in the working folder and its key beside it."""
    result = run(workdir)
    total = len(read_file(SHIPPED)["cases"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASS") == total and "FAIL" not in result.stdout
    assert f"{total} passed ({total} cases" in result.stdout
    assert "alice (marketing_analyst)  prod" in result.stdout  # who asked and where, on every line
    assert "role developer             dev" in result.stdout


def test_shipped_cases_pass_as_json_and_cover_every_kind_of_expectation(workdir):
    result = run(workdir, "--db", str(workdir / "demo.duckdb"), "--key-file", str(workdir / "demo.key"),
                 "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    cases = read_file(SHIPPED)["cases"]
    assert (report["passed"], report["failed"], report["total"]) == (len(cases), 0, len(cases))
    assert {c["result"] for c in report["cases"]} == {"pass"}
    assert all(c["failures"] == [] and c["file"] == "tests/example_cases.yaml" for c in report["cases"])
    assert 10 <= len(cases) <= 20
    used = {key for case in cases for key in case["expect"]}
    assert {"masked", "raw", "rows", "refused", "equals"} <= used
    assert any(case["expect"].get("rows") == 0 for case in cases)
    assert {"principal", "role", "env"} <= {key for case in cases for key in case}


def test_help(workdir):
    result = run(workdir, "--help")
    assert result.returncode == 0
    assert "Usage: policyengine test" in result.stdout and "--select" in result.stdout


def test_csv_output_has_one_row_per_case(workdir):
    result = run(workdir, "-f", "csv", "-k", "developer")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "result,file,name,principal,roles,env,sql,failures"
    assert len(lines) == 1 + 3 and all(line.startswith("pass,tests/example_cases.yaml,") for line in lines[1:])


# --- failing -------------------------------------------------------------------------------------------


WRONG = """\
cases:
  - name: alice reads e-mail raw
    principal: alice
    sql: SELECT Email FROM user_demographics
    expect: {raw: [Email]}
  - name: admins are refused national ids
    role: admin
    sql: SELECT NationalID FROM user_demographics LIMIT 1
    expect: {refused: denied}
  - name: carol sees European reviews
    principal: carol
    sql: SELECT ReviewID FROM verified_reviews WHERE Location = 'DE'
    expect: {rows_at_least: 1}
  - name: alice's first e-mail address
    principal: alice
    sql: SELECT Email FROM user_demographics ORDER BY UserID LIMIT 2
    expect: {equals: [[someone@example.com], [other@example.com]]}
  - name: developers read prod
    role: developer
    env: prod
    sql: SELECT count(*) FROM reviews
    expect: {rows: 1}
  - name: a statement that fails
    principal: alice
    sql: SELECT CAST(Country AS INTEGER) FROM user_demographics
    expect: {rows_at_least: 1}
"""


def test_wrong_cases_fail_with_expected_and_got(workdir, tmp_path):
    policies = copy_set(tmp_path)
    write_cases(policies, "wrong.yaml", WRONG)
    result = run(workdir, policies=policies)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    shipped = len(read_file(SHIPPED)["cases"])
    assert f"{shipped} passed, 6 failed ({shipped + 6} cases" in out
    assert "FAIL  alice (marketing_analyst)" in out and "tests/wrong.yaml: alice reads e-mail raw" in out
    assert "expected Email raw, got: user_demographics.Email is email for this role, not raw" in out
    assert "expected refused with a reason containing 'denied', got not refused" in out
    assert "expected at least 1 row, got 0" in out
    assert "expected 2 rows, got 2: missing [[\"someone@example.com\"], [\"other@example.com\"]]; unexpected" in out
    assert "expected 1 row, got 0" not in out
    assert "expected the statement to run, got refused: role developer has no access in prod" in out
    assert "expected the statement to run, got an error: invalid input syntax for type integer" in out

    # what a failure shows of the data is what the case's subject sees: masked addresses, never raw ones
    with duckdb.connect(str(workdir / "demo.duckdb"), read_only=True) as con:
        raw = [email for (email,)
               in con.execute("SELECT Email FROM user_demographics ORDER BY UserID LIMIT 2").fetchall()]
    assert all(email not in out + result.stderr for email in raw)
    assert "*****@" in out

    report = json.loads(run(workdir, "-f", "json", "-k", "wrong.yaml", policies=policies).stdout)
    assert (report["passed"], report["failed"]) == (0, 6)
    failed = {c["name"]: c["failures"] for c in report["cases"]}
    assert failed["alice reads e-mail raw"] == [
        "expected Email raw, got: user_demographics.Email is email for this role, not raw"]


def test_a_masked_case_fails_once_the_policy_makes_the_column_raw(workdir, tmp_path):
    """The tool can fail: weaken the protection a shipped case checks, and that case fails (exit 1)."""
    policies = copy_set(tmp_path)
    table = policies / "tables" / "user_demographics.yaml"
    text = table.read_text()
    weakened = text.replace("{name: Email, type: STRING, mode: REQUIRED, sensitivity: restricted, protection: email}",
                            "{name: Email, type: STRING, mode: REQUIRED, sensitivity: regular, protection: none}")
    assert weakened != text
    table.write_text(weakened)
    assert run(workdir).returncode == 0  # the same cases pass on the shipped set

    result = run(workdir, policies=policies)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("FAIL  alice (marketing_analyst)  prod     tests/example_cases.yaml: "
            "marketing sees contact details masked, country raw") in result.stdout
    assert "expected Email masked by email, got: user_demographics.Email is raw for this role, not masked" \
        in result.stdout
    assert "FAIL  role developer             staging" in result.stdout  # the staging case checks Email too
    assert result.stdout.count("FAIL") == 2


# --- unusable input --------------------------------------------------------------------------------------


MALFORMED = """\
cases:
  - name: typo
    principal: alice
    sql: SELECT Email FROM user_demographics
    expect: {maskd: [Email]}
  - name: negative
    role: nobody
    sql: SELECT 1
    expect: {rows: -1}
  - principal: alice
    sql: SELECT 1
    expect: {refused: true, rows: 0}
  - sql: SELECT 1
    env: qa
    expect: {rows: 1}
"""


def test_a_malformed_case_file_is_unusable_input_with_every_problem_located(workdir, tmp_path):
    policies = copy_set(tmp_path)
    write_cases(policies, "broken.yaml", MALFORMED)
    result = run(workdir, policies=policies)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""  # nothing ran: no case is reported as passing
    problems = result.stderr.splitlines()
    assert problems[:-1] == [
        "tests/broken.yaml: cases[0].expect: unknown key 'maskd' (did you mean 'masked'?)",
        "tests/broken.yaml: cases[1].expect.rows: must be at least 0, got the number -1",
        ("tests/broken.yaml: cases[2].expect: a refused statement has no result: 'refused' cannot be combined "
         "with 'rows'"),
        "tests/broken.yaml: cases[3]: give 'role' or 'principal': who runs the statement",
        ("tests/broken.yaml: cases[1].role: unknown role 'nobody' (roles: admin, bi_analyst, data_scientist, "
         "developer, marketing_analyst, non_prod_data_reader, prod_database_reader, reader, support)"),
        "tests/broken.yaml: cases[3].env: unknown environment 'qa' (environments: dev, staging, prod)",
    ]
    assert "6 problems in the test cases" in problems[-1]

    as_json = json.loads(run(workdir, "-f", "json", policies=policies).stdout)
    assert as_json["problems"][0] == {"file": "tests/broken.yaml", "path": "cases[0].expect",
                                      "message": "unknown key 'maskd' (did you mean 'masked'?)"}


@pytest.mark.parametrize(("text", "line"), [
    ("cases: [\n", "tests/x.yaml: line 2, column 1: invalid YAML"),
    ("", "tests/x.yaml: is empty: a case file holds 'cases:' and a list of cases"),
    ("cases: []\n", "tests/x.yaml: cases: must not be empty"),
    ("- {principal: alice, sql: SELECT 1, expect: {rows: 1}}\n", "tests/x.yaml: expected a mapping, got a list"),
    (("cases:\n  - {principal: alice, sql: SELECT 1, expect: {rows: 1}}\n  - {principal: alice, sql: SELECT 1, "
      "expect: {rows: 1}, expect: {rows: 2}}\n"), "tests/x.yaml: line 3, column 58: key 'expect' is given twice"),
    ("cases:\n  - {principal: alice, sql: SELECT 1, expect: {rows: yes}}\n",
     "tests/x.yaml: cases[0].expect.rows: expected a whole number, got 'yes'"),
    ("cases:\n  - {role: [reader, ghost], sql: SELECT 1, expect: {masked: {Email: scramble}}}\n",
     "tests/x.yaml: cases[0].expect.masked.Email: 'scramble' is not one of"),
    ("cases:\n  - {role: reader, sql: SELECT 1, expect: {masked: [Email], raw: [EMAIL]}}\n",
     "tests/x.yaml: cases[0].expect: column Email cannot be both masked and raw"),
    ("cases:\n  - {role: reader, sql: SELECT 1, expect: {equals: [DE, FR]}}\n",
     "tests/x.yaml: cases[0].expect.equals: row 0: expected a list of values, got 'DE'"),
    ("cases:\n  - {role: reader, sql: SELECT 1, expect: {rows_at_least: 3, rows_at_most: 2}}\n",
     "tests/x.yaml: cases[0].expect: 'rows_at_least' (3) is more than 'rows_at_most' (2)"),
    ("cases:\n  - {role: reader, sql: SELECT 1, expect: {ordered: true, rows: 1}}\n",
     "tests/x.yaml: cases[0].expect: 'ordered' applies to 'equals', which is not given"),
    ("cases:\n  - {role: reader, sql: SELECT 1, expect: {}}\n",
     "tests/x.yaml: cases[0].expect: name at least one expectation"),
    (("cases:\n  - {name: a, role: reader, sql: SELECT 1, expect: {rows: 1}}\n"
      "  - {name: A, role: reader, sql: SELECT 2, expect: {rows: 1}}\n"),
     "tests/x.yaml: cases[1].name: case name 'A' is given twice in this file (also cases[0])"),
])
def test_case_file_problems_are_located(tmp_path, text, line):
    policies = copy_set(tmp_path)
    write_cases(policies, "x.yaml", text)
    with pytest.raises(CasesInvalid) as raised:
        load_cases(policies, load_policy_set(policies))
    assert any(str(problem).startswith(line) for problem in raised.value.problems), raised.value.problems


def test_a_json_case_file_is_read_strictly_too(tmp_path):
    policies = copy_set(tmp_path)
    write_cases(policies, "x.json", '{"cases": [{"role": "reader", "sql": "SELECT 1", "expect": {"rows": 1}, '
                                    '"rows": 2}]}')
    with pytest.raises(CasesInvalid) as raised:
        load_cases(policies, load_policy_set(policies))
    assert [str(p) for p in raised.value.problems] == ["tests/x.json: cases[0]: unknown key 'rows'"]


def test_no_database_no_cases_and_an_invalid_policy_set_are_unusable_input(workdir, tmp_path):
    missing = run(tmp_path, policies=EXAMPLE)
    assert missing.returncode == 2
    assert "database not found: demo.duckdb (run `policyengine demo` to build it)" in missing.stderr

    policies = copy_set(tmp_path)
    for case_file in (policies / "tests").glob("*.yaml"):
        case_file.unlink()
    none = run(workdir, policies=policies)
    assert none.returncode == 2 and "no test cases" in none.stderr

    policies = copy_set(tmp_path / "invalid")
    roles = policies / "roles.yaml"
    roles.write_text(roles.read_text().replace("inherits: [reader]", "inherits: [raeder]", 1))
    invalid = run(workdir, policies=policies)
    assert invalid.returncode == 2
    assert "roles.yaml: roles.marketing_analyst.inherits" in invalid.stderr


# --- -k ----------------------------------------------------------------------------------------------------


def test_k_selects_cases_by_name_sql_file_or_subject(workdir):
    by_name = run(workdir, "-k", "REFUSED", "-f", "json")
    assert by_name.returncode == 0
    names = [c["name"] for c in json.loads(by_name.stdout)["cases"]]
    assert names == ["national ids are refused below restricted"]

    by_subject = json.loads(run(workdir, "-k", "carol", "-f", "json").stdout)["cases"]
    assert [c["principal"] for c in by_subject] == ["carol"]

    by_sql = json.loads(run(workdir, "-k", "region_countries", "-f", "json").stdout)["cases"]
    assert [c["name"] for c in by_sql] == ["the region mapping table is public"]

    nothing = run(workdir, "-k", "no such case")
    assert nothing.returncode == 2 and "no test case matches -k 'no such case'" in nothing.stderr


# --- the loader leaves tests/ alone --------------------------------------------------------------------------


def test_the_policy_loader_does_not_read_the_tests_folder(tmp_path):
    policies = copy_set(tmp_path)
    # a valid table contract, and a file that is no contract at all: neither is read as a table
    write_cases(policies, "orders.yaml", "table: orders\ncolumns:\n  - {name: id, type: STRING}\n")
    write_cases(policies, "junk.yaml", "columns: 3\nthis is: [not, a, contract\n")
    loaded = load_policy_set(policies)
    shipped = load_policy_set(EXAMPLE)
    assert loaded.find_table("orders") is None
    assert sorted(loaded.tables) == sorted(shipped.tables)
    assert loaded.version == shipped.version  # not even part of the set's digest


# --- running cases in-process: comparisons ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(workdir):
    opened = Engine.load(EXAMPLE, workdir / "demo.duckdb", keys=parse_key(KEY))
    yield opened
    opened.close()


def results_of(tmp_path: Path, engine: Engine, text: str) -> dict[str, list[str]]:
    policies = tmp_path / "set"
    (policies / "tests").mkdir(parents=True)
    write_cases(policies, "cases.yaml", text)
    cases = load_cases(policies, engine.policy_set)
    return {result.case.name: result.failures for result in run_cases(engine, cases)}


def test_equals_compares_values_as_written_in_yaml(tmp_path, engine):
    failures = results_of(tmp_path, engine, """\
cases:
  - name: numbers, dates and booleans
    role: reader
    sql: SELECT 0.73::DECIMAL(38,9), DATE '2021-06-01', TIMESTAMP '2021-06-01 10:00:00', 3.0::DOUBLE, true, NULL
    expect: {equals: [[0.73, "2021-06-01", "2021-06-01 10:00:00", 3, true, null]]}
  - name: a boolean is not a number
    role: reader
    sql: SELECT true
    expect: {equals: [[1]]}
  - name: order does not matter unless asked
    role: reader
    sql: SELECT * FROM (VALUES (2), (1), (1)) t(x) ORDER BY x
    expect: {equals: [[1], [2], [1]]}
  - name: order matters when asked
    role: reader
    sql: SELECT * FROM (VALUES (2), (1)) t(x) ORDER BY x
    expect: {equals: [[2], [1]], ordered: true}
  - name: duplicates count
    role: reader
    sql: SELECT * FROM (VALUES (1), (1)) t(x)
    expect: {equals: [[1]]}
  - name: row width
    role: reader
    sql: SELECT 1 AS a, 2 AS b
    expect: {equals: [[1]]}
""")
    assert failures["numbers, dates and booleans"] == []
    assert failures["a boolean is not a number"] == ["expected 1 row, got 1: missing [[1]]; unexpected [[true]]"]
    assert failures["order does not matter unless asked"] == []
    assert failures["order matters when asked"] == ["expected row 0 to be [2], got [1]"]
    assert failures["duplicates count"] == ["expected 1 row, got 2: unexpected [[1]]"]
    assert failures["row width"] == ["expected rows of 1 value, got 2 columns (a, b)"]


def test_refusal_expectations(tmp_path, engine):
    failures = results_of(tmp_path, engine, """\
cases:
  - name: any refusal
    role: developer
    sql: SELECT count(*) FROM reviews
    expect: {refused: ""}
  - name: reason ignores case
    role: developer
    sql: SELECT count(*) FROM reviews
    expect: {refused: NO ACCESS IN PROD}
  - name: another reason
    role: developer
    sql: SELECT count(*) FROM reviews
    expect: {refused: "denied"}
  - name: not refused, and it is not
    role: developer
    env: dev
    sql: SELECT count(*) FROM reviews
    expect: {refused: false}
  - name: not refused, but it is
    role: developer
    sql: SELECT count(*) FROM reviews
    expect: {refused: false}
  - name: a database error is no refusal
    role: reader
    sql: SELECT CAST('abc' AS INTEGER)
    expect: {refused: true}
  - name: masked needs a column the result has
    role: reader
    sql: SELECT Country FROM user_demographics
    expect: {masked: [Email]}
""")
    assert failures["any refusal"] == failures["reason ignores case"] == []
    assert failures["another reason"] == [
        ("expected refused with a reason containing 'denied', got refused, but for another reason: "
         "role developer has no access in prod")]
    assert failures["not refused, and it is not"] == []
    assert failures["not refused, but it is"] == [
        "expected the statement to run, got refused: role developer has no access in prod"]
    assert failures["a database error is no refusal"][0].startswith(
        "expected refused, got an error: invalid input syntax for type integer")
    assert failures["masked needs a column the result has"] == [
        "expected Email masked, got: the result has no column 'Email' (columns: country)"]


def test_masked_takes_every_protection_kind_that_shows_a_value():
    from policyengine.model.protections import KINDS
    from policyengine.testing.case_model import MASK_KINDS

    assert set(MASK_KINDS) == set(KINDS) - {"none", "deny"}
