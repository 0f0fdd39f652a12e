"""The malformed-policy corpus: every mistake a policy author makes is reported, located and explained.

Each folder ``tests/malformed/<case>/`` is a small policy set (``roles.yaml``, ``tables/*``, and
``policyengine.yaml`` when the case is about settings) with an ``expected.txt`` holding the exact
problem lines (``str(problem)``), one per line, in the order the loader reports them. A case folder
holding ``policy_folder.txt`` points the loader at that sub-path instead (it does not exist), and
``{folder}`` in its ``expected.txt`` stands for the path given to the loader.

``tests/malformed/_valid/<case>/`` holds policy sets that must load: the awkward-but-correct
spellings (seed registration, BigQuery schema lists, keys and values in other cases, type spellings,
YAML 1.1 look-alikes that must stay text).

Cases listed in ``LOADER_BUGS`` assert the *correct* behaviour and are strict xfails: the loader gets
them wrong today. Their ``expected.txt`` wording follows the loader's existing message style and may be
adjusted by whoever fixes the bug, as long as the content (what, where, nothing spurious) stays.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policyengine import PolicySetInvalid, load_policy_set
from policyengine.model import TypeFamily
from tests.conftest import SHARED

HERE = Path(__file__).parent
CORPUS = HERE / "malformed"
VALID = CORPUS / "_valid"
SEED = SHARED / "seed" / "verified_reviews.registration.json"
requires_seed = pytest.mark.skipif(not SEED.is_file(), reason=f"needs the seed registration at {SEED} "
                                   "(set POLICYENGINE_SHARED to the shared folder)")
SEED_LINE = ("tables/verified_reviews.json: columns[3].name: "
             "duplicate column 'ReviewSentiment' in table verified_reviews")

#: case name -> what the loader gets wrong (the case's expected.txt holds the correct output); a case
#: listed here is a strict xfail until the loader is fixed
LOADER_BUGS: dict[str, str] = {}

#: valid cases that the loader refuses or reads wrongly today
VALID_BUGS: dict[str, str] = {}


def _cases(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


MALFORMED = _cases(CORPUS)
VALID_CASES = _cases(VALID)


def _params(cases: list[Path], bugs: dict[str, str]) -> list:
    return [
        pytest.param(case, id=case.name,
                     marks=[pytest.mark.xfail(strict=True, reason=bugs[case.name])] if case.name in bugs else [])
        for case in cases
    ]


def _folder(case: Path) -> Path:
    pointer = case / "policy_folder.txt"
    return case / pointer.read_text().strip() if pointer.is_file() else case


def _expected(case: Path) -> list[str]:
    folder = _folder(case)
    text = (case / "expected.txt").read_text(encoding="utf-8")
    return [line.replace("{folder}", str(folder)) for line in text.splitlines() if line.strip()]


def _policy_files(case: Path) -> set[str]:
    """The files of the case's policy set, relative to it, as problem lines name them."""
    folder = _folder(case)
    names = {p.relative_to(case).as_posix() for p in case.rglob("*") if p.is_file()}
    return (names - {"expected.txt", "policy_folder.txt"}) | {str(folder)}


# --- the corpus itself -----------------------------------------------------------------------------

def test_corpus_size() -> None:
    assert len(MALFORMED) >= 40, [c.name for c in MALFORMED]
    assert len(VALID_CASES) >= 6


@pytest.mark.parametrize("case", MALFORMED, ids=[c.name for c in MALFORMED])
def test_case_is_well_formed(case: Path) -> None:
    assert (case / "expected.txt").is_file(), f"{case.name} has no expected.txt"
    assert _expected(case), f"{case.name}: expected.txt is empty"
    assert len(_expected(case)) == len(set(_expected(case))), f"{case.name}: a line is expected twice"
    if not (case / "policy_folder.txt").is_file():
        assert (case / "roles.yaml").is_file() or (case / "tables").is_dir() or (case / "policyengine.yaml").is_file()
    else:
        assert not _folder(case).exists()


def test_bug_lists_name_existing_cases() -> None:
    assert set(LOADER_BUGS) <= {c.name for c in MALFORMED}
    assert set(VALID_BUGS) <= {c.name for c in VALID_CASES}


# --- the loader --------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", _params(MALFORMED, LOADER_BUGS))
def test_malformed_case_reports_expected_problems(case: Path) -> None:
    with pytest.raises(PolicySetInvalid) as caught:
        load_policy_set(_folder(case))
    assert [str(p) for p in caught.value.problems] == _expected(case)


@pytest.mark.parametrize("case", _params(VALID_CASES, VALID_BUGS))
def test_valid_case_loads(case: Path) -> None:
    policy_set = load_policy_set(case)
    check = VALID_CHECKS.get(case.name)
    if check:
        check(policy_set)


@requires_seed
def test_seed_registration_verbatim_reports_only_the_duplicate(tmp_path: Path) -> None:
    tables = tmp_path / "policies" / "tables"
    tables.mkdir(parents=True)
    shutil.copyfile(SEED, tables / "verified_reviews.json")
    with pytest.raises(PolicySetInvalid) as caught:
        load_policy_set(tmp_path / "policies")
    assert [str(p) for p in caught.value.problems] == [SEED_LINE]


@requires_seed
def test_seed_deduplicated_case_is_the_seed_minus_one_column() -> None:
    seed = json.loads(SEED.read_text())
    case = json.loads((VALID / "seed_registration_deduplicated" / "tables" / "verified_reviews.json").read_text())
    columns = seed[0]["columns"]
    del columns[3]
    assert case == seed


def test_policy_path_that_is_a_file(tmp_path: Path) -> None:
    """A file given as the policy folder (a corpus case cannot hold this: its path must not exist)."""
    path = tmp_path / "roles.yaml"
    path.write_text("roles: {}\n")
    with pytest.raises(PolicySetInvalid) as caught:
        load_policy_set(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: is not a folder: a policy set is a folder (roles.yaml, tables/, policyengine.yaml)"]


# --- checks of what the valid cases load to -------------------------------------------------------------

def _seed(policy_set) -> None:
    table = policy_set.find_table("verified_reviews")
    assert table is not None and table.source == "tables/verified_reviews.json"
    assert [c.name for c in table.columns] == [
        "ReviewID", "UserID", "ReviewSentiment", "BirthYear", "Gender", "Location"]
    assert table.column("ReviewSentiment").type.family is TypeFamily.DECIMAL
    assert table.column("BirthYear").type.family is TypeFamily.INTEGER
    assert table.column("Location").type.family is TypeFamily.STRING
    assert table.column("ReviewID").originating_source == "transactional:Reviews"
    assert {c.sensitivity for c in table.columns} == {"regular"}
    assert {c.protection.kind for c in table.columns} == {"none"}
    assert {c.mode for c in table.columns} == {"required"}
    assert table.registered_by == "ServiceAccount1" and table.registration_time == "1623167711"


def _bigquery(policy_set) -> None:
    table = policy_set.find_table("sales")
    assert [(c.name, c.type.family, c.mode) for c in table.columns] == [
        ("qtr", TypeFamily.STRING, "required"), ("rep", TypeFamily.STRING, "nullable"),
        ("sales", TypeFamily.FLOAT, "nullable")]
    assert {c.sensitivity for c in table.columns} == {policy_set.settings.lowest_level}


def _keys(policy_set) -> None:
    table = policy_set.find_table("reviews")
    assert table.registered_by == "ServiceAccount1"
    assert table.column("ReviewID").originating_source == "transactional:Reviews"
    assert table.column("UserID").originating_source == "transactional:users"
    assert table.column("Location").originating_source == "transactional:users"
    assert table.column("UserID").protection.kind == "hash"
    assert table.column("ReviewID").mode == "required"
    assert [r.roles for r in table.row_access] == [("reader", "admin")]


def _values(policy_set) -> None:
    table = policy_set.find_table("reviews")
    assert [c.sensitivity for c in table.columns] == ["regular", "confidential", "internal"]
    assert [c.protection.kind for c in table.columns] == ["none", "partial", "redact"]
    assert table.column("Body").protection.show_first == 3
    assert [c.mode for c in table.columns] == ["required", "nullable", "nullable"]
    assert policy_set.role("reader").clearance == {"dev": "regular", "staging": "regular", "prod": "regular"}
    admin = policy_set.role("admin")
    assert admin.clearance == {"dev": "restricted", "staging": "restricted"} and admin.blocked == {"prod"}
    assert [r.roles for r in table.row_access] == [("reader", "admin")]


def _types(policy_set) -> None:
    table = policy_set.find_table("types")
    got = {c.name: (c.type.family, c.type.sql) for c in table.columns}
    assert got == {
        "a": (TypeFamily.STRING, "VARCHAR"),
        "b": (TypeFamily.INTEGER, "INTEGER"),
        "c": (TypeFamily.DECIMAL, "DECIMAL(38,9)"),
        "d": (TypeFamily.INTEGER, "BIGINT"),
        "e": (TypeFamily.FLOAT, "DOUBLE"),
        "f": (TypeFamily.DECIMAL, "DECIMAL(38,9)"),
        "g": (TypeFamily.DECIMAL, "DECIMAL(10,2)"),
        "h": (TypeFamily.BOOLEAN, "BOOLEAN"),
        "i": (TypeFamily.DATE, "DATE"),
        "j": (TypeFamily.TIMESTAMP, "TIMESTAMP"),
        "k": (TypeFamily.STRING, "VARCHAR"),
        "l": (TypeFamily.DECIMAL, "DECIMAL(10,2)"),
        "m": (TypeFamily.FLOAT, "DOUBLE"),
        "n": (TypeFamily.BOOLEAN, "BOOLEAN"),
        "o": (TypeFamily.INTEGER, "BIGINT"),
        "p": (TypeFamily.FLOAT, "DOUBLE"),
    }


def _no_stays_a_string(policy_set) -> None:
    attributes = dict(policy_set.principal("olaf").attributes)
    assert attributes == {"region": "NO", "active": "yes", "vip": "off", "admin": True}
    assert policy_set.find_table("users").column("country").protection.value == "NO"


def _dates_stay_text(policy_set) -> None:
    attributes = dict(policy_set.principal("olaf").attributes)
    assert attributes["region"] == "NO"
    assert attributes["since"] in ("2021-01-01", dt.date(2021, 1, 1))
    assert attributes["shift"] == "12:30"


def _numbers_stay_decimal(policy_set) -> None:
    attributes = dict(policy_set.principal("olaf").attributes)
    assert attributes == {
        "zip": "0123", "account": "0x1F", "budget": "1_000", "ratio": 0.5, "limit": 1000.0, "floor": -7,
        "level": 12, "shift_end": "17:45:30", "nothing": None,
    }


def _redact_dates_and_times(policy_set) -> None:
    table = policy_set.find_table("users")
    values = {c.name: getattr(c.protection, "value", None) for c in table.columns}
    assert values == {"id": None, "birth_date": "2000-01-01", "joined": "2000-01-01 08:30:00",
                      "last_seen": "2000-01-01 00:00:00", "shift_start": "09:00:00", "photo": None}


def _row_filter_subqueries(policy_set) -> None:
    table = policy_set.find_table("users")
    assert [r.roles for r in table.row_access] == [("reader",), ("analyst",), ("support",), ("admin",)]


def _derived_table(policy_set) -> None:
    table = policy_set.find_table("ages")
    assert table.derivation_sql is not None and table.derivation_sql.startswith("CREATE VIEW ages AS")
    assert table.derivation_dialect == "duckdb"
    assert table.column("contact").originating_source == "warehouse:users.email"


VALID_CHECKS = {
    "seed_registration_deduplicated": _seed,
    "bigquery_schema_list": _bigquery,
    "keys_in_other_cases": _keys,
    "values_in_other_cases": _values,
    "type_spellings": _types,
    "yaml_no_stays_a_string": _no_stays_a_string,
    "yaml_dates_and_times_stay_text": _dates_stay_text,
    "yaml_numbers_stay_decimal": _numbers_stay_decimal,
    "redact_dates_and_times": _redact_dates_and_times,
    "row_filter_subqueries": _row_filter_subqueries,
    "derived_table": _derived_table,
}


def test_every_valid_case_has_a_check() -> None:
    assert {c.name for c in VALID_CASES} <= set(VALID_CHECKS)


# --- the command line -------------------------------------------------------------------------------------

def _run_validate(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyengine", "--policies", str(folder), "validate"],
                          capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("case", _params(MALFORMED, LOADER_BUGS))
def test_cli_validate_malformed(case: Path) -> None:
    result = _run_validate(_folder(case))
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    printed = [line.rstrip() for line in output.splitlines()]
    expected = _expected(case)
    missing = [line for line in expected if line not in printed]
    assert not missing, f"not printed: {missing}\n--- output:\n{output}"
    # and no problem line beyond the expected ones (a problem line starts with one of the set's files)
    prefixes = tuple(f"{name}: " for name in _policy_files(case))
    extra = [line for line in printed if line.startswith(prefixes) and line not in expected]
    assert not extra, f"unexpected problems: {extra}\n--- output:\n{output}"


@pytest.mark.parametrize("case", _params(VALID_CASES, VALID_BUGS))
def test_cli_validate_valid(case: Path) -> None:
    result = _run_validate(case)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 0, output


@requires_seed
def test_cli_validate_seed_registration_verbatim(tmp_path: Path) -> None:
    tables = tmp_path / "policies" / "tables"
    tables.mkdir(parents=True)
    shutil.copyfile(SEED, tables / "verified_reviews.json")
    result = _run_validate(tmp_path / "policies")
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    assert SEED_LINE in [line.rstrip() for line in output.splitlines()], output
    assert len(re.findall(r"^tables/verified_reviews\.json: ", output, flags=re.M)) == 1, output
