"""Optional features see results through result hooks; the engine imports none of them.

The egress check is registered by the package itself, so every engine has it without asking, and
``egress_check: off`` still costs no import of the DLP detectors. A hook that applies gets the rows
(never Arrow batches) and may wrap them; one that does not apply is not asked to wrap anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policyengine.backends.base import ResultRows
from policyengine.demo.data import build_demo_database
from policyengine.dlp.hook import EgressHook
from policyengine.engine import Engine
from policyengine.model import PolicySet
from policyengine.result_hooks import ResultContext, registered
from tests.conftest import EXAMPLE


def test_the_egress_check_is_registered_without_importing_the_detectors() -> None:
    """A fresh interpreter that imports only the engine has the hook, and no detector module."""
    script = ("import sys\n"
              "from policyengine.engine import Engine\n"
              "from policyengine.result_hooks import registered\n"
              "print([h.name for h in registered()], 'policyengine.dlp.egress' in sys.modules,\n"
              "      'policyengine.dlp.detectors' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.strip()
    assert out == "['egress_check'] False False"


def test_every_engine_gets_the_registered_hooks_unless_given_its_own(engine: Engine) -> None:
    assert [type(h) for h in engine.result_hooks] == [EgressHook]
    assert [type(h) for h in registered()] == [EgressHook]
    assert Engine(engine.policy_set, result_hooks=()).result_hooks == ()


class Counting:
    """A hook that counts the rows it sees, applied only when told to."""

    name = "counting"

    def __init__(self, applies: bool):
        self._applies = applies
        self.contexts: list[ResultContext] = []
        self.rows = 0

    def applies(self, policy_set: PolicySet) -> bool:
        return self._applies

    def wrap(self, result: ResultRows, context: ResultContext) -> ResultRows:
        self.contexts.append(context)
        hook = self

        class Counted:
            columns, types, streams_arrow = result.columns, result.types, False

            def batches(self) -> Any:
                for batch in result.batches():
                    hook.rows += len(batch)
                    yield batch

            def __getattr__(self, name: str) -> Any:
                return getattr(result, name)

        return Counted()  # type: ignore[return-value]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("hooks") / "demo.duckdb"
    build_demo_database(path, users=50, reviews=200)
    engine = Engine.load(EXAMPLE, path)
    yield engine
    engine.close()


def test_a_hook_that_applies_sees_the_rows_and_the_statement(engine: Engine) -> None:
    on, off = Counting(True), Counting(False)
    hooked = Engine(engine.policy_set, engine.backend, result_hooks=(off, on))
    sql = "SELECT ReviewID FROM reviews ORDER BY ReviewID LIMIT 9"
    result = hooked.query_for(hooked.subject(role="admin"), sql, arrow=lambda types: True)
    assert not result.streams_arrow  # a hook that applies reads rows: the Arrow offer is not passed on
    assert len(result.fetchall()) == 9 and on.rows == 9
    assert off.contexts == [] and off.rows == 0
    (context,) = on.contexts
    assert context.sql == sql and context.read == "duckdb" and context.policy_set is engine.policy_set
    assert context.rewritten is result.rewritten


def test_a_hook_that_applies_turns_the_arrow_offer_down_and_one_that_does_not_leaves_it(engine: Engine) -> None:
    sql = "SELECT a.ReviewID, b.Rating FROM reviews a CROSS JOIN reviews b"  # many rows: Arrow once known large
    plain = Engine(engine.policy_set, engine.backend, result_hooks=(Counting(False),))
    hooked = Engine(engine.policy_set, engine.backend, result_hooks=(Counting(True),))
    subject = plain.subject(role="admin")
    plain.query_for(subject, sql).fetchall()  # the backend learns the statement is large
    assert plain.query_for(subject, sql, arrow=lambda types: True).streams_arrow
    assert not hooked.query_for(subject, sql, arrow=lambda types: True).streams_arrow
