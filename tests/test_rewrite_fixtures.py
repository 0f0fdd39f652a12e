"""The rewrite's output for fixed inputs, as sqlglot's optimizer tests its rules: fixture files of
input and expected output (``tests/fixtures/rewrite/cases.sql``), with a fixed nonce.

Each case: a ``-- role: R`` line, the input statement, the expected statement, a blank line. This is
the whole rewrite end to end; each stage alone has its own fixture file (tests/test_rewrite_stages.py).
Regenerate after a deliberate change with ``python -m tests.test_rewrite_fixtures`` and read the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policyengine import load_policy_set
from policyengine.decision import subject_for
from policyengine.rewrite import rewrite

FOLDER = Path(__file__).parent / "fixtures" / "rewrite"


def cases() -> list[tuple[str, str, str]]:
    out = []
    for block in (FOLDER / "cases.sql").read_text().strip().split("\n\n"):
        role_line, source, expected = block.strip().split("\n")
        out.append((role_line.removeprefix("-- role:").strip(), source, expected))
    return out


@pytest.fixture(scope="module")
def policy_set():
    return load_policy_set(FOLDER / "policies")


def produce(policy_set, role: str, source: str) -> str:
    return rewrite(source, policy_set, subject_for(policy_set, roles=[role]), None, nonce="n").sql


@pytest.mark.parametrize(("role", "source", "expected"), cases(), ids=[c[1][:50] for c in cases()])
def test_rewrite_fixture(policy_set, role, source, expected):
    assert produce(policy_set, role, source) == expected


if __name__ == "__main__":  # regenerate the expected outputs, by hand, after a deliberate change
    loaded = load_policy_set(FOLDER / "policies")
    blocks = [f"-- role: {role}\n{source}\n{produce(loaded, role, source)}" for role, source, _ in cases()]
    (FOLDER / "cases.sql").write_text("\n\n".join(blocks) + "\n")
