"""The users file: principals' SCRAM-SHA-256 password verifiers, never plaintext, never in policy files.

Verifiers are stored in PostgreSQL's own format (``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:
<ServerKey>``, base64), so a verifier can be copied from or to ``pg_authid`` and no password can be
recovered from the file. The file is written atomically and readable by its owner only.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from policyengine.server.scram import SALT_LENGTH, ScramServer, derive_keys

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096  # PostgreSQL's default scram_iterations
DEFAULT_USERS_FILE = Path("policyengine-users.yaml")


class UsersFileError(ValueError):
    pass


@dataclass(frozen=True)
class Verifier:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def __str__(self) -> str:
        b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
        return f"{MECHANISM}${self.iterations}:{b64(self.salt)}${b64(self.stored_key)}:{b64(self.server_key)}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        try:
            mechanism, rest = text.split("$", 1)
            params, keys = rest.split("$", 1)
            iterations, salt = params.split(":", 1)
            stored_key, server_key = keys.split(":", 1)
            if mechanism != MECHANISM:
                raise ValueError(mechanism)
            return cls(base64.b64decode(salt, validate=True), base64.b64decode(stored_key, validate=True),
                       base64.b64decode(server_key, validate=True), int(iterations))
        except (ValueError, TypeError):
            raise UsersFileError("not a SCRAM-SHA-256 verifier") from None

    def exchange(self) -> ScramServer:
        """The server side of a SCRAM exchange against this verifier."""
        return ScramServer(self.salt, self.stored_key, self.server_key, self.iterations)


def make_verifier(password: str | bytes, iterations: int = ITERATIONS, salt: bytes | None = None) -> Verifier:
    """The verifier PostgreSQL's ``CREATE ROLE ... PASSWORD`` would store for this password, salt and
    iteration count (SASLprep first, raw bytes where PostgreSQL falls back to them: see scram.py), so
    that every PostgreSQL client, which prepares the password the same way, can log in with it."""
    if not password:
        raise UsersFileError("the password is empty")
    salt = os.urandom(SALT_LENGTH) if salt is None else salt
    stored_key, server_key = derive_keys(password, salt, iterations)
    return Verifier(salt, stored_key, server_key, iterations)


def load_users(path: str | Path) -> dict[str, Verifier]:
    """Principal name (lower case) -> verifier; a missing file has no users."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise UsersFileError(f"{path}: cannot be read ({type(error).__name__})") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise UsersFileError(f"{path}: expected a mapping 'users: {{name: verifier}}'")
    out: dict[str, Verifier] = {}
    for name, text in users.items():
        try:
            out[str(name).lower()] = Verifier.parse(str(text))
        except UsersFileError:
            raise UsersFileError(f"{path}: users.{name}: not a SCRAM-SHA-256 verifier") from None
    return out


def save_users(path: str | Path, users: dict[str, Verifier]) -> None:
    path = Path(path)
    text = yaml.safe_dump({"users": {name: str(v) for name, v in sorted(users.items())}}, sort_keys=False)
    handle, temporary = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write("# policyengine users: SCRAM-SHA-256 verifiers (no password can be recovered from them)\n")
            stream.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def set_password(path: str | Path, name: str, password: str | bytes) -> None:
    users = load_users(path)
    users[name.lower()] = make_verifier(password)
    save_users(path, users)


def remove_user(path: str | Path, name: str) -> bool:
    users = load_users(path)
    if users.pop(name.lower(), None) is None:
        return False
    save_users(path, users)
    return True
