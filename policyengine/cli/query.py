"""``policyengine query`` and ``policyengine rewrite``: run or show a statement as a role sees it."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from policyengine.cli import EXIT_OK, FormatOption, app
from policyengine.cli.common import (
    DEFAULT_AUDIT,
    DEFAULT_DB,
    AuditOption,
    DbOption,
    EnvOption,
    KeyFileOption,
    PrincipalOption,
    ReadOption,
    RoleOption,
    SqlArgument,
    check_environment,
    failed,
    known_dialect,
    open_engine,
    open_snowflake_engine,
    refused_or_invalid,
    statement_text,
)
from policyengine.cli.output import Format, lines, render


class Backend(str, Enum):
    """Where the rewritten query runs."""

    duckdb = "duckdb"
    snowflake = "snowflake"


@app.command()
def query(
    sql: SqlArgument = None,
    role: RoleOption = None,
    principal: PrincipalOption = None,
    env: EnvOption = None,
    db: DbOption = DEFAULT_DB,
    read: ReadOption = "duckdb",
    key_file: KeyFileOption = None,
    audit: AuditOption = DEFAULT_AUDIT,
    backend: Annotated[Backend, typer.Option("--backend", case_sensitive=False,
                                             help="duckdb (the local database) or snowflake.")] = Backend.duckdb,
    connection: Annotated[str | None, typer.Option("--connection", "-c",
                                                      help="Snowflake: a connection of connections.toml.")] = None,
    database: Annotated[str | None, typer.Option("--database", help="Snowflake: the database.")] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="Snowflake: the schema.")] = None,
    fmt: FormatOption = Format.table,
) -> int:
    """Run a query as a role or principal; exit 2 with the reason when the policy refuses it."""
    from policyengine.backends.errors import QueryFailed
    from policyengine.decision import DecisionError
    from policyengine.rewrite import Refused

    text = statement_text(sql)
    if backend is Backend.snowflake:
        engine = open_snowflake_engine(connection, database, schema, audit)
    else:
        engine = open_engine(db, key_file, audit)
    try:
        check_environment(engine.policy_set, env)
        result = engine.query(text, roles=role or [], principal=principal, env=env, read=read)
        rows = result.fetchall()
    except Refused as refusal:
        refused_or_invalid(refusal)
    except (QueryFailed, DecisionError) as error:
        failed(getattr(error, "message", None) or str(error))
    finally:
        engine.close()
    render([dict(zip(result.columns, row)) for row in rows], result.columns, fmt)
    # what the engine wants the reader to know about the result (e.g. a row filter that reads an attribute
    # the principal lacks): on stderr, so the rows on stdout stay clean for scripts
    lines((f"notice: {notice}" for notice in getattr(result, "notices", None) or ()), err=True)
    return EXIT_OK


@app.command("rewrite")
def rewrite_command(
    sql: SqlArgument = None,
    role: RoleOption = None,
    principal: PrincipalOption = None,
    env: EnvOption = None,
    read: ReadOption = "duckdb",
    dialect: Annotated[str, typer.Option("--dialect", callback=known_dialect,
                                         help="SQL dialect to write (sqlglot's names).")] = "duckdb",
    pretty: Annotated[bool, typer.Option("--pretty/--compact", help="Indent the SQL.")] = True,
    db: Annotated[str | None, typer.Option(
        "--catalog", help="Name of the database, for catalog-qualified names.")] = None,
) -> int:
    """Print the SQL that would run for a role: every table replaced by its protected view."""
    import sqlglot

    from policyengine.cli import load_or_exit
    from policyengine.decision import DecisionError, subject_for
    from policyengine.rewrite import Refused, TableResolver, rewrite

    text = statement_text(sql)
    policy_set = load_or_exit()
    check_environment(policy_set, env)
    try:
        subject = subject_for(policy_set, principal=principal, roles=role or [])
        resolver = TableResolver(policy_set, frozenset({db.lower()}) if db else frozenset())
        # Snowflake holds the key in its secure UDFs (created by apply): keyed kinds call them there
        udf_prefix = "" if dialect == "snowflake" else None
        result = rewrite(text, policy_set, subject, env, read=read, write=dialect, resolver=resolver,
                         udf_prefix=udf_prefix)
    except Refused as refusal:
        refused_or_invalid(refusal)
    except DecisionError as error:
        failed(str(error))
    except ValueError as error:  # an unknown dialect name
        failed(str(error))
    output = result.sql
    if pretty:
        output = sqlglot.transpile(output, read=dialect, write=dialect, pretty=True)[0]
    typer.echo(output)
    return EXIT_OK
