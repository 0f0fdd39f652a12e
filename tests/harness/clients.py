"""Where the real client programs the BI tests drive are (psqlODBC, node-postgres, pgcli), or why a test
cannot run them.

CI (.ci/run) installs each and names it in a ``POLICYENGINE_*`` variable: a test then fails, never skips,
when what the variable names is missing. Elsewhere a missing client skips the tests that drive it,
saying what to install.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_FOLDER = ROOT / "tests" / "clients" / "node"


def _found(variable: str, default: str | Path | None, install: str) -> Path:
    named = os.environ.get(variable)
    path = Path(named) if named else (Path(default) if default else None)
    if path is not None and path.exists():
        return path
    if named:
        pytest.fail(f"{variable} names {named}, which does not exist: {install}")
    pytest.skip(f"needs {install}")


def psqlodbc() -> Path:
    """psqlODBC's Unicode driver (Debian's odbc-postgresql), with pyodbc importable (the test extra)."""
    install = ("psqlODBC and pyodbc: apt-get install odbc-postgresql unixodbc (unixodbc-dev to build pyodbc), "
               "pip install pyodbc")
    driver = _found("POLICYENGINE_PSQLODBC", next(iter(sorted(glob.glob("/usr/lib/*/odbc/psqlodbcw.so"))), None),
                    install)
    try:
        import pyodbc  # noqa: F401
    except ImportError:
        if os.environ.get("POLICYENGINE_PSQLODBC"):
            pytest.fail(f"POLICYENGINE_PSQLODBC is set but pyodbc cannot be imported: {install}")
        pytest.skip(f"needs {install}")
    return driver


def node_postgres() -> tuple[str, Path]:
    """(node, the folder whose node_modules holds pg): tests/clients/node, installed with npm ci."""
    folder = _found("POLICYENGINE_NODE_PG", NODE_FOLDER if (NODE_FOLDER / "node_modules" / "pg").is_dir() else None,
                    "node-postgres: apt-get install nodejs npm, then npm ci in tests/clients/node")
    node = shutil.which("node")
    if node is None or not (folder / "node_modules" / "pg").is_dir():
        message = f"node-postgres: node on PATH and {folder}/node_modules/pg (npm ci in {folder})"
        if os.environ.get("POLICYENGINE_NODE_PG"):
            pytest.fail(f"POLICYENGINE_NODE_PG is set, but it needs {message}")
        pytest.skip(f"needs {message}")
    return node, folder


def pgcli() -> Path:
    """The pgcli program (the test extra installs it beside this Python)."""
    beside = Path(sys.executable).parent / "pgcli"
    return _found("POLICYENGINE_PGCLI", beside if beside.exists() else shutil.which("pgcli"),
                  "pgcli: pip install pgcli")


def without_oids(value: Any) -> Any:
    """A client's answer with user objects' OIDs (which differ between two servers) left out, nested."""
    if isinstance(value, dict):
        return {key: without_oids(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_oids(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 16384:
        return "<oid>"
    if isinstance(value, str) and re.fullmatch(r"\d{5,}", value) and int(value) >= 16384:
        return "<oid>"
    return value
