"""The ``policyengine`` command.

Exit codes scripts can rely on: 0 ok, 1 invalid policy set or usage error, 2 refused by policy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from policyengine.cli.output import Format, lines, stderr, write_json

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_REFUSED = 2

app = typer.Typer(
    help="A SQL-layer data access policy engine: every query sees only what the caller's role may see.",
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
        help="The policy set folder (policyengine.yaml, roles.yaml, tables/).")] = Path("policies"),
) -> None:
    state.policies = policies


def load_or_exit(fmt: Format = Format.table):
    """The policy set, or exit 1 with every problem listed: a bad set is never half-used."""
    from policyengine.model import PolicySetInvalid, load_policy_set

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
        raise typer.Exit(EXIT_INVALID)


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)]


def _is_usage_error(error: Exception) -> bool:
    """Parser errors of typer's bundled click: they know how to show themselves and carry an exit code."""
    return hasattr(error, "show") and hasattr(error, "exit_code") and hasattr(error, "format_message")


def main(argv: Optional[list[str]] = None) -> None:
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
