"""Options and helpers shared by the commands that run queries."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from policyengine.cli import EXIT_INVALID, EXIT_REFUSED
from policyengine.cli.output import lines

RoleOption = Annotated[Optional[list[str]], typer.Option("--role", "-r", help="A role (repeat for several).")]
PrincipalOption = Annotated[Optional[str], typer.Option("--principal", "-u", help="A principal of roles.yaml.")]
EnvOption = Annotated[Optional[str], typer.Option("--env", "-e", help="Environment (default: the set's default).")]
DbOption = Annotated[Path, typer.Option("--db", envvar="POLICYENGINE_DB", show_envvar=True,
                                        help="The DuckDB database to query.")]
ReadOption = Annotated[str, typer.Option("--read", help="SQL dialect of the statement (sqlglot's names).")]
KeyFileOption = Annotated[Optional[Path], typer.Option(
    "--key-file", envvar="POLICYENGINE_KEY_FILE", show_envvar=True,
    help="Key for hash, tokenize and encrypt (or set POLICYENGINE_KEY).")]
AuditOption = Annotated[Path, typer.Option("--audit", envvar="POLICYENGINE_AUDIT", show_envvar=True,
                                           help="Audit log (JSON lines).")]
SqlArgument = Annotated[Optional[str], typer.Argument(help="The SQL statement (read from stdin when omitted).")]

DEFAULT_DB = Path("demo.duckdb")
DEFAULT_AUDIT = Path(".policyengine") / "audit.jsonl"


def statement_text(sql: Optional[str]) -> str:
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


def open_engine(db: Optional[Path], key_file: Optional[Path], audit: Optional[Path]):
    """The engine over the policy set and database, or exit 1 saying what is wrong."""
    from policyengine.backends.errors import QueryFailed
    from policyengine.cli import load_or_exit
    from policyengine.crypto import KeyError_, load_key
    from policyengine.engine import Engine
    from policyengine.audit import AuditLog
    from policyengine.backends.duckdb import DuckDBBackend

    policy_set = load_or_exit()
    backend = None
    if db is not None:
        try:
            keys = load_key(key_file)
        except KeyError_ as error:
            failed(str(error))
        try:
            backend = DuckDBBackend(db, keys=keys)
        except QueryFailed as error:
            failed(error.message)
    return Engine(policy_set, backend, audit=AuditLog(audit) if audit else None)



def open_snowflake_engine(connection: Optional[str], database: Optional[str], schema: Optional[str],
                          audit: Optional[Path]):
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
