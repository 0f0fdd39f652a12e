"""``policyengine test``: run the policy set's declarative test cases (``tests/*.yaml``) and report.

Exit codes are those of a test runner, which is what CI needs from this command: 0 every case
passed, 1 some case failed, 2 the cases could not be run at all (a malformed case file, an invalid
policy set, no database, no cases). A run that could not start must never look like a pass, nor like
"the policies are wrong" when it is the test files that are.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from policyengine.cli import FormatOption, app, load_or_exit, state
from policyengine.cli.common import DEFAULT_DB, DbOption, KeyFileOption
from policyengine.cli.output import Format, lines, render, stderr, stdout, write_json

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_UNUSABLE = 2

COLUMNS = ["result", "file", "name", "principal", "roles", "env", "sql", "failures"]


def _unusable(message: str, fmt: Format, problems: list[Any] | None = None) -> NoReturn:
    """Say why nothing could run (JSON on stdout for scripts, text on stderr otherwise) and exit 2."""
    if fmt is Format.json:
        write_json({"error": message, "problems": [p.__dict__ for p in problems or []]})
    else:
        lines((str(p) for p in problems or []), err=True)
        stderr.print(f"[red]error[/red]: {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_UNUSABLE)


def _keys(key_file: Path | None, fmt: Format) -> Any:
    """The key by the one lookup order every command uses (``policyengine demo`` writes it beside the
    policy set, so ``policyengine demo && policyengine test`` works as is); an unusable key exits 2."""
    from policyengine.cli import state
    from policyengine.crypto import KeyError_, load_key

    try:
        return load_key(key_file, policies=state.policies)
    except KeyError_ as error:
        _unusable(str(error), fmt)


@app.command("test")
def test_command(
    db: DbOption = DEFAULT_DB,
    key_file: KeyFileOption = None,
    select: Annotated[str | None, typer.Option(
        "-k", "--select",
        help="Run only the cases whose name, SQL, file name, principal or role contains this text (any case).")] = None,
    fmt: FormatOption = Format.table,
) -> int:
    """Run the policy set's test cases (tests/*.yaml): exit 0 all pass, 1 some fail, 2 they cannot run."""
    from policyengine.backends.duckdb import DuckDBBackend
    from policyengine.backends.errors import QueryFailed
    from policyengine.engine import Engine
    from policyengine.testing.case_model import FOLDER, CasesInvalid, load_cases
    from policyengine.testing.cases import run_cases

    try:
        policy_set = load_or_exit(fmt)
    except typer.Exit:  # the problems are listed; an invalid set cannot be tested
        raise typer.Exit(EXIT_UNUSABLE) from None
    try:
        cases = load_cases(state.policies, policy_set)
    except CasesInvalid as invalid:
        count = len(invalid.problems)
        _unusable(f"{count} problem{'s' if count != 1 else ''} in the test cases of {state.policies}", fmt,
                  invalid.problems)
    if not cases:
        _unusable(f"no test cases: write them in {state.policies / FOLDER}/*.yaml (see docs/policy-model.md)", fmt)
    if select is not None:
        cases = [case for case in cases if case.matches(select)]
        if not cases:
            _unusable(f"no test case matches -k '{select}'", fmt)
    if not db.is_file():
        hint = " (run `policyengine demo` to build it)" if db == DEFAULT_DB else ""
        _unusable(f"database not found: {db}{hint}; give one with --db", fmt)
    keys = _keys(key_file, fmt)
    try:
        backend = DuckDBBackend(db, keys=keys)
    except QueryFailed as error:
        _unusable(error.message, fmt)

    engine = Engine(policy_set, backend)
    started = time.perf_counter()
    try:
        results = run_cases(engine, cases)
    finally:
        engine.close()
    seconds = time.perf_counter() - started
    failed = sum(not r.passed for r in results)
    passed = len(results) - failed

    if fmt is Format.json:
        write_json({"passed": passed, "failed": failed, "total": len(results), "seconds": round(seconds, 3),
                    "policies": str(state.policies), "database": str(db),
                    "cases": [r.as_dict() for r in results]})
    elif fmt is Format.csv:
        rows = []
        for result in results:
            row = result.as_dict()
            row["roles"] = ";".join(row["roles"])
            row["failures"] = "; ".join(row["failures"])
            rows.append(row)
        render(rows, COLUMNS, fmt)
    else:
        _report(results, passed, failed, seconds)
    return EXIT_PASSED if failed == 0 else EXIT_FAILED


def _report(results: list[Any], passed: int, failed: int, seconds: float) -> None:
    """One line per case, aligned; under a failed case, one line per expectation that did not hold."""
    who_width = max(len(r.case.who) for r in results)
    env_width = max(len(r.case.environment) for r in results)
    for result in results:
        case = result.case
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        stdout.print(f"{mark}  {escape(case.who.ljust(who_width))}  {escape(case.environment.ljust(env_width))}  "
                     f"{escape(case.file)}: {escape(case.name)}", highlight=False)
        for failure in result.failures:
            stdout.print(f"      [red]✗[/red] {escape(failure)}", highlight=False)
    colour = "green" if failed == 0 else "red"
    summary = f"{passed} passed" + (f", {failed} failed" if failed else "")
    stdout.print(f"\n[{colour}]{summary}[/{colour}] ({len(results)} case{'s' if len(results) != 1 else ''} "
                 f"in {seconds:.2f}s)", highlight=False)
