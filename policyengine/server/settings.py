"""A session's run-time parameters: what SET changes, SHOW and current_setting() read, and which
changes the client must be told about (ParameterStatus), as PostgreSQL reports them."""

from __future__ import annotations

import math
import re
import zoneinfo
from functools import lru_cache

from policyengine.rewrite import Refused

SERVER_VERSION = "15.0 (policyengine)"

#: sent at startup, and again whenever SET changes one of them (PostgreSQL's GUC_REPORT parameters)
REPORTED = {
    "server_version": SERVER_VERSION, "server_encoding": "UTF8", "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY", "TimeZone": "UTC", "integer_datetimes": "on", "standard_conforming_strings": "on",
    "IntervalStyle": "postgres", "is_superuser": "off", "application_name": "",
    "default_transaction_read_only": "on", "in_hot_standby": "off",
}
OTHERS = {
    "search_path": "main", "extra_float_digits": "1", "transaction_isolation": "read committed",
    "transaction_read_only": "on", "statement_timeout": "0", "lock_timeout": "0", "jit": "off",
    "max_identifier_length": "63", "bytea_output": "hex", "lc_messages": "C", "lc_monetary": "C",
    "lc_numeric": "C", "lc_time": "C", "session_authorization": "", "default_transaction_isolation": "read committed",
    "max_index_keys": "32", "server_version_num": "150000", "idle_in_transaction_session_timeout": "0",
    # the database's collation and character classes: C, as DuckDB sorts text (by its bytes) and as the
    # front door maps case (ASCII letters only: policyengine/rewrite/postgres_case.py)
    "lc_collate": "C", "lc_ctype": "C",
}
#: parameters a client may not change: the wire format and the identity depend on them
FIXED = {"server_version", "server_encoding", "integer_datetimes", "is_superuser", "session_authorization",
         "standard_conforming_strings", "server_version_num", "max_index_keys", "max_identifier_length",
         "in_hot_standby", "transaction_read_only", "default_transaction_read_only", "lc_collate", "lc_ctype"}
#: values a client may set these to (anything else changes what the bytes on the wire mean)
ALLOWED = {"client_encoding": {"utf8", "utf-8", "unicode"}, "bytea_output": {"hex"},
           "intervalstyle": {"postgres"}}


DEFAULT_ZONE = "UTC"
#: a POSIX zone without daylight rules: an optional name (3+ letters, or <...>), then hours west of UTC
_POSIX_ZONE = re.compile(r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]+>)?([+-]?)(\d{1,2})(?::([0-5]\d))?(?::([0-5]\d))?")


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def _fixed_zone(east: int, shown: str) -> tuple[str, str]:
    """The zone for a fixed offset ``east`` seconds east of UTC: UTC, Etc/GMT-N (POSIX-signed) for whole
    hours, else ``fixed:<seconds>`` (binary.py prints it with that offset: ``-05:30``)."""
    if east == 0:
        return shown, "UTC"
    if abs(east) >= 86_400:  # PostgreSQL takes up to a week; no datetime can carry that offset
        raise Refused(f'time zone "{shown}" is not supported: its offset is a day or more', kind="unsupported")
    if east % 3600 == 0 and -12 <= east // 3600 <= 14:
        return shown, f"Etc/GMT{-east // 3600:+d}"
    return shown, f"fixed:{east}"


def time_zone(value: str) -> tuple[str, str]:
    """(what SHOW TimeZone answers, the IANA zone values are printed in) for a value of PostgreSQL's TimeZone, read as
    variable.c's check_timezone does: a number is hours EAST of UTC (SQL's sign, shown as POSIX's
    ``<+02>-02``); else a zone name (case-insensitive, shown as the database spells it); else a POSIX
    zone such as ``+02:00`` or ``UTC+3``, whose offset is hours WEST of UTC (so ``+02:00`` is UTC-2)."""
    text = value.strip()
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if math.isfinite(hours):
        east = round(hours * 3600)
        hh, mm = divmod(abs(east) // 60, 60)
        clock = f"{hh:02d}" + (f":{mm:02d}" if mm else "")
        return _fixed_zone(east, f"<{'-' if east < 0 else '+'}{clock}>{'+' if east < 0 else '-'}{clock}")
    name = _zone_names().get(text.lower())
    if name is not None:
        return name, name
    posix = _POSIX_ZONE.fullmatch(text)
    if posix is not None:
        west = int(posix.group(2)) * 3600 + int(posix.group(3) or 0) * 60 + int(posix.group(4) or 0)
        return _fixed_zone(west if posix.group(1) == "-" else -west, text)
    raise Refused(f'invalid value for parameter "TimeZone": "{value}"', kind="invalid")


#: guc.c's time units for a parameter in milliseconds, and how SHOW prints them (largest exact unit)
_TIME_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_TIME_VALUE = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-z]*)\s*")
MAX_MILLISECONDS = 2_147_483_647


def milliseconds(name: str, value: str) -> tuple[str, int]:
    """(what SHOW answers, milliseconds) for a time parameter such as statement_timeout, read as
    guc.c's parse_int does: a number with no unit is milliseconds, fractions are rounded."""
    match = _TIME_VALUE.fullmatch(value)
    if match is None or match.group(2) not in ("", *_TIME_UNITS):
        raise Refused(f'invalid value for parameter "{name}": "{value}"', kind="invalid")
    number = round(float(match.group(1)) * _TIME_UNITS[match.group(2) or "ms"])
    if not 0 <= number <= MAX_MILLISECONDS:
        raise Refused(f'{number} ms is outside the valid range for parameter "{name}" (0 .. {MAX_MILLISECONDS})',
                      kind="invalid")
    if number == 0:
        return "0", 0
    unit = next(u for u in ("d", "h", "min", "s", "ms") if number % _TIME_UNITS[u] == 0)
    return f"{number // _TIME_UNITS[unit]}{unit}", number


class Settings:
    def __init__(self, user: str, application_name: str = ""):
        self._values: dict[str, str] = {**REPORTED, **OTHERS, "session_authorization": user,
                                        "application_name": application_name}
        self._defaults = dict(self._values)
        self._names = {name.lower(): name for name in self._values}
        #: the zone (an IANA name) this session's timestamptz values are printed in; SHOW TimeZone
        #: answers the PostgreSQL spelling. DuckDB's own TimeZone stays UTC: the backend locks its
        #: configuration, so casts and date arithmetic on timestamptz are computed in UTC
        self.zone = DEFAULT_ZONE
        #: statement_timeout in milliseconds (0: none), as the session enforces it
        self.statement_timeout = 0

    def canonical(self, name: str) -> str:
        return self._names.get(name.lower(), name)

    def get(self, name: str) -> str | None:
        return self._values.get(self.canonical(name))

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)

    def set(self, name: str, value: str | None) -> list[tuple[str, str]]:
        """Set (None: reset) a parameter; returns the (name, value) pairs to report to the client."""
        key = self.canonical(name)
        if key.lower() in {f.lower() for f in FIXED}:
            if value is not None and value == self._values.get(key):
                return []
            raise Refused(f'parameter "{name}" cannot be changed', kind="policy")
        if value is None:
            value = self._defaults.get(key, "")
        allowed = ALLOWED.get(key.lower())
        if allowed is not None and value.lower() not in allowed:
            raise Refused(f'invalid value for parameter "{name}": "{value}"', kind="invalid")
        if key.lower() == "client_encoding":
            value = "UTF8"
        if key.lower() == "datestyle" and not value.upper().startswith("ISO"):
            raise Refused('only DateStyle ISO is supported', kind="invalid")
        if key.lower() == "datestyle":
            value = "ISO, MDY"
        if key.lower() == "timezone":
            value, self.zone = time_zone(value)
        if key.lower() == "statement_timeout":
            value, self.statement_timeout = milliseconds(key, value)
        self._values[key] = value
        self._names[key.lower()] = key
        return [(key, value)] if key in REPORTED else []

    def reset_all(self) -> list[tuple[str, str]]:
        changed = [(k, v) for k, v in self._defaults.items() if self._values.get(k) != v and k in REPORTED]
        self._values = dict(self._defaults)
        self.zone = DEFAULT_ZONE
        self.statement_timeout = 0
        return changed
