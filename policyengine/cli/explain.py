"""``policyengine explain``: the decision for a role or principal, table by table, column by column."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from policyengine.cli import EXIT_INVALID, EXIT_OK, FormatOption, app, load_or_exit
from policyengine.cli.common import check_environment, refused_or_invalid, statement_text
from policyengine.cli.output import Format, lines, render, stdout, write_json
from policyengine.decision import DecisionError, TableDecision, decide, decision_dict, decision_rows, subject_for

STYLES = {"sees": "bold"}


@app.command()
def explain(
    sql: Annotated[str | None, typer.Argument(
        help="A statement: show the protections on what it reads, and the SQL that would run.")] = None,
    role: Annotated[list[str] | None, typer.Option("--role", "-r", help="A role (repeat for several).")] = None,
    principal: Annotated[str | None, typer.Option("--principal", "-u", help="A principal of roles.yaml.")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Environment (default: the set's default).")] = None,
    table: Annotated[list[str] | None, typer.Option("--table", "-t", help="Only this table (repeatable).")] = None,
    fmt: FormatOption = Format.table,
) -> int:
    """Show what a role (or principal) sees of each table, or of the tables a statement reads, and why."""
    policy_set = load_or_exit(fmt)
    check_environment(policy_set, env)
    rewritten = None
    try:
        subject = subject_for(policy_set, principal=principal, roles=role or [])
        if sql is not None:
            rewritten = _rewrite(policy_set, subject, statement_text(sql), env)
            decisions = list({d.table_name: d for d in rewritten.decisions}.values())
        else:
            unknown = [name for name in table or [] if policy_set.find_table(name) is None]
            if unknown:
                known = ", ".join(sorted(t.name for t in policy_set.tables.values()))
                raise DecisionError(f"unknown table{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                                    f"(tables: {known})")
            names = table or [t.name for t in policy_set.tables.values()]
            decisions = [decide(policy_set, subject, env, name) for name in names]
    except DecisionError as error:
        lines([f"error: {error}"], err=True)
        raise typer.Exit(EXIT_INVALID) from None

    if fmt is Format.json:
        payload = [decision_dict(d) | ({"principal_attributes": principal_attributes(d)} if d.allowed else {})
                   for d in decisions]
        write_json(payload if rewritten is None else {"tables": payload, "rewritten": rewritten.sql})
        return EXIT_OK
    if fmt is Format.csv:
        render([row for d in decisions for row in decision_rows(d)],
               ["table", "column", "type", "sensitivity", "sees", "reason"], fmt)
        return EXIT_OK
    who = f"principal {subject.name}" if subject.name else "role " + ", ".join(role or [])
    environment = decisions[0].grant.environment if decisions else env
    stdout.print(f"[bold]{who}[/bold] in [bold]{environment}[/bold]", highlight=False)
    for decision in decisions:
        if not decision.allowed:
            stdout.print(f"\n[bold]{decision.table_name}[/bold]: [red]refused[/red] — {decision.refused}",
                         highlight=False)
            continue
        attributes = "".join(f"\n  principal_attribute('{name}') = {_shown(value, subject.name)}"
                             for name, value in principal_attributes(decision).items())
        render(decision_rows(decision), ["column", "type", "sensitivity", "sees", "reason"], fmt,
               title=f"\n{decision.table_name} — rows: {decision.rows.describe()}{attributes}", styles=STYLES)
    if rewritten is not None:
        import sqlglot

        stdout.print("\n[bold]rewritten SQL[/bold]", highlight=False)
        stdout.print(sqlglot.transpile(rewritten.sql, read="duckdb", write="duckdb", pretty=True)[0],
                     highlight=False, markup=False)
    return EXIT_OK


def principal_attributes(decision: TableDecision) -> dict[str, Any]:
    """The principal's values of the attributes the reader's row filters read (None when not set).

    A row filter such as ``Region = principal_attribute('region')`` is only understood with the value it
    is compared with; an attribute the principal lacks is NULL there, and the filter then keeps no row.
    """
    from sqlglot import exp

    names: dict[str, None] = {}
    for rule in decision.rows.rules:
        for node in rule.where.find_all(exp.Anonymous):
            if node.name.upper() == "PRINCIPAL_ATTRIBUTE" and node.expressions:
                names[str(node.expressions[0].this)] = None
    return {name: decision.subject.attributes.get(name) for name in names}


def _shown(value: Any, principal: str | None) -> str:
    if value is None:
        return ("NULL (not set for this principal: the filter keeps no row)" if principal
                else "NULL (no principal: give --principal to use its attributes)")
    return f"'{value}'" if isinstance(value, str) else str(value)


def _rewrite(policy_set, subject, text: str, env: str | None):
    from policyengine.rewrite import Refused, rewrite

    try:
        return rewrite(text, policy_set, subject, env)
    except Refused as refusal:
        refused_or_invalid(refusal)
