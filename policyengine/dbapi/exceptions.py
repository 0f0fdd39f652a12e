"""PEP 249's exception hierarchy, plus :class:`PolicyDenied` for refusals by policy."""

from __future__ import annotations


class Warning(Exception):  # noqa: A001 - the name PEP 249 requires
    pass


class Error(Exception):
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    #: PostgreSQL-style SQLSTATE, where one applies
    sqlstate: str = "XX000"


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


class PolicyDenied(ProgrammingError):
    """The policy engine refused the statement; ``reason`` names the construct, never a value."""

    sqlstate = "42501"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class PolicyNotice(UserWarning):
    """Something the reader should know about a result, e.g. that a row filter reading a principal
    attribute the subject does not have shows no rows. Issued with :func:`warnings.warn` and kept in
    ``Cursor.messages`` (PEP 249's extension) as ``(PolicyNotice, text)``."""


def from_sqlstate(message: str, sqlstate: str) -> DatabaseError:
    """PEP 249's class for a SQLSTATE: every data exception (class 22: 22003 overflow, 22012 division by
    zero, 22P02 invalid input...) is a DataError, as psycopg maps them."""
    cls = {
        "42601": ProgrammingError, "42703": ProgrammingError, "42501": ProgrammingError,
        "57014": OperationalError, "53200": OperationalError, "3D000": OperationalError,
    }.get(sqlstate, DataError if sqlstate.startswith("22") else DatabaseError)
    error = cls(message)
    error.sqlstate = sqlstate
    return error
