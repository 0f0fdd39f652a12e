"""``query``, ``rewrite``, ``explain SQL``, ``audit``, ``keygen`` and ``decrypt`` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policyengine.demo.data import build_demo_database
from tests.conftest import EXAMPLE

KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    build_demo_database(folder / "demo.duckdb", users=100, reviews=300)
    return folder


def run(workdir: Path, *args: str, stdin: str | None = None, key: str | None = KEY,
        policies: Path = EXAMPLE) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYENGINE_")}
    if key:
        env["POLICYENGINE_KEY"] = key
    result = subprocess.run([sys.executable, "-m", "policyengine", "-p", str(policies), *args], cwd=workdir,
                            env=env, input=stdin, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_query_masks_for_a_masked_principal_and_not_for_admin(workdir):
    masked = run(workdir, "query", "-u", "alice", "-f", "csv", "SELECT Email FROM user_demographics LIMIT 5")
    assert masked.returncode == 0
    emails = [row["Email"] for row in csv.DictReader(io.StringIO(masked.stdout))]
    assert len(emails) == 5 and all(e.startswith("*****@") for e in emails)
    raw = run(workdir, "query", "-r", "admin", "-f", "json", "SELECT Email FROM user_demographics LIMIT 5")
    assert all(not r["Email"].startswith("*****") and "@" in r["Email"] for r in json.loads(raw.stdout))


def test_query_reads_sql_from_stdin(workdir):
    result = run(workdir, "query", "-r", "admin", "-f", "csv", stdin="SELECT count(*) AS n FROM reviews")
    assert result.stdout.splitlines() == ["n", "300"]


def test_query_refused_exits_2_with_the_reason(workdir):
    result = run(workdir, "query", "-u", "bob", "SELECT NationalID FROM user_demographics")
    assert result.returncode == 2
    assert result.stderr.strip() == "refused: column user_demographics.NationalID is denied to this role"


def test_query_environment_without_access_exits_2(workdir):
    result = run(workdir, "query", "-u", "erin", "--env", "prod", "SELECT 1 FROM reviews")
    assert result.returncode == 2 and "has no access in prod" in result.stderr


def test_query_error_is_sanitized_and_exits_1(workdir):
    result = run(workdir, "query", "-r", "admin", "SELECT CAST(Email AS INTEGER) FROM user_demographics")
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid input syntax for type integer")
    assert "@" not in result.stderr  # no email value echoed


def test_query_without_key_refuses_keyed_columns(workdir, tmp_path):
    # a copy of the example set: the repository's own set may have a key beside it (after `policyengine demo`)
    policies = tmp_path / "policies"
    shutil.copytree(EXAMPLE, policies, ignore=shutil.ignore_patterns("__pycache__"))
    result = run(workdir, "query", "-u", "alice", "SELECT * FROM reviews LIMIT 1", key=None, policies=policies)
    assert result.returncode == 2 and "needs a key" in result.stderr


def test_query_in_snowflake_dialect(workdir):
    result = run(workdir, "query", "-r", "admin", "--read", "snowflake", "-f", "csv",
                 "SELECT IFF(Rating >= 4, 'good', 'other') AS verdict, COUNT(*) AS n "
                 "FROM reviews GROUP BY 1 ORDER BY 1")
    assert result.returncode == 0 and result.stdout.splitlines()[0] == "verdict,n"


def test_rewrite_prints_sql_in_the_chosen_dialect(workdir):
    # the query names UserID: wrappers list only the columns a query names (rewrite/prune.py)
    result = run(workdir, "rewrite", "-r", "bi_analyst", "--dialect", "snowflake", "--compact",
                 "SELECT Location, UserID FROM verified_reviews")
    assert result.returncode == 0
    text = result.stdout
    assert re.search(r'FROM verified_reviews AS "__pe_\w+_0"', text)  # read only inside the wrapper
    assert text.rstrip().endswith(") AS verified_reviews")
    assert "PE_KEYED_TEXT('hash', " in text  # the hashed UserID: Snowflake's secure UDF holds the key
    assert "GETVARIABLE" not in text.upper() and KEY not in text


def test_explain_with_sql_shows_protections_and_rewritten_sql(workdir):
    result = run(workdir, "explain", "-u", "bob", "-f", "json", "SELECT Email FROM user_demographics")
    payload = json.loads(result.stdout)
    [table] = payload["tables"]
    assert {c["column"]: c["sees"] for c in table["columns"]}["Email"] == "email"
    assert "region_countries" in payload["rewritten"] and "'EU'" in payload["rewritten"]


def test_audit_records_allowed_and_refused(workdir):
    run(workdir, "query", "-u", "carol", "SELECT count(*) FROM verified_reviews")
    run(workdir, "query", "-u", "carol", "SELECT NationalID FROM user_demographics")
    result = run(workdir, "audit", "-u", "carol", "-f", "json")
    entries = json.loads(result.stdout)
    assert [e["decision"] for e in entries[:2]] == ["refused", "allowed"]
    assert entries[1]["rows"] == 1 and entries[1]["environment"] == "prod"
    refused = json.loads(run(workdir, "audit", "--decision", "refused", "-u", "carol", "-f", "json").stdout)
    assert all(e["decision"] == "refused" for e in refused) and refused
    by_table = json.loads(run(workdir, "audit", "--table", "verified_reviews", "-f", "json").stdout)
    assert by_table and all("verified_reviews" in e["statement"] for e in by_table)
    log = (workdir / ".policyengine" / "audit.jsonl").read_text()
    assert KEY not in log


def test_keygen_and_decrypt_round_trip(workdir):
    key = run(workdir, "keygen").stdout.strip()
    assert len(bytes.fromhex(key)) == 32
    iban = run(workdir, "query", "-u", "bob", "-f", "csv", "SELECT Iban FROM user_demographics WHERE Iban IS NOT NULL "
               "ORDER BY Iban LIMIT 1", key=key).stdout.splitlines()[1]
    assert iban.startswith("pe1:")
    plain = run(workdir, "decrypt", iban, key=key)
    assert plain.returncode == 0
    raw = run(workdir, "query", "-r", "admin", "-f", "csv", "SELECT Iban FROM user_demographics", key=key).stdout
    assert plain.stdout.strip() in raw.splitlines()
    wrong = run(workdir, "decrypt", iban, key=KEY)
    assert wrong.returncode == 1
    assert "another key" in wrong.stderr or "not encrypted with this key" in wrong.stderr
