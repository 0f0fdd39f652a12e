"""A session's run-time parameters: what SET changes, SHOW and current_setting() read, and which
changes the client must be told about (ParameterStatus), as PostgreSQL reports them."""

from __future__ import annotations

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
}
#: parameters a client may not change: the wire format and the identity depend on them
FIXED = {"server_version", "server_encoding", "integer_datetimes", "is_superuser", "session_authorization",
         "standard_conforming_strings", "server_version_num", "max_index_keys", "max_identifier_length",
         "in_hot_standby", "transaction_read_only", "default_transaction_read_only"}
#: values a client may set these to (anything else changes what the bytes on the wire mean)
ALLOWED = {"client_encoding": {"utf8", "utf-8", "unicode"}, "bytea_output": {"hex"},
           "intervalstyle": {"postgres"}}


class Settings:
    def __init__(self, user: str, application_name: str = ""):
        self._values: dict[str, str] = {**REPORTED, **OTHERS, "session_authorization": user,
                                        "application_name": application_name}
        self._defaults = dict(self._values)
        self._names = {name.lower(): name for name in self._values}

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
        self._values[key] = value
        self._names[key.lower()] = key
        return [(key, value)] if key in REPORTED else []

    def reset_all(self) -> list[tuple[str, str]]:
        changed = [(k, v) for k, v in self._defaults.items() if self._values.get(k) != v and k in REPORTED]
        self._values = dict(self._defaults)
        return changed
