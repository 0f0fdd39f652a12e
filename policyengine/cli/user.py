"""``policyengine user add|remove|list``: the principals who may log in to the front door."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from policyengine.cli import EXIT_OK, FormatOption, app, load_or_exit
from policyengine.cli.common import failed
from policyengine.cli.output import Format, render

user_app = typer.Typer(help="Manage who may log in to the front door (password verifiers, never passwords).",
                       no_args_is_help=True)
app.add_typer(user_app, name="user")

UsersOption = Annotated[Path, typer.Option("--users", envvar="POLICYENGINE_USERS", show_envvar=True,
                                           help="The users file (SCRAM-SHA-256 verifiers).")]


@user_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A principal of roles.yaml.")],
    users: UsersOption = Path("policyengine-users.yaml"),
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> int:
    """Set a principal's password (stored as a SCRAM-SHA-256 verifier)."""
    from policyengine.server.users import UsersFileError, set_password

    policy_set = load_or_exit()
    if policy_set.principal(name) is None:
        failed(f"unknown principal '{name}': add it to roles.yaml first")
    password: str | bytes
    if password_stdin:
        # bytes as given: a password that is not UTF-8 is hashed raw, as PostgreSQL does (server/scram.py)
        raw = sys.stdin.buffer.readline().rstrip(b"\n").rstrip(b"\r")
        try:
            password = raw.decode("utf-8")
        except UnicodeDecodeError:
            password = raw
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            failed("the passwords differ")
    try:
        set_password(users, name, password)
    except UsersFileError as error:
        failed(str(error))
    typer.echo(f"{name}: password set in {users}")
    return EXIT_OK


@user_app.command("remove")
def remove(name: Annotated[str, typer.Argument()], users: UsersOption = Path("policyengine-users.yaml")) -> int:
    """Remove a principal's password: it can no longer log in."""
    from policyengine.server.users import UsersFileError, remove_user

    try:
        removed = remove_user(users, name)
    except UsersFileError as error:
        failed(str(error))
    if not removed:
        failed(f"no user '{name}' in {users}")
    typer.echo(f"{name}: removed from {users}")
    return EXIT_OK


@user_app.command("list")
def list_users(users: UsersOption = Path("policyengine-users.yaml"), fmt: FormatOption = Format.table) -> int:
    """The principals with a password, and their roles (verifiers are not shown)."""
    from policyengine.server.users import UsersFileError, load_users

    policy_set = load_or_exit(fmt)
    try:
        known = load_users(users)
    except UsersFileError as error:
        failed(str(error))
    rows = []
    for name in sorted(known):
        principal = policy_set.principal(name)
        rows.append({"user": name, "roles": ", ".join(principal.roles) if principal else "(not a principal)"})
    render(rows, ["user", "roles"], fmt)
    return EXIT_OK
