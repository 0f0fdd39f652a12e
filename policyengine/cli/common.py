"""Options and helpers shared by the commands that run queries."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from policyengine.cli import EXIT_INVALID, EXIT_REFUSED
from policyengine.cli.output import lines

RoleOption = Annotated[list[str] | None, typer.Option("--role", "-r", help="A role (repeat for several).")]
PrincipalOption = Annotated[str | None, typer.Option("--principal", "-u", help="A principal of roles.yaml.")]
EnvOption = Annotated[str | None, typer.Option("--env", "-e", help="Environment (default: the set's default).")]
DbOption = Annotated[Path, typer.Option("--db", envvar="POLICYENGINE_DB", show_envvar=True,
                                        help="The DuckDB database to query.")]


def known_dialect(value: str) -> str:
    """A sqlglot dialect name, or a usage error (exit 1) before anything is parsed with it."""
    import sqlglot

    try:
        sqlglot.Dialect.get_or_raise(value)
    except ValueError as error:
        raise typer.BadParameter(
            f"{error} (sqlglot's dialect names: duckdb, snowflake, postgres, bigquery, ...)") from None
    return value


ReadOption = Annotated[str, typer.Option("--read", callback=known_dialect,
                                         help="SQL dialect of the statement (sqlglot's names).")]
KeyFileOption = Annotated[Path | None, typer.Option(
    "--key-file",
    help="Key file for hash, tokenize and encrypt. Looked for in this order: POLICYENGINE_KEY, "
         "POLICYENGINE_KEY_FILE, this option, policyengine.key beside the policy set folder.")]
AuditOption = Annotated[Path, typer.Option("--audit", envvar="POLICYENGINE_AUDIT", show_envvar=True,
                                           help="Audit log (JSON lines).")]
SqlArgument = Annotated[str | None, typer.Argument(help="The SQL statement (read from stdin when omitted).")]

DEFAULT_DB = Path("demo.duckdb")
DEFAULT_AUDIT = Path(".policyengine") / "audit.jsonl"


def statement_text(sql: str | None) -> str:
    if sql is None or sql == "-":
        if sys.stdin is None or sys.stdin.isatty():
            lines(["error: give the SQL statement as an argument or on standard input"], err=True)
            raise typer.Exit(EXIT_INVALID)
        sql = sys.stdin.read()
    if not sql.strip():
        lines(["error: the SQL statement is empty"], err=True)
        raise typer.Exit(EXIT_INVALID)
    return sql


def refused(reason: str) -> None:
    lines([f"refused: {reason}"], err=True)
    raise typer.Exit(EXIT_REFUSED)


def failed(message: str) -> None:
    lines([f"error: {message}"], err=True)
    raise typer.Exit(EXIT_INVALID)


def configured_key(key_file: Path | None):
    """The key by the one lookup order (:func:`policyengine.crypto.load_key`) for the ``--policies`` set,
    None when there is none, or exit 1 saying which source is unusable."""
    from policyengine.cli import state
    from policyengine.crypto import KeyError_, load_key

    try:
        return load_key(key_file, policies=state.policies)
    except KeyError_ as error:
        failed(str(error))


def required_key(key_file: Path | None):
    """The key, as :func:`configured_key` finds it, or exit 1 saying every place it is looked for."""
    keys = configured_key(key_file)
    if keys is None:
        failed("no key: set POLICYENGINE_KEY or POLICYENGINE_KEY_FILE, pass --key-file, or keep "
               "policyengine.key beside the policy set")
    return keys


def open_engine(db: Path | None, key_file: Path | None, audit: Path | None):
    """The engine over the policy set and database, or exit 1 saying what is wrong."""
    from policyengine.audit import AuditLog
    from policyengine.backends.duckdb import DuckDBBackend
    from policyengine.backends.errors import QueryFailed
    from policyengine.cli import load_or_exit
    from policyengine.engine import Engine

    policy_set = load_or_exit()
    backend = None
    if db is not None:
        keys = configured_key(key_file)
        try:
            backend = DuckDBBackend(db, keys=keys)
        except QueryFailed as error:
            failed(error.message)
    return Engine(policy_set, backend, audit=AuditLog(audit) if audit else None)



def open_snowflake_engine(connection: str | None, database: str | None, schema: str | None,
                          audit: Path | None):
    """The engine over the policy set with Snowflake as the backend, or exit 1 saying what is wrong."""
    from policyengine.audit import AuditLog
    from policyengine.backends.snowflake import SnowflakeBackend
    from policyengine.backends.snowflake_connection import SnowflakeUnavailable, connect
    from policyengine.cli import load_or_exit
    from policyengine.engine import Engine

    policy_set = load_or_exit()
    try:
        connected = connect(connection)
    except SnowflakeUnavailable as error:
        failed(str(error))
    backend = SnowflakeBackend(connected, database=database, schema=schema)
    return Engine(policy_set, backend, audit=AuditLog(audit) if audit else None)


def check_environment(policy_set, env: str | None) -> None:
    """Exit 1 naming the valid environments when ``env`` is not one of the set's.

    Checked before anything runs: a statement that reads no table would otherwise never look at the
    environment, and a typo would pass silently as if it were a real one.
    """
    from policyengine.decision import DecisionError, environment_for

    if env is None:
        return
    try:
        environment_for(policy_set, env)
    except DecisionError as error:
        failed(str(error))


def refused_or_invalid(refusal) -> None:
    """A rewriter refusal as an exit code: a SQL syntax error is invalid input (1), anything else the
    policy's refusal (2)."""
    if getattr(refusal, "kind", "policy") == "syntax":
        failed(refusal.reason)
    refused(refusal.reason)
