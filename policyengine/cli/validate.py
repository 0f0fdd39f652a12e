"""``policyengine validate``: check a policy set and list every problem, located."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policyengine.cli import EXIT_INVALID, EXIT_OK, FormatOption, app, load_or_exit, state
from policyengine.cli.common import failed
from policyengine.cli.output import Format, lines, stderr, stdout, write_json
from policyengine.decision.checks import policy_warnings


@app.command()
def validate(
    db: Annotated[Path | None, typer.Option(
        "--db", help="Also compare the contracts with this DuckDB database: column types that differ, tables "
                     "and columns missing on either side (exit 1 when they differ).")] = None,
    fmt: FormatOption = Format.table,
) -> int:
    """Check the policy set; exit 1 listing every problem as 'file: field: what is wrong'.

    Warnings (an unmask exception or a custom mask that opens a deny column) are listed too, and leave
    the exit at 0.
    With --db, the database is checked against the contracts before a query fails on a difference.
    """
    policy_set = load_or_exit(fmt)
    drift = _drift(policy_set, db) if db is not None else None
    # valid but probably not meant (an unmask or a custom mask that opens a deny column): shown, exit 0 still
    warnings = policy_warnings(policy_set)
    summary = {
        "valid": True,
        "policies": str(state.policies),
        "version": policy_set.version,
        "tables": len(policy_set.tables),
        "roles": len(policy_set.roles),
        "principals": len(policy_set.principals),
        "environments": list(policy_set.settings.environments),
        "warnings": [w.__dict__ for w in warnings],
    }
    if drift is not None:
        summary |= {"database": str(db), "drift": [d.as_dict() for d in drift]}
    if fmt is Format.json:
        write_json(summary)
    else:
        lines((str(w) for w in warnings), err=True)
        stdout.print(
            f"[green]valid[/green]: {state.policies} — {summary['tables']} tables, {summary['roles']} roles, "
            f"{summary['principals']} principals, environments {', '.join(summary['environments'])} "
            f"(version {policy_set.version})", highlight=False)
        if drift:
            lines((str(d) for d in drift), err=True)
            count = len(drift)
            stderr.print(f"[red]{count} difference{'s' if count != 1 else ''}[/red] between the contracts and "
                         f"the database {db}", highlight=False)
        elif drift is not None:
            stdout.print(f"[green]the database matches the contracts[/green]: {db}", highlight=False)
    return EXIT_INVALID if drift else EXIT_OK


def _drift(policy_set, db: Path) -> list:
    """The differences between the contracts and ``db``, or exit 1 when the database cannot be read."""
    from policyengine.backends.contract_drift import DriftError, contract_drift

    try:
        return contract_drift(policy_set, db)
    except DriftError as error:
        failed(str(error))
    return []  # not reached: failed() exits
