"""The keyed protections' definitions in plain Python: key derivation, HMAC, tokens, encryption.

The SQL that the rewriter builds (:mod:`policyengine.rewrite.keyed`) must compute exactly what
these functions compute; the tests hold the two against each other. Key holders use
:func:`decrypt` (``policyengine decrypt``) to recover values encrypted by the ``encrypt`` kind.

Keys: one master key (``POLICYENGINE_KEY``, hex or base64, or a key file) from which a separate
key per purpose is derived, so a value hashed for one purpose cannot be matched with another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from policyengine import keyed_core
from policyengine.keyed_core import ENCRYPTED_PREFIX
from policyengine.keyed_core import HEX_DIGITS as HEX

PURPOSES = ("hash", "tokenize", "encrypt", "encrypt-iv")
MIN_KEY_BYTES = 16


class KeyError_(ValueError):
    """The key is missing or unusable; the message never contains key material."""


@dataclass(frozen=True)
class KeyMaterial:
    master: bytes

    def purpose_key(self, purpose: str) -> bytes:
        return keyed_core.purpose_key(self.master, purpose)

    def pads(self, purpose: str) -> tuple[bytes, bytes]:
        """HMAC's (K xor ipad, K xor opad) for a purpose: what the SQL construction needs."""
        key = self.purpose_key(purpose).ljust(64, b"\0")
        return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)

    def fingerprint(self) -> str:
        """Safe to log: identifies which key is in use without revealing it."""
        return hashlib.sha256(b"policyengine key fingerprint" + self.master).hexdigest()[:12]


def warehouse_key_file(keys: KeyMaterial) -> str:
    """The JSON a warehouse's secure functions read: the per-purpose keys derived from the master key,
    and its fingerprint, never the master key itself. Whoever reads it can compute the protections
    (as the engine can) but holds nothing the master key protects beyond them."""
    import json

    derived = {purpose: keys.purpose_key(purpose).hex() for purpose in PURPOSES}
    return json.dumps({"fingerprint": keys.fingerprint(), "keys": derived}, indent=2, sort_keys=True) + "\n"


def parse_key(text: str) -> KeyMaterial:
    text = text.strip()
    raw: bytes | None = None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None:
        raise KeyError_("the key must be hex or base64")
    if len(raw) < MIN_KEY_BYTES:
        raise KeyError_(f"the key must be at least {MIN_KEY_BYTES} bytes (got {len(raw)})")
    return KeyMaterial(raw)


#: the key file ``policyengine demo`` and ``policyengine keygen --save`` write, in the folder that holds
#: the policy set (beside ``policies/``, never inside it: the policy set is committed, the key is not)
KEY_FILE_NAME = "policyengine.key"


def key_file_beside(policies: str | Path) -> Path:
    """Where the key of the policy set in ``policies`` is looked for last, and where the demo writes one."""
    return Path(policies).resolve().parent / KEY_FILE_NAME


def _read_key_file(path: str | Path, origin: str) -> KeyMaterial:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise KeyError_(f"cannot read the key file {path} ({origin}): {error.strerror}") from None
    try:
        return parse_key(text)
    except KeyError_ as error:
        raise KeyError_(f"the key file {path} ({origin}): {error}") from None


def load_key(key_file: str | Path | None = None, environ: Mapping[str, str] | None = None, *,
             policies: str | Path | None = None) -> KeyMaterial | None:
    """The key for hash, tokenize and encrypt, or None if there is none. One order for every entry point:

    1. ``POLICYENGINE_KEY`` (hex or base64), 2. ``POLICYENGINE_KEY_FILE``, 3. ``key_file`` (the explicit
    option: ``--key-file``, ``key_file=``, the pytest ini setting), 4. :data:`KEY_FILE_NAME` beside the
    policy set ``policies``, as ``policyengine demo`` or ``keygen --save`` wrote it.

    The first of 1-3 that is set wins, but two of them naming different keys is an error rather than a
    silent choice: values hashed or tokenized under the other key would quietly stop matching. The file
    beside the policy set is read only when none of 1-3 is set.
    """
    env = os.environ if environ is None else environ
    configured: list[tuple[str, KeyMaterial]] = []
    if env.get("POLICYENGINE_KEY"):
        try:
            configured.append(("POLICYENGINE_KEY", parse_key(env["POLICYENGINE_KEY"])))
        except KeyError_ as error:
            raise KeyError_(f"POLICYENGINE_KEY: {error}") from None
    if env.get("POLICYENGINE_KEY_FILE"):
        path = env["POLICYENGINE_KEY_FILE"]
        configured.append((f"POLICYENGINE_KEY_FILE ({path})", _read_key_file(path, "POLICYENGINE_KEY_FILE")))
    if key_file:
        configured.append((f"the key file option ({key_file})", _read_key_file(key_file, "the key file option")))
    if configured:
        first_origin, first = configured[0]
        for origin, other in configured[1:]:
            if other.master != first.master:
                raise KeyError_(f"{first_origin} and {origin} name different keys: unset one of them")
        return first
    if policies is not None:
        beside = key_file_beside(policies)
        if beside.is_file():
            return _read_key_file(beside, "beside the policy set")
    return None


def generate_key() -> str:
    return os.urandom(32).hex()


def write_key_file(path: Path, key: str) -> None:
    """A new key file readable by its owner alone: created 0600, never widened by the umask or a race."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")


def hmac_hex(keys: KeyMaterial, purpose: str, message: bytes) -> str:
    return keyed_core.hmac_hex(keys.master, purpose, message)


def hash_text(keys: KeyMaterial, value: str) -> str:
    return keyed_core.hash_text(keys.master, value)


INTEGER_HASH_NIBBLES = {"TINYINT": 1, "SMALLINT": 3, "INTEGER": 7, "BIGINT": 15}
INTEGER_MAX = {"TINYINT": 2**7 - 1, "SMALLINT": 2**15 - 1, "INTEGER": 2**31 - 1, "BIGINT": 2**63 - 1}


def hash_integer(keys: KeyMaterial, value: int, sql_type: str) -> int:
    return keyed_core.hash_int(keys.master, value, INTEGER_HASH_NIBBLES[sql_type])


def tokenize_text(keys: KeyMaterial, value: str) -> str:
    return keyed_core.tokenize_text(keys.master, value)


def tokenize_integer(keys: KeyMaterial, value: int, sql_type: str) -> int:
    return keyed_core.tokenize_int(keys.master, value, INTEGER_MAX[sql_type])


def encrypt_text(keys: KeyMaterial, value: str) -> str:
    return keyed_core.encrypt_text(keys.master, value)


def decrypt(keys: KeyMaterial, token: str) -> str:
    """Recover a value encrypted by the ``encrypt`` kind; refuses tokens made with another key."""
    if not token.startswith(ENCRYPTED_PREFIX) or len(token) < len(ENCRYPTED_PREFIX) + 32:
        raise ValueError("not a policyengine encrypted value")
    body = token[len(ENCRYPTED_PREFIX):]
    iv, cipher = body[:32], body[32:]
    try:
        stream = keyed_core.keystream(keys.master, bytes.fromhex(iv), len(cipher))
        message = bytes.fromhex("".join(HEX[int(c, 16) ^ int(s, 16)] for c, s in zip(cipher, stream)))
        value = message.decode()
    except ValueError:
        raise ValueError("not a policyengine encrypted value, or another key made it") from None
    if hmac_hex(keys, "encrypt-iv", message)[:32] != iv:
        raise ValueError("the value was not encrypted with this key, or was altered")
    return value
