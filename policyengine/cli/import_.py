"""``policyengine import dbt``: a dbt project's column labels as the policy set's table contracts.

The module is named ``import_`` because ``import`` is a Python keyword; the command group is
``import``, so that other sources of labels can join ``dbt`` under it.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from policyengine.cli import EXIT_INVALID, EXIT_OK, FormatOption, app, load_or_exit, state
from policyengine.cli.common import failed
from policyengine.cli.output import Format, lines, render, stderr, stdout, write_json


def _group() -> typer.Typer:
    """The ``import`` group: another module may have created it already; then it is shared."""
    for info in app.registered_groups:
        if info.name == "import" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help="Import labels from other tools as table contracts.", no_args_is_help=True)
    app.add_typer(group, name="import")
    return group


import_app = _group()

COLUMNS = ["table", "column", "type", "sensitivity", "protection", "from", "status"]


class Qualify(str, Enum):
    """How imported table names are qualified (``policyengine.dbt.QUALIFY_CHOICES``, checked when used)."""

    auto = "auto"
    none = "none"
    schema = "schema"
    database = "database"


#: the kinds --unknown-masking-policy takes (``policyengine.dbt.UNKNOWN_POLICY_KINDS``, checked when used)
UNKNOWN_POLICY_METAVAR = "<email|partial|generalize|encrypt|tokenize|hash|redact|nullify|deny>"


@import_app.command("dbt")
def dbt(
    path: Annotated[Path, typer.Argument(help="The dbt project folder (where dbt_project.yml is).")],
    manifest: Annotated[Path | None, typer.Option(
        "--manifest", "-m", help="Read target/manifest.json (relative to the project or the working folder) "
                                 "instead of the property files: real schemas and aliases.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where the contracts go (default: the policy set's tables/).")] = None,
    qualify: Annotated[Qualify, typer.Option(
        "--qualify", case_sensitive=False,
        help="Table names: none (alias), schema (schema.alias), database (db.schema.alias), or "
             "auto: schema with --manifest, none without.")] = Qualify.auto,
    unknown_masking_policy: Annotated[str | None, typer.Option(
        "--unknown-masking-policy", metavar=UNKNOWN_POLICY_METAVAR,
        help="The protection kind a masking policy that is not mapped stands for "
             "(e.g. redact, deny); default: it is an error.")] = None,
    prune: Annotated[bool, typer.Option(
        "--prune", help="Remove contracts generated from this project for relations it no longer has.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and show, write nothing.")] = False,
    fmt: FormatOption = Format.table,
) -> int:
    """Import sensitivity and protection from dbt column meta (masking_policy, sensitivity, pii, ...).

    The contracts are validated with the policy set before anything is written; a problem is reported at
    the line of the dbt project that causes it, and nothing is written. Importing again rewrites only
    what changed. See docs/dbt.md for the meta convention.
    """
    from policyengine.dbt import QUALIFY_CHOICES, UNKNOWN_POLICY_KINDS, plan_import, write_plan

    policy_set = load_or_exit(fmt)
    if qualify.value not in QUALIFY_CHOICES:
        failed(f"unknown --qualify '{qualify.value}' (one of {', '.join(QUALIFY_CHOICES)})")
    kind = unknown_masking_policy.strip().lower() if unknown_masking_policy else None
    if kind is not None and kind not in UNKNOWN_POLICY_KINDS:
        failed(f"--unknown-masking-policy must be a protection kind: {', '.join(UNKNOWN_POLICY_KINDS)}")
    try:
        plan = plan_import(path, policy_set, out=out, manifest=manifest, qualify=qualify.value,  # type: ignore[arg-type]
                           unknown_masking_policy=kind, prune=prune)
    except ValueError as error:
        failed(str(error))

    if not plan.ok:
        if fmt is Format.json:
            write_json({"valid": False, "problems": [p.__dict__ for p in plan.problems], "notes": plan.notes})
        else:
            lines((str(p) for p in plan.problems), err=True)
            count = len(plan.problems)
            stderr.print(f"[red]{count} problem{'s' if count != 1 else ''}[/red]: nothing was written "
                         f"(dbt project {escape(str(path))})", highlight=False)
        raise typer.Exit(EXIT_INVALID)

    if not dry_run:
        write_plan(plan, prune=prune)
    rows = plan.rows()
    if fmt is Format.json:
        write_json({
            "valid": True, "dry_run": dry_run, "project": plan.project, "read_from": plan.read_from,
            "policies": str(state.policies), "out": str(plan.out),
            "files": [{"path": str(g.path), "table": g.table, "unique_id": g.relation.unique_id,
                       "status": g.status, "contract": g.contract} for g in plan.generated],
            "columns": rows, "notes": plan.notes, "stale": [str(p) for p in plan.stale],
        })
        return EXIT_OK
    render(rows, COLUMNS if fmt is Format.table else COLUMNS + ["file"], fmt,
           title=f"dbt project {plan.project} (from its {plan.read_from})" if fmt is Format.table else None)
    if fmt is Format.table:
        lines((f"note: {note}" for note in plan.notes), err=True)
        counts = {s: sum(1 for g in plan.generated if g.status == s) for s in ("new", "changed", "unchanged")}
        verb = "would write" if dry_run else "wrote"
        written = counts["new"] + counts["changed"]
        stdout.print(f"{verb} {written} of {len(plan.generated)} contracts to {escape(str(plan.out))} "
                     f"({counts['new']} new, {counts['changed']} changed, {counts['unchanged']} unchanged)",
                     highlight=False)
    return EXIT_OK
