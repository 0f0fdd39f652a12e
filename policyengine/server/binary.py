"""PostgreSQL's wire formats for DuckDB's values: type OIDs, text and binary output, Bind parameters.

Clients decode what the server sends with their own PostgreSQL decoders (libpq's text, psycopg's and
asyncpg's and JDBC's binary loaders), so every value has to be the bytes a PostgreSQL 15 server would
send for it under the settings this server announces: DateStyle ISO, the session's TimeZone, IntervalStyle
postgres, extra_float_digits 1 (shortest round-trip floats). The text forms here are PostgreSQL's output
functions (``float8out``, ``numeric_out``, ``array_out``, ``EncodeInterval``...), the binary forms its
send functions (``numeric_send``, ``array_send``, ``timestamp_send``...).

What DuckDB 2.0's Python API hands over, which shapes the encoders:

* INTERVAL comes back as ``datetime.timedelta`` with months already folded into 30-day blocks, and
  Python normalises the rest (``-1 hour`` arrives as ``days=-1, seconds=82800``): the (months, days,
  micros) split PostgreSQL prints is gone. So the front door reads a result holding intervals through
  Arrow (``arrow_rows.python_rows``), which keeps the split, and the encoders here take an exact
  ``(months, days, microseconds)`` tuple. A timedelta (a caller without the split) is sent
  sign-symmetrically (``-01:00:00``, not ``-1 days +23:00:00``).
* TIMESTAMP WITH TIME ZONE comes back as an aware ``datetime`` in DuckDB's TimeZone, which the session
  set to its own TimeZone; text output prints it in that zone, binary output as UTC microseconds.
* HUGEINT, UHUGEINT and UBIGINT come back as ``int``; they travel as numeric, the only PostgreSQL type
  wide enough. BIGNUM comes back as a decimal ``str`` and travels as numeric too.
* JSON, ENUM and BIT come back as ``str``; lists as ``list``, fixed-size ARRAY as ``tuple``;
  STRUCT and MAP as ``dict``; UNION as the member's value.
* Dates and timestamps outside Python's years 1..9999 (BC dates, year 12000, TIME '24:00:00') come back
  as DuckDB's own *strings* (``'0044-03-15 (BC)'``, ``'0044-03-15 (BC) 10:00:00+00'``), so every
  date/time encoder also accepts those strings. DuckDB's infinities come back clamped to
  ``date(9999, 12, 31)`` / ``datetime.max`` / ``datetime.min`` and are indistinguishable from those real
  values, so they are sent as those finite values.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json as _json
import math
import re
import struct
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

Encoder = Callable[[Any], "bytes | None"]
Formatter = Callable[[Any], str]


class BinaryUnsupported(Exception):
    """A binary format was asked for a column (or parameter) type that has no binary form here.

    The server answers SQLSTATE 0A000 (feature_not_supported): the client can ask for text instead.
    """

    def __init__(self, type_name: str):
        super().__init__(f"binary format is not supported for type {type_name}")
        self.type_name = type_name


# --- type mapping ----------------------------------------------------------------------------------

#: kind -> (type OID, typlen, array type OID); a kind is one PostgreSQL type the server can speak
_KINDS: dict[str, tuple[int, int, int]] = {
    "bool": (16, 1, 1000), "int2": (21, 2, 1005), "int4": (23, 4, 1007), "int8": (20, 8, 1016),
    "numeric": (1700, -1, 1231), "float4": (700, 4, 1021), "float8": (701, 8, 1022),
    "text": (25, -1, 1009), "bytea": (17, -1, 1001), "date": (1082, 4, 1182), "time": (1083, 8, 1183),
    "varchar": (1043, -1, 1015),  # text on the wire, announced as PostgreSQL's ("CHARACTER VARYING" below)
    "timetz": (1266, 12, 1270), "timestamp": (1114, 8, 1115), "timestamptz": (1184, 8, 1185),
    "interval": (1186, 16, 1187), "uuid": (2950, 16, 2951), "json": (114, -1, 199),
    # text on the wire, but DuckDB values PostgreSQL has no type for (ENUM, BIT, anything unknown)
    "other": (25, -1, 1009),
    # MAP: PostgreSQL has no map type; a map is what its json is made for (an object of keys and values)
    "map": (114, -1, 199),
    # STRUCT, UNION, nested lists: a readable text fallback only, no binary form
    "nested": (25, -1, 0),
}

#: DuckDB type names (as ``cursor.description`` reports them, plus common aliases) -> kind
_DUCKDB_KIND: dict[str, str] = {
    "BOOLEAN": "bool", "BOOL": "bool", "LOGICAL": "bool",
    "TINYINT": "int2", "INT1": "int2", "SMALLINT": "int2", "INT2": "int2", "SHORT": "int2",
    "UTINYINT": "int2",
    "INTEGER": "int4", "INT": "int4", "INT4": "int4", "SIGNED": "int4", "USMALLINT": "int4",
    "BIGINT": "int8", "INT8": "int8", "LONG": "int8", "UINTEGER": "int8",
    "UBIGINT": "numeric", "HUGEINT": "numeric", "INT128": "numeric", "UHUGEINT": "numeric",
    "BIGNUM": "numeric", "VARINT": "numeric", "DECIMAL": "numeric", "NUMERIC": "numeric",
    "FLOAT": "float4", "FLOAT4": "float4", "REAL": "float4",
    "DOUBLE": "float8", "FLOAT8": "float8", "DOUBLE PRECISION": "float8",
    "VARCHAR": "text", "TEXT": "text", "STRING": "text", "CHAR": "text", "BPCHAR": "text",
    "CHARACTER VARYING": "varchar",  # no DuckDB type: a result column PostgreSQL says is varchar
    "BLOB": "bytea", "BYTEA": "bytea", "BINARY": "bytea", "VARBINARY": "bytea",
    "DATE": "date", "TIME": "time", "TIME WITHOUT TIME ZONE": "time",
    "TIME WITH TIME ZONE": "timetz", "TIMETZ": "timetz",
    "TIMESTAMP": "timestamp", "DATETIME": "timestamp", "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
    "TIMESTAMP_S": "timestamp", "TIMESTAMP_MS": "timestamp", "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz", "TIMESTAMPTZ": "timestamptz",
    "INTERVAL": "interval", "UUID": "uuid", "JSON": "json",
}

_DECIMAL_TYPE = re.compile(r"(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_LIST_TYPE = re.compile(r"(.*)\[\d*\]")
_NESTED_PREFIXES = ("STRUCT", "MAP", "UNION", "ROW")


class _Column:
    """What one DuckDB result type becomes on the wire (parsed once per type string, then cached)."""

    __slots__ = ("element", "kind", "name", "oid", "typlen", "typmod")

    def __init__(self, name: str, kind: str, element: str | None, typmod: int):
        self.name = name
        self.kind = kind  # "array" for 1-D lists of a scalar kind, else a key of _KINDS
        self.element = element
        if kind == "array":
            assert element is not None
            self.oid, self.typlen = _KINDS[element][2], -1
        else:
            self.oid, self.typlen = _KINDS[kind][0], _KINDS[kind][1]
        self.typmod = typmod


def _scalar_kind(name: str) -> tuple[str, int]:
    """(kind, typmod) for a DuckDB type name that is not a list."""
    kind = _DUCKDB_KIND.get(name)
    if kind is not None:
        return kind, -1
    decimal_type = _DECIMAL_TYPE.fullmatch(name)
    if decimal_type:
        precision, scale = int(decimal_type.group(1)), int(decimal_type.group(2) or 0)
        return "numeric", ((precision << 16) | scale) + 4  # PostgreSQL's numeric typmod
    if name.startswith(("VARCHAR", "TEXT")):  # VARCHAR(10), VARCHAR COLLATE x
        return "text", -1
    if name.startswith("MAP(") or name == "MAP":
        return "map", -1
    if name.startswith(_NESTED_PREFIXES) or name.endswith("]"):
        return "nested", -1
    return "other", -1


@lru_cache(maxsize=4096)
def _column(duckdb_type: str) -> _Column:
    name = " ".join(duckdb_type.split()).upper()
    listed = _LIST_TYPE.fullmatch(name)
    if listed:
        kind, typmod = _scalar_kind(listed.group(1))
        if kind in ("nested", "map"):
            return _Column(duckdb_type, "nested", None, -1)
        return _Column(duckdb_type, "array", "text" if kind == "other" else kind, typmod)
    kind, typmod = _scalar_kind(name)
    return _Column(duckdb_type, kind, None, typmod)


def pg_type(duckdb_type: str) -> tuple[int, int]:
    """(type OID, typlen) a DuckDB type is announced as: what RowDescription says and clients decode by."""
    column = _column(duckdb_type)
    return column.oid, column.typlen


def type_modifier(duckdb_type: str) -> int:
    """The atttypmod for RowDescription: -1, or numeric's ((precision << 16) | scale) + 4."""
    return _column(duckdb_type).typmod


def result_formats(formats: Sequence[int], count: int) -> list[int]:
    """Bind's result-format rule: none means all text, one applies to every column, else one each."""
    if not formats:
        return [0] * count
    if len(formats) == 1:
        expanded = [formats[0]] * count
    elif len(formats) == count:
        expanded = list(formats)
    else:
        raise ValueError(f"{len(formats)} result format codes for {count} columns")
    for code in expanded:
        if code not in (0, 1):
            raise ValueError(f"invalid format code {code}")
    return expanded


# --- small helpers ----------------------------------------------------------------------------------

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_I64 = struct.Struct("!q")
_F32 = struct.Struct("!f")
_F64 = struct.Struct("!d")
_NULL_FIELD = b"\xff\xff\xff\xff"
_DAY_US = 86_400_000_000
_PG_EPOCH_ORDINAL = dt.date(2000, 1, 1).toordinal()  # 730120
_PG_EPOCH_UNIX_DAYS = 10_957  # 2000-01-01 in days since 1970-01-01
_INT64_MAX, _INT64_MIN = 2**63 - 1, -(2**63)
_INT32_MAX, _INT32_MIN = 2**31 - 1, -(2**31)
_UTC = dt.UTC


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, any year (0 = 1 BC, -1 = 2 BC)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The inverse of _days_from_civil: (astronomical year, month, day)."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _fraction(micros: int) -> str:
    """PostgreSQL's fractional seconds: only the digits that matter (``.5``, not ``.500000``)."""
    return ("." + f"{micros:06d}".rstrip("0")) if micros else ""


def _hms(micros: int) -> str:
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, rest = divmod(rest, 1_000_000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{_fraction(rest)}"


def _offset_text(seconds: int) -> str:
    """A UTC offset as PostgreSQL prints it: +HH, +HH:MM or +HH:MM:SS."""
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}"
    if minutes or secs:
        text += f":{minutes:02d}"
    if secs:
        text += f":{secs:02d}"
    return text


# --- DuckDB's out-of-range strings ------------------------------------------------------------------

_DUCK_TIMESTAMP = re.compile(
    r"\s*(-?\d{1,9})-(\d{1,2})-(\d{1,2})( \(BC\))?"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(?:([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?)?\s*")


def _duck_micros(text: str, date_only: bool = False) -> int:
    """Microseconds since 2000-01-01 (UTC if the text has an offset) for DuckDB's timestamp strings.

    DuckDB hands over strings for years Python cannot hold; infinities map to PostgreSQL's sentinels.
    """
    lowered = text.strip().lower()
    if lowered in ("infinity", "+infinity"):
        return _INT32_MAX if date_only else _INT64_MAX
    if lowered == "-infinity":
        return _INT32_MIN if date_only else _INT64_MIN
    match = _DUCK_TIMESTAMP.fullmatch(text)
    if not match:
        raise ValueError(f"not a DuckDB date/time value: {text!r}")
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if match.group(4):
        year = 1 - year
    days = _days_from_civil(year, month, day) - _PG_EPOCH_UNIX_DAYS
    if date_only:
        return days
    hours, minutes, seconds = (int(match.group(i) or 0) for i in (5, 6, 7))
    micros = int((match.group(8) or "").ljust(6, "0")[:6])
    total = days * _DAY_US + ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11) or 0) * 60 + int(match.group(12) or 0)
        total -= (offset if match.group(9) == "+" else -offset) * 1_000_000
    return total


def _date_text_from_days(days: int) -> str:
    if days == _INT32_MAX:
        return "infinity"
    if days == _INT32_MIN:
        return "-infinity"
    year, month, day = _civil_from_days(days + _PG_EPOCH_UNIX_DAYS)
    if year <= 0:
        return f"{1 - year:04d}-{month:02d}-{day:02d} BC"
    return f"{year:04d}-{month:02d}-{day:02d}"


def _timestamp_text_from_micros(micros: int, zoned: bool) -> str:
    if micros == _INT64_MAX:
        return "infinity"
    if micros == _INT64_MIN:
        return "-infinity"
    days, rest = divmod(micros, _DAY_US)
    year, month, day = _civil_from_days(days + _PG_EPOCH_UNIX_DAYS)
    text = f"{(1 - year) if year <= 0 else year:04d}-{month:02d}-{day:02d} {_hms(rest)}"
    if zoned:
        text += "+00"
    return text + " BC" if year <= 0 else text


# --- text output -----------------------------------------------------------------------------------

def _text_bool(value: Any) -> str:
    return "t" if value else "f"


def _text_str(value: Any) -> str:
    return value if type(value) is str else str(value)


def _text_int(value: Any) -> str:
    return str(int(value))


def _text_numeric(value: Any) -> str:
    if type(value) is int:
        return str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            if value.is_nan():
                return "NaN"
            return "-Infinity" if value.is_signed() else "Infinity"
        text = format(value, "f")
        return text[1:] if text[0] == "-" and not value else text  # PostgreSQL has no negative zero
    if isinstance(value, float):
        return _text_numeric(decimal.Decimal(repr(value))) if math.isfinite(value) else _text_float8(value)
    return _text_numeric(decimal.Decimal(str(value).strip()))  # BIGNUM arrives as a str


def _pg_float(shortest: str, fixed_below: int) -> str:
    """Reformat Python's shortest round-trip digits the way PostgreSQL's Ryu output does.

    PostgreSQL prints fixed notation for decimal exponents -4 <= e < 15 (float8) or < 6 (float4),
    otherwise ``d.ddde+XX``, and never a trailing ``.0``.
    """
    negative = shortest[0] == "-"
    if negative:
        shortest = shortest[1:]
    mantissa, _, exponent_text = shortest.partition("e")
    exponent = int(exponent_text) if exponent_text else 0
    whole, _, frac = mantissa.partition(".")
    all_digits = whole + frac
    significant = all_digits.lstrip("0")
    leading = len(all_digits) - len(significant)
    digits = significant.rstrip("0") or "0"
    point = exponent + len(whole) - 1 - leading  # decimal exponent of the first significant digit
    if -4 <= point < fixed_below:
        if point >= 0:
            if len(digits) <= point + 1:
                text = digits + "0" * (point + 1 - len(digits))
            else:
                text = digits[:point + 1] + "." + digits[point + 1:]
        else:
            text = "0." + "0" * (-point - 1) + digits
    else:
        text = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text += ("e-" if point < 0 else "e+") + f"{abs(point):02d}"
    return "-" + text if negative else text


def _float_special(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    if value == 0.0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    return None


def _is_boundary(digits: int, exponent: int, ulp_exponent: int, power_of_two: bool, value: float) -> bool:
    """Is digits * 10**exponent, which reads back as ``value``, exactly halfway to a neighbouring float?

    Python's repr accepts such a halfway decimal when the mantissa is even; PostgreSQL's Ryu never does
    and prints more digits (1.1529215046068639e+18, not 1.152921504606864e+18). A decimal that reads
    back as the value lies within half an ulp of it, so it is a halfway point exactly when its binary
    expansion ends one bit below the ulp (two bits below on the short side of a power of two).
    """
    if exponent < 0 and (-exponent > 25 or digits % 5 ** -exponent):  # not dyadic: never halfway
        return False
    twos = (digits & -digits).bit_length() - 1 + exponent
    if twos == ulp_exponent - 1:
        return True
    return power_of_two and twos == ulp_exponent - 2 and decimal.Decimal(digits).scaleb(exponent) < \
        decimal.Decimal(value)


def _float_shortest(value: float, width: int) -> str:
    """The decimal PostgreSQL's Ryu prints for a positive finite float: shortest strictly inside the
    rounding interval, the closest such one; as ``<digits>e<exponent>``."""
    mantissa_part, binary_exponent = math.frexp(value)
    if width == 64:
        ulp_exponent, limit, smallest_normal = max(binary_exponent - 53, -1074), 17, -1022
        fast = repr(value)
    else:
        ulp_exponent, limit, smallest_normal = max(binary_exponent - 24, -149), 9, -126
        fast = ""
    power_of_two = mantissa_part == 0.5 and binary_exponent - 1 > smallest_normal

    def parse(text: str) -> tuple[int, int]:
        mantissa, _, exp_text = text.partition("e")
        whole, _, frac = mantissa.partition(".")
        return int(whole + frac), (int(exp_text) if exp_text else 0) - len(frac)

    def reads_back(digits: int, exponent: int) -> bool:
        number = float(f"{digits}e{exponent}")
        if width == 32:
            try:
                number = _F32.unpack(_F32.pack(number))[0]
            except OverflowError:
                return False
        return number == value

    if fast:
        digits, exponent = parse(fast)
        if not _is_boundary(digits, exponent, ulp_exponent, power_of_two, value):
            return f"{digits}e{exponent}"
        start = len(str(digits))
    else:
        start = 1
    exact = None
    for precision in range(start, limit + 1):
        digits, exponent = parse(f"{value:.{precision - 1}e}")
        candidates = [(digits, exponent)]
        if power_of_two:  # the interval is lopsided: a neighbour on the far side may fit
            candidates += [(digits - 1, exponent), (digits + 1, exponent)]
        fitting = [(d, e) for d, e in candidates if d > 0 and reads_back(d, e)
                   and not _is_boundary(d, e, ulp_exponent, power_of_two, value)]
        if fitting:
            if len(fitting) > 1:
                exact = exact or decimal.Decimal(value)
                fitting.sort(key=lambda pair: abs(decimal.Decimal(pair[0]).scaleb(pair[1]) - exact))
            return f"{fitting[0][0]}e{fitting[0][1]}"
    return f"{value:.{limit - 1}e}"


_FLOAT_WORDS_OUT = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _text_float8(value: Any) -> str:
    if type(value) is not float:
        value = float(value)
    text = repr(value)
    magnitude = -value if value < 0 else value
    if magnitude < 536870912.0:  # 2**29
        # Below 2**29 no decimal of 17 digits or fewer is exactly halfway between two doubles, so
        # Python's shortest repr is PostgreSQL's digits; below 1e15 the layout is the same too, less
        # Python's trailing ".0" (and NaN, which compares false here, is handled below).
        return text[:-2] if text[-2:] == ".0" else text
    if math.isnan(magnitude) or magnitude == math.inf:
        return _FLOAT_WORDS_OUT[text]
    text = _pg_float(_float_shortest(magnitude, 64), 15)
    return "-" + text if value < 0 else text


def _text_float4(value: Any) -> str:
    value = _F32.unpack(_F32.pack(float(value)))[0]  # a float4 column's value, whatever Python held
    special = _float_special(value)
    if special:
        return special
    text = _pg_float(_float_shortest(abs(value), 32), 6)
    return "-" + text if value < 0 else text


def _text_bytea(value: Any) -> str:
    return "\\x" + bytes(value).hex()


def _text_date(value: Any) -> str:
    if type(value) is dt.date:
        return value.isoformat()
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return _date_text_from_days(_duck_micros(str(value), date_only=True))


def _text_time(value: Any) -> str:
    if isinstance(value, dt.time):
        text = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
        return text + _fraction(value.microsecond) if value.microsecond else text
    return str(value)  # '24:00:00' arrives as a str and is already PostgreSQL's text


def _text_timetz(value: Any) -> str:
    if isinstance(value, dt.time):
        offset = value.utcoffset()
        seconds = 0 if offset is None else int(offset.total_seconds())
        return _text_time(value) + _offset_text(seconds)
    return str(value)


def _text_timestamp(value: Any) -> str:
    if isinstance(value, dt.datetime):
        text = (value if value.tzinfo is None else value.replace(tzinfo=None)).isoformat(" ")
        return text.rstrip("0") if value.microsecond else text
    if isinstance(value, dt.date):
        return value.isoformat() + " 00:00:00"
    return _timestamp_text_from_micros(_duck_micros(str(value)), False)


def _text_timestamptz(value: Any) -> str:
    """In UTC (the server's default TimeZone); :func:`_timestamptz_in` prints in another zone."""
    if isinstance(value, dt.datetime):
        text = value.isoformat(" ")
        if text.endswith("+00:00") or value.tzinfo is None:  # UTC (DuckDB's usual zone) or naive: as is
            if value.tzinfo is not None:
                text = text[:-6]
            return (text.rstrip("0") if value.microsecond else text) + "+00"
        offset = value.utcoffset()
        if offset:
            try:
                value = value.replace(tzinfo=None) - offset
            except OverflowError:  # year 1 or 9999 shifted past Python's range
                return _timestamp_text_from_micros(_timestamp_micros(value), True)
        text = value.replace(tzinfo=None).isoformat(" ")
        return (text.rstrip("0") if value.microsecond else text) + "+00"
    return _timestamp_text_from_micros(_duck_micros(str(value)), True)


@lru_cache(maxsize=64)
def _timestamptz_in(zone: str) -> Formatter:
    """timestamptz text output in a session's TimeZone (an IANA name, or ``fixed:<seconds east>``), as
    PostgreSQL prints it there: the local time and that instant's offset (``2024-07-01 08:00:00-04``,
    LMT's ``+05:53:28``)."""
    if zone == "UTC":
        return _text_timestamptz
    where: dt.tzinfo = dt.timezone(dt.timedelta(seconds=int(zone[6:]))) if zone.startswith("fixed:") \
        else zoneinfo.ZoneInfo(zone)

    def formatter(value: Any) -> str:
        if not isinstance(value, dt.datetime):
            return _text_timestamptz(value)
        try:
            local = (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).astimezone(where)
        except (OverflowError, ValueError):  # shifted past Python's years 1..9999: in UTC, still exact
            return _text_timestamptz(value)
        offset = local.utcoffset()
        text = local.replace(tzinfo=None).isoformat(" ")
        return (text.rstrip("0") if local.microsecond else text) + (
            _offset_text(int(offset.total_seconds())) if offset else "+00")

    return formatter


def _interval_parts(value: Any) -> tuple[int, int, int]:
    """(months, days, microseconds) for an interval value.

    A timedelta has lost DuckDB's split, so it is rebuilt sign-symmetrically: whole days and the rest
    both carry the interval's sign (-1 hour is 0 days -01:00:00, as DuckDB held it).
    """
    if isinstance(value, dt.timedelta):
        total = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        days, micros = divmod(abs(total), _DAY_US)
        return (0, -days, -micros) if total < 0 else (0, days, micros)
    if isinstance(value, tuple) and len(value) == 3:
        if hasattr(value, "nanoseconds"):  # pyarrow's MonthDayNano (an Arrow batch's value)
            return int(value.months), int(value.days), int(value.nanoseconds) // 1000
        return int(value[0]), int(value[1]), int(value[2])  # an exact (months, days, micros): arrow_rows
    raise TypeError(f"not an interval: {value!r}")


def _interval_text_from_parts(months: int, days: int, micros: int) -> str:
    """PostgreSQL's EncodeInterval for IntervalStyle postgres."""
    years, mons = abs(months) // 12, abs(months) % 12
    if months < 0:
        years, mons = -years, -mons
    parts: list[str] = []
    is_before = False
    for amount, unit in ((years, "year"), (mons, "mon"), (days, "day")):
        if amount == 0:
            continue
        parts.append(f"{'+' if is_before and amount > 0 else ''}{amount} {unit}{'' if amount == 1 else 's'}")
        is_before = amount < 0
    if not parts or micros:
        sign = "-" if micros < 0 else ("+" if is_before else "")
        parts.append(sign + _hms(abs(micros)))
    return " ".join(parts)


interval_text = _interval_text_from_parts


def _text_interval(value: Any) -> str:
    if type(value) is tuple:  # the exact parts: the common case, no conversion
        return _interval_text_from_parts(*value)
    return _interval_text_from_parts(*_interval_parts(value))


def _text_uuid(value: Any) -> str:
    return str(value)


def _text_fallback(value: Any) -> str:
    """STRUCT, MAP, UNION and nested lists have no PostgreSQL type: a readable rendering, nothing more."""
    if isinstance(value, (list, tuple)):
        return _array_text(value, _text_fallback)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _text_bytea(value)
    if isinstance(value, bool):
        return _text_bool(value)
    return str(value)


def _json_text(value: Any) -> str:
    """A DuckDB value as the json text PostgreSQL would write for it: objects (keys always strings),
    arrays, numbers with their own digits, strings; dates and times in ISO form, bytes as bytea's hex
    text, NaN and infinities as strings (json has no such numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return '"NaN"' if value != value else ('"Infinity"' if value > 0 else '"-Infinity"')
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else _json.dumps(str(value))
    if isinstance(value, dict):
        return "{" + ", ".join(_json.dumps(_json_key(key), ensure_ascii=False) + ": " + _json_text(item)
                               for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_json_text(item) for item in value) + "]"
    return _json.dumps(_json_key(value), ensure_ascii=False)


def _json_key(value: Any) -> str:
    """A value's text where json needs a string (an object key, a date, bytes)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _text_bytea(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _text_interval(value)
    if isinstance(value, (bool, int, float, decimal.Decimal)) or value is None:
        return _json_text(value).strip('"')
    return str(value)


def _text_map(value: Any) -> str:
    """A MAP as PostgreSQL's json text: ``{"a": 1}`` (a client reading OID 114 parses it)."""
    return _json_text(value)


_ARRAY_NEEDS_QUOTES = re.compile(r'[{}",\\ \t\n\r\v\f]')


def _array_text(value: Iterable[Any], element: Formatter) -> str:
    """PostgreSQL's array_out: quote empty, NULL-looking and special-character elements."""
    parts = []
    for item in value:
        if item is None:
            parts.append("NULL")
            continue
        if isinstance(item, (list, tuple)) and element is _text_fallback:
            parts.append(_array_text(item, element))
            continue
        text = element(item)
        if not text or _ARRAY_NEEDS_QUOTES.search(text) or text.upper() == "NULL":
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(text)
    return "{" + ",".join(parts) + "}"


_TEXT_FORMATTERS: dict[str, Formatter] = {
    "bool": _text_bool, "int2": _text_int, "int4": _text_int, "int8": _text_int, "numeric": _text_numeric,
    "float4": _text_float4, "float8": _text_float8, "text": _text_str, "bytea": _text_bytea,
    "varchar": _text_str,
    "date": _text_date, "time": _text_time, "timetz": _text_timetz, "timestamp": _text_timestamp,
    "timestamptz": _text_timestamptz, "interval": _text_interval, "uuid": _text_uuid, "json": _text_str,
    "map": _text_map,
    "other": _text_fallback, "nested": _text_fallback,
}


def text_formatter(duckdb_type: str, zone: str = "UTC") -> Formatter:
    """Value (never None) -> PostgreSQL's text output for the type, as str (COPY escapes it further);
    ``zone``: the session's TimeZone, in which timestamptz values are printed."""
    column = _column(duckdb_type)
    if column.kind == "array":
        element = _timestamptz_in(zone) if column.element == "timestamptz" else \
            _TEXT_FORMATTERS[column.element or "text"]
        return lambda value: _array_text(value, element)
    return _timestamptz_in(zone) if column.kind == "timestamptz" else _TEXT_FORMATTERS[column.kind]


# --- binary output ---------------------------------------------------------------------------------

def _bin_bool(value: Any) -> bytes:
    return b"\x01" if value else b"\x00"


_bin_int2 = _I16.pack
_bin_int4 = _I32.pack
_bin_int8 = _I64.pack


_FLOAT4_NAN = b"\x7f\xc0\x00\x00"
_FLOAT8_NAN = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"


def _bin_float4(value: Any) -> bytes:
    # any NaN goes out as PostgreSQL's own (positive, quiet): sign and payload bits mean nothing
    return _F32.pack(value) if value == value else _FLOAT4_NAN  # noqa: PLR0124 - the NaN test


def _bin_float8(value: Any) -> bytes:
    return _F64.pack(value) if value == value else _FLOAT8_NAN  # noqa: PLR0124 - the NaN test


_NUMERIC_NAN = struct.pack("!hhHh", 0, 0, 0xC000, 0)
# PostgreSQL 14+ sends the infinities with dscale 32: numeric_send reads the display scale out of the
# short-header bits, which for 0xD000/0xF000 hold 32. Clients ignore it; the bytes match a real server.
_NUMERIC_PINF = struct.pack("!hhHh", 0, 0, 0xD000, 32)
_NUMERIC_NINF = struct.pack("!hhHh", 0, 0, 0xF000, 32)


_NUMERIC_HEADS = [struct.Struct(f"!hhHh{count}H") for count in range(33)]


def _numeric_fixed(text: str) -> bytes:
    """numeric_send from a plain decimal string (``-123.4500``): ndigits, weight, sign, display scale,
    then base-10000 digits with leading and trailing zero groups trimmed, as PostgreSQL stores them."""
    negative = text[0] == "-"
    if negative:
        text = text[1:]
    whole, _, frac = text.partition(".")
    dscale = len(frac)
    whole = whole.lstrip("0")
    weight = (len(whole) + 3) // 4 - 1
    digits = "0" * (-len(whole) % 4) + whole + frac + "0" * (-len(frac) % 4)
    number = int(digits) if digits else 0  # one int() and divmods: far cheaper than int() per slice
    if not number:
        return _NUMERIC_HEADS[0].pack(0, 0, 0, dscale)
    groups: list[int] = []  # least significant first
    while number:
        number, group = divmod(number, 10000)
        groups.append(group)
    weight -= len(digits) // 4 - len(groups)  # leading zero groups (values below 1)
    trailing = 0
    while not groups[trailing]:
        trailing += 1
    groups = groups[:trailing - 1:-1] if trailing else groups[::-1]
    if not -32768 <= weight <= 32767 or dscale > 0x3FFF:
        raise ValueError("value out of range for numeric")
    count = len(groups)
    head = _NUMERIC_HEADS[count] if count < len(_NUMERIC_HEADS) else struct.Struct(f"!hhHh{count}H")
    return head.pack(count, weight, 0x4000 if negative else 0, dscale, *groups)


def _bin_numeric(value: Any) -> bytes:
    if type(value) is int:
        return _numeric_fixed(str(value))
    if type(value) is not decimal.Decimal:
        if isinstance(value, float) and math.isfinite(value):
            value = decimal.Decimal(repr(value))
        elif isinstance(value, float):
            value = decimal.Decimal(value)
        else:
            value = decimal.Decimal(str(value).strip())  # BIGNUM arrives as a str
    if not value.is_finite():
        if value.is_nan():
            return _NUMERIC_NAN
        return _NUMERIC_NINF if value.is_signed() else _NUMERIC_PINF
    return _numeric_fixed(format(value, "f"))


def _bin_text(value: Any) -> bytes:
    return (value if type(value) is str else str(value)).encode()


def _bin_other(value: Any) -> bytes:
    return _text_fallback(value).encode()


def _bin_bytea(value: Any) -> bytes:
    return bytes(value)


def _date_days(value: Any) -> int:
    if type(value) is dt.date:
        return value.toordinal() - _PG_EPOCH_ORDINAL
    if isinstance(value, dt.datetime):
        return value.date().toordinal() - _PG_EPOCH_ORDINAL
    return _duck_micros(str(value), date_only=True)


def _bin_date(value: Any) -> bytes:
    return _I32.pack(_date_days(value))


def _time_micros(value: Any) -> int:
    if isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*", str(value))
    if not match:
        raise ValueError(f"not a time: {value!r}")
    seconds = (int(match.group(1)) * 60 + int(match.group(2))) * 60 + int(match.group(3) or 0)
    return seconds * 1_000_000 + int((match.group(4) or "").ljust(6, "0")[:6])


def _bin_time(value: Any) -> bytes:
    return _I64.pack(_time_micros(value))


def _bin_timetz(value: Any) -> bytes:
    offset = value.utcoffset() if isinstance(value, dt.time) else None
    seconds = 0 if offset is None else int(offset.total_seconds())
    return struct.pack("!qi", _time_micros(value), -seconds)  # PostgreSQL stores the zone west of UTC


def _timestamp_micros(value: Any) -> int:
    """Microseconds since 2000-01-01 (UTC for aware values): timestamp_send's payload."""
    if isinstance(value, dt.datetime):
        micros = (((value.toordinal() - _PG_EPOCH_ORDINAL) * 86_400 + value.hour * 3600 + value.minute * 60
                   + value.second) * 1_000_000 + value.microsecond)
        offset = value.utcoffset()
        if offset:
            micros -= (offset.days * 86_400 + offset.seconds) * 1_000_000 + offset.microseconds
        return micros
    if isinstance(value, dt.date):
        return (value.toordinal() - _PG_EPOCH_ORDINAL) * _DAY_US
    return _duck_micros(str(value))


def _bin_timestamp(value: Any) -> bytes:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)  # a timestamp column keeps its wall-clock reading
    return _I64.pack(_timestamp_micros(value))


def _bin_timestamptz(value: Any) -> bytes:
    return _I64.pack(_timestamp_micros(value))


def _bin_interval(value: Any) -> bytes:
    months, days, micros = _interval_parts(value)
    return struct.pack("!qii", micros, days, months)


def _bin_uuid(value: Any) -> bytes:
    return value.bytes if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).bytes


_BINARY_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "bool": _bin_bool, "int2": _bin_int2, "int4": _bin_int4, "int8": _bin_int8, "numeric": _bin_numeric,
    "float4": _bin_float4, "float8": _bin_float8, "text": _bin_text, "bytea": _bin_bytea, "date": _bin_date,
    "varchar": _bin_text,
    "time": _bin_time, "timetz": _bin_timetz, "timestamp": _bin_timestamp, "timestamptz": _bin_timestamptz,
    "interval": _bin_interval, "uuid": _bin_uuid, "json": _bin_text, "other": _bin_other,
    "map": lambda value: _text_map(value).encode(),
}


def _array_binary(element: Callable[[Any], bytes], element_oid: int) -> Callable[[Any], bytes]:
    """array_send for 1-D arrays: ndim, has-null flag, element OID, (size, lower bound 1), elements."""
    pack_header = struct.Struct("!iiiii").pack
    pack_length = _I32.pack

    def encode(value: Any) -> bytes:
        if not value:
            return struct.pack("!iii", 0, 0, element_oid)
        parts = [b""]
        has_null = 0
        for item in value:
            if item is None:
                parts.append(_NULL_FIELD)
                has_null = 1
            else:
                if isinstance(item, list) or isinstance(item, tuple) and element is not _bin_interval:
                    raise BinaryUnsupported("nested list")  # (an interval is its (months, days, micros))
                data = element(item)
                parts.append(pack_length(len(data)))
                parts.append(data)
        parts[0] = pack_header(1, has_null, element_oid, len(value), 1)
        return b"".join(parts)

    return encode


def binary_encoder(duckdb_type: str) -> Callable[[Any], bytes]:
    """Value (never None) -> the type's binary send form; BinaryUnsupported if it has none."""
    column = _column(duckdb_type)
    if column.kind == "array":
        element = column.element or "text"
        return _array_binary(_BINARY_ENCODERS[element], _KINDS[element][0])
    encoder = _BINARY_ENCODERS.get(column.kind)
    if encoder is None:
        raise BinaryUnsupported(duckdb_type)
    return encoder


# --- encoders per column and DataRow ---------------------------------------------------------------

def _text_encoder(formatter: Formatter) -> Callable[[Any], bytes]:
    if formatter is _text_str:
        return _bin_text
    if formatter is _text_int:
        return lambda value: b"%d" % value
    return lambda value: formatter(value).encode()


def _nullable(encode: Callable[[Any], bytes]) -> Encoder:
    def encoder(value: Any) -> bytes | None:
        return None if value is None else encode(value)

    encoder.encode = encode  # type: ignore[attr-defined]  # data_rows calls this after its own None test
    return encoder


def column_encoders(types: Sequence[str], formats: Sequence[int], zone: str = "UTC") -> list[Encoder]:
    """One encoder per result column (value -> wire bytes, None -> None), honouring Bind's format codes.

    A wrong number of format codes raises ValueError; binary for a type without a binary form raises
    BinaryUnsupported before any row is sent, so the client gets one clear error. Encoders hold no
    state, so a statement run again (every pgbench transaction) reuses the ones made the first time.
    """
    return list(_column_encoders(tuple(types), tuple(formats), zone))


@lru_cache(maxsize=1024)
def _column_encoders(types: tuple[str, ...], formats: tuple[int, ...], zone: str = "UTC") -> tuple[Encoder, ...]:
    encoders: list[Encoder] = []
    for duckdb_type, code in zip(types, result_formats(formats, len(types))):
        if code == 1:
            encoders.append(_nullable(binary_encoder(duckdb_type)))
        else:
            encoders.append(_nullable(_text_encoder(text_formatter(duckdb_type, zone))))
    return tuple(encoders)


def data_rows(rows: Iterable[Sequence[Any]], encoders: Sequence[Encoder]) -> bytes:
    """DataRow ('D') messages for a batch of rows: the hot path, so one join per row and no lookups."""
    encodes = [getattr(encoder, "encode", encoder) for encoder in encoders]
    count = len(encodes)
    head = struct.Struct("!cih").pack
    pack_length = _I32.pack
    null = _NULL_FIELD
    out: list[bytes] = []
    emit = out.append
    for row in rows:
        if len(row) != count:
            raise ValueError(f"row has {len(row)} values for {count} columns")
        parts: list[bytes] = []
        add = parts.append
        for encode, value in zip(encodes, row):
            if value is None:
                add(null)
            else:
                data = encode(value)
                if data is None:
                    add(null)
                else:
                    add(pack_length(len(data)))
                    add(data)
        body = b"".join(parts)
        emit(head(b"D", len(body) + 6, count))
        emit(body)
    return b"".join(out)


def row_description(columns: Sequence[str], types: Sequence[str], formats: Sequence[int] | None = None) -> bytes:
    """RowDescription ('T'): name, no table, the type's OID, typlen and typmod, and the format code."""
    return _row_description(tuple(columns), tuple(types), tuple(formats or ()))


@lru_cache(maxsize=1024)
def _row_description(columns: tuple[str, ...], types: tuple[str, ...], formats: tuple[int, ...]) -> bytes:
    codes = result_formats(formats, len(columns))
    parts = [_I16.pack(len(columns))]
    for name, duckdb_type, code in zip(columns, types, codes):
        column = _column(duckdb_type)
        parts.append(name.encode() + b"\0")
        parts.append(struct.pack("!ihihih", 0, 0, column.oid, column.typlen, column.typmod, code))
    body = b"".join(parts)
    return b"T" + _I32.pack(len(body) + 4) + body


# --- Bind parameters -------------------------------------------------------------------------------

_TEXT_OIDS = frozenset({0, 18, 19, 25, 114, 142, 705, 1042, 1043})
_INT_RANGES = {21: (-(2**15), 2**15 - 1), 23: (_INT32_MIN, _INT32_MAX), 20: (_INT64_MIN, _INT64_MAX),
               26: (0, 2**32 - 1)}
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_FLOAT_WORDS = {"nan": math.nan, "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
                "inf": math.inf, "+inf": math.inf, "-inf": -math.inf}
_FLOAT_TEXT = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
_NUMERIC_TEXT = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")


def _parse_int(text: str, oid: int) -> int:
    if not _INTEGER_TEXT.fullmatch(text):
        raise ValueError(f"invalid input syntax for an integer: {text!r}")
    value = int(text)
    low, high = _INT_RANGES[oid]
    if not low <= value <= high:
        raise ValueError(f"value {text.strip()} is out of range")
    return value


def _parse_float(text: str, oid: int) -> float:
    word = _FLOAT_WORDS.get(text.strip().lower())
    if word is not None:
        return word
    if not _FLOAT_TEXT.fullmatch(text):
        raise ValueError(f"invalid input syntax for a float: {text!r}")
    value = float(text)
    if oid == 700:
        try:
            value = _F32.unpack(_F32.pack(value))[0]
        except OverflowError:
            raise ValueError(f"{text.strip()} is out of range for type real") from None
    if math.isinf(value):
        raise ValueError(f"{text.strip()} is out of range for a float")
    return value


def _parse_numeric(text: str) -> decimal.Decimal:
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered == "nan":
        return decimal.Decimal("NaN")
    if lowered in ("infinity", "+infinity", "inf", "+inf"):
        return decimal.Decimal("Infinity")
    if lowered in ("-infinity", "-inf"):
        return decimal.Decimal("-Infinity")
    if not _NUMERIC_TEXT.fullmatch(text):
        raise ValueError(f"invalid input syntax for a numeric: {text!r}")
    value = decimal.Decimal(stripped)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:  # PostgreSQL keeps no positive exponent: 1E+3 is 1000
        value = value.quantize(decimal.Decimal(1), context=decimal.Context(prec=len(value.as_tuple().digits)
                                                                           + exponent + 1))
    return value


def _parse_bool(text: str) -> bool:
    """PostgreSQL's parse_bool: t/true/y/yes/on/1 and f/false/n/no/off/0, any unique prefix."""
    word = text.strip().lower()
    if word and (word in ("1", "on") or "true".startswith(word) or "yes".startswith(word)):
        return True
    if word and (word in ("0",) or (len(word) >= 2 and "off".startswith(word)) or "false".startswith(word)
                 or "no".startswith(word)):
        return False
    raise ValueError(f"invalid input syntax for a boolean: {text!r}")


def _parse_bytea(text: str) -> bytes:
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    out = bytearray()
    raw = text.encode()
    index = 0
    while index < len(raw):
        byte = raw[index]
        if byte != 0x5C:
            out.append(byte)
            index += 1
        elif raw[index + 1:index + 2] == b"\\":
            out.append(0x5C)
            index += 2
        elif re.fullmatch(rb"[0-3][0-7][0-7]", raw[index + 1:index + 4]):
            out.append(int(raw[index + 1:index + 4], 8))
            index += 4
        else:
            raise ValueError("invalid input syntax for type bytea")
    return bytes(out)


def _python_date(days: int) -> dt.date | str:
    """A date in days since 2000-01-01: a date, or DuckDB's own string when Python cannot hold it."""
    if days == _INT32_MAX:
        return "infinity"
    if days == _INT32_MIN:
        return "-infinity"
    ordinal = days + _PG_EPOCH_ORDINAL
    if 1 <= ordinal <= 3652059:
        return dt.date.fromordinal(ordinal)
    year, month, day = _civil_from_days(days + _PG_EPOCH_UNIX_DAYS)
    return f"{1 - year:04d}-{month:02d}-{day:02d} (BC)" if year <= 0 else f"{year:04d}-{month:02d}-{day:02d}"


def _python_timestamp(micros: int, zoned: bool) -> dt.datetime | str:
    """Microseconds since 2000-01-01 -> datetime (aware UTC if zoned), else DuckDB's string.

    DuckDB reads '0044-03-15 10:00:00 BC' as the year 44 AD, so BC values are written its own way.
    """
    if micros == _INT64_MAX:
        return "infinity"
    if micros == _INT64_MIN:
        return "-infinity"
    days, rest = divmod(micros, _DAY_US)
    ordinal = days + _PG_EPOCH_ORDINAL
    if 1 <= ordinal <= 3652059:
        value = dt.datetime.fromordinal(ordinal) + dt.timedelta(microseconds=rest)
        return value.replace(tzinfo=_UTC) if zoned else value
    year, month, day = _civil_from_days(days + _PG_EPOCH_UNIX_DAYS)
    clock = f"{_hms(rest)}"
    zone = "+00" if zoned else ""
    if year <= 0:
        return f"{1 - year:04d}-{month:02d}-{day:02d} (BC) {clock}{zone}"
    return f"{year:04d}-{month:02d}-{day:02d} {clock}{zone}"


def _python_time(micros: int) -> dt.time | str:
    if micros == _DAY_US:
        return "24:00:00"
    if not 0 <= micros < _DAY_US:
        raise ValueError("time out of range")
    seconds, micro = divmod(micros, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return dt.time(hour, minute, second, micro)


_PG_DATETIME = re.compile(
    r"\s*(\d{1,9})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[ T]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d*))?)?)?"
    r"\s*(?:(Z|z|UTC|[+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?))?"
    r"(?:\s+(BC|AD))?\s*", re.IGNORECASE)
_PG_TIME = re.compile(r"\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d*))?)?"
                      r"\s*(Z|z|UTC|[+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?)?\s*", re.IGNORECASE)


def _offset_seconds(text: str | None) -> int | None:
    """A UTC offset (+05, +0530, +05:30, +05:30:15, Z, UTC) in seconds east of UTC."""
    if text is None:
        return None
    if text.upper() in ("Z", "UTC"):
        return 0
    sign = -1 if text[0] == "-" else 1
    body = text[1:]
    if ":" in body:
        pieces = [int(piece) for piece in body.split(":")]
    else:  # hh, hhmm or hhmmss; a lone or odd leading digit belongs to the hours
        cut = len(body) % 2 or 2
        pieces = [int(body[:cut])] + [int(body[i:i + 2]) for i in range(cut, len(body), 2)]
    hours, minutes, seconds = (pieces + [0, 0])[:3]
    if hours > 15 or minutes > 59 or seconds > 59:
        raise ValueError(f"time zone offset out of range: {text}")
    return sign * (hours * 3600 + minutes * 60 + seconds)


def _fraction_micros(text: str | None) -> int:
    """Fractional seconds to microseconds, rounded half up as PostgreSQL does."""
    if not text:
        return 0
    return int(decimal.Decimal("0." + text).scaleb(6).to_integral_value(decimal.ROUND_HALF_UP))


def _parse_timestamp_text(text: str, zoned: bool, date_only: bool = False) -> Any:
    lowered = text.strip().lower()
    if lowered in ("infinity", "+infinity", "-infinity"):
        return "-infinity" if lowered[0] == "-" else "infinity"
    if lowered == "epoch":
        return _python_date(-_PG_EPOCH_UNIX_DAYS) if date_only else _python_timestamp(
            -_PG_EPOCH_UNIX_DAYS * _DAY_US, zoned)
    match = _PG_DATETIME.fullmatch(text)
    if not match:
        raise ValueError(f"invalid input syntax for a date/time: {text!r}")
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if match.group(9) and match.group(9).upper() == "BC":
        if year == 0:
            raise ValueError("year 0 is not valid")
        year = 1 - year
    try:
        dt.date(2000, month, day)  # month and day in range (leap day checked below)
    except ValueError:
        raise ValueError(f"date/time field value out of range: {text!r}") from None
    days = _days_from_civil(year, month, day) - _PG_EPOCH_UNIX_DAYS
    if _civil_from_days(days + _PG_EPOCH_UNIX_DAYS) != (year, month, day):
        raise ValueError(f"date/time field value out of range: {text!r}")
    if date_only:
        return _python_date(days)
    hours, minutes, seconds = (int(match.group(i) or 0) for i in (4, 5, 6))
    if hours > 24 or minutes > 59 or seconds > 60:
        raise ValueError(f"date/time field value out of range: {text!r}")
    micros = days * _DAY_US + ((hours * 60 + minutes) * 60 + seconds) * 1_000_000
    micros += _fraction_micros(match.group(7))
    offset = _offset_seconds(match.group(8))
    if zoned and offset:
        micros -= offset * 1_000_000
    return _python_timestamp(micros, zoned)


def _parse_time_text(text: str, zoned: bool) -> Any:
    match = _PG_TIME.fullmatch(text)
    if not match:
        raise ValueError(f"invalid input syntax for a time: {text!r}")
    hours, minutes, seconds = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if minutes > 59 or seconds > 60:
        raise ValueError(f"time field value out of range: {text!r}")
    micros = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + _fraction_micros(match.group(4))
    value = _python_time(micros)
    if not zoned:
        return value
    offset = _offset_seconds(match.group(5)) or 0
    if isinstance(value, str):
        return value + _offset_text(offset)
    return value.replace(tzinfo=dt.timezone(dt.timedelta(seconds=offset)))


_INTERVAL_UNITS: dict[str, tuple[str, decimal.Decimal]] = {}
for _names, _field, _factor in (
    (("millennium", "millennia", "millenniums", "mil", "mils"), "months", 12000),
    (("century", "centuries", "cent", "c"), "months", 1200),
    (("decade", "decades", "dec", "decs"), "months", 120),
    (("year", "years", "yr", "yrs", "y"), "months", 12),
    (("month", "months", "mon", "mons"), "months", 1),
    (("week", "weeks", "w"), "days", 7),
    (("day", "days", "d"), "days", 1),
    (("hour", "hours", "hr", "hrs", "h"), "micros", 3_600_000_000),
    (("minute", "minutes", "min", "mins", "m"), "micros", 60_000_000),
    (("second", "seconds", "sec", "secs", "s"), "micros", 1_000_000),
    (("millisecond", "milliseconds", "msec", "msecs", "ms"), "micros", 1000),
    (("microsecond", "microseconds", "usec", "usecs", "us"), "micros", 1),
):
    for _name in _names:
        _INTERVAL_UNITS[_name] = (_field, decimal.Decimal(_factor))

_INTERVAL_TOKEN = re.compile(
    r"\s*(?:(?P<ym>[+-]?\d+-\d+)(?![\d:])"
    r"|(?P<time>[+-]?\d+:\d{1,2}(?::\d{1,2}(?:\.\d*)?)?)"
    r"|(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>[a-zA-Z]+)?"
    r"|(?P<word>@|ago)"
    r"|(?P<comma>,))", re.IGNORECASE)
_ISO_INTERVAL = re.compile(
    r"\s*P(?:(?P<Y>[+-]?\d+(?:\.\d+)?)Y)?(?:(?P<M>[+-]?\d+(?:\.\d+)?)M)?(?:(?P<W>[+-]?\d+(?:\.\d+)?)W)?"
    r"(?:(?P<D>[+-]?\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>[+-]?\d+(?:\.\d+)?)H)?(?:(?P<m>[+-]?\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>[+-]?\d+(?:\.\d+)?)S)?)?\s*", re.IGNORECASE)


def _interval_from_fields(months: decimal.Decimal, days: decimal.Decimal, micros: decimal.Decimal) -> Any:
    """Spread fractions down as PostgreSQL does (0.5 month = 15 days); the whole months, days and
    microseconds kept apart (:func:`_interval_parameter`)."""
    whole_months = int(months)
    days += (months - whole_months) * 30
    whole_days = int(days)
    micros += (days - whole_days) * _DAY_US
    return _interval_parameter(whole_months, whole_days, int(micros.to_integral_value(decimal.ROUND_HALF_EVEN)))


def _interval_parameter(months: int, days: int, micros: int) -> Any:
    """An interval parameter DuckDB binds with its three parts. A timedelta when it holds them exactly
    (no months, a time of 0 to 24 hours: DuckDB takes its days and seconds apart); else DuckDB's own
    INTERVAL value, which keeps ``1 mon`` a month and ``-12:00:00`` twelve hours back (a timedelta
    would bind 30 days and -1 days +12:00:00)."""
    if not (-2**31 <= months < 2**31 and -2**31 <= days < 2**31 and -2**63 <= micros < 2**63):
        raise ValueError("interval out of range")
    if months == 0 and 0 <= micros < _DAY_US and abs(days) <= 999_999_999:
        return dt.timedelta(days=days, microseconds=micros)
    import duckdb
    from duckdb.sqltypes import INTERVAL

    return duckdb.Value(f"{months} months {days} days {micros} microseconds", INTERVAL)


def _parse_interval(text: str) -> Any:
    iso = _ISO_INTERVAL.fullmatch(text)
    if iso and any(iso.groupdict().values()):
        get = {key: decimal.Decimal(value) for key, value in iso.groupdict().items() if value}
        zero = decimal.Decimal(0)
        return _interval_from_fields(get.get("Y", zero) * 12 + get.get("M", zero),
                                     get.get("W", zero) * 7 + get.get("D", zero),
                                     get.get("h", zero) * 3_600_000_000 + get.get("m", zero) * 60_000_000
                                     + get.get("s", zero) * 1_000_000)
    fields = {"months": decimal.Decimal(0), "days": decimal.Decimal(0), "micros": decimal.Decimal(0)}
    position, seen, ago = 0, False, False
    while position < len(text):
        if not text[position:].strip():
            break
        token = _INTERVAL_TOKEN.match(text, position)
        if not token or token.end() == position:
            raise ValueError(f"invalid input syntax for an interval: {text!r}")
        position = token.end()
        if token.group("ym"):
            years, _, mons = token.group("ym").lstrip("+-").partition("-")
            sign = -1 if token.group("ym").startswith("-") else 1
            fields["months"] += sign * (int(years) * 12 + int(mons))
        elif token.group("time"):
            clock = token.group("time")
            sign = -1 if clock.startswith("-") else 1
            pieces = clock.lstrip("+-").split(":")
            hours, minutes = int(pieces[0]), int(pieces[1])
            seconds = decimal.Decimal(pieces[2]) if len(pieces) > 2 else decimal.Decimal(0)
            if minutes > 59 or seconds >= 60:
                raise ValueError(f"interval field value out of range: {text!r}")
            fields["micros"] += sign * ((hours * 60 + minutes) * 60_000_000 + seconds * 1_000_000)
        elif token.group("num"):
            unit = (token.group("unit") or "s").lower()
            if unit not in _INTERVAL_UNITS:
                raise ValueError(f"invalid interval unit {unit!r}")
            field, factor = _INTERVAL_UNITS[unit]
            fields[field] += decimal.Decimal(token.group("num")) * factor
        elif token.group("word"):
            ago = ago or token.group("word").lower() == "ago"
            continue
        else:
            continue
        seen = True
    if not seen:
        raise ValueError(f"invalid input syntax for an interval: {text!r}")
    if ago:
        fields = {key: -value for key, value in fields.items()}
    return _interval_from_fields(fields["months"], fields["days"], fields["micros"])


def _parse_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text.strip())


def _parse_text_value(text: str, oid: int) -> Any:
    """A text-format parameter of a scalar type."""
    if oid in _TEXT_OIDS:
        return text
    if oid in _INT_RANGES:
        return _parse_int(text, oid)
    if oid in (700, 701):
        return _parse_float(text, oid)
    if oid == 1700:
        return _parse_numeric(text)
    if oid == 16:
        return _parse_bool(text)
    if oid == 17:
        return _parse_bytea(text)
    if oid == 1082:
        return _parse_timestamp_text(text, False, date_only=True)
    if oid == 1083:
        return _parse_time_text(text, False)
    if oid == 1266:
        return _parse_time_text(text, True)
    if oid == 1114:
        return _parse_timestamp_text(text, False)
    if oid == 1184:
        return _parse_timestamp_text(text, True)
    if oid == 1186:
        return _parse_interval(text)
    if oid == 2950:
        return _parse_uuid(text)
    if oid == 3802:
        return text
    return text  # an unknown type: DuckDB casts the string where it is used


_ARRAY_ELEMENTS: dict[int, int] = {
    1000: 16, 1001: 17, 1005: 21, 1007: 23, 1016: 20, 1009: 25, 1015: 1043, 1014: 1042, 1002: 18, 1003: 19,
    1021: 700, 1022: 701, 1231: 1700, 1182: 1082, 1183: 1083, 1270: 1266, 1115: 1114, 1185: 1184,
    1187: 1186, 2951: 2950, 199: 114, 3807: 3802, 1028: 26,
}


def _parse_array_text(text: str, element_oid: int) -> list[Any]:
    """array_in: braces, quoted elements with backslash escapes, unquoted NULL, optional dimensions."""
    source = text.strip()
    if source.startswith("["):
        equals = source.find("=")
        if equals < 0 or not re.fullmatch(r"(\[\s*[+-]?\d+\s*:\s*[+-]?\d+\s*\]\s*)+", source[:equals]):
            raise ValueError(f"malformed array literal: {text!r}")
        source = source[equals + 1:].lstrip()
    try:
        value, end = _parse_array_level(source, 0, element_oid)
    except IndexError:
        raise ValueError(f"malformed array literal: {text!r}") from None
    if source[end:].strip():
        raise ValueError(f"malformed array literal: {text!r}")
    return value


_ARRAY_SPACE = " \t\n\r\v\f"


def _parse_array_level(source: str, index: int, element_oid: int) -> tuple[list[Any], int]:
    if source[index] != "{":
        raise ValueError(f"malformed array literal: {source!r}")
    index += 1
    items: list[Any] = []
    while source[index] in _ARRAY_SPACE:
        index += 1
    if source[index] == "}":
        return items, index + 1
    while True:
        while source[index] in _ARRAY_SPACE:
            index += 1
        char = source[index]
        if char == "{":
            nested, index = _parse_array_level(source, index, element_oid)
            items.append(nested)
        elif char == '"':
            index += 1
            chars: list[str] = []
            while source[index] != '"':
                if source[index] == "\\":
                    index += 1
                chars.append(source[index])
                index += 1
            index += 1
            items.append(_parse_text_value("".join(chars), element_oid))
        else:
            chars = []
            escaped_until = 0
            while source[index] not in ",}":
                if source[index] in '{"':
                    raise ValueError(f"malformed array literal: {source!r}")
                if source[index] == "\\":
                    index += 1
                    chars.append(source[index])
                    escaped_until = len(chars)
                else:
                    chars.append(source[index])
                index += 1
            while len(chars) > escaped_until and chars[-1] in _ARRAY_SPACE:
                chars.pop()
            word = "".join(chars)
            if not word:
                raise ValueError(f"malformed array literal: {source!r}")
            if escaped_until == 0 and word.upper() == "NULL":
                items.append(None)
            else:
                items.append(_parse_text_value(word, element_oid))
        while source[index] in _ARRAY_SPACE:
            index += 1
        if source[index] == ",":
            index += 1
            continue
        if source[index] == "}":
            return items, index + 1
        raise ValueError(f"malformed array literal: {source!r}")


def _exact(raw: bytes, size: int, oid: int) -> bytes:
    if len(raw) != size:
        raise ValueError(f"binary value of type {oid} must be {size} bytes, got {len(raw)}")
    return raw


def _decode_numeric(raw: bytes) -> decimal.Decimal:
    """numeric_recv: digits beyond the display scale are truncated, as PostgreSQL does."""
    if len(raw) < 8:
        raise ValueError("binary numeric too short")
    ndigits, weight, sign, dscale = struct.unpack("!hhHh", raw[:8])
    if sign == 0xC000:
        return decimal.Decimal("NaN")
    if sign == 0xD000:
        return decimal.Decimal("Infinity")
    if sign == 0xF000:
        return decimal.Decimal("-Infinity")
    if sign not in (0, 0x4000) or ndigits < 0 or not 0 <= dscale <= 0x3FFF or len(raw) != 8 + 2 * ndigits:
        raise ValueError("malformed binary numeric")
    groups = struct.unpack(f"!{ndigits}H", raw[8:])
    if any(group > 9999 for group in groups):
        raise ValueError("malformed binary numeric: digit out of range")
    digits = "".join(f"{group:04d}" for group in groups).lstrip("0") or "0"
    exponent = (weight - ndigits + 1) * 4  # the value is digits * 10**exponent
    value = decimal.Decimal((1 if sign == 0x4000 else 0, tuple(map(int, digits)), exponent))
    context = decimal.Context(prec=len(digits) + max(exponent, 0) + dscale + 2, rounding=decimal.ROUND_DOWN,
                              Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
    return value.quantize(decimal.Decimal((0, (1,), -dscale)), context=context)


def _decode_binary_value(raw: bytes, oid: int) -> Any:
    """A binary-format parameter of a scalar type (or an array, by its element)."""
    if oid in _TEXT_OIDS:
        return raw.decode("utf-8")
    if oid == 16:
        return _exact(raw, 1, oid) != b"\0"
    if oid == 21:
        return _I16.unpack(_exact(raw, 2, oid))[0]
    if oid == 23:
        return _I32.unpack(_exact(raw, 4, oid))[0]
    if oid == 20:
        return _I64.unpack(_exact(raw, 8, oid))[0]
    if oid == 26:
        return struct.unpack("!I", _exact(raw, 4, oid))[0]
    if oid == 700:
        return _F32.unpack(_exact(raw, 4, oid))[0]
    if oid == 701:
        return _F64.unpack(_exact(raw, 8, oid))[0]
    if oid == 1700:
        return _decode_numeric(raw)
    if oid == 17:
        return bytes(raw)
    if oid == 1082:
        return _python_date(_I32.unpack(_exact(raw, 4, oid))[0])
    if oid == 1083:
        return _python_time(_I64.unpack(_exact(raw, 8, oid))[0])
    if oid == 1266:
        micros, west = struct.unpack("!qi", _exact(raw, 12, oid))
        if abs(west) > 15 * 3600 + 59 * 60 + 59:
            raise ValueError("time zone offset out of range")
        value = _python_time(micros)
        if isinstance(value, str):
            return value + _offset_text(-west)
        return value.replace(tzinfo=dt.timezone(dt.timedelta(seconds=-west)))
    if oid in (1114, 1184):
        return _python_timestamp(_I64.unpack(_exact(raw, 8, oid))[0], oid == 1184)
    if oid == 1186:
        micros, days, months = struct.unpack("!qii", _exact(raw, 16, oid))
        return _interval_parameter(months, days, micros)
    if oid == 2950:
        return uuid.UUID(bytes=_exact(raw, 16, oid))
    if oid == 3802:
        if raw[:1] != b"\x01":
            raise ValueError("unsupported jsonb version")
        return raw[1:].decode("utf-8")
    raise BinaryUnsupported(f"OID {oid}")


def _decode_binary_array(raw: bytes, element_oid: int) -> list[Any]:
    """array_recv: ndim, flags, element OID, (size, lower bound) per dimension, then the elements."""
    if len(raw) < 12:
        raise ValueError("binary array too short")
    ndim, flags, sent_oid = struct.unpack("!iii", raw[:12])
    if flags not in (0, 1) or not 0 <= ndim <= 6:
        raise ValueError("malformed binary array header")
    if sent_oid != element_oid and not (element_oid in _TEXT_OIDS and sent_oid in _TEXT_OIDS):
        raise ValueError(f"array of element type {sent_oid}, expected {element_oid}")
    if ndim == 0:
        if len(raw) != 12:
            raise ValueError("trailing bytes after an empty array")
        return []
    offset = 12 + 8 * ndim
    if len(raw) < offset:
        raise ValueError("binary array too short")
    dims = [struct.unpack_from("!ii", raw, 12 + 8 * i)[0] for i in range(ndim)]
    if any(size < 0 for size in dims):
        raise ValueError("negative array dimension")
    total = math.prod(dims)
    if total > len(raw):  # every element takes at least 4 bytes: refuse before allocating
        raise ValueError("array dimensions exceed the data")
    flat: list[Any] = []
    for _ in range(total):
        if offset + 4 > len(raw):
            raise ValueError("binary array truncated")
        (length,) = _I32.unpack_from(raw, offset)
        offset += 4
        if length == -1:
            flat.append(None)
            continue
        if length < 0 or offset + length > len(raw):
            raise ValueError("binary array element length out of range")
        flat.append(_decode_binary_value(raw[offset:offset + length], element_oid))
        offset += length
    if offset != len(raw):
        raise ValueError("trailing bytes after binary array")
    for size in reversed(dims[1:]):
        flat = [flat[i:i + size] for i in range(0, len(flat), size)] if size else []
    return flat


def decode_parameter(raw: bytes, oid: int, fmt: int) -> Any:
    """A Bind parameter as the Python value DuckDB should bind (never spliced into SQL text).

    Text (fmt 0) accepts what PostgreSQL's input functions accept for the common spellings; binary
    (fmt 1) is the type's recv layout, checked strictly. Malformed input raises ValueError; a binary
    parameter of a type without a binary form here raises BinaryUnsupported. OID 0 (unspecified)
    stays a str either way, and DuckDB casts it where it is used.
    """
    raw = bytes(raw)
    element = _ARRAY_ELEMENTS.get(oid)
    if fmt == 0:
        text = raw.decode("utf-8")
        if element is not None:
            return _parse_array_text(text, element)
        return _parse_text_value(text, oid)
    if fmt == 1:
        if element is not None:
            return _decode_binary_array(raw, element)
        return _decode_binary_value(raw, oid)
    raise ValueError(f"invalid parameter format code {fmt}")
