"""``policyengine verify snowflake``: does the account's own policies give each role the engine's answers?

``apply`` makes Snowflake's policies match the plan; this checks the result as users meet it: the
policy set's test cases and a sample of generated queries, each run on Snowflake as the role (under
``EXECUTE USING POLICY_CONTEXT``) and through the engine on DuckDB over the same data, compared
cell by cell (:mod:`policyengine.conformance.snowflake`). Exit 0 when every answer matches, 1 when
any cell differs (or nothing could be compared); documented differences (refusals that Snowflake
turns into absences) are listed apart and do not fail the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from policyengine.cli import EXIT_INVALID, EXIT_OK, FormatOption, app, load_or_exit, state
from policyengine.cli.common import DEFAULT_DB, DbOption, KeyFileOption, configured_key, failed
from policyengine.cli.output import Format, render, stdout, write_json

#: any answer that differs: the "failed" code every command uses for a check that does not hold
EXIT_MISMATCH = EXIT_INVALID

MISMATCH_COLUMNS = ["who", "case", "query", "row", "column", "snowflake", "engine", "what"]
DOCUMENTED_COLUMNS = ["who", "case", "query", "what"]
CSV_COLUMNS = ["kind", "source", "who", "case", "query", "snowflake_query", "row", "column", "snowflake", "engine",
               "what"]

verify_app = typer.Typer(help="Check that a warehouse's native policies give each role the engine's answers.",
                         no_args_is_help=True)
app.add_typer(verify_app, name="verify")


@verify_app.command("snowflake")
def verify_snowflake(
    connection: Annotated[str | None, typer.Option(
        "--connection", "-c", help="A connection of connections.toml.")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Environment this account serves.")] = None,
    database: Annotated[str | None, typer.Option("--database", help="Database of the policies and tables.")] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="Schema of the policies and tables.")] = None,
    db: DbOption = DEFAULT_DB,
    sample: Annotated[int, typer.Option(
        "--sample", min=0, help="Generated queries per role and principal (besides the set's test cases).")] = 5,
    key_file: KeyFileOption = None,
    fmt: FormatOption = Format.table,
) -> int:
    """Run the policy set's test cases and generated queries on Snowflake as each role (EXECUTE USING
    POLICY_CONTEXT) and through the engine on --db (the same data), and compare the answers cell by cell:
    exit 0 all match, 1 some differ."""
    from policyengine.backends.duckdb import DuckDBBackend
    from policyengine.backends.errors import QueryFailed
    from policyengine.backends.snowflake_connection import SnowflakeUnavailable, connect
    from policyengine.conformance.snowflake import verify
    from policyengine.decision import DecisionError, environment_for
    from policyengine.engine import Engine
    from policyengine.testing.case_model import CasesInvalid

    policy_set = load_or_exit(fmt)
    try:
        environment = environment_for(policy_set, env)
    except DecisionError as error:
        failed(str(error))
    if not db.is_file():
        hint = " (run `policyengine demo` to build it)" if db == DEFAULT_DB else ""
        failed(f"database not found: {db}{hint}; give the DuckDB database that holds the same data as "
               "the Snowflake tables with --db")
    keys = configured_key(key_file)
    if keys is None and _keyed_columns(policy_set):
        failed("the policies use hash, tokenize or encrypt: set POLICYENGINE_KEY or POLICYENGINE_KEY_FILE (the key "
               "`apply` gave Snowflake's secure functions), or the engine refuses every keyed column and nothing "
               "about them is compared")
    try:
        backend = DuckDBBackend(db, keys=keys)
    except QueryFailed as error:
        failed(error.message)
    engine = Engine(policy_set, backend)
    try:
        try:
            connected = connect(connection)
        except SnowflakeUnavailable as error:
            failed(str(error))
        try:
            report = verify(engine, connected, environment=environment, database=database, schema=schema,
                            policies=Path(state.policies), sample=sample)
        except CasesInvalid as invalid:
            failed("the policy set's test cases are invalid:\n" + "\n".join(str(p) for p in invalid.problems))
        finally:
            _close(connected)
    finally:
        engine.close()
    _show(report, fmt)
    if not report.results:
        failed("nothing was compared: no test case in this environment and --sample 0")
    return EXIT_OK if report.passed else EXIT_MISMATCH


def _keyed_columns(policy_set: Any) -> bool:
    from policyengine.protections import KINDS

    return any(KINDS[column.protection.kind].keyed for table in policy_set.tables.values() for column in table.columns)


def _close(connection: Any) -> None:
    close = getattr(connection, "close", None)
    if close is not None:
        close()


def _show(report: Any, fmt: Format) -> None:
    if fmt is Format.json:
        write_json(report.as_dict())
        return
    if fmt is Format.csv:
        rows = [{"kind": "mismatch", **row} for row in report.mismatch_rows()]
        rows += [{"kind": "documented", **row} for row in report.documented_rows()]
        render(rows, CSV_COLUMNS, fmt)
        return
    if report.mismatches:
        # row: the position in an ordered answer; '-' where rows compare as multisets (or for the whole answer)
        shown = [{**row, "row": "-" if row["row"] is None else row["row"],
                  "column": "-" if row["column"] is None else row["column"]} for row in report.mismatch_rows()]
        render(shown, MISMATCH_COLUMNS, fmt, title="Answers that differ (Snowflake vs the engine)")
    if report.documented:
        render(report.documented_rows(), DOCUMENTED_COLUMNS, fmt,
               title="Documented differences (docs/snowflake.md: where Snowflake cannot match DuckDB)")
    colour = "green" if report.passed else "red"
    skipped = f", {len(report.skipped)} cases of other environments skipped" if report.skipped else ""
    stdout.print(f"[{colour}]{len(report.matched)} matched, {len(report.mismatches)} differ[/{colour}], "
                 f"{len(report.documented)} documented differences ({len(report.results)} queries in "
                 f"{report.environment}{skipped})", highlight=False)
