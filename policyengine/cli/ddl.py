"""``policyengine ddl snowflake``: the DDL that makes Snowflake enforce the policy set natively."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from policyengine.cli import EXIT_OK, app, load_or_exit
from policyengine.cli.common import configured_key, failed


class Mode(str, Enum):
    """How masking policies attach: a policy per column, or one per data type on the protection tag."""

    column = "column"
    tag = "tag"


ModeOption = Annotated[Mode, typer.Option(
    "--mode", case_sensitive=False,
    help="column: a policy per column; tag: one policy per data type on the protection tag, where that suffices.")]

ddl_app = typer.Typer(help="Generate native warehouse policies from the policy set.", no_args_is_help=True)
app.add_typer(ddl_app, name="ddl")


@ddl_app.command("snowflake")
def snowflake(
    env: Annotated[str | None, typer.Option(
        "--env", "-e", help="Environment (clearances differ by environment).")] = None,
    database: Annotated[str | None, typer.Option("--database", help="Database of the policies and tables.")] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="Schema of the policies and tables.")] = None,
    mode: ModeOption = Mode.column,
    create_tables: Annotated[bool, typer.Option("--create-tables", help="Create the tables with their policies "
                                                                          "inline, never unprotected.")] = False,
) -> int:
    """Print Snowflake masking, projection and row access policies, tags and their attachments."""
    from policyengine.ddl.snowflake import render

    target = snowflake_target(env, database, schema, mode)
    keys = configured_key(None) if target.keyed_udfs else None
    typer.echo(render(target, fingerprint=keys.fingerprint() if keys else None, create_tables=create_tables),
               nl=False)
    return EXIT_OK


def snowflake_target(env: str | None, database: str | None, schema: str | None, mode: Mode | str):
    """The Snowflake plan for the options both ``ddl`` and ``apply`` take, or exit 1 saying what is wrong."""
    from policyengine.ddl.snowflake_plan import plan
    from policyengine.decision import DecisionError, environment_for

    policy_set = load_or_exit()
    mode = mode.value if isinstance(mode, Mode) else mode
    if mode not in [m.value for m in Mode]:
        failed(f"unknown mode '{mode}' ({' or '.join(m.value for m in Mode)})")
    try:
        environment = environment_for(policy_set, env)
    except DecisionError as error:
        failed(str(error))
    return plan(policy_set, environment, database=database, schema=schema, mode=mode)
