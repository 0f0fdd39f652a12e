"""Shared fixtures: the example policy set, and small policy sets written on the fly."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from policyengine import PolicySet, load_policy_set

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "policies"
#: the project's shared material (TPC-H/TPC-DS data, the seed): beside the clone in CI, or named by
#: POLICYENGINE_SHARED; a clone without it skips the tests that need it, saying why
SHARED = Path(os.environ.get("POLICYENGINE_SHARED", ROOT.parent / "shared"))
requires_shared = pytest.mark.skipif(
    not (SHARED / "bench").is_dir(),
    reason=f"needs the shared benchmark data at {SHARED} (set POLICYENGINE_SHARED to its folder)",
)


@pytest.fixture(scope="session")
def example() -> PolicySet:
    return load_policy_set(EXAMPLE)


@pytest.fixture
def write_set(tmp_path: Path) -> Callable[..., Path]:
    """Write a policy set from {relative path: text} and return its folder."""

    def write(files: dict[str, str]) -> Path:
        for rel, text in files.items():
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"))
        return tmp_path

    return write
