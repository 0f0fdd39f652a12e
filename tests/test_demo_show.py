"""``policyengine demo`` as a new user sees it: it fits the terminal it runs in, stacking the principals
when the terminal is narrow, and names each principal the same way wherever it appears."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policyengine.demo.data import build_demo_database
from policyengine.demo.show import PRINCIPALS
from tests.conftest import EXAMPLE

KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo-show")
    shutil.copytree(EXAMPLE, path / "policies", ignore=shutil.ignore_patterns("__pycache__"))
    build_demo_database(path / "demo.duckdb", users=300, reviews=1500)
    return path


def demo(folder: Path, columns: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYENGINE_")}
    env.update(COLUMNS=str(columns), POLICYENGINE_KEY=KEY)
    result = subprocess.run([sys.executable, "-m", "policyengine", "demo"], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("columns", [80, 100, 140, 200])
def test_the_demo_fits_the_terminal(folder: Path, columns: int) -> None:
    lines = demo(folder, columns)
    widest = max(lines, key=len)
    assert len(widest) <= columns, widest
    text = "\n".join(lines)
    for name in PRINCIPALS:  # every principal still shown, stacked or side by side
        assert re.search(rf"┃ {name} \(|┃ {name} +┃|{name}\s*\n", text) or f" {name} (" in text, name


def test_narrow_terminals_stack_the_principals_and_wide_ones_do_not(folder: Path) -> None:
    def side_by_side_tables(lines: list[str]) -> int:
        header = next(i for i, line in enumerate(lines) if "as each principal sees it" in line)
        dashboard = next(i for i, line in enumerate(lines) if "dashboard query" in line)
        return sum(line.startswith("┏") for line in lines[header:dashboard])

    assert side_by_side_tables(demo(folder, 100)) >= 3
    assert side_by_side_tables(demo(folder, 240)) == 1


def test_each_principal_is_labelled_the_same_in_every_part(folder: Path) -> None:
    lines = demo(folder, 240)
    text = " ".join(" ".join(lines).split())
    for name, roles in (("frank", "(admin)"), ("alice", "(marketing_analyst, EU)"), ("bob", "(bi_analyst, EU)"),
                        ("carol", "(bi_analyst, NA)")):
        # once in the side-by-side table (a long label wraps in its column), once over its dashboard
        assert text.count(roles) == 2, roles
        assert sum(f"{name} {roles}" in line or line.strip(" ┃").startswith(name) for line in lines) >= 2, name
