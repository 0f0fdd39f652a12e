"""The ``policyengine`` command.

Exit codes scripts can rely on, the same in every command: 0 ok; 1 usage error or invalid input (an
unknown option, environment or filter value, a SQL syntax error, an invalid policy set, a missing
file); 2 refused by policy. (``policyengine test`` is a test runner: 0 all pass, 1 some fail, 2 the
cases cannot run.) Global options may come before or after the command: see
:mod:`policyengine.cli.conventions`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from policyengine.cli.conventions import normalise_arguments, tidy_help
from policyengine.cli.output import Format, lines, stderr, write_json

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_REFUSED = 2


class RootGroup(TyperGroup):
    """The root command: applies the conventions of :mod:`policyengine.cli.conventions` to every command,
    whether it runs through :func:`main` or through typer's ``CliRunner``."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        tidy_help(self)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, normalise_arguments(self, args))


app = typer.Typer(
    cls=RootGroup,
    help="A SQL-layer data access policy engine: every query sees only what the caller's role may see. "
         "Exit codes: 0 ok, 1 usage error or invalid input, 2 refused by policy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class State:
    policies: Path = Path("policies")


state = State()


@app.callback()
def _global(
    policies: Annotated[Path, typer.Option(
        "--policies", "-p", envvar="POLICYENGINE_POLICIES", show_envvar=True,
        help="The policy set folder (policyengine.yaml, roles.yaml, tables/); may also follow the command.")
    ] = Path("policies"),
    env: Annotated[str | None, typer.Option(
        "--env", "-e", help="Environment, for the commands that take --env; may also follow the command.")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", metavar="<table|json|csv>",
        help="Output format, for the commands that take --format; may also follow the command.")] = None,
    db: Annotated[Path | None, typer.Option(
        "--db", help="The DuckDB database, for the commands that take --db; may also follow the command.")] = None,
) -> None:
    # --env, --format and --db before a command are handed to it (conventions.normalise_arguments); they
    # reach this callback only when no command that could take them follows
    for name, value in (("--env", env), ("--format", fmt), ("--db", db)):
        if value is not None:
            raise UsageError(f"{name} goes with a command that takes it, e.g. `policyengine {name} ... query`")
    state.policies = policies


def load_or_exit(fmt: Format = Format.table):
    """The policy set, or exit 1 with every problem listed: a bad set is never half-used."""
    from policyengine.loading import load_policy_set
    from policyengine.model import PolicySetInvalid

    try:
        return load_policy_set(state.policies)
    except PolicySetInvalid as invalid:
        if fmt is Format.json:
            write_json({"valid": False, "problems": [p.__dict__ for p in invalid.problems]})
        else:
            lines((str(p) for p in invalid.problems), err=True)
            count = len(invalid.problems)
            stderr.print(f"[red]{count} problem{'s' if count != 1 else ''}[/red]: the policy set in "
                         f"{state.policies} is invalid", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)]


def _is_usage_error(error: Exception) -> bool:
    """Parser errors of typer's bundled click: they know how to show themselves and carry an exit code."""
    return hasattr(error, "show") and hasattr(error, "exit_code") and hasattr(error, "format_message")


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors exit 1 (not click's 2, which here means 'refused by policy')."""
    from policyengine.cli import commands  # noqa: F401  (registers the commands)

    try:
        code = app(args=argv if argv is not None else sys.argv[1:], prog_name="policyengine", standalone_mode=False)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        code = EXIT_INVALID
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130
    except Exception as error:  # noqa: BLE001 - only usage errors are handled; anything else is re-raised
        if not _is_usage_error(error):
            raise
        if type(error).__name__ == "NoArgsIsHelpError":
            error.show()  # type: ignore[attr-defined]
            code = EXIT_OK
        else:
            from typer import rich_utils

            rich_utils.rich_format_error(error)  # type: ignore[arg-type]
            code = EXIT_INVALID
    sys.exit(code if isinstance(code, int) else EXIT_OK)


__all__ = ["app", "main", "EXIT_OK", "EXIT_INVALID", "EXIT_REFUSED"]
