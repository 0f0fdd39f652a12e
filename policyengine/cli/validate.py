"""``policyengine validate``: check a policy set and list every problem, located."""

from __future__ import annotations

from policyengine.cli import EXIT_OK, FormatOption, app, load_or_exit, state
from policyengine.cli.output import Format, lines, stdout, write_json
from policyengine.model.checks import unmask_deny_warnings


@app.command()
def validate(fmt: FormatOption = Format.table) -> int:
    """Check the policy set; exit 1 listing every problem as 'file: field: what is wrong'.

    Warnings (an unmask exception that opens a deny column) are listed too, and leave the exit at 0.
    """
    policy_set = load_or_exit(fmt)
    # valid but probably not meant (an unmask that opens a deny column): shown, exit 0 still
    warnings = unmask_deny_warnings(policy_set)
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
    if fmt is Format.json:
        write_json(summary)
    else:
        lines((str(w) for w in warnings), err=True)
        stdout.print(
            f"[green]valid[/green]: {state.policies} — {summary['tables']} tables, {summary['roles']} roles, "
            f"{summary['principals']} principals, environments {', '.join(summary['environments'])} "
            f"(version {policy_set.version})", highlight=False)
    return EXIT_OK
