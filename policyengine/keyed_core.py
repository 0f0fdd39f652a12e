"""The keyed protections' algorithms, standard library only, on the master key's bytes or on the
per-purpose keys derived from it (a mapping of purpose to key, which is all the warehouse ever holds).

One definition serves three places: :mod:`policyengine.crypto` (local use, the oracle, decrypt),
the SQL the DuckDB rewrite builds (tested against it), and the handler of Snowflake's secure UDFs,
which is this module's source shipped as text (so it must stay self-contained).
"""

import hashlib
import hmac

HEX_DIGITS = "0123456789abcdef"
ENCRYPTED_PREFIX = "pe1:"


def purpose_key(master, purpose):
    """A separate key per purpose, so a value hashed for one purpose matches no token of another.

    ``master`` may already be the derived keys (purpose -> bytes): Snowflake's secure functions are
    given only those, so the master key never leaves the machines that hold it.
    """
    if isinstance(master, dict):
        return master[purpose]
    return hmac.new(master, ("policyengine %s v1" % purpose).encode(), hashlib.sha256).digest()


def hmac_hex(master, purpose, message):
    return hmac.new(purpose_key(master, purpose), message, hashlib.sha256).hexdigest()


def stream_byte(digest, index):
    position = (index % 32) * 2
    return int(digest[position:position + 2], 16)


def hash_text(master, value):
    return hmac_hex(master, "hash", value.encode())


def hash_int(master, value, nibbles):
    return int(hash_text(master, str(int(value)))[:int(nibbles)], 16)


def tokenize_text(master, value):
    digest = hmac_hex(master, "tokenize", value.encode())
    out = []
    for index, char in enumerate(value):
        byte = stream_byte(digest, index)
        if "0" <= char <= "9":
            out.append(chr(48 + byte % 10))
        elif "a" <= char <= "z":
            out.append(chr(97 + byte % 26))
        elif "A" <= char <= "Z":
            out.append(chr(65 + byte % 26))
        else:
            out.append(char)
    return "".join(out)


def tokenize_int(master, value, maximum):
    value = int(value)
    digits = str(abs(value))
    digest = hmac_hex(master, "tokenize", digits.encode())
    token = "".join(chr(49 + stream_byte(digest, i) % 9) if i == 0 else chr(48 + stream_byte(digest, i) % 10)
                    for i in range(len(digits)))
    number = int(token)
    if number > int(maximum):
        number %= int(maximum)
    return -number if value < 0 else number


def keystream(master, iv, length_hex):
    blocks = (length_hex + 63) // 64
    return "".join(hmac_hex(master, "encrypt", iv + str(j).encode()) for j in range(blocks))


def encrypt_text(master, value):
    message = value.encode().hex()
    iv = hmac_hex(master, "encrypt-iv", value.encode())[:32]
    stream = keystream(master, bytes.fromhex(iv), len(message))
    cipher = "".join(HEX_DIGITS[int(m, 16) ^ int(s, 16)] for m, s in zip(message, stream))
    return ENCRYPTED_PREFIX + iv + cipher
