"""``policyengine keygen`` and ``policyengine decrypt``: the key for hash/tokenize/encrypt, and reversal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from policyengine.cli import EXIT_OK, app
from policyengine.cli.common import KeyFileOption, failed


@app.command()
def keygen(
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the key to this file (mode 600).")] = None,
) -> int:
    """Make a new random key (hex) for POLICYENGINE_KEY or a key file."""
    from policyengine.crypto import generate_key

    key = generate_key()
    if out is None:
        typer.echo(key)
    else:
        if out.exists():
            failed(f"{out} exists; refusing to overwrite a key")
        out.write_text(key + "\n")
        out.chmod(0o600)
        typer.echo(f"wrote a new key to {out}")
    return EXIT_OK


@app.command()
def decrypt(
    values: Annotated[Optional[list[str]], typer.Argument(help="Encrypted values (pe1:...); stdin when omitted.")] = None,
    key_file: KeyFileOption = None,
) -> int:
    """Decrypt values protected by the encrypt kind; only holders of the key can."""
    from policyengine.crypto import KeyError_, decrypt as decrypt_value, load_key

    try:
        keys = load_key(key_file)
    except KeyError_ as error:
        failed(str(error))
    if keys is None:
        failed("no key: set POLICYENGINE_KEY or POLICYENGINE_KEY_FILE, or pass --key-file")
    tokens = values or [line.strip() for line in sys.stdin if line.strip()]
    for token in tokens:
        try:
            typer.echo(decrypt_value(keys, token))
        except ValueError as error:
            failed(str(error))
    return EXIT_OK
