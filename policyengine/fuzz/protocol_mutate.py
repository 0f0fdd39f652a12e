"""Mutations of recorded PostgreSQL client sessions, for the front-door protocol fuzzer.

Everything here is pure and deterministic from a :class:`random.Random`: the fuzzer gives session
``i`` the generator ``Random(f"{seed}:{i}")``, so a failure reproduces from (seed, index) alone.

Two families of plans:

* :func:`mutate_session` takes the post-authentication frames of a recorded session (each a whole
  typed message: type byte, int32 length, payload) and returns the bytes to send, in the writes to
  send them in, with a description of every mutation. Semantic mutations (hostile but well-formed
  Bind values, flipped formats, swapped names, row limits, swapped queries) run first, while the
  frames still parse; then structural ones (reorder, repeat, drop Sync); then byte-level damage (bit
  flips, wrong lengths, type bytes); truncation last, since it ends the stream.
* :func:`preauth_plan` builds a script for the startup phase (startup packet, SSLRequest,
  GSSENCRequest, CancelRequest, SASL messages), mutated, because authentication bytes cannot be
  replayed (SCRAM depends on the server's nonce) and so are fuzzed on their own.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_3 = 196608
MAX_MESSAGE = 64 * 1024 * 1024  # the server's bound (policyengine.server.messages.MAX_MESSAGE)
MAX_STARTUP = 10_000

#: frontend message types (and a few backend ones a confused client might send)
FRONTEND_TYPES = b"BCDEFHPQSXcdfp"
OTHER_TYPES = b"ZTRDKNAGWsnt12\x00\xff"

#: queries that read protected columns and hidden rows: what a fuzzed session "might request"
HOSTILE_QUERIES = (
    'SELECT "UserID", "BirthYear", "Gender" FROM verified_reviews ORDER BY "ReviewID" LIMIT 5',
    'SELECT * FROM verified_reviews WHERE "Location" = \'US\' ORDER BY "ReviewID" LIMIT 5',
    'SELECT * FROM user_demographics ORDER BY "UserID" LIMIT 5',
    ('SELECT "Email", "Phone", "FullName", "City", "PostalCode", "Iban" FROM user_demographics '
     'WHERE "UserID" LIKE \'CANARY%\''),
    'SELECT "NationalID" FROM user_demographics',
    'SELECT "ReviewText", "UserID", "CreatedAt" FROM reviews WHERE "ReviewID" LIKE \'R-CANARY%\'',
    'SELECT r."UserID", u."Email" FROM reviews r JOIN user_demographics u ON r."UserID" = u."UserID" LIMIT 5',
    'COPY (SELECT * FROM user_demographics ORDER BY 1 LIMIT 5) TO STDOUT (FORMAT csv, HEADER)',
    "COPY user_demographics TO STDOUT (FORMAT binary)",
    'DECLARE fz BINARY CURSOR WITH HOLD FOR SELECT * FROM verified_reviews',
    "FETCH ALL FROM fz",
    'EXPLAIN SELECT * FROM user_demographics',
    'SELECT $1::text, "UserID" FROM verified_reviews WHERE "UserID" <> $2 ORDER BY 2 LIMIT 3',
    'SELECT "UserID" FROM verified_reviews WHERE "UserID" = $1',
    "SELECT string_agg(\"FullName\", ',') FROM user_demographics",
    "SELECT * FROM pg_catalog.pg_class LIMIT 3",
    "SELECT current_setting('application_name'), version()",
    "SET application_name = 'fz'; SHOW ALL",
    "BEGIN; SELECT 1/0; SELECT 1; ROLLBACK",
    "",
    ";;;",
)

#: a result of several megabytes: with a client that does not read, the server blocks writing it
BIG_QUERY = 'SELECT a.* FROM reviews a, reviews b LIMIT 40000'
SLOW_READER = 0.04  # the share of sessions that ask for BIG_QUERY and do not read for a while

#: parameter values a hostile client might bind: canary-ish strings, injection text, odd bytes
HOSTILE_VALUES: tuple[bytes | None, ...] = (
    b"CANARYUSER1", b"canaryuser", b"R-CANARY-NA", b"%CANARY%", b"' OR 1=1 --", b"1); DROP TABLE reviews; --",
    b"$1", b"\x00", b"\xff\xfe\xfd", b"", b"-1", b"99999999999999999999999999", b"NaN", b"1e309",
    b"2023-02-30", b"{1,2,3}", b"\\x00ff", b"x" * 70_000, None,
)

OIDS = (0, 16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 700, 701, 1042, 1043, 1082, 1083, 1114, 1184, 1186,
        1700, 2950, 3802, 1007, 1009, 1016, 1231, 3904, 705, 2249, -1, 0x7FFFFFFF)


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """A typed message: type byte, int32 length (including itself), payload."""
    return kind + struct.pack("!i", len(payload) + 4) + payload


def packet(code: int, payload: bytes = b"") -> bytes:
    """An untyped startup-phase packet: int32 length, int32 code, payload."""
    return struct.pack("!ii", len(payload) + 8, code) + payload


def startup_packet(parameters: dict[str, str] | list[tuple[bytes, bytes]], code: int = PROTOCOL_3) -> bytes:
    items = parameters.items() if isinstance(parameters, dict) else parameters
    body = b"".join((k if isinstance(k, bytes) else k.encode()) + b"\0" + (v if isinstance(v, bytes) else v.encode())
                    + b"\0" for k, v in items)
    return packet(code, body + b"\0")


def split_frames(data: bytes) -> list[bytes]:
    """Whole typed messages from a byte stream (a trailing partial message is dropped)."""
    out, offset = [], 0
    while offset + 5 <= len(data):
        (length,) = struct.unpack("!i", data[offset + 1:offset + 5])
        if length < 4 or offset + 1 + length > len(data):
            break
        out.append(data[offset:offset + 1 + length])
        offset += 1 + length
    return out


def startup_parameters(startup: bytes) -> dict[str, str]:
    """The key/value pairs of a StartupMessage packet (for reading the corpus, not for the server)."""
    parts = startup[8:].split(b"\0")
    params: dict[str, str] = {}
    for key, value in zip(parts[0::2], parts[1::2]):
        if not key:
            break
        params[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return params


# --- parsing and building the extended-protocol messages the semantic mutations rewrite ---------------

@dataclass
class Bind:
    portal: bytes
    statement: bytes
    param_formats: list[int]
    values: list[bytes | None]
    result_formats: list[int]

    def build(self) -> bytes:
        out = [self.portal, b"\0", self.statement, b"\0", struct.pack("!h", len(self.param_formats)),
               struct.pack(f"!{len(self.param_formats)}h", *self.param_formats), struct.pack("!h", len(self.values))]
        for value in self.values:
            out.append(struct.pack("!i", -1) if value is None else struct.pack("!i", len(value)) + value)
        out.append(struct.pack("!h", len(self.result_formats)))
        out.append(struct.pack(f"!{len(self.result_formats)}h", *self.result_formats))
        return frame(b"B", b"".join(out))


def parse_bind(message: bytes) -> Bind | None:
    """A Bind frame's fields, or None if it does not parse (an already damaged frame)."""
    if message[:1] != b"B":
        return None
    try:
        payload = message[5:]
        end = payload.index(b"\0")
        portal = payload[:end]
        stop = payload.index(b"\0", end + 1)
        statement, offset = payload[end + 1:stop], stop + 1
        (nf,) = struct.unpack_from("!h", payload, offset)
        formats = list(struct.unpack_from(f"!{nf}h", payload, offset + 2))
        offset += 2 + 2 * nf
        (nv,) = struct.unpack_from("!h", payload, offset)
        offset += 2
        values: list[bytes | None] = []
        for _ in range(nv):
            (length,) = struct.unpack_from("!i", payload, offset)
            offset += 4
            if length < 0:
                values.append(None)
            else:
                values.append(payload[offset:offset + length])
                offset += length
        (nr,) = struct.unpack_from("!h", payload, offset)
        results = list(struct.unpack_from(f"!{nr}h", payload, offset + 2))
    except (ValueError, struct.error):
        return None
    return Bind(portal, statement, formats, values, results)


def parse_parse(message: bytes) -> tuple[bytes, bytes, list[int]] | None:
    """(statement name, SQL, parameter OIDs) of a Parse frame, or None."""
    if message[:1] != b"P":
        return None
    try:
        payload = message[5:]
        end = payload.index(b"\0")
        stop = payload.index(b"\0", end + 1)
        (count,) = struct.unpack_from("!h", payload, stop + 1)
        oids = list(struct.unpack_from(f"!{count}i", payload, stop + 3))
        return payload[:end], payload[end + 1:stop], oids
    except (ValueError, struct.error):
        return None


def build_parse(name: bytes, sql: bytes, oids: list[int], count: int | None = None) -> bytes:
    count = len(oids) if count is None else count
    return frame(b"P", name + b"\0" + sql + b"\0" + struct.pack("!h", count) + b"".join(struct.pack("!i", o)
                                                                                      for o in oids))


# --- plans -----------------------------------------------------------------------------------------

@dataclass
class Plan:
    """What a mutated post-authentication session sends: ``writes`` in order, as separate writes."""

    writes: list[bytes]
    description: list[str] = field(default_factory=list)
    pause_every: int = 0  # sleep briefly after every n-th write (tiny chunks reach the server apart)
    read_after: float = 0.0  # a slow reader: read nothing of the answers for this long

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)


Mutator = Callable[[random.Random, list[bytes]], tuple[list[bytes], str] | None]


def _pick(rng: random.Random, frames: list[bytes], kinds: bytes | None = None) -> int | None:
    candidates = [i for i, f in enumerate(frames) if f and (kinds is None or f[:1] in [bytes([k]) for k in kinds])]
    return rng.choice(candidates) if candidates else None


def _label(frames: list[bytes], index: int) -> str:
    kind = frames[index][:1]
    return f"frame {index} ({kind.decode('latin-1')!r})" if kind else f"frame {index}"


# semantic mutations (well-formed, hostile)

def m_param_values(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    binds = [i for i, f in enumerate(frames) if (b := parse_bind(f)) is not None and b.values]
    if not binds:
        return None
    i = rng.choice(binds)
    bind = parse_bind(frames[i])
    assert bind is not None
    slot = rng.randrange(len(bind.values))
    value = rng.choice(HOSTILE_VALUES)
    bind.values[slot] = value
    shown = "NULL" if value is None else repr(value[:24]) + ("..." if len(value) > 24 else "")
    frames[i] = bind.build()
    return frames, f"bind value {slot} of {_label(frames, i)} = {shown}"


def m_result_formats(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    binds = [i for i, f in enumerate(frames) if parse_bind(f) is not None]
    if not binds:
        return None
    i = rng.choice(binds)
    bind = parse_bind(frames[i])
    assert bind is not None
    choice = rng.choice([[], [0], [1], [1] * rng.randint(2, 8), [0, 1] * rng.randint(1, 4), [2], [-1],
                         [1] * 300, [bind.result_formats[0] ^ 1] if bind.result_formats else [1]])
    bind.result_formats = choice
    frames[i] = bind.build()
    return frames, f"result formats of {_label(frames, i)} = {choice[:8]}{'...' if len(choice) > 8 else ''}"


def m_param_formats(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    binds = [i for i, f in enumerate(frames) if parse_bind(f) is not None]
    if not binds:
        return None
    i = rng.choice(binds)
    bind = parse_bind(frames[i])
    assert bind is not None
    n = len(bind.values)
    choice = rng.choice([[1], [0], [1] * n, [0] * (n + 1), [2], [-1], [1, 0] * n])
    bind.param_formats = choice
    frames[i] = bind.build()
    return frames, f"parameter formats of {_label(frames, i)} = {choice[:8]}"


def m_param_count(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    binds = [i for i, f in enumerate(frames) if parse_bind(f) is not None]
    if not binds:
        return None
    i = rng.choice(binds)
    bind = parse_bind(frames[i])
    assert bind is not None
    if bind.values and rng.random() < 0.5:
        bind.values = bind.values[:-1]
    else:
        bind.values = bind.values + [rng.choice(HOSTILE_VALUES[:8])] * rng.randint(1, 3)
    frames[i] = bind.build()
    return frames, f"{_label(frames, i)} binds {len(bind.values)} values"


def m_parse_types(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames, b"P")
    parsed = parse_parse(frames[i]) if i is not None else None
    if parsed is None:
        return None
    name, sql, oids = parsed
    n = max(1, len(oids), sql.count(b"$"))
    new = [rng.choice(OIDS) for _ in range(n)]
    count = rng.choice([len(new), len(new), len(new) + 3, -1, 0x7FFF])
    frames[i] = build_parse(name, sql, new, count)
    return frames, f"parameter types of {_label(frames, i)} = {new[:6]} (count {count})"


def m_names(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    """Swap statement/portal names: to another name seen in the session, unknown, long or not UTF-8."""
    i = _pick(rng, frames, b"PBDEC")
    if i is None:
        return None
    seen = set()
    for f in frames:
        if f[:1] in (b"P", b"E"):
            seen.add(f[5:].split(b"\0", 1)[0])
        elif f[:1] in (b"D", b"C"):
            seen.add(f[6:].split(b"\0", 1)[0])
        elif (b := parse_bind(f)) is not None:
            seen.update((b.portal, b.statement))
    name = rng.choice(sorted(seen) + [b"", b"nope", b"fz", b"S_1", b"n" * 5000, b"\xff\xfe", b"C_1"])
    f = frames[i]
    kind = f[:1]
    if kind in (b"P", b"E"):
        rest = f[5:].split(b"\0", 1)
        payload = name + b"\0" + (rest[1] if len(rest) > 1 else b"")
    elif kind in (b"D", b"C"):
        target = rng.choice([f[5:6], b"S", b"P", b"X"])
        payload = target + name + b"\0"
    else:
        bind = parse_bind(f)
        if bind is None:
            return None
        if rng.random() < 0.5:
            bind.portal = name
        else:
            bind.statement = name
        frames[i] = bind.build()
        return frames, f"names of {_label(frames, i)} -> {name[:20]!r}"
    frames[i] = frame(kind, payload)
    return frames, f"name of {_label(frames, i)} -> {name[:20]!r}"


def m_row_limit(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames, b"E")
    if i is None:
        return None
    portal = frames[i][5:].split(b"\0", 1)[0]
    limit = rng.choice([1, 2, 3, 0, -1, 0x7FFFFFFF, -(2 ** 31)])
    frames[i] = frame(b"E", portal + b"\0" + struct.pack("!i", limit))
    if limit in (1, 2, 3) and rng.random() < 0.6:  # keep executing the suspended portal
        frames[i + 1:i + 1] = [frames[i]] * rng.randint(1, 4)
    return frames, f"Execute {_label(frames, i)} with row limit {limit}"


def m_query(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames, b"QP")
    if i is None:
        return None
    sql = rng.choice(HOSTILE_QUERIES).encode()
    if frames[i][:1] == b"Q":
        frames[i] = frame(b"Q", sql + b"\0")
    else:
        parsed = parse_parse(frames[i])
        name = parsed[0] if parsed else b""
        frames[i] = build_parse(name, sql, [])
    return frames, f"query of {_label(frames, i)} -> {sql[:60].decode()!r}"


def m_foreign(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    """Insert a message a client should not send here: function call, COPY data, a password, a
    second startup packet, an SSLRequest, an empty or NUL-only query, random payloads."""
    choice = rng.choice([
        frame(b"F", struct.pack("!ih", 1234, 0) + struct.pack("!hh", 0, 0)),
        frame(b"d", b"1\t2\n"), frame(b"c"), frame(b"f", b"boom\0"), frame(b"p", b"password\0"),
        startup_packet({"user": "frank", "database": "demo"}), packet(SSL_REQUEST), frame(b"Q", b"\0"),
        frame(b"Q", b"\0" * 64), frame(b"Q", b""), frame(b"H"), frame(b"S"),
        frame(bytes([rng.randrange(256)]), rng.randbytes(rng.randint(0, 64))),
        frame(b"D", b"Q"), frame(b"C", b"Z\0"), frame(b"E", b"\0"), frame(b"B", b"\0\0"),
    ])
    at = rng.randint(0, len(frames))
    frames.insert(at, choice)
    return frames, f"insert {choice[:12]!r}... at {at}"


# structural mutations

def m_reorder(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    if len(frames) < 2:
        return None
    how = rng.choice(["swap", "shuffle", "reverse", "move"])
    if how == "swap":
        a, b = rng.sample(range(len(frames)), 2)
        frames[a], frames[b] = frames[b], frames[a]
        return frames, f"swap frames {a} and {b}"
    start = rng.randrange(len(frames) - 1)
    end = min(len(frames), start + rng.randint(2, 6))
    window = frames[start:end]
    if how == "shuffle":
        rng.shuffle(window)
    elif how == "reverse":
        window.reverse()
    else:
        window = window[1:] + window[:1]
    frames[start:end] = window
    return frames, f"{how} frames {start}..{end - 1}"


def m_duplicate(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames)
    if i is None:
        return None
    times = rng.choice([2, 3, 5, 20, 50])
    if len(frames[i]) * times > 2_000_000:
        times = 2
    frames[i + 1:i + 1] = [frames[i]] * (times - 1)
    return frames, f"repeat {_label(frames, i)} x{times}"


def m_repeat_block(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    if len(frames) < 2:
        return None
    start = rng.randrange(len(frames) - 1)
    end = min(len(frames), start + rng.randint(2, 8))
    times = rng.randint(2, 5)
    frames[start:end] = frames[start:end] * times
    return frames, f"repeat frames {start}..{end - 1} x{times}"


def m_drop_sync(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    syncs = [i for i, f in enumerate(frames) if f[:1] == b"S"]
    if not syncs:
        return None
    if rng.random() < 0.5:
        return [f for f in frames if f[:1] != b"S"], f"drop all {len(syncs)} Syncs"
    i = rng.choice(syncs)
    del frames[i]
    return frames, f"drop the Sync at {i}"


def m_drop(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames)
    if i is None:
        return None
    label = _label(frames, i)
    del frames[i]
    return frames, f"drop {label}"


# byte-level damage

def m_bit_flip(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames)
    if i is None:
        return None
    data = bytearray(frames[i])
    bits = sorted(rng.sample(range(len(data) * 8), min(len(data) * 8, rng.choice([1, 1, 2, 3, 8]))))
    for bit in bits:
        data[bit // 8] ^= 1 << (bit % 8)
    label = _label(frames, i)
    frames[i] = bytes(data)
    return frames, f"flip bits {bits[:8]} of {label}"


def m_insert_bytes(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames)
    if i is None:
        return None
    at = rng.randint(0, len(frames[i]))
    junk = rng.randbytes(rng.randint(1, 16))
    label = _label(frames, i)
    frames[i] = frames[i][:at] + junk + frames[i][at:]
    return frames, f"insert {len(junk)} bytes at {at} of {label}"


def m_delete_bytes(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames)
    if i is None or len(frames[i]) < 2:
        return None
    at = rng.randrange(len(frames[i]))
    n = rng.randint(1, 16)
    label = _label(frames, i)
    frames[i] = frames[i][:at] + frames[i][at + n:]
    return frames, f"delete {n} bytes at {at} of {label}"


LENGTHS = {
    "too small": lambda n: [0, 1, 2, 3, 4, max(4, n - 1), max(4, n // 2)],
    "too large": lambda n: [n + 1, n + 2, n + 100, n + 65_536],
    "negative": lambda n: [-1, -4, -(2 ** 31), -n],
    "huge": lambda n: [0x7FFFFFFF, MAX_MESSAGE, MAX_MESSAGE + 1, 2 ** 30, 0x40000000 - 1],
}


def m_length(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames)
    if i is None or len(frames[i]) < 5:
        return None
    which = rng.choice(sorted(LENGTHS))
    n = struct.unpack("!i", frames[i][1:5])[0]
    value = rng.choice(LENGTHS[which](n))
    label = _label(frames, i)
    frames[i] = frames[i][:1] + struct.pack("!i", value) + frames[i][5:]
    return frames, f"length of {label} {which}: {value}"


def m_type(rng: random.Random, frames: list[bytes]) -> tuple[list[bytes], str] | None:
    i = _pick(rng, frames)
    if i is None:
        return None
    kind = bytes([rng.choice(FRONTEND_TYPES + OTHER_TYPES + bytes([rng.randrange(256)]))])
    label = _label(frames, i)
    frames[i] = kind + frames[i][1:]
    return frames, f"type of {label} -> {kind!r}"


SEMANTIC: list[Mutator] = [m_param_values, m_result_formats, m_param_formats, m_param_count, m_parse_types,
                           m_names, m_row_limit, m_query, m_foreign]
STRUCTURAL: list[Mutator] = [m_reorder, m_duplicate, m_repeat_block, m_drop_sync, m_drop]
BYTES: list[Mutator] = [m_bit_flip, m_insert_bytes, m_delete_bytes, m_length, m_type]
MUTATORS: dict[str, Mutator] = {m.__name__[2:]: m for m in SEMANTIC + STRUCTURAL + BYTES}


def _truncate(rng: random.Random, data: bytes, frames: list[bytes]) -> tuple[bytes, str]:
    """Cut the stream inside a message: in its length field, or in its payload."""
    starts, offset = [], 0
    for f in frames:
        starts.append(offset)
        offset += len(f)
    i = rng.randrange(len(frames))
    if rng.random() < 0.4 and len(frames[i]) >= 5:
        cut = starts[i] + rng.randint(1, 4)
        return data[:cut], f"truncate mid-length of {_label(frames, i)} (at byte {cut})"
    cut = starts[i] + rng.randint(1, max(1, len(frames[i]) - 1))
    return data[:cut], f"truncate mid-message {_label(frames, i)} (at byte {cut})"


def mutate_session(rng: random.Random, frames: list[bytes]) -> Plan:
    """A mutated copy of a recorded post-authentication session, and how to deliver it."""
    frames = list(frames)
    count = rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
    chosen = [rng.choice([SEMANTIC, SEMANTIC, STRUCTURAL, BYTES, BYTES]) for _ in range(count)]
    description: list[str] = []
    for family in (SEMANTIC, STRUCTURAL, BYTES):
        for picked in chosen:
            if picked is not family:
                continue
            for _ in range(4):  # a mutator that does not apply (no Bind, say): try another of the family
                result = rng.choice(family)(rng, frames)
                if result is not None:
                    frames, said = result
                    description.append(said)
                    break
    read_after = 0.0
    if rng.random() < SLOW_READER:
        at = rng.randint(0, len(frames))
        frames.insert(at, frame(b"Q", BIG_QUERY.encode() + b"\0"))
        read_after = 2.0
        description.append(f"slow reader: a multi-megabyte query at {at}, answers unread for 2 s")
    data = b"".join(frames)
    if frames and rng.random() < 0.12:
        data, said = _truncate(rng, data, frames)
        description.append(said)
    if not description:
        description.append("unmutated replay")
    delivery = rng.choices(["frames", "coalesced", "chunks"], weights=[55, 25, 20])[0]
    if delivery == "coalesced":
        writes = [data]
        description.append("delivered in one write")
    elif delivery == "chunks":
        writes, offset = [], 0
        top = rng.choice([1, 3, 7])
        while offset < len(data):
            size = rng.randint(1, top) if offset < 20_000 else 4096  # tiny chunks, then faster
            writes.append(data[offset:offset + size])
            offset += size
        description.append(f"delivered in chunks of 1..{top} bytes")
        return Plan(writes, description, pause_every=16, read_after=read_after)
    else:
        writes = _regroup(data, frames)
    return Plan(writes, description, read_after=read_after)


def _regroup(data: bytes, frames: list[bytes]) -> list[bytes]:
    """One write per (mutated) frame, as a client writes them; a truncated tail stays one write."""
    writes, offset = [], 0
    for f in frames:
        if offset >= len(data):
            break
        writes.append(data[offset:offset + len(f)])
        offset += len(f)
    return [w for w in writes if w]


# --- the startup phase -------------------------------------------------------------------------------

@dataclass
class Step:
    """One step of a pre-authentication script.

    ``send``: write ``data``. ``answer``: read the one-byte answer to SSLRequest/GSSENCRequest and, if
    it is ``S`` and ``tls`` is set, do the TLS handshake. ``sasl``: read until AuthenticationSASL.
    ``scram``: run a real SCRAM exchange as ``user`` (the recorded principal), sending
    ``mutate_final`` applied to the client-final message; ``login``: a whole, correct login followed by
    Terminate (a mutated startup that still logs in must leave a working session; with
    ``must_succeed``, one that a correct server accepts: TLS, a declined GSSENCRequest, protocol 3.x).
    """

    action: str
    data: bytes = b""
    tls: bool = False
    mutate_final: Callable[[bytes], bytes] | None = None
    must_succeed: bool = False  # a ``login`` that a correct server accepts (TLS, GSS declined, 3.x)


@dataclass
class PreAuthPlan:
    steps: list[Step]
    description: list[str]


def _damage(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Byte-level damage to an untyped packet (length at offset 0)."""
    how = rng.choice(["flip", "insert", "delete", "truncate", "length", "length"])
    buf = bytearray(data)
    if how == "flip":
        bits = sorted(rng.sample(range(len(buf) * 8), min(len(buf) * 8, rng.choice([1, 2, 5]))))
        for bit in bits:
            buf[bit // 8] ^= 1 << (bit % 8)
        return bytes(buf), f"flip bits {bits}"
    if how == "insert":
        at = rng.randint(0, len(buf))
        return bytes(buf[:at]) + rng.randbytes(rng.randint(1, 12)) + bytes(buf[at:]), f"insert bytes at {at}"
    if how == "delete":
        at = rng.randrange(len(buf))
        return bytes(buf[:at]) + bytes(buf[at + rng.randint(1, 8):]), f"delete bytes at {at}"
    if how == "truncate":
        cut = rng.randint(1, len(buf) - 1) if len(buf) > 1 else 0
        return bytes(buf[:cut]), f"truncate at {cut}" + (" (mid-length)" if cut < 4 else "")
    n = len(data)
    value = rng.choice([0, 3, 4, 7, 8, n - 1, n + 1, n + 100, MAX_STARTUP, MAX_STARTUP + 1, -1, -(2 ** 31),
                        0x7FFFFFFF, MAX_MESSAGE])
    return struct.pack("!i", value) + data[4:], f"length {value} (really {n})"


def _mutate_sasl_initial(rng: random.Random, initial: bytes) -> tuple[bytes, str]:
    """A damaged SASLInitialResponse: mechanism, length field, client-first text, or the frame."""
    payload = initial[5:]
    try:
        end = payload.index(b"\0")
        mechanism, rest = payload[:end], payload[end + 1:]
        first = rest[4:]
    except ValueError:
        mechanism, first = b"SCRAM-SHA-256", b"n,,n=,r=abc"
    how = rng.choice(["mechanism", "length", "first", "frame", "type", "no-nul"])
    if how == "mechanism":
        mechanism = rng.choice([b"SCRAM-SHA-1", b"PLAIN", b"", b"SCRAM-SHA-256-PLUS", b"\xff" * 8, b"x" * 4000])
        said = f"mechanism {mechanism[:20]!r}"
        length = len(first)
    elif how == "length":
        length = rng.choice([-1, -2, 0, len(first) + 1, len(first) + 1000, 0x7FFFFFFF, max(0, len(first) - 5)])
        said = f"SASL data length {length} (really {len(first)})"
    elif how == "first":
        first = rng.choice([
            b"p=tls-server-end-point,,n=,r=abcdef", b"y,,n=,r=abcdef", b"n,a=frank,n=,r=abcdef", b"n,,n=,r=",
            b"n,,n=,r=ab\x01cd", b"n,,", b"n,,r", b"n,,n=,r=abc,e=x", b"\xff\xfe\xfd", b"", b"n,,=,=,=",
            b"n,,n=," + b"r=" + b"A" * 9000, b"n", b"n,,m=ext,r=abc",
        ])
        said = f"client-first {first[:30]!r}"
        length = len(first)
    elif how == "frame":
        damaged, said = _damage(rng, initial[1:])
        return initial[:1] + damaged, f"SASLInitialResponse {said}"
    elif how == "type":
        kind = bytes([rng.choice(b"QXSpPBF\x00")])
        return kind + initial[1:], f"SASLInitialResponse with type {kind!r}"
    else:
        return frame(b"p", mechanism + first), "SASLInitialResponse without the NUL after the mechanism"
    return frame(b"p", mechanism + b"\0" + struct.pack("!i", length) + first), f"SASLInitialResponse {said}"


def _final_mutator(rng: random.Random) -> tuple[Callable[[bytes], bytes], str]:
    """How to damage the SCRAM client-final message (the proof, the nonce, the framing)."""
    how = rng.choice(["proof", "nonce", "no-proof", "binding", "garbage", "flip", "empty", "long"])
    if how == "proof":
        return (lambda m: m.rsplit(b",p=", 1)[0] + b",p=" + b"A" * 44), "wrong proof"
    if how == "nonce":
        return (lambda m: m.replace(b"r=", b"r=x", 1)), "changed nonce"
    if how == "no-proof":
        return (lambda m: m.rsplit(b",p=", 1)[0]), "no proof"
    if how == "binding":
        return (lambda m: m.replace(b"c=biws", b"c=cD10bHMtdW5pcXVlLCw=", 1)), "channel binding data"
    if how == "garbage":
        return (lambda m: m.rsplit(b",p=", 1)[0] + b",p=!!!not base64!!!"), "proof not base64"
    if how == "flip":
        position = rng.randrange(64)
        return (lambda m: m[:position % len(m)] + bytes([m[position % len(m)] ^ 0x20]) + m[position % len(m) + 1:]), \
            f"flip a byte at {position}"
    if how == "empty":
        return (lambda m: b""), "empty client-final"
    return (lambda m: m + b"," + b"x=" + b"y" * 100_000), "client-final with 100 kB extension"


def preauth_plan(rng: random.Random, startup: bytes, sasl_initial: bytes | None, user: str) -> PreAuthPlan:
    """A mutated startup phase, built from a recorded startup packet and SASLInitialResponse."""
    initial = sasl_initial or frame(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", 32) + b"n,,n=,r=" + b"fuzzfuzz" * 3)
    params = startup_parameters(startup)
    kind = rng.choice(["startup", "startup", "version", "params", "ssl", "ssl", "gss", "cancel", "garbage",
                       "sasl-initial", "sasl-initial", "sasl-final", "sasl-final"])
    if kind == "startup":
        damaged, said = _damage(rng, startup)
        return PreAuthPlan([Step("send", damaged)], [f"startup packet: {said}"])
    if kind == "version":
        code = rng.choice([PROTOCOL_3, PROTOCOL_3 + 1, PROTOCOL_3 + 2, PROTOCOL_3 + 99, 0x2_0000, 0x1_0000, 0,
                           -1, 0x7FFFFFFF, SSL_REQUEST + 3, CANCEL_REQUEST - 1, 0x4_0000])
        extra = {"_pq_.protocol_managed_portals": "on", "_pq_.x": "y"} if rng.random() < 0.5 else {}
        packet_ = startup_packet({**params, **extra}, code)
        steps = [Step("send", packet_)]
        if code >> 16 == 3:
            steps.append(Step("login", must_succeed=True))
        return PreAuthPlan(steps, [f"protocol version {code >> 16}.{code & 0xFFFF}"
                                   + (" with _pq_ options" if extra else "")])
    if kind == "params":
        variants: list[tuple[str, bytes]] = [
            ("no user", startup_packet({k: v for k, v in params.items() if k != "user"})),
            ("empty user", startup_packet({**params, "user": ""})),
            ("unknown user", startup_packet({**params, "user": "mallory"})),
            ("user not UTF-8", startup_packet([(b"user", b"b\xffb"), (b"database", b"demo")])),
            ("user twice", startup_packet([(b"user", b"frank"), (b"user", user.encode()), (b"database", b"demo")])),
            ("500 parameters", startup_packet([(b"user", user.encode())] + [(b"k%d" % i, b"v") for i in range(500)])),
            ("no final NUL", startup_packet(params)[:-1]),
            ("keys only", packet(PROTOCOL_3, b"user\0")),
            ("empty body", packet(PROTOCOL_3)),
            ("value near the size limit", startup_packet({**params, "application_name": "a" * 9_900})),
            ("over the size limit", startup_packet({**params, "application_name": "a" * 10_100})),
            ("replication and options", startup_packet({**params, "replication": "database",
                                                        "options": "-c search_path=evil"})),
            ("client_encoding LATIN1", startup_packet({**params, "client_encoding": "LATIN1"})),
        ]
        said, packet_ = rng.choice(variants)
        steps = [Step("send", packet_)]
        if said in ("replication and options", "client_encoding LATIN1", "value near the size limit", "user twice"):
            steps.append(Step("login"))
        return PreAuthPlan(steps, [f"startup parameters: {said}"])
    if kind == "ssl":
        variant = rng.choice(["tls", "tls-damaged", "plaintext-after-S", "twice", "long", "then-close",
                              "then-garbage", "after-gss"])
        ssl = packet(SSL_REQUEST)
        if variant == "tls":
            return PreAuthPlan([Step("send", ssl), Step("answer", tls=True), Step("send", startup),
                                Step("login", must_succeed=True)], ["SSLRequest, TLS, startup and login"])
        if variant == "tls-damaged":
            damaged, said = _damage(rng, startup)
            return PreAuthPlan([Step("send", ssl), Step("answer", tls=True), Step("send", damaged)],
                               [f"SSLRequest, TLS, then a damaged startup: {said}"])
        if variant == "plaintext-after-S":
            return PreAuthPlan([Step("send", ssl), Step("answer"), Step("send", startup)],
                               ["SSLRequest, then plaintext where the TLS handshake belongs"])
        if variant == "twice":
            return PreAuthPlan([Step("send", ssl + ssl)], ["two SSLRequests in one write"])
        if variant == "long":
            return PreAuthPlan([Step("send", struct.pack("!ii", 12, SSL_REQUEST) + b"\0\0\0\0" + startup)],
                               ["SSLRequest with 4 extra bytes"])
        if variant == "then-close":
            return PreAuthPlan([Step("send", ssl)], ["SSLRequest, then nothing"])
        if variant == "then-garbage":
            return PreAuthPlan([Step("send", ssl), Step("answer"), Step("send", rng.randbytes(rng.randint(1, 300)))],
                               ["SSLRequest, then random bytes"])
        return PreAuthPlan([Step("send", packet(GSSENC_REQUEST)), Step("answer"), Step("send", ssl),
                            Step("answer", tls=True), Step("send", startup), Step("login", must_succeed=True)],
                           ["GSSENCRequest, SSLRequest, TLS and login"])
    if kind == "gss":
        variant = rng.choice(["then-startup", "twice", "long", "short"])
        gss = packet(GSSENC_REQUEST)
        if variant == "then-startup":
            return PreAuthPlan([Step("send", gss), Step("answer"), Step("send", startup),
                                Step("login", must_succeed=True)],
                               ["GSSENCRequest, then startup and login"])
        if variant == "twice":
            return PreAuthPlan([Step("send", gss + gss + startup)], ["two GSSENCRequests and startup in one write"])
        if variant == "long":
            return PreAuthPlan([Step("send", struct.pack("!ii", 16, GSSENC_REQUEST) + b"\0" * 8)],
                               ["GSSENCRequest with 8 extra bytes"])
        return PreAuthPlan([Step("send", struct.pack("!i", 8) + struct.pack("!i", GSSENC_REQUEST)[:2])],
                           ["GSSENCRequest cut short"])
    if kind == "cancel":
        length = rng.choice([16, 16, 12, 8, 20, 24, 40, 264])
        body = rng.randbytes(max(0, length - 8))
        return PreAuthPlan([Step("send", struct.pack("!ii", length, CANCEL_REQUEST) + body)],
                           [f"CancelRequest of length {length} with a random key"])
    if kind == "garbage":
        prefix = rng.choice([
            rng.randbytes(rng.randint(1, 64)), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            bytes.fromhex("16030100a5010000a10303") + rng.randbytes(40),  # a TLS ClientHello, no SSLRequest
            frame(b"Q", b"SELECT 1\0"), b"\0" * 16, b"\xff" * 16, struct.pack("!i", 8),
        ])
        return PreAuthPlan([Step("send", prefix + startup)], [f"garbage before startup: {prefix[:16]!r}..."])
    if kind == "sasl-initial":
        damaged, said = _mutate_sasl_initial(rng, initial)
        return PreAuthPlan([Step("send", startup), Step("sasl"), Step("send", damaged)], [said])
    mutate, said = _final_mutator(rng)
    return PreAuthPlan([Step("send", startup), Step("sasl"), Step("scram", mutate_final=mutate)],
                       [f"SCRAM client-final: {said}"])
