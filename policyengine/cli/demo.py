"""``policyengine demo``: build the demo database and show what each role sees of the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policyengine.cli import EXIT_OK, app, load_or_exit, state
from policyengine.cli.output import stderr, stdout


@app.command()
def demo(
    db: Annotated[Path, typer.Option("--db", help="Where to build the demo DuckDB database.")] = Path("demo.duckdb"),
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild the database even if it exists.")] = False,
) -> int:
    """Build a demo database (10,000 reviews, 2,000 users) and show each role's view of the same rows."""
    from policyengine.demo.data import build_demo_database
    from policyengine.demo.show import show_roles

    policy_set = load_or_exit()
    if rebuild or not db.exists():
        with stdout.status(f"building {db} ..."):
            counts = build_demo_database(db)
        stdout.print(f"built {db}: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()), highlight=False)
    else:
        stdout.print(f"using {db} (--rebuild to build it again)", highlight=False)
    show_roles(policy_set, db, out=stdout, err=stderr, policies=state.policies)
    return EXIT_OK
