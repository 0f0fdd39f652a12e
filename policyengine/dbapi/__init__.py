"""PEP 249 (DB-API 2.0): ``policyengine.connect(...)`` and everything a driver module exposes.

Every statement of every cursor is rewritten for the connection's subject and checked before it
runs; refusals raise :class:`PolicyDenied`, a ``ProgrammingError`` carrying the reason.
"""

from policyengine.dbapi.connection import Connection, Cursor, connect
from policyengine.dbapi.exceptions import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PolicyDenied,
    PolicyNotice,
    ProgrammingError,
    Warning,
)
from policyengine.dbapi.types import (
    BINARY,
    DATETIME,
    NUMBER,
    ROWID,
    STRING,
    Binary,
    Date,
    DateFromTicks,
    Time,
    TimeFromTicks,
    Timestamp,
    TimestampFromTicks,
)

apilevel = "2.0"
threadsafety = 1  # threads may share the module, not connections
paramstyle = "qmark"  # DuckDB also takes numeric ($1) and named ($name) parameters

__all__ = [
    "BINARY", "DATETIME", "NUMBER", "ROWID", "STRING", "Binary", "Connection", "Cursor", "DataError",
    "DatabaseError", "Date", "DateFromTicks", "Error", "IntegrityError", "InterfaceError", "InternalError",
    "NotSupportedError", "OperationalError", "PolicyDenied", "PolicyNotice", "ProgrammingError", "Time",
    "TimeFromTicks", "Timestamp", "TimestampFromTicks", "Warning", "apilevel", "connect", "paramstyle", "threadsafety",
]
