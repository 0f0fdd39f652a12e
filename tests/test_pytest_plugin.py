"""The pytest plugin as a data team gets it: a fresh virtual environment where only the package (and
pytest to run it) is installed, the example policy set's own tests, and nothing else of ours."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from policyengine.demo.data import build_demo_database
from tests.conftest import EXAMPLE, ROOT


def run(command: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("POLICYENGINE_")}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_plugin_fixtures_work_in_a_fresh_environment(tmp_path):
    project = tmp_path / "team-project"
    (project / "policies").mkdir(parents=True)
    for item in EXAMPLE.rglob("*"):
        if item.is_file() and "__pycache__" not in item.parts:
            target = project / "policies" / item.relative_to(EXAMPLE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.read_bytes())
    build_demo_database(project / "demo.duckdb", users=200, reviews=500)
    # the key where ``policyengine demo`` writes it, beside the policy set: the plugin finds it unnamed
    (project / "policyengine.key").write_text("000102030405060708090a0b0c0d0e0f")
    (project / "pytest.ini").write_text(
        "[pytest]\ntestpaths = policies/tests\npolicyengine_policies = policies\n"
        "policyengine_database = demo.duckdb\n")

    venv = tmp_path / "venv"
    created = run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    assert created.returncode == 0, created.stderr
    installed = run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT), "pytest"], tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]

    result = run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "6 passed" in result.stdout

    # and the assertions can fail: a wrong expectation is reported as a failure, with the reason
    wrong = project / "wrong"
    wrong.mkdir()
    (wrong / "test_wrong.py").write_text(
        "from policyengine.testing import assert_raw, assert_refused\n"
        "def test_alice_reads_email_raw(policy_connection):\n"
        "    cursor = policy_connection(principal='alice').cursor()\n"
        "    cursor.execute('SELECT Email FROM user_demographics')\n"
        "    assert_raw(cursor, 'Email')\n"
        "def test_admin_is_refused(policy_connection):\n"
        "    assert_refused(policy_connection(role='admin'), 'SELECT NationalID FROM user_demographics')\n")
    failing = run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "wrong"], project)
    assert failing.returncode == 1
    assert "2 failed" in failing.stdout
    assert "user_demographics.Email is email for this role, not raw" in failing.stdout
    assert "not refused: SELECT NationalID FROM user_demographics" in failing.stdout
