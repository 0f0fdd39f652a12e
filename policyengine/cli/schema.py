"""``policyengine schema``: write the JSON Schemas of the policy files, for editors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policyengine.cli import EXIT_OK, app


@app.command()
def schema(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the schemas to.")] = Path("schema"),
) -> int:
    """Write JSON Schemas for policyengine.yaml, roles.yaml, tables and test cases (for YAML/JSON editors)."""
    from policyengine.schema_files import write

    for path in write(out):
        typer.echo(f"wrote {path}")
    return EXIT_OK
