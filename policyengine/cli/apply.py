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

SYMBOL_STYLE = {"+": "green", "~": "yellow", ">": "cyan", "-": "red"}


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
    """Read the policies Snowflake has, plan the difference, show it, and apply it."""
    from policyengine.backends.snowflake_connection import SnowflakeUnavailable, connect
    from policyengine.cli.ddl import snowflake_target
    from policyengine.ddl.snowflake_apply import ApplyFailed, apply, plan_changes, read_existing

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
    shown = plan_changes(target, existing, key_hex=None, prune=prune)  # what people see: no key
    if fmt is Format.json:
        write_json([{"action": a.symbol, "summary": a.summary, "statement": a.statement} for a in shown])
    else:
        for action in shown:
            stdout.print(f"[{SYMBOL_STYLE[action.symbol]}]{action.symbol}[/] {action.summary}", highlight=False)
        stdout.print(f"\nplan: {len(shown)} change{'s' if len(shown) != 1 else ''} for {environment}"
                     + (" (nothing to do)" if not shown else ""), highlight=False)
    if dry_run or not shown:
        return EXIT_OK
    if not yes:
        if not sys.stdin.isatty() or not typer.confirm("apply these changes?"):
            failed("not applied: confirm interactively or pass --yes")
    actions = plan_changes(target, existing, key_hex=keys.master.hex() if keys else None, prune=prune)
    try:
        count = apply(connected, actions)
    except ApplyFailed as failure:
        failed(f"stopped after {failure.done} of {len(actions)} changes: {failure.action.summary}: "
               f"{type(failure.error).__name__}")
    stdout.print(f"applied {count} changes", highlight=False)
    return EXIT_OK
