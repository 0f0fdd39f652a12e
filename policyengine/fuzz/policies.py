"""Policy fuzzing: mutations of a valid policy set either load to a set whose decisions differ only
where the mutation says, or fail validation with a located message; never a traceback, and never a
set that silently grants more than its files say.

Each mutation (:mod:`policyengine.fuzz.policy_mutations`) is applied to a copy of the policy folder,
written to a temporary folder and loaded with :func:`policyengine.model.load_policy_set`. Then the
oracles judge it:

``traceback``
    anything raised but :class:`~policyengine.model.PolicySetInvalid`, by the loader or the decision.
``unexpected-load``
    a mutation that must be refused (an undefined role, a misspelled key, ...) loaded.
``unexpected-refusal``
    a mutation that must load (a neutral rewrite, a lowered sensitivity) was refused.
``unlocated``
    a problem that names no file of the set, or a line the file does not have.
``mislocated``
    no problem at the file and field the mutation changed (each must-fail part of a combination
    needs its own).
``unexplained-problem``
    a problem no part of the mutation accounts for (a cascade the loader promises not to report).
``changed-outside-scope`` / ``more-permissive`` / ``wrong-direction``
    the full decision matrix (:mod:`policyengine.fuzz.policy_matrix`) of the mutated set against
    the original's: a cell changed where the mutation says nothing may change, a cell the mutation
    may only restrict became more permissive (or incomparable), or a cell moved against its
    declared direction.
``slow``
    loading and deciding took longer than the time limit, in CPU seconds (an alias bomb, a huge value).
``roundtrip``
    (index -1, once per run) the unmutated files written back by the fuzzer's own serializer do not
    load to the original decisions: every structural mutation would be judged on a wrong baseline.

Mutation ``i`` of a run with seed ``s`` is generated from ``Random(f"{s}:{i}")`` and the policy set
alone, so ``python -m policyengine.fuzz.policies --seed s --index i --keep DIR`` rebuilds it (with the
same version of the fuzzer and the same policy files), writes the mutated folder and judges it again.
One index in five is a combination of two or three structural mutations: every part but the last
must be one that loads, no part may change what an earlier part changed, and their scopes are united
(a cell that one part restricts and another loosens may change either way).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policyengine.fuzz.policy_matrix import Matrix, check_matrices, decision_matrix
from policyengine.fuzz.policy_mutations import (
    OPERATORS,
    Context,
    Mutation,
    Operator,
    Workspace,
)
from policyengine.loading import load_policy_set
from policyengine.model import PolicySetInvalid

#: one index in this many is a combination of mutations
COMBINE_EVERY = 5
#: CPU seconds one mutated set may take to load and decide (the example set takes about 0.05)
TIME_LIMIT = 10.0

#: Loader bugs found by the fuzzer in code it may not change, reported to their owners: a problem
#: whose message holds the words of an entry, and that no part of a mutation accounts for, is counted
#: in ``summary()["known_issues"]`` instead of failing the run. Remove an entry once its bug is fixed.
#: (Empty: the one listed here, a derivation reported as producing a column whose contract entry is
#: invalid, was fixed in policyengine/lineage/checks.py.)
KNOWN_ISSUES: dict[str, str] = {}

ORACLES = ("traceback", "unexpected-load", "unexpected-refusal", "unlocated", "mislocated",
           "unexplained-problem", "changed-outside-scope", "more-permissive", "wrong-direction", "slow",
           "roundtrip")


@dataclass(frozen=True)
class PolicyFuzzFailure:
    """One oracle that failed for one mutated set, with what it takes to reproduce it."""

    seed: int
    index: int
    mutation: str
    operators: tuple[str, ...]
    oracle: str
    detail: str
    policies: str = "policies"

    @property
    def reproduce(self) -> str:
        return (f"python -m policyengine.fuzz.policies --policies {self.policies} --seed {self.seed} "
                f"--index {self.index} --keep /tmp/policy-fuzz-case")

    def __str__(self) -> str:
        return (f"[seed {self.seed}, mutation {self.index}] {self.oracle}: {self.mutation}\n"
                f"  {self.detail}\n  reproduce: {self.reproduce}")

    def as_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "index": self.index, "mutation": self.mutation, "operators": list(self.operators),
                "oracle": self.oracle, "detail": self.detail, "reproduce": self.reproduce}


@dataclass
class PolicyFuzzReport:
    seed: int
    policies: str
    mutations: int = 0
    loaded: int = 0
    refused: int = 0
    combinations: int = 0
    failures: list[PolicyFuzzFailure] = field(default_factory=list)
    #: operator -> runs / loaded / refused / failed (a combination counts for each of its parts)
    by_operator: dict[str, Counter] = field(default_factory=dict)
    #: known issue -> how many mutated sets showed it (see :data:`KNOWN_ISSUES`)
    known_issues: Counter = field(default_factory=Counter)
    #: known issue -> one example (mutation description and problem)
    known_examples: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    slowest: float = 0.0
    slowest_index: int = -1

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, Any]:
        """Figures of the run, for a person or a CI log (json-serializable)."""
        return {
            "seed": self.seed,
            "policies": self.policies,
            "mutations": self.mutations,
            "loaded": self.loaded,
            "refused": self.refused,
            "combinations": self.combinations,
            "failures": len(self.failures),
            "failures_by_oracle": dict(Counter(f.oracle for f in self.failures)),
            "failed_mutations": len({f.index for f in self.failures}),
            "known_issues": dict(self.known_issues),
            "operators": {name: dict(counts) for name, counts in sorted(self.by_operator.items())},
            "elapsed_s": round(self.elapsed, 2),
            "slowest_s": round(self.slowest, 3),
            "slowest_index": self.slowest_index,
        }


@dataclass
class Case:
    """One mutated policy folder and the mutations that made it."""

    index: int
    mutations: list[Mutation]
    workspace: Workspace

    @property
    def description(self) -> str:
        return " + ".join(f"{m.operator}: {m.description}" for m in self.mutations)

    @property
    def operators(self) -> tuple[str, ...]:
        return tuple(m.operator for m in self.mutations)


@dataclass
class Verdict:
    """What became of one case: loaded or refused, the problems, the failed oracles."""

    loaded: bool | None  # None: raised
    problems: list[Any]
    failures: list[tuple[str, str]]
    seconds: float
    #: (known issue, problem) for each unexplained problem that is a known loader bug
    known: list[tuple[str, str]] = field(default_factory=list)


def _overlaps(a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]) -> bool:
    for file_a, path_a in a:
        for file_b, path_b in b:
            if file_a != file_b:
                continue
            if (not path_a or not path_b or path_a == path_b or path_a.startswith((path_b + ".", path_b + "["))
                    or path_b.startswith((path_a + ".", path_a + "["))):
                return True
    return False


def generate(ctx: Context, seed: int, index: int, operators: Sequence[Operator] | None = None) -> Case:
    """Mutation ``index`` of the run with ``seed``: deterministic from the two alone.

    Single mutations go through the operators in turn (so a short run exercises every one), each
    drawing its details from the random generator; one index in :data:`COMBINE_EVERY` combines two
    or three structural mutations.
    """
    ops = list(operators if operators is not None else OPERATORS)
    rng = random.Random(f"{seed}:{index}")
    structural = [op for op in ops if op.level == "structural"]
    if index % COMBINE_EVERY == COMBINE_EVERY - 1 and len(structural) > 1:
        case = _combination(ctx, rng, index, structural)
        if case is not None:
            return case
    position = index - index // COMBINE_EVERY
    start = (position + seed) % len(ops)
    for step in range(len(ops)):
        op = ops[(start + step) % len(ops)]
        workspace = ctx.original.copy()
        mutation = op.apply(workspace, rng, ctx)
        if mutation is not None:
            return Case(index, [mutation], workspace)
    raise RuntimeError("no operator applies to this policy set")


def _combination(ctx: Context, rng: random.Random, index: int, structural: list[Operator]) -> Case | None:
    """Two or three structural mutations; each part but the last must be one that loads, and no part
    may change what an earlier part changed (its expectation would no longer hold)."""
    wanted = rng.choice([2, 3])
    workspace = ctx.original.copy()
    parts: list[Mutation] = []
    touched: list[tuple[str, str]] = []
    for slot in range(wanted):
        last = slot == wanted - 1
        for _ in range(40):
            op = rng.choice(structural)
            trial = workspace.copy()
            mutation = op.apply(trial, rng, ctx)
            if mutation is None or (not last and mutation.expect.outcome != "load"):
                continue
            if _overlaps(mutation.touched, touched):
                continue
            workspace = trial
            parts.append(mutation)
            touched += mutation.touched
            break
    return Case(index, parts, workspace) if len(parts) >= 2 else None


_LINE = re.compile(r"^line (\d+), column (\d+): ")


def judge(ctx: Context, original: Matrix, case: Case, folder: Path, *, time_limit: float = TIME_LIMIT) -> Verdict:
    """Write the case's folder, load it, and run every oracle on what comes of it."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    case.workspace.write(folder)
    failures: list[tuple[str, str]] = []
    expectations = [m.expect for m in case.mutations]
    must_fail = any(e.outcome == "fail" for e in expectations)
    may_fail = must_fail or any(e.outcome == "either" for e in expectations)
    started = time.process_time()  # CPU time: a busy machine must not make a case "slow"
    problems: list[Any] = []
    known: list[tuple[str, str]] = []
    loaded: bool | None
    try:
        policy_set = load_policy_set(folder)
        matrix = decision_matrix(policy_set)
        loaded = True
    except PolicySetInvalid as error:
        loaded = False
        problems = error.problems
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        loaded = None
        tail = "".join(traceback.format_exception(type(error), error, error.__traceback__, limit=-3))
        failures.append(("traceback", f"{type(error).__name__}: {str(error)[:300]}\n{tail[-1500:]}"))
    seconds = time.process_time() - started
    if seconds > time_limit:
        failures.append(("slow", f"loading and deciding took {seconds:.1f} s of CPU (limit {time_limit:.0f} s)"))

    if loaded is True:
        if must_fail:
            failures.append(("unexpected-load", "the set loaded; expected a refusal at "
                             + "; ".join(loc.describe() for e in expectations if e.outcome == "fail"
                                         for loc in e.primary)))
        else:
            scopes = [scope for e in expectations for scope in e.scopes]
            changes = check_matrices(original, matrix, scopes)
            for oracle in ("more-permissive", "changed-outside-scope", "wrong-direction"):
                found = [c for c in changes if c.oracle == oracle]
                if found:
                    shown = ("; ".join(str(c) for c in found[:6])
                             + (f"; ... ({len(found)} cells)" if len(found) > 6 else ""))
                    declared = "; ".join(s.describe() for s in scopes) or "nothing may change"
                    failures.append((oracle, f"{shown} [declared: {declared}]"))
    elif loaded is False:
        listed = "; ".join(str(p) for p in problems[:8]) + (f"; ... ({len(problems)})" if len(problems) > 8 else "")
        if not may_fail:
            failures.append(("unexpected-refusal", listed))
        else:
            failures += _locate(case, problems, listed, known)
    return Verdict(loaded, problems, failures, seconds, known)


def _locate(case: Case, problems: list[Any], listed: str, known: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The oracles of a refusal: every problem names a file of the set (and a line it has); each
    must-fail part has a problem where it changed the set; every problem is accounted for."""
    failures: list[tuple[str, str]] = []
    files = case.workspace.files
    unlocated = []
    for problem in problems:
        if problem.file not in files or not problem.message:
            unlocated.append(str(problem))
            continue
        line = _LINE.match(problem.message)
        if line is not None:
            count = files[problem.file].render().count(b"\n") + 1
            if not 1 <= int(line.group(1)) <= count:
                unlocated.append(f"{problem} (the file has {count} lines)")
    if not problems:
        unlocated.append("refused with no problem listed")
    if unlocated:
        failures.append(("unlocated", "; ".join(unlocated[:6])))
    expectations = [m.expect for m in case.mutations]
    failing = [e for e in expectations if e.outcome == "fail"]
    for expect in failing or [e for e in expectations if e.outcome == "either"]:
        if not any(loc.matches(p) for loc in expect.primary for p in problems):
            failures.append(("mislocated", "expected a problem at "
                             + " | ".join(where.describe() for where in expect.primary) + f"; got: {listed}"))
            if not failing:
                break
    allowed = [loc for e in expectations for loc in e.primary + e.secondary]
    unexplained = []
    for problem in problems:
        if any(loc.matches(problem) for loc in allowed):
            continue
        issue = next((name for name, words in KNOWN_ISSUES.items() if words in problem.message), None)
        if issue is not None:
            known.append((issue, str(problem)))
        else:
            unexplained.append(problem)
    if unexplained:
        failures.append(("unexplained-problem", "; ".join(str(p) for p in unexplained[:6])
                         + (f"; ... ({len(unexplained)})" if len(unexplained) > 6 else "")))
    return failures


def _context(policies: Path) -> tuple[Context, Matrix]:
    try:
        policy_set = load_policy_set(policies)
    except PolicySetInvalid as error:
        raise ValueError(f"the policy set to mutate must be valid; {policies} is not:\n{error}") from None
    return Context(Workspace.read(policies), policy_set), decision_matrix(policy_set)


def _roundtrip(ctx: Context, original: Matrix, folder: Path, seed: int, policies: Path) -> list[PolicyFuzzFailure]:
    """Every file written back by the fuzzer's own serializer must load to the same decisions, or
    every structural mutation would be judged against the wrong baseline."""
    workspace = ctx.original.copy()
    for file in workspace.files.values():
        if file.structured:
            file.dirty = True
    case = Case(-1, [], workspace)
    verdict = judge(ctx, original, case, folder)
    return [PolicyFuzzFailure(seed, -1, "every file rewritten unchanged", (), "roundtrip", f"{oracle}: {detail}",
                              str(policies)) for oracle, detail in verdict.failures]


def run(mutations: int, seed: int, *, policies: Path = Path("policies"),
        progress: Callable[[int, int], None] | None = None, operators: Sequence[Operator] | None = None,
        time_limit: float = TIME_LIMIT) -> PolicyFuzzReport:
    """Mutate the policy set at ``policies`` ``mutations`` times and judge every mutated set.

    Deterministic from ``seed``: mutation ``i`` depends on ``(seed, i)`` only. ``operators``
    replaces the operator list (tests plant a lying operator this way); ``progress`` is called with
    (done, total) after each mutation.
    """
    policies = Path(policies)
    ctx, original = _context(policies)
    report = PolicyFuzzReport(seed, str(policies))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="policy-fuzz-") as tmp:
        folder = Path(tmp) / "set"
        report.failures += _roundtrip(ctx, original, folder, seed, policies)
        for index in range(mutations):
            case = generate(ctx, seed, index, operators)
            verdict = judge(ctx, original, case, folder, time_limit=time_limit)
            report.mutations += 1
            report.loaded += verdict.loaded is True
            report.refused += verdict.loaded is False
            report.combinations += len(case.mutations) > 1
            if verdict.seconds > report.slowest:
                report.slowest, report.slowest_index = verdict.seconds, index
            for name in case.operators:
                counts = report.by_operator.setdefault(name, Counter())
                counts["runs"] += 1
                counts["loaded" if verdict.loaded else "refused" if verdict.loaded is False else "raised"] += 1
                counts["failed"] += bool(verdict.failures)
            for issue in {issue for issue, _ in verdict.known}:
                report.known_issues[issue] += 1
                example = next(problem for name, problem in verdict.known if name == issue)
                report.known_examples.setdefault(
                    issue, f"[seed {seed}, mutation {index}] {case.description}: {example}")
            for oracle, detail in verdict.failures:
                report.failures.append(PolicyFuzzFailure(seed, index, case.description, case.operators, oracle,
                                                         detail, str(policies)))
            if progress is not None:
                progress(index + 1, mutations)
    report.elapsed = time.perf_counter() - started
    return report


def reproduce(seed: int, index: int, *, policies: Path = Path("policies"), keep: Path | None = None,
              operators: Sequence[Operator] | None = None) -> tuple[Case, Verdict]:
    """Rebuild mutation ``index`` of seed ``seed`` and judge it again; ``keep`` also writes the
    mutated folder there, to load it by hand (``policyengine --policies DIR validate``)."""
    policies = Path(policies)
    ctx, original = _context(policies)
    case = generate(ctx, seed, index, operators)
    with tempfile.TemporaryDirectory(prefix="policy-fuzz-") as tmp:
        verdict = judge(ctx, original, case, Path(tmp) / "set")
    if keep is not None:
        if keep.exists():
            shutil.rmtree(keep)
        keep.mkdir(parents=True)
        case.workspace.write(keep)
    return case, verdict


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policyengine.fuzz.policies",
                                     description="Mutate a policy set and check the loader and the decision.")
    parser.add_argument("--mutations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policies", type=Path, default=Path("policies"))
    parser.add_argument("--index", type=int, help="rebuild and judge this one mutation")
    parser.add_argument("--keep", type=Path, help="with --index: write the mutated policy folder here")
    parser.add_argument("--json", action="store_true", help="print the summary and failures as JSON")
    parser.add_argument("--list", action="store_true", help="list the operators and their declared effects")
    args = parser.parse_args(argv)
    if args.list:
        for op in OPERATORS:
            print(f"{op.name:24} {op.level:10} {op.effect}")
        return 0
    if args.index is not None:
        case, verdict = reproduce(args.seed, args.index, policies=args.policies, keep=args.keep)
        print(f"mutation {args.index} (seed {args.seed}): {case.description}")
        for m in case.mutations:
            e = m.expect
            print(f"  {m.operator}: expects {e.outcome}; scopes: {[s.describe() for s in e.scopes] or 'none'}; "
                  f"at: {[where.describe() for where in e.primary]}")
        state = {True: "loaded", False: "refused", None: "raised"}[verdict.loaded]
        print(f"  {state} in {verdict.seconds:.3f} s")
        for problem in verdict.problems:
            print(f"    {problem}")
        for issue, problem in verdict.known:
            print(f"  known issue {issue}: {problem}")
        for oracle, detail in verdict.failures:
            print(f"  FAILED {oracle}: {detail}")
        if args.keep:
            print(f"  written to {args.keep}")
        return 1 if verdict.failures else 0

    def progress(done: int, total: int) -> None:
        if not args.json and (done % 250 == 0 or done == total):
            print(f"  {done}/{total}", file=sys.stderr)

    report = run(args.mutations, args.seed, policies=args.policies, progress=progress)
    if args.json:
        print(json.dumps({"summary": report.summary(), "known_examples": report.known_examples,
                          "failures": [f.as_dict() for f in report.failures]}, indent=2))
    else:
        print(json.dumps(report.summary(), indent=2))
        for issue, example in report.known_examples.items():
            print(f"known issue {issue} ({report.known_issues[issue]} sets), e.g. {example}")
        for failure in report.failures:
            print(failure)
    return 1 if report.failures else 0


__all__ = ["KNOWN_ISSUES", "ORACLES", "PolicyFuzzFailure", "PolicyFuzzReport", "generate", "judge", "main",
           "reproduce", "run"]

if __name__ == "__main__":
    raise SystemExit(main())
