"""SCRAM-SHA-256 (RFC 5802/7677), server side, as PostgreSQL's ``auth-scram.c`` runs it, and the
password preparation (SASLprep, RFC 4013) exactly as PostgreSQL's ``src/common/saslprep.c`` does it.

**Why the exchange is not scramp's ``ScramServer``.** scramp (1.5.0, already a dependency; the fuzzer's
client uses it) cannot read what every PostgreSQL client sends first: ``n,,n=,r=<nonce>``, with an
empty user name, because PostgreSQL takes the user from the startup packet and ignores the SCRAM one
(auth-scram.c, read_client_first_message: "Read username.  Note: this is ignored."; libpq always sends
it empty). scramp's ``ScramServer.set_client_first`` parses the bare message with
``ClientFirstBare(Message)``, whose ``Message.__init__`` raises ``ScramException("Malformed
client_first_bare message. Attribute values must at least one character long")`` for ``v == ""``
(scramp/core.py, line 819 in 1.5.0), and its ``Username`` (built for ``n``) raises ``"The username
cannot be empty"`` (line 927). Its server takes no user name from outside: ``_set_client_first``
hands ``msg["n"]`` to ``auth_fn`` (lines 1085-1087). Substituting a name
into the message would change client-first-message-bare, which is part of the AuthMessage both sides
sign, so every proof would fail unless scramp's internal ``client_first_bare`` were overwritten
afterwards -- patching a library's private state in a login path. So the message handling below is
our own and follows auth-scram.c step by step (the same refusals, the same SQLSTATEs); the
cryptography is scramp's: ``scramp.utils.hi`` (PBKDF2), ``hmac``, ``h``, ``xor``, ``b64enc``.

**Why the SASLprep is not scramp's ``saslprep``.** A verifier we build must equal the one PostgreSQL
builds for the same password, salt and iterations (and libpq prepares the password the same way
before logging in), and scramp's ``scramp.utils.saslprep`` differs from ``pg_saslprep`` where it
matters: it raises on a prohibited character where PostgreSQL falls back to the password's raw bytes,
and returns "" for a password mapped to nothing, where PostgreSQL again hashes the raw bytes;
it drops U+200B (table B.1) before mapping non-ASCII spaces, where PostgreSQL maps it to a space (it
is in C.1.2 too and is tested first); it checks prohibited and bidirectional characters after NFKC
where PostgreSQL checks them on the mapped, not yet normalised, characters (saslprep.c steps 3 and 4
loop over ``input_chars``); and it normalises with Unicode 3.2 tables where PostgreSQL uses its own,
current ones (PostgreSQL 15 and Python 3.11 both use Unicode 14.0). ``ScramMechanism.make_auth_info``
also applies that saslprep, takes only ``str``, and refuses fewer than 4096 iterations or a salt
under 12 bytes, which a pg_authid verifier may have (PostgreSQL 16's ``scram_iterations``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as _std_hmac
import os
import stringprep
import unicodedata
from dataclasses import dataclass, field

from scramp.utils import b64enc, h, hi, hmac, xor

HASH = hashlib.sha256
KEY_LENGTH = 32  # SCRAM_SHA_256_KEY_LEN
SALT_LENGTH = 16  # SCRAM_DEFAULT_SALT_LEN
NONCE_BYTES = 18  # SCRAM_RAW_NONCE_LEN

#: channel-binding attribute of the client-final message when the client sent "n,," or "y,,"
_CBIND = {"n": "biws", "y": "eSws"}


class ScramFailed(Exception):
    """The exchange failed: a wrong password or an unknown user, said the same way (SQLSTATE 28P01)."""

    sqlstate = "28P01"


class ScramMalformed(ScramFailed):
    """A SCRAM message PostgreSQL refuses as malformed (08P01) or unsupported (0A000). The text is
    fixed: it never quotes the client's message, which may hold anything."""

    def __init__(self, text: str, sqlstate: str = "08P01"):
        super().__init__(text)
        self.sqlstate = sqlstate


# --- SASLprep, as pg_saslprep ------------------------------------------------------------------

def _prohibited(char: str) -> bool:
    """saslprep.c's prohibited_output_ranges (C.1.2, C.2.1-C.9) and unassigned_codepoint_ranges (A.1,
    Unicode 3.2), from Python's stringprep tables (RFC 3454's, generated from Unicode 3.2)."""
    return (stringprep.in_table_c12(char) or stringprep.in_table_c21_c22(char) or stringprep.in_table_c3(char)
            or stringprep.in_table_c4(char) or stringprep.in_table_c5(char) or stringprep.in_table_c6(char)
            or stringprep.in_table_c7(char) or stringprep.in_table_c8(char) or stringprep.in_table_c9(char)
            or stringprep.in_table_a1(char))


def saslprep(password: str | bytes) -> bytes:
    """The bytes PostgreSQL hashes for ``password``: pg_saslprep's result, or the raw bytes where
    PostgreSQL falls back to them (scram_build_secret: "If that doesn't work, because the password
    isn't valid UTF-8 or contains prohibited characters, just proceed with the original password").

    A ``str`` holding surrogate escapes (a command-line argument that was not UTF-8) stands for its
    original bytes. The order of the steps is saslprep.c's, including its checks on the mapped
    characters before normalisation.
    """
    if isinstance(password, bytes):
        raw = password
    else:
        try:
            raw = password.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that escapes no byte: never valid UTF-8
            raw = password.encode("utf-8", "surrogatepass")
    if raw.isascii():  # "An ASCII string requires no further processing."
        return raw
    try:
        text = raw.decode("utf-8")  # strict, as pg_utf8_islegal: no surrogates, no overlong forms
    except UnicodeDecodeError:
        return raw  # SASLPREP_INVALID_UTF8
    # 1) map: non-ASCII spaces (C.1.2, tested first) to a space; "commonly mapped to nothing" (B.1) dropped
    mapped = "".join(" " if stringprep.in_table_c12(c) else "" if stringprep.in_table_b1(c) else c for c in text)
    if not mapped:
        return raw  # "don't allow empty password"
    # 3) prohibit and 4) bidi, on the mapped characters, as saslprep.c does
    if any(_prohibited(c) for c in mapped):
        return raw
    if any(stringprep.in_table_d1(c) for c in mapped):
        if (any(stringprep.in_table_d2(c) for c in mapped) or not stringprep.in_table_d1(mapped[0])
                or not stringprep.in_table_d1(mapped[-1])):
            return raw
    # 2) normalise: NFKC with current Unicode tables, as unicode_normalize()
    return unicodedata.normalize("NFKC", mapped).encode("utf-8")


def derive_keys(password: str | bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) for a password, after SASLprep: what a verifier keeps instead of it."""
    salted = hi(HASH, saslprep(password), salt, iterations)
    return h(HASH, hmac(HASH, salted, b"Client Key")), hmac(HASH, salted, b"Server Key")


# --- the exchange ------------------------------------------------------------------------------

def _text(message: str | bytes) -> str:
    """The message as text that encodes back to the very bytes received (they are signed)."""
    if isinstance(message, bytes):
        return message.decode("utf-8", "surrogateescape")
    return message


def _read_attribute(message: str, position: int, expected: str | None) -> tuple[str, str, int]:
    """auth-scram.c's read_attr_value / read_any_attr: ``<letter>=<value>`` up to the next comma
    (consumed). Returns (letter, value, position after it)."""
    if position >= len(message):
        raise ScramMalformed("malformed SCRAM message (an attribute expected, found the end)")
    letter = message[position]
    if expected is not None and letter != expected:
        raise ScramMalformed(f'malformed SCRAM message (expected attribute "{expected}")')
    if expected is None and not (letter.isascii() and letter.isalpha()):
        raise ScramMalformed("malformed SCRAM message (attribute expected, but found invalid character)")
    if message[position + 1:position + 2] != "=":
        raise ScramMalformed("malformed SCRAM message (expected character \"=\")")
    end = message.find(",", position + 2)
    if end == -1:
        return letter, message[position + 2:], len(message)
    return letter, message[position + 2:end], end + 1


def _check_whole(message: str) -> None:
    if not message:
        raise ScramMalformed("malformed SCRAM message (empty message)")
    if "\0" in message:
        raise ScramMalformed("malformed SCRAM message (length mismatch)")


def _printable(nonce: str) -> bool:
    """is_scram_printable: 0x21-0x7E but the comma."""
    return all("\x21" <= c <= "\x7e" and c != "," for c in nonce)


@dataclass
class ScramServer:
    """One exchange against one verifier. ``doomed``: a mock exchange for a user without a verifier,
    run to the end (the proof is computed all the same) and then refused like a wrong password, so
    that a client cannot tell the two apart."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int
    doomed: bool = False
    nonce: str = ""
    cbind_flag: str = ""
    client_first_bare: str = ""
    server_first: str = ""
    _stage: int = field(default=0, repr=False)

    def first(self, client_first: str | bytes) -> str:
        """client-first-message -> server-first-message (read_client_first_message)."""
        if self._stage != 0:
            raise ScramMalformed("invalid SCRAM exchange state")
        message = _text(client_first)
        _check_whole(message)
        flag = message[0]
        if flag == "p":  # SCRAM-SHA-256-PLUS is not offered
            raise ScramMalformed("malformed SCRAM message (the client selected SCRAM-SHA-256 without channel "
                                 "binding, but the SCRAM message includes channel binding data)")
        if flag not in _CBIND:
            raise ScramMalformed("malformed SCRAM message (unexpected channel-binding flag)")
        if message[1:2] != ",":
            raise ScramMalformed("malformed SCRAM message (comma expected)")
        if message[2:3] == "a":
            raise ScramMalformed("client uses authorization identity, but it is not supported", "0A000")
        if message[2:3] != ",":
            raise ScramMalformed("malformed SCRAM message (unexpected attribute in client-first-message)")
        bare = message[3:]
        if bare[:1] == "m":
            raise ScramMalformed("client requires an unsupported SCRAM extension", "0A000")
        _, _ignored_user, position = _read_attribute(bare, 0, "n")  # the user is the startup packet's
        _, client_nonce, position = _read_attribute(bare, position, "r")
        if not _printable(client_nonce):  # an empty one is let through, as PostgreSQL does
            raise ScramMalformed("non-printable characters in SCRAM nonce")
        while position < len(bare):  # extensions: none supported, all ignored
            _, _, position = _read_attribute(bare, position, None)
        self.cbind_flag = flag
        self.client_first_bare = bare
        self.nonce = client_nonce + b64enc(os.urandom(NONCE_BYTES))
        self.server_first = f"r={self.nonce},s={b64enc(self.salt)},i={self.iterations}"
        self._stage = 1
        return self.server_first

    def final(self, client_final: str | bytes) -> str:
        """client-final-message -> server-final-message (read_client_final_message, then the nonce,
        then the proof); ScramFailed unless the proof holds."""
        if self._stage != 1:
            raise ScramMalformed("invalid SCRAM exchange state")
        self._stage = 2
        message = _text(client_final)
        _check_whole(message)
        _, binding, position = _read_attribute(message, 0, "c")
        if binding != _CBIND[self.cbind_flag]:
            raise ScramMalformed("unexpected SCRAM channel-binding attribute in client-final-message")
        _, final_nonce, position = _read_attribute(message, position, "r")
        letter = ""
        while letter != "p":  # extensions are ignored up to the proof
            proof_at = position
            letter, proof_b64, position = _read_attribute(message, position, None)
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ScramMalformed("malformed SCRAM message (malformed proof in client-final-message)") from None
        if len(proof) != KEY_LENGTH:
            raise ScramMalformed("malformed SCRAM message (malformed proof in client-final-message)")
        if position < len(message):
            raise ScramMalformed("malformed SCRAM message (garbage found at the end of client-final-message)")
        if not _std_hmac.compare_digest(final_nonce.encode("utf-8", "surrogateescape"),
                                        self.nonce.encode()):
            raise ScramMalformed("invalid SCRAM response (nonce mismatch)")
        without_proof = message[:proof_at - 1]
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode(
            "utf-8", "surrogateescape")
        client_key = xor(proof, hmac(HASH, self.stored_key, auth_message))
        if not _std_hmac.compare_digest(h(HASH, client_key), self.stored_key) or self.doomed:
            raise ScramFailed("wrong password")
        return "v=" + b64enc(hmac(HASH, self.server_key, auth_message))


_MOCK_SECRET = os.urandom(32)


def mock_exchange(user: str, iterations: int) -> ScramServer:
    """The exchange for a user with no verifier (mock_scram_secret): a salt that is the same for the
    same name on every attempt and differs between names, like a real user's, so the first answer
    does not tell whether the user exists; it fails at the proof."""
    salt = hmac(HASH, _MOCK_SECRET, user.encode("utf-8", "surrogatepass"))[:SALT_LENGTH]
    return ScramServer(salt, bytes(KEY_LENGTH), bytes(KEY_LENGTH), iterations, doomed=True)
