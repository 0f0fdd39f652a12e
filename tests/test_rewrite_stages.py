"""Each rewrite stage on its own, as sqlglot tests its optimizer rules: the doctest in every stage
function, and per stage a fixture file of input SQL and expected output
(``tests/fixtures/rewrite/<stage>.sql``) in sqlglot's format (``tests/fixtures/optimizer/*.sql``):
``--`` lines are comments, ``# key: value`` lines before an input are its settings (``role``, default
analyst; ``read`` and ``write``, default duckdb), and input and expected output are statements ended
by ``;``, in pairs. Each file's header says what its stage guarantees.

Only the stage under test changes the tree: the findings it needs from earlier stages (the gate's
walk, the classification, the wrap's placeholders) are computed on the parsed input by those stages,
and the tree-changing stages before it (name results, PostgreSQL semantics, normalize, rename CTEs)
are not run. A stage
whose result is a tree is compared as the SQL generated from it; the gate and classify stages, whose
results are findings, as a one-line summary; a refusal as ``REFUSED (<kind>): <reason>``. The nonce
is pinned to ``n``. Regenerate candidates after a deliberate change with
``python -m tests.test_rewrite_stages <stage>``, and check every changed line by hand.
"""

from __future__ import annotations

import doctest
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from policyengine import load_policy_set
from policyengine.decision import subject_for
from policyengine.model import PolicySet
from policyengine.rewrite import RULES, Refused, TableResolver
from policyengine.rewrite.classify import Classified, classify
from policyengine.rewrite.gate import Scanned, gate
from policyengine.rewrite.name_results import name_results
from policyengine.rewrite.normalize import normalize
from policyengine.rewrite.postgres_constants import postgres_constants
from policyengine.rewrite.postgres_result_types import postgres_result_types
from policyengine.rewrite.postgres_semantics import postgres_semantics
from policyengine.rewrite.postgres_zones import postgres_zones
from policyengine.rewrite.rename_ctes import rename_ctes
from policyengine.rewrite.rewriter import _check_order
from policyengine.rewrite.splice import splice
from policyengine.rewrite.statement import parse_statement
from policyengine.rewrite.wrap import decide_cached, wrap

FOLDER = Path(__file__).parent / "fixtures" / "rewrite"
NONCE = "n"
#: the stages, in RULES order; each has a module of its name and a fixture file of its name
STAGES = tuple(rule.name for rule in RULES)


# --- sqlglot's fixture format (tests/helpers.py: load_sql_fixture_pairs) ----------------------------

def load_pairs(stage: str) -> list[tuple[dict[str, str], str, str]]:
    """(settings, input, expected) of each case of ``<stage>.sql``."""
    text = (FOLDER / f"{stage}.sql").read_text(encoding="utf-8")
    statements = "\n".join(line for line in text.splitlines()
                           if line and not line.startswith("--")).split(";")
    pairs = []
    for i in range(0, len(statements) - 1, 2):
        lines = statements[i].strip().split("\n")
        meta: dict[str, str] = {}
        while lines and lines[0].startswith("#"):
            key, value = lines.pop(0).split(":", 1)
            meta[key.lstrip("#").strip()] = value.strip()
        pairs.append((meta, "\n".join(lines).strip(), statements[i + 1].strip()))
    return pairs


# --- applying one stage -------------------------------------------------------------------------------

def _summary_of_scan(scanned: Scanned) -> str:
    def listed(nodes: list[Any]) -> str:
        return "[" + ", ".join(node.sql(dialect="duckdb") for node in nodes) + "]"

    ctes = "[" + ", ".join(cte.alias for cte in scanned.ctes) + "]"
    return (f"PASSED tables={listed(scanned.tables)} ctes={ctes} columns={listed(scanned.columns)} "
            f"stars={len(scanned.stars)} samples={len(scanned.samples)} implicit={scanned.implicit}")


def _summary_of_classes(classified: Classified) -> str:
    base = ", ".join(table.sql(dialect="duckdb") for table in classified.base)
    ctes = ", ".join(f"{table.sql(dialect='duckdb')} -> {cte.alias}" for table, cte in classified.cte_refs)
    functions = ", ".join(table.sql(dialect="duckdb") for table in classified.functions)
    return f"base=[{base}] cte_refs=[{ctes}] functions=[{functions}] prunable={classified.prunable}"


def apply_stage(stage: str, sql: str, meta: dict[str, str], policy_set: PolicySet) -> str:
    """The one stage applied to ``sql``, as the fixture files write its result."""
    read, write = meta.get("read", "duckdb"), meta.get("write", "duckdb")
    try:
        tree = parse_statement(sql, read)
        scanned = gate(tree, write)
        if stage == "gate":
            return _summary_of_scan(scanned)
        if stage == "name_results":
            return _generated(name_results(tree, sql, read), write)
        if stage == "postgres_result_types":
            found = postgres_result_types(tree, read)
            return ", ".join(kind or "-" for kind in found) if found else "PASSED no varchar column"
        if stage == "postgres_semantics":
            return _generated(postgres_semantics(tree, read, sql, TableResolver(policy_set)), write)
        if stage == "postgres_zones":
            return _generated(postgres_zones(tree, read, sql, TableResolver(policy_set), meta.get("time_zone", "UTC")),
                              write)
        if stage == "postgres_constants":
            return " | ".join(postgres_constants(tree, read, write) or ["PASSED no constants to fold"])
        if stage == "normalize":
            return _generated(normalize(tree, scanned), write)
        classified = classify(tree, scanned, read)
        if stage == "classify":
            return _summary_of_classes(classified)
        if stage == "rename_ctes":
            return _generated(rename_ctes(tree, scanned, classified, NONCE), write)
        subject = subject_for(policy_set, roles=[meta.get("role", "analyst")])
        wrapped = wrap(tree, scanned, classified, policy_set, subject, None, TableResolver(policy_set), NONCE,
                       None)
        if stage == "wrap":
            return _generated(tree, write)
        assert stage == "splice", stage
        return splice(tree, scanned, classified, wrapped, write).sql
    except Refused as refused:
        return f"REFUSED ({refused.kind}): {refused.reason}"


def _generated(tree: exp.Expression, write: str) -> str:
    return tree.sql(dialect=write, comments=False)


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return load_policy_set(FOLDER / "policies")


def _cases() -> Iterator[Any]:
    for stage in STAGES:
        for meta, source, expected in load_pairs(stage):
            yield pytest.param(stage, meta, source, expected, id=f"{stage}: {source[:60]}")


@pytest.mark.parametrize(("stage", "meta", "source", "expected"), list(_cases()))
def test_stage_fixture(policy_set, stage, meta, source, expected):
    assert apply_stage(stage, source, meta, policy_set) == expected


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_enough_cases(stage):
    assert len(load_pairs(stage)) >= 10


@pytest.mark.parametrize("stage", STAGES)
def test_stage_doctests(stage):
    """Every stage module's doctests run and pass, and the stage function has at least one."""
    module = importlib.import_module(f"policyengine.rewrite.{stage}")
    function = getattr(module, stage)
    assert ">>>" in (function.__doc__ or ""), f"{stage}() has no doctest example"
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert attempted > 0 and failed == 0


def test_decisions_are_kept_per_policy_set_object(policy_set):
    """The wrap stage's decision cache answers the same policy set object and table from the cache,
    and any other set (even loaded from the same files) afresh."""
    subject = subject_for(policy_set, roles=["analyst"])
    table = policy_set.find_table("people")
    first = decide_cached(policy_set, subject, None, table)
    assert decide_cached(policy_set, subject, None, table) is first
    other = load_policy_set(FOLDER / "policies")
    again = decide_cached(other, subject_for(other, roles=["analyst"]), None, other.find_table("people"))
    assert again is not first and again.table is other.find_table("people")


def test_rules_are_the_stages_in_order_ending_with_the_splice():
    assert STAGES == ("gate", "name_results", "postgres_result_types", "postgres_semantics", "postgres_zones",
                      "postgres_constants", "normalize", "classify", "rename_ctes", "wrap", "splice")
    assert all(rule.run.__module__ == f"policyengine.rewrite.{rule.name}" for rule in RULES)


def test_a_misordered_composition_is_refused_at_import():
    """A rule placed before the rule whose finding it takes, or a composition not ending with the
    splice, fails when composed rather than on some query."""
    gate_rule, names, result_types, semantics, zones, constants, normalize_rule, *rest = RULES
    with pytest.raises(TypeError, match="normalize needs scanned"):
        _check_order((names, normalize_rule, gate_rule, result_types, semantics, zones, constants, *rest))
    with pytest.raises(TypeError, match="last rule must be the splice"):
        _check_order(RULES[:-1])
    _check_order(RULES)


if __name__ == "__main__":  # print candidate outputs for a stage's inputs, to check by hand
    loaded = load_policy_set(FOLDER / "policies")
    for name in sys.argv[1:] or STAGES:
        for case_meta, case_source, _ in load_pairs(name):
            settings = "".join(f"# {key}: {value}\n" for key, value in case_meta.items())
            print(f"{settings}{case_source};\n{apply_stage(name, case_source, case_meta, loaded)};\n")
