"""``policyengine report``: the access matrix (role by environment by column), lineage and scan findings.

``--html`` writes one self-contained page for reviewers and auditors; without it, the matrix is
printed like every other command's output (``--format table|json|csv``) for scripts and terminals.
Either way it is computed from the policy files alone: the report shows policy, never data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from policyengine.cli import EXIT_INVALID, EXIT_OK, FormatOption, app, load_or_exit
from policyengine.cli.output import Format, lines, render, stderr, stdout, write_json


@app.command()
def report(
    html: Annotated[bool, typer.Option("--html", help="Write the report as one self-contained HTML page.")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where the HTML page goes (default report.html; '-' for standard output). "
                            "Implies --html.")] = None,
    scan: Annotated[Path | None, typer.Option(
        "--scan", help="Findings of `policyengine scan --format json` to show beside the labels.")] = None,
    role: Annotated[list[str] | None, typer.Option("--role", "-r", help="Only this role (repeatable).")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="Only this environment (repeatable).")] = None,
    fmt: FormatOption = Format.table,
) -> int:
    """Show what every role reads of every column in every environment, with row filters, lineage and scan findings."""
    from policyengine.decision import DecisionError
    from policyengine.report import FindingsInvalid, build_report, read_findings, render_html

    policy_set = load_or_exit(fmt)
    findings = None
    if scan is not None:
        try:
            findings = read_findings(scan, str(scan))
        except FindingsInvalid as invalid:
            lines((str(p) for p in invalid.problems), err=True)
            stderr.print(f"[red]error[/red]: cannot read the scan findings in {escape(str(scan))}", highlight=False)
            raise typer.Exit(EXIT_INVALID) from None
    try:
        built = build_report(policy_set, findings=findings, roles=role or None, environments=env or None)
    except DecisionError as error:
        lines([f"error: {error}"], err=True)
        raise typer.Exit(EXIT_INVALID) from None

    if html or out is not None:
        page = render_html(built)
        target = out or Path("report.html")
        if str(target) == "-":
            typer.echo(page, nl=False)
            return EXIT_OK
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(page, encoding="utf-8")
        except OSError as error:
            lines([f"error: cannot write {target}: {error.strerror}"], err=True)
            raise typer.Exit(EXIT_INVALID) from None
        summary = (f"{len(built.tables)} tables, {len(built.roles)} roles, {len(built.environments)} environments"
                   + (f", {len(findings)} scan findings" if findings is not None else ""))
        if fmt is Format.json:
            write_json({"written": str(target), "tables": len(built.tables), "roles": len(built.roles),
                        "environments": list(built.environments)})
        else:
            stdout.print(f"wrote {escape(str(target))}: {summary}", highlight=False)
        return EXIT_OK

    if fmt is Format.json:
        write_json(_json(built))
    elif fmt is Format.csv:
        render(built.rows(), ["table", "column", "role", "environment", "sees", "outcome", "protection", "rows",
                              "row_filter"], fmt)
    else:
        _tables(built)
    return EXIT_OK


def _json(built: Any) -> dict[str, Any]:
    return {
        "policies": built.policies, "version": built.version, "environments": list(built.environments),
        "clearance": built.clearance,
        "matrix": built.rows(),
        "lineage": [vars(edge) | {"exposed_to": [list(x) for x in edge.exposed_to]} for edge in built.lineage],
        "derived": [{"table": d.table, "derived_from": [name for name, _ in d.parents], "recorded_by": d.recorded_by}
                    for d in built.derived],
        "findings": None if built.findings is None else [
            vars(f.finding) | {"current": f.current, "verdict": f.verdict} for f in built.findings],
    }


def _tables(built: Any) -> None:
    """One table per contract: a row per role and environment, a column per contract column."""
    render([{"role": r, **{e: (lvl or "no access") for e, lvl in envs.items()}} for r, envs in built.clearance.items()],
           ["role", *built.environments], Format.table, title="clearance by role and environment")
    for matrix in built.tables:
        columns = [c.name for c in matrix.table.columns]
        rows = []
        for row in matrix.rows:
            entry: dict[str, Any] = {"role": row.role, "env": row.environment}
            entry.update({cell.column: cell.label for cell in row.cells})
            entry["rows"] = ("all rows" if row.rows == "all" or row.unfiltered else
                             "no rows" if row.rows == "none" else "no access" if row.rows == "no-access" else
                             " OR ".join(row.row_rules))
            rows.append(entry)
        render(rows, ["role", "env", *columns, "rows"], Format.table, title=f"\n{matrix.table.name}")
