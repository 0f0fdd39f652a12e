"""SCRAM-SHA-256 (RFC 5802/7677), server side, as PostgreSQL runs it.

Written here rather than taken from a library because PostgreSQL's clients send an empty user name
in the SCRAM messages (the user is in the startup packet), which strict implementations reject; and
because this is the login of a security product. Only what PostgreSQL uses: no channel binding
(SCRAM-SHA-256-PLUS is not offered), passwords as UTF-8 (no SASLprep).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass


class ScramFailed(Exception):
    """The exchange failed: a malformed message or a wrong password (said the same way to the client)."""


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def derive_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) for a password: what a verifier keeps instead of the password."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(_hmac(salted, b"Client Key")).digest()
    return stored_key, _hmac(salted, b"Server Key")


def _attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramFailed("malformed SCRAM attribute")
        out.setdefault(part[0], part[2:])
    return out


@dataclass
class ScramServer:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int
    nonce: str = ""
    client_first_bare: str = ""
    server_first: str = ""

    def first(self, client_first: str) -> str:
        """client-first-message -> server-first-message."""
        if not client_first.startswith(("n,", "y,")):
            raise ScramFailed("channel binding is not offered")
        parts = client_first.split(",", 2)
        if len(parts) != 3 or parts[1] != "":
            raise ScramFailed("malformed SCRAM client-first message")
        self.client_first_bare = parts[2]
        client_nonce = _attributes(self.client_first_bare).get("r", "")
        if not client_nonce or not client_nonce.isprintable():
            raise ScramFailed("malformed SCRAM nonce")
        self.nonce = client_nonce + base64.b64encode(os.urandom(18)).decode()
        self.server_first = f"r={self.nonce},s={base64.b64encode(self.salt).decode()},i={self.iterations}"
        self.gs2_header = client_first[: client_first.index(",", 2) + 1] if client_first[1] == "," else "n,,"
        return self.server_first

    def final(self, client_final: str) -> str:
        """client-final-message -> server-final-message; ScramFailed unless the proof holds."""
        if ",p=" not in client_final:
            raise ScramFailed("malformed SCRAM client-final message")
        without_proof, proof_b64 = client_final.rsplit(",p=", 1)
        attributes = _attributes(without_proof)
        if attributes.get("r") != self.nonce:
            raise ScramFailed("SCRAM nonce mismatch")
        if base64.b64decode(attributes.get("c", ""), validate=False) not in (b"n,,", b"y,,"):
            raise ScramFailed("channel binding is not offered")
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            raise ScramFailed("malformed SCRAM proof") from None
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        signature = _hmac(self.stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramFailed("malformed SCRAM proof")
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.stored_key):
            raise ScramFailed("wrong password")
        return "v=" + base64.b64encode(_hmac(self.server_key, auth_message)).decode()
