"""``policyengine serve``: the PostgreSQL-compatible front door, for BI tools and drivers."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from policyengine.cli import EXIT_OK, app
from policyengine.cli.common import DEFAULT_AUDIT, AuditOption, KeyFileOption, failed, open_engine
from policyengine.cli.output import stdout


@app.command()
def serve(
    db: Annotated[Path | None, typer.Option(
        "--db", envvar="POLICYENGINE_DB", help="DuckDB database (default: the demo).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 5433,
    users: Annotated[Path, typer.Option(
        "--users", envvar="POLICYENGINE_USERS", help="The users file.")] = Path("policyengine-users.yaml"),
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="TLS private key (PEM).")] = None,
    key_file: KeyFileOption = None,
    audit: AuditOption = DEFAULT_AUDIT,
    watch_interval: Annotated[float, typer.Option(
        "--watch-interval", min=0,
        help="Seconds between checks of the policy files for changes (0: reload on SIGHUP only).")] = 1.0,
) -> int:
    """Serve the database over the PostgreSQL protocol; every statement runs as the logged-in principal.

    The policy set is reloaded on SIGHUP and when its files change; a set that does not validate is
    rejected (logged with its problems) and the one in force stays. SIGHUP rereads the users file too,
    keeping the users in force if the file cannot be read whole.
    """
    import asyncio

    from policyengine.cli import state
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
    server = Server(engine, verifiers, tls=tls_context(tls_cert, tls_key) if tls_cert else None,
                    policies=state.policies, watch_interval=watch_interval or None, users_file=users)
    _log_to_stderr()

    def serving(bound: int) -> None:
        # printed once the port is open (and with the port bound, for --port 0): a script that waits
        # for this line can connect at once
        stdout.print(f"policyengine serving {db} on {host}:{bound} ({len(verifiers)} users"
                     f"{', TLS' if tls_cert else ''}; policies {state.policies})", highlight=False)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, server.request_reload, "SIGHUP")
        except (AttributeError, NotImplementedError, RuntimeError):  # no SIGHUP (Windows): the watcher only
            pass
        await server.serve(host, port, started=serving)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    return EXIT_OK


def _log_to_stderr() -> None:
    """The server's log (reloads, rejected policy sets, session errors) on stderr, unless the
    embedding program configured logging itself."""
    logger = logging.getLogger("policyengine")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
