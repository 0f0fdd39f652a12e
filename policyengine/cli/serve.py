"""``policyengine serve``: the PostgreSQL-compatible front door, for BI tools and drivers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from policyengine.cli import EXIT_OK, app
from policyengine.cli.common import AuditOption, DEFAULT_AUDIT, KeyFileOption, failed, open_engine
from policyengine.cli.output import stdout


@app.command()
def serve(
    db: Annotated[Optional[Path], typer.Option("--db", envvar="POLICYENGINE_DB", help="DuckDB database (default: the demo).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 5433,
    users: Annotated[Path, typer.Option("--users", envvar="POLICYENGINE_USERS", help="The users file.")] = Path("policyengine-users.yaml"),
    tls_cert: Annotated[Optional[Path], typer.Option("--tls-cert", help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[Optional[Path], typer.Option("--tls-key", help="TLS private key (PEM).")] = None,
    key_file: KeyFileOption = None,
    audit: AuditOption = DEFAULT_AUDIT,
) -> int:
    """Serve the database over the PostgreSQL protocol; every statement runs as the logged-in principal."""
    import asyncio

    from policyengine.server.server import Server, tls_context
    from policyengine.server.users import UsersFileError, load_users

    if db is None:
        from policyengine.demo.data import build_demo_database

        db = Path("demo.duckdb")
        if not db.exists():
            build_demo_database(db)
    if (tls_cert is None) != (tls_key is None):
        failed("--tls-cert and --tls-key go together")
    try:
        verifiers = load_users(users)
    except UsersFileError as error:
        failed(str(error))
    engine = open_engine(db, key_file, audit)
    server = Server(engine, verifiers, tls=tls_context(tls_cert, tls_key) if tls_cert else None)
    stdout.print(f"policyengine serving {db} on {host}:{port} ({len(verifiers)} users"
                 f"{', TLS' if tls_cert else ''})", highlight=False)
    try:
        asyncio.run(server.serve(host, port))
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    return EXIT_OK
