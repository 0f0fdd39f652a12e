"""``policyengine apply snowflake``: show the plan, then change only what differs (like terraform)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from policyengine.cli import EXIT_OK, FormatOption, app
from policyengine.cli.common import configured_key, failed
from policyengine.cli.ddl import Mode, ModeOption
from policyengine.cli.output import Format, stdout, write_json

apply_app = typer.Typer(help="Apply native warehouse policies, changing only what differs.", no_args_is_help=True)
app.add_typer(apply_app, name="apply")

SYMBOL_STYLE = {"+": "green", "~": "yellow", ">": "cyan", "-": "red", "=": "dim"}


@apply_app.command("snowflake")
def apply_snowflake(
    connection: Annotated[str | None, typer.Option(
        "--connection", "-c", help="A connection of connections.toml.")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Environment this account serves.")] = None,
    database: Annotated[str | None, typer.Option("--database", help="Database of the policies and tables.")] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="Schema of the policies and tables.")] = None,
    mode: ModeOption = Mode.column,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Drop policyengine policies nothing uses any more.")] = False,
    fmt: FormatOption = Format.table,
) -> int:
    """Read the policies Snowflake has, plan the difference, check it whole, show it, and apply it."""
    from policyengine.backends.snowflake_connection import SnowflakeUnavailable, connect
    from policyengine.cli.ddl import snowflake_target
    from policyengine.ddl.snowflake_apply import ApplyFailed, PlanRefused, apply, plan_changes
    from policyengine.ddl.snowflake_check import check_plan
    from policyengine.ddl.snowflake_drift import drift, record_actions
    from policyengine.ddl.snowflake_read import read_existing

    target = snowflake_target(env, database, schema, mode)
    environment = target.environment
    keys = configured_key(None)
    if target.keyed_udfs and keys is None:
        failed("the policies use hash, tokenize or encrypt: set POLICYENGINE_KEY or POLICYENGINE_KEY_FILE "
               "(or keep policyengine.key beside the policy set), so the secure functions get the same key as "
               "the engine")
    try:
        connected = connect(connection)
    except SnowflakeUnavailable as error:
        failed(str(error))
    existing = read_existing(connected, target)
    drifted = drift(existing, target)
    try:
        actions = plan_changes(target, existing, keys=keys, prune=prune)
        final = check_plan(target, existing, actions)
    except PlanRefused as refused:
        failed(f"nothing applied: {refused}")
    if actions:
        actions += record_actions(target, final)
    if fmt is Format.json:
        write_json({"drift": [{"item": d.item, "change": d.describe()} for d in drifted],
                    "plan": [{"action": a.symbol, "summary": a.summary, "statement": a.statement} for a in actions]})
    else:
        if drifted:
            stdout.print("[bold]drift[/] (changed in Snowflake outside policyengine since its last apply):",
                         highlight=False)
            for item in drifted:
                stdout.print(f"  [magenta]![/] {item.describe()}", highlight=False)
            stdout.print("", highlight=False)
        for action in actions:
            stdout.print(f"[{SYMBOL_STYLE[action.symbol]}]{action.symbol}[/] {action.summary}", highlight=False)
        changes = sum(1 for a in actions if a.symbol != "=")
        stdout.print(f"\nplan: {changes} change{'s' if changes != 1 else ''} for {environment}"
                     + (" (nothing to do)" if not actions else ""), highlight=False)
    if dry_run or not actions:
        return EXIT_OK
    if not yes:
        if not sys.stdin.isatty() or not typer.confirm("apply these changes?"):
            failed("not applied: confirm interactively or pass --yes")
    try:
        count = apply(connected, actions)
    except ApplyFailed as failure:
        ran = "".join(f"\n  ran: {a.summary}" for a in actions[:failure.done])
        left = "".join(f"\n  not run: {a.summary}" for a in actions[failure.done + 1:])
        failed(f"stopped at step {failure.done + 1} of {len(actions)}: {failure.action.summary}: "
               f"{type(failure.error).__name__}: {_reason(failure.error)}{ran}{left}\n"
               "run apply again: it plans from what Snowflake now holds")
    stdout.print(f"applied {count} changes", highlight=False)
    return EXIT_OK


def _reason(error: Exception) -> str:
    """Snowflake's message for a failed DDL statement; it names objects, never data or keys."""
    return " ".join(str(error).split())[:300]
