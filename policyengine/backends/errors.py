"""Database errors as a reader may see them: never a value, never the rewritten SQL.

DuckDB's messages can carry values (conversion and overflow errors print the offending value,
which inside a row filter is a raw one) and echo the statement (``LINE 1: ...``, with the
wrappers' internals). Only the error class and, for naming errors, the first line survive.
"""

from __future__ import annotations

import re

import duckdb


class QueryFailed(Exception):
    """A sanitized database error; ``sqlstate`` follows PostgreSQL's codes for the front door."""

    def __init__(self, message: str, sqlstate: str = "XX000"):
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate


_INTERNAL = re.compile(r'"?__pe_[0-9a-f]+_(?:cte)?\d+"?\.?')


def _first_line(error: BaseException) -> str:
    text = str(error).split("\n", 1)[0]
    text = text.split("Candidate bindings", 1)[0].split("LINE ", 1)[0].strip()
    return _INTERNAL.sub("", text).rstrip(":! ")


#: DuckDB's type names as PostgreSQL's messages name them
_TYPE_WORDS = {
    "-32768": "smallint", "-2147483648": "integer", "-9223372036854775808": "bigint",
    "INT16": "smallint", "INT32": "integer", "INT64": "bigint", "INT128": "numeric", "DOUBLE": "double precision",
    "FLOAT": "real", "BOOL": "boolean", "INTERVAL": "interval", "DATE": "date", "UUID": "uuid", "DECIMAL": "numeric",
}

#: DuckDB's data errors by the words of their message, as PostgreSQL's SQLSTATE and a fixed text: the
#: message itself (which prints the offending value) is only read, never passed on. The first match wins.
_DATA_ERRORS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"Division by zero"), "22012", "division by zero"),
    # the errors the PostgreSQL-semantics rewrite raises with error('...'), PostgreSQL's own texts
    (re.compile(r"^Invalid Input Error: negative substring length not allowed$"), "22011",
     "negative substring length not allowed"),
    (re.compile(r"^Invalid Input Error: date out of range$"), "22008", "date out of range"),
    (re.compile(r"Overflow in \w+ of (INT16|INT32|INT64)\b"), "22003", "{} out of range"),
    (re.compile(r"Overflow in \w+ of DECIMAL"), "22003", "numeric value out of range"),
    # abs() of the smallest integer: the type read from the width of the value (which is never passed on)
    (re.compile(r"Overflow on abs\((-32768|-2147483648|-9223372036854775808)\)"), "22003", "{} out of range"),
    (re.compile(r"out of range for the destination type (INT16|INT32|INT64)\b"), "22003", "{} out of range"),
    (re.compile(r"Failed to cast decimal value .* to type (INT16|INT32|INT64)\b"), "22003", "{} out of range"),
    (re.compile(r"Casting value .* to type DECIMAL.* failed: value is out of range"), "22003",
     "numeric field overflow"),
    (re.compile(r"\b(?:date|timestamp|time) field value out of range"), "22008", "date/time field value out of range"),
    (re.compile(r"^(?:Conversion|Out of Range) Error: Date out of range"), "22008", "date out of range"),
    (re.compile(r"not in timestamp range|Timestamp out of range|timestamp out of range"), "22008",
     "timestamp out of range"),
    (re.compile(r"Interval value .* out of range|[Ii]nterval out of range|Interval \w+ \w+ out of range"), "22008",
     "interval out of range"),
    # a negation's overflow: an integer's (intervals are negated as a subtraction: postgres_intervals.py)
    (re.compile(r"Overflow in negation of numeric value"), "22003", "integer out of range"),
    (re.compile(r"invalid (date|timestamp|time) field format"), "22007", "invalid input syntax for type {}"),
    (re.compile(r"Could not convert string .* to (INT16|INT32|INT64|DOUBLE|FLOAT|BOOL|INTERVAL|DECIMAL|UUID)\b"),
     "22P02", "invalid input syntax for type {}"),
)


#: DuckDB's "Catalog Error: Scalar Function with name width_bucket does not exist!"
_MISSING_FUNCTION = re.compile(r"(?:Scalar|Aggregate|Table) Function with name \"?(\w+)\"? does not exist")


def _data_error(text: str) -> tuple[str, str] | None:
    """(SQLSTATE, fixed text) of a DuckDB data error PostgreSQL reports with a code of its own, or None.

    >>> _data_error("Out of Range Error: Overflow in addition of INT32 (2147483647 + 1)!")
    ('22003', 'integer out of range')
    """
    first = text.split("\n", 1)[0]
    for pattern, sqlstate, message in _DATA_ERRORS:
        match = pattern.search(first)
        if match is not None:
            word = match.group(1) if match.groups() else ""
            return sqlstate, message.format(_TYPE_WORDS.get(word, word.lower()))
    return None


def sanitize(error: BaseException) -> QueryFailed:
    if isinstance(error, duckdb.InterruptException):
        return QueryFailed("canceled: the query was interrupted or exceeded its time limit", "57014")
    if isinstance(error, OverflowError):  # a row DuckDB cannot make a Python value (a timedelta holds 999999999 days)
        return QueryFailed("a value beyond what the server can send (an interval of more than 999999999 days, or a "
                           "date or timestamp outside years 1 to 9999) cannot be given PostgreSQL's exact meaning here",
                           "0A000")
    if isinstance(error, duckdb.OutOfMemoryException):
        return QueryFailed("the query ran out of memory", "53200")
    if isinstance(error, (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException,
                          duckdb.TypeMismatchException)):
        if "maximum execution time" in str(error).lower():
            return QueryFailed("canceled: the query exceeded its time limit", "57014")
        known = _data_error(str(error))
        if known is not None:
            return QueryFailed(known[1], known[0])
        kind = type(error).__name__.removesuffix("Exception")
        return QueryFailed(f"{kind} error: a value could not be converted, was out of range or was invalid", "22000")
    if isinstance(error, duckdb.CatalogException):
        missing = _MISSING_FUNCTION.search(str(error))
        if missing is not None:  # a function of the reader's dialect that DuckDB has not: not supported
            return QueryFailed(f"function {missing.group(1).lower()}() is not available on this database", "0A000")
    if isinstance(error, duckdb.BinderException) and "GROUP BY clause cannot contain aggregates" in str(error):
        return QueryFailed("aggregate functions are not allowed in GROUP BY", "42803")  # PostgreSQL's grouping_error
    if isinstance(error, (duckdb.BinderException, duckdb.CatalogException)):
        return QueryFailed(_first_line(error), "42703")
    if isinstance(error, (duckdb.ParserException, duckdb.SyntaxException)):
        return QueryFailed(_first_line(error), "42601")
    if isinstance(error, duckdb.PermissionException):
        return QueryFailed("not permitted by the database's hardening", "42501")
    return QueryFailed(f"the query failed ({type(error).__name__})", "XX000")


#: DuckDB's error classes by the prefix of their messages ("Conversion Error: ..."), for errors that
#: reach Python through another library (an Arrow stream raises OSError with DuckDB's message)
_BY_PREFIX = {
    "Conversion": duckdb.ConversionException, "Out of Range": duckdb.OutOfRangeException,
    "Invalid Input": duckdb.InvalidInputException, "Type Mismatch": duckdb.TypeMismatchException,
    "INTERRUPT": duckdb.InterruptException, "Interrupt": duckdb.InterruptException,
    "Out of Memory": duckdb.OutOfMemoryException, "Binder": duckdb.BinderException,
    "Catalog": duckdb.CatalogException, "Parser": duckdb.ParserException, "Permission": duckdb.PermissionException,
}


def sanitize_streamed(error: BaseException) -> QueryFailed:
    """``sanitize`` for an error raised while reading a stream: DuckDB's own class where it is one,
    else the class its message names; the message itself is never passed on."""
    if isinstance(error, QueryFailed):
        return error
    if isinstance(error, duckdb.Error):
        return sanitize(error)
    kind = str(error).split(" Error:", 1)[0].strip() if " Error:" in str(error) else ""
    known = _BY_PREFIX.get(kind)
    if known is not None:
        return sanitize(known(str(error)))
    return QueryFailed(f"the query failed ({type(error).__name__})", "XX000")
