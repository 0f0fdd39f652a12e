"""``policyengine keygen``, ``decrypt`` and ``warehouse-keys``: the key for hash/tokenize/encrypt, reversal, and
what a warehouse is given of it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from policyengine.cli import EXIT_OK, app
from policyengine.cli.common import KeyFileOption, failed, required_key
from policyengine.crypto import write_key_file


@app.command()
def keygen(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the key to this file (mode 600).")] = None,
    save: Annotated[bool, typer.Option(
        "--save", help="Write the key to policyengine.key beside the policy set folder, where every command, "
                       "the Python API, the DB-API and the pytest plugin find it.")] = False,
) -> int:
    """Make a new random key (hex) for POLICYENGINE_KEY or a key file."""
    from policyengine.cli import state
    from policyengine.crypto import generate_key, key_file_beside

    if out is not None and save:
        failed("give --out or --save, not both")
    if save:
        out = key_file_beside(state.policies)
    key = generate_key()
    if out is None:
        typer.echo(key)
    else:
        if out.exists():
            failed(f"{out} exists; refusing to overwrite a key (values hashed, tokenized or encrypted with it "
                   "could no longer be matched or decrypted)")
        write_key_file(out, key)
        typer.echo(f"wrote a new key to {out}: keep it out of version control (add it to .gitignore)")
    return EXIT_OK


@app.command()
def decrypt(
    values: Annotated[list[str] | None, typer.Argument(help="Encrypted values (pe1:...); stdin when omitted.")] = None,
    key_file: KeyFileOption = None,
) -> int:
    """Decrypt values protected by the encrypt kind; only holders of the key can."""
    from policyengine.crypto import decrypt as decrypt_value

    keys = required_key(key_file)
    tokens = values or [line.strip() for line in sys.stdin if line.strip()]
    for token in tokens:
        try:
            typer.echo(decrypt_value(keys, token))
        except ValueError as error:
            failed(str(error))
    return EXIT_OK


@app.command("warehouse-keys")
def warehouse_keys(
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write (mode 600); "
                                      "policyengine_keys.json is what the DDL uploads.")],
    key_file: KeyFileOption = None,
) -> int:
    """Write the per-purpose keys Snowflake's secure functions read (derived from the key; never the key)."""
    from policyengine.crypto import warehouse_key_file

    keys = required_key(key_file)
    if out.exists():
        failed(f"{out} exists; remove it first (it may hold another key's derived keys)")
    write_key_file(out, warehouse_key_file(keys).rstrip("\n"))
    typer.echo(f"wrote the derived keys (fingerprint {keys.fingerprint()}) to {out}: upload it with the DDL's PUT, "
               "then delete it")
    return EXIT_OK
