"""The audit log: one JSON line per decision, allowed or refused, queryable with DuckDB.

Each line says who asked (principal, roles, environment), what (the statement and its
fingerprint), what ran (the rewritten SQL), what was read (each table and column with the
protection applied, and the row filter), the outcome and its reason, rows returned and duration.
Keys never appear: the rewritten SQL reads them from session variables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import sqlglot

from policyengine.bounded_cache import BoundedCache, text_bytes
from policyengine.decision import TableDecision

#: fingerprints kept per (statement text, dialect): by count and by the bytes of the texts
_FINGERPRINTS: BoundedCache[tuple[str, str], str] = BoundedCache(4096, budget=4 << 20, weigh=text_bytes)


def fingerprint(sql: str, dialect: str = "duckdb") -> str:
    """Same query shape, same fingerprint: literals and whitespace do not count."""
    return _FINGERPRINTS.get_or_make((sql, dialect), lambda: _fingerprint(sql, dialect))


def _fingerprint(sql: str, dialect: str) -> str:
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        for literal in tree.find_all(sqlglot.exp.Literal):
            literal.replace(sqlglot.exp.Placeholder())
        text = tree.sql(dialect=dialect, comments=False)
    except Exception:  # noqa: BLE001 - an unparsable statement still gets a fingerprint of its text
        text = " ".join(sql.split())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reads(decisions: tuple[TableDecision, ...] | list[TableDecision]) -> list[dict[str, Any]]:
    return [
        {
            "table": d.table_name,
            "columns": {c.column.name: c.shows for c in d.columns},
            "rows": d.rows.describe(),
        }
        for d in decisions
    ]


class Encoded(str):
    """A value already encoded as JSON (the same for every execution of a cached rewrite), written
    into the line as it is instead of being encoded again for every statement."""


#: how often a long-lived writer checks whether its file was rotated away (moved or deleted)
ROTATION_CHECK_SECONDS = 1.0


#: an audit file's mode when the log creates it: statements and what they read are for its owner only
FILE_MODE = 0o600


def _open_private(path: Path) -> Any:
    """``path`` opened to append, created owner-only (0600) if it does not exist.

    A file made with the default mode (0644 under the usual umask) would let every local user read
    the statements and the values written in them. The mode is given to the open call itself, so the
    file is never readable by others, not even between its creation and a chmod; a file that exists
    already (one logrotate created with its own ``create`` mode) keeps the mode it was given.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        return os.fdopen(descriptor, "a", encoding="utf-8")
    except BaseException:
        os.close(descriptor)
        raise


class AuditLog:
    """Appends JSON lines to a file; safe to share between threads.

    The file stays open between lines (a front door writes one per statement; opening it each time
    cost more than encoding the line), is flushed after every line so a crash loses nothing, and is
    reopened when logrotate or a user moves or deletes it.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handle: Any = None
        self._checked = 0.0

    def record(self, **fields: Any) -> None:
        encoded = {k: fields.pop(k) for k in [k for k, v in fields.items() if isinstance(v, Encoded)]}
        entry = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **fields}
        line = json.dumps(entry, default=str, separators=(",", ":"))
        if encoded:
            line = line[:-1] + "".join(f",{json.dumps(k)}:{v}" for k, v in encoded.items()) + "}"
        with self._lock:
            handle = self._open()
            handle.write(line + "\n")
            handle.flush()

    def _open(self) -> Any:
        now = time.monotonic()
        if self._handle is not None and now - self._checked >= ROTATION_CHECK_SECONDS:
            self._checked = now
            try:
                on_disk, ours = os.stat(self.path), os.fstat(self._handle.fileno())
                moved = (on_disk.st_ino, on_disk.st_dev) != (ours.st_ino, ours.st_dev)
            except OSError:
                moved = True
            if moved:
                self._handle.close()
                self._handle = None
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = _open_private(self.path)
            self._checked = now
        return self._handle

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
