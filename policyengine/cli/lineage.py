"""``policyengine lineage`` and ``policyengine derive``: column lineage, and contracts that inherit it.

``lineage`` shows, for each output column of a statement (or of each statement of a script), the
source columns it comes from, how, and the sensitivity that implies. ``derive`` writes (or updates)
the contract of a derived table so that each column inherits what its sources require, validates
the policy set with it, and only then writes it. Both fail closed: SQL that cannot be analysed is
refused (exit 2) with the reason.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from policyengine.cli import EXIT_INVALID, EXIT_OK, FormatOption, app, load_or_exit, state
from policyengine.cli.common import ReadOption, SqlArgument, failed, refused, statement_text
from policyengine.cli.output import Format, lines, render, stderr, stdout, write_json

CatalogOption = Annotated[list[str] | None, typer.Option(
    "--catalog", help="A name the current database answers to, for catalog-qualified names (dbt's database).")]

COLUMNS = ["column", "type", "transform", "sources", "sensitivity", "note"]


def _cannot_analyse(error: Exception) -> None:
    """Exit for SQL the lineage cannot analyse: a syntax error is invalid input (exit 1, as in ``query``);
    anything else is refused (exit 2), since nothing may be inferred from a statement not understood."""
    from sqlglot.errors import ParseError, TokenError

    if isinstance(error.__context__, (ParseError, TokenError)):
        failed(f"cannot analyse the SQL: {error}")
    refused(f"cannot analyse the SQL: {error}")


def _lookup(policy_set: Any, catalog: Any, extra: dict[str, Any] | None = None):
    """Contracts by name, as the statement named them: the set's, and those derived so far."""
    from policyengine.model import name_key

    def find(name: str):
        if extra and name_key(name) in extra:
            return extra[name_key(name)]
        found = catalog.find(name)
        if found is None:
            return None
        return (extra or {}).get(found.key) or policy_set.tables.get(found.key)

    return find


@app.command("lineage")
def lineage_command(
    sql: SqlArgument = None,
    read: ReadOption = "duckdb",
    catalog: CatalogOption = None,
    fmt: FormatOption = Format.table,
) -> int:
    """Show which source columns each output column comes from, through joins, CTEs, aggregates and
    expressions, and the sensitivity that implies (SELECT, CREATE TABLE AS, CREATE VIEW, dbt SQL)."""
    from policyengine.lineage import Catalog, LineageError, analyse
    from policyengine.lineage.propagate import implied_level

    text = statement_text(sql)
    policy_set = load_or_exit(fmt)
    schema = Catalog.from_policy_set(policy_set, catalogs=catalog or [])
    try:
        statements = analyse(text, schema, dialect=read)
    except LineageError as error:
        _cannot_analyse(error)
    find = _lookup(policy_set, schema)
    payload = []
    for statement in statements:
        columns = []
        for column in statement.columns:
            implied = implied_level(column, statement, find, policy_set.settings)
            notes = [implied.note] if implied.note else []
            if column.via:
                notes.append("via " + ", ".join(column.via))
            columns.append({
                "column": column.name, "type": column.type.sql if column.type else None,
                "transform": column.transform.value, "sources": [str(s) for s in column.sources],
                "via": list(column.via), "determined": column.determined, "unknown": column.unknown,
                "sensitivity": implied.level, "origin": str(implied.origin) if implied.origin else None,
                "note": "; ".join(notes), "expression": column.expression,
            })
        payload.append({"statement": statement.number, "kind": statement.kind, "target": statement.target,
                        "reads": list(statement.reads), "unknown_reads": list(statement.unknown_reads),
                        "columns": columns})
    if fmt is Format.json:
        write_json(payload)
        return EXIT_OK
    rows = [{**c, "statement": s["statement"], "target": s["target"] or "",
             "sources": " ".join(c["sources"]) if fmt is Format.csv else ", ".join(c["sources"]) or "(none)"}
            for s in payload for c in s["columns"]]
    if fmt is Format.csv:
        render(rows, ["statement", "target", *COLUMNS], fmt)
        return EXIT_OK
    for statement in payload:
        title = f"{statement['kind']} {statement['target']}" if statement["target"] else statement["kind"]
        if len(payload) > 1:
            title = f"[{statement['statement']}] {title}"
        reads = statement["reads"] + [f"{name} (no contract)" for name in statement["unknown_reads"]]
        title += " — reads " + (", ".join(reads) if reads else "no table")
        render([r for r in rows if r["statement"] == statement["statement"]], COLUMNS, fmt, title=title)
    return EXIT_OK


@app.command()
def derive(
    sql: SqlArgument = None,
    table: Annotated[str | None, typer.Option(
        "--table", "-t", help="The derived table's name, for a plain SELECT (a dbt model's compiled SQL).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the contract here ('-': standard output) instead of into the policy set.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")] = False,
    system: Annotated[str, typer.Option(
        "--system", help="The system part of originatingSource (system:table.column).")] = "warehouse",
    read: ReadOption = "duckdb",
    catalog: CatalogOption = None,
    fmt: FormatOption = Format.table,
) -> int:
    """Write or update the contract of a table derived by SQL (CTAS, view, dbt model): each column
    inherits the highest sensitivity of its sources and a protection at least as strong."""
    from policyengine.lineage import Catalog, CatalogTable, LineageError
    from policyengine.lineage.analyse import analyse_statement, parse_statement, split_statements
    from policyengine.lineage.contract import contract_document
    from policyengine.lineage.propagate import PropagationError, propagate
    from policyengine.model import Column, Table, name_key

    text = statement_text(sql)
    policy_set = _load_for_derive(fmt)
    base = Catalog.from_policy_set(policy_set, catalogs=catalog or [])
    try:
        pieces = split_statements(text, read)
        statements = [parse_statement(piece, number if len(pieces) > 1 else 0, read)
                      for number, piece in enumerate(pieces, 1)]
    except LineageError as error:
        _cannot_analyse(error)
    if not statements:
        failed("the SQL holds no statement")
    if any(s.target is None for s in statements) and len(statements) > 1:
        failed("a script given to derive holds CREATE TABLE ... AS and CREATE VIEW ... AS statements only; "
               "a plain SELECT (a dbt model) is given alone, with --table")
    if statements[0].target is None and not table:
        failed("a plain SELECT needs --table NAME: the name of the table it makes")
    if table and statements[0].target is not None:
        created = [".".join(p.name for p in s.target.parts) for s in statements if s.target is not None]
        if len(created) > 1 or name_key(created[0]) != name_key(table):
            failed(f"--table {table} does not match the table the SQL creates ({', '.join(created)})")
    if output is not None and len(statements) > 1:
        failed("--out takes one contract; this script creates several (write them into the policy set)")

    derived: dict[str, Any] = {}  # key -> Table, for the statements after
    results = []
    for statement in statements:
        target = table if statement.target is None else ".".join(p.name for p in statement.target.parts)
        schema = base.with_tables(CatalogTable(t.name, tuple((c.name, c.type.sql) for c in t.columns))
                                  for t in derived.values())
        try:
            lineage = analyse_statement(statement, schema, dialect=read)
        except LineageError as error:
            _cannot_analyse(error)
        found = schema.find(target)
        existing = policy_set.tables.get(found.key) if found is not None else None
        if found is not None and found.key in derived:
            existing = derived[found.key]
        find = _lookup(policy_set, schema, derived)
        try:
            columns = propagate(lineage, find, policy_set.settings, policy_set.roles, existing=existing)
        except PropagationError as error:
            refused(f"cannot derive {target}: {error}")
        name = existing.name if existing is not None else target
        document = contract_document(
            name, columns, sql=statement.sql, dialect=read, system=system, catalogs=catalog or (),
            existing=_existing_document(existing) if existing is not None else None,
            description=f"Derived from {', '.join(lineage.reads)}" if lineage.reads else None)
        notes = _notes(name, lineage, columns, existing, find)
        derived[name_key(name)] = Table(
            name=name, columns=tuple(Column(c.name, c.type, c.sensitivity, c.protection) for c in columns),
            row_access=existing.row_access if existing is not None else (), source="(derived)")
        results.append((name, existing, lineage, columns, document, notes))

    plan = _plan(results, output)
    problems = _validate(plan)
    if problems:
        if fmt is Format.json:
            write_json({"valid": False, "problems": [p.__dict__ for p in problems]})
        else:
            lines((str(p) for p in problems), err=True)
            stderr.print(f"[red]the policy set with the derived contract would be invalid[/red] "
                         f"({len(problems)} problem{'s' if len(problems) != 1 else ''}); nothing written",
                         highlight=False)
        raise typer.Exit(EXIT_INVALID)
    written = _write(plan, output, dry_run)
    _report(results, plan, written, output == Path("-"), fmt)
    return EXIT_OK


def _load_for_derive(fmt: Format) -> Any:
    """The policy set without its lineage checks: derive is how a column below its lineage is fixed,
    so what those checks report must not stop it. Any other problem does (exit 1, as everywhere), and
    the set with the derived contracts is validated in full before anything is written."""
    from policyengine.loading import load_policy_set
    from policyengine.model import PolicySetInvalid

    try:
        return load_policy_set(state.policies, lineage=False)
    except PolicySetInvalid:
        return load_or_exit(fmt)  # reports every problem, lineage ones included, and exits 1


def _existing_document(table: Any) -> dict[str, Any] | None:
    """The contract as its file writes it (so that what a person wrote is kept as written)."""
    from policyengine.model import name_key
    from policyengine.model.reading import ReadError, read_file

    if table.source == "(derived)" or state.policies is None:
        return None
    path = Path(state.policies) / table.source
    try:
        data = read_file(path)
    except ReadError:
        return None
    for item in _contracts(data, path.stem):
        name = next((v for k, v in item.items() if isinstance(k, str) and k.lower() == "table"), path.stem)
        if isinstance(name, str) and name_key(name) == table.key:
            return item
    return None


def _contracts(data: Any, stem: str) -> list[dict[str, Any]]:
    if isinstance(data, dict) and any(isinstance(k, str) and k.lower() == "tables" for k in data) \
            and not any(isinstance(k, str) and k.lower() == "columns" for k in data):
        key = next(k for k in data if isinstance(k, str) and k.lower() == "tables")
        return [i for i in data[key] if isinstance(i, dict)]
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return [i for i in data if isinstance(i, dict) and any(str(k).lower() == "columns" for k in i)]
    return []


def _notes(name: str, lineage: Any, columns: list[Any], existing: Any, find: Any) -> list[str]:
    from policyengine.model import name_key

    notes = []
    filtered = [t for t in lineage.reads if (found := find(t)) is not None and found.row_access]
    if filtered and (existing is None or not existing.row_access):
        notes.append(f"{', '.join(filtered)} {'has' if len(filtered) == 1 else 'have'} row access rules, which do "
                     f"not propagate: {name} shows every row to every role that may read it until its contract has "
                     "row_access rules of its own (derive keeps them)")
    if existing is not None:
        produced = {name_key(c.name) for c in columns}
        for column in existing.columns:
            if column.key not in produced:
                notes.append(f"column {column.name} is no longer produced by the SQL: removed from the contract")
    unknown = [c.name for c in columns if not c.determined]
    if unknown:
        notes.append(f"sources unknown for {', '.join(unknown)}: each is as sensitive as the most sensitive column "
                     "the SQL reads (fail closed)")
    return notes


def _plan(results: list[Any], output: Path | None) -> list[tuple[Path, str, Any]]:
    """(file relative to the policy folder, text, document) for each contract to write."""
    from policyengine.lineage.contract import render_json, render_yaml

    plan = []
    root = Path(state.policies)
    for name, existing, _, _, document, _ in results:
        rel = Path(existing.source) if existing is not None and existing.source != "(derived)" else \
            Path("tables") / f"{name.split('.')[-1]}.yaml"
        if existing is not None and existing.source != "(derived)":
            text = _replace_in_file(root / rel, existing, document)
        else:
            text = render_json(document) if rel.suffix == ".json" else render_yaml(document)
        plan.append((rel, text, document))
    if output is not None and output != Path("-"):
        rel, _, document = plan[0]
        text = render_json(document) if output.suffix.lower() == ".json" else render_yaml(document)
        plan[0] = (rel, text, document)
    return plan


def _replace_in_file(path: Path, existing: Any, document: dict[str, Any]) -> str:
    """The file's text with the contract replaced, in the file's own layout (one contract, a list,
    ``{tables: [...]}``)."""
    import yaml

    from policyengine.lineage.contract import render_json, render_yaml
    from policyengine.model import name_key
    from policyengine.model.reading import read_file

    data = read_file(path)
    json_file = path.suffix.lower() == ".json"
    contracts = _contracts(data, path.stem)
    if not contracts:  # a BigQuery-style list of columns: the file becomes a full contract
        return render_json(document) if json_file else render_yaml(document)
    if isinstance(data, dict) and contracts == [data]:
        return render_json(document) if json_file else render_yaml(document, path.read_text(encoding="utf-8"))

    def swap(items: list[Any]) -> list[Any]:
        out = []
        for item in items:
            name = (next((v for k, v in item.items() if str(k).lower() == "table"), None)
                    if isinstance(item, dict) else None)
            out.append(document if isinstance(name, str) and name_key(name) == existing.key else item)
        return out

    if isinstance(data, list):
        data = swap(data)
    elif isinstance(data, dict):
        key = next(k for k in data if str(k).lower() == "tables")
        data = {**data, key: swap(data[key])}
    if json_file:
        return render_json(data)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=110, allow_unicode=True)


def _validate(plan: list[tuple[Path, str, Any]]) -> list[Any]:
    """The problems of the policy set with these files written (checked in a copy: nothing is
    written until the set is valid)."""
    from policyengine.loading import load_policy_set
    from policyengine.model import PolicySetInvalid

    root = Path(state.policies)
    with tempfile.TemporaryDirectory(prefix="policyengine-derive-") as scratch:
        copy = Path(scratch) / "policies"
        copy.mkdir()
        for item in root.iterdir():
            if item.name == "tables" and item.is_dir():
                shutil.copytree(item, copy / "tables")
            elif item.is_file() and item.stem in ("policyengine", "roles"):
                shutil.copy2(item, copy / item.name)
        for rel, text, _ in plan:
            target = copy / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        try:
            load_policy_set(copy)
        except PolicySetInvalid as invalid:
            return invalid.problems
    return []


def _write(plan: list[tuple[Path, str, Any]], output: Path | None, dry_run: bool) -> list[str]:
    if dry_run:
        return []
    if output == Path("-"):
        sys.stdout.write(plan[0][1])
        return []
    written = []
    for rel, text, _ in plan:
        target = output if output is not None else Path(state.policies) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(str(target))
    return written


def _report(results: list[Any], plan: list[tuple[Path, str, Any]], written: list[str], quiet_stdout: bool,
            fmt: Format) -> None:
    from policyengine.lineage.propagate import protection_value

    payload = []
    for (name, existing, lineage, columns, document, notes), (rel, _, _) in zip(results, plan):
        payload.append({
            "table": name, "file": str(rel), "updated": existing is not None, "reads": list(lineage.reads),
            "columns": [{"column": c.name, "type": c.type.sql, "sensitivity": c.sensitivity,
                         "protection": protection_value(c.protection), "sources": [str(s) for s in c.basis],
                         "why": c.why} for c in columns],
            "notes": notes, "contract": document,
        })
    if fmt is Format.json:
        if not quiet_stdout:
            write_json({"derived": payload, "written": written})
        return
    console = stderr if quiet_stdout else stdout
    for item in payload:
        rows = [{**c, "protection": _shown(c["protection"]), "sources": ", ".join(c["sources"]) or "(none)"}
                for c in item["columns"]]
        if fmt is Format.csv and not quiet_stdout:
            render([{**r, "table": item["table"]} for r in rows],
                   ["table", "column", "type", "sensitivity", "protection", "sources", "why"], fmt)
            continue
        if fmt is Format.table:
            from rich.table import Table as RichTable

            grid = RichTable(title=f"{item['table']} ({'updated' if item['updated'] else 'new'}: {item['file']})",
                             title_justify="left")
            for column in ("column", "type", "sensitivity", "protection", "sources", "why"):
                grid.add_column(column)
            for row in rows:
                grid.add_row(*(str(row[c]) for c in ("column", "type", "sensitivity", "protection", "sources", "why")))
            console.print(grid)
        for note in item["notes"]:
            console.print(f"note: {note}", highlight=False, markup=False)
    if fmt is Format.table:
        for path in written:
            console.print(f"wrote {path}", highlight=False, markup=False)
        if not written and not quiet_stdout:
            console.print("dry run: nothing written (the policy set with it is valid)", highlight=False)


def _shown(protection: Any) -> str:
    """``partial(show_last=4)``: how ``explain`` shows a protection."""
    if isinstance(protection, str):
        return protection
    params = ", ".join(f"{k}={v}" for k, v in protection.items() if k != "kind")
    return f"{protection['kind']}({params})"
