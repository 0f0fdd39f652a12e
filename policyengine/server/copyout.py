"""``COPY (query) TO STDOUT``: CopyOutResponse, then the rows in PostgreSQL's text, CSV or binary format.

Tools that dump data (psql's ``\\copy``, pg_dump-style scripts, psycopg's ``cursor.copy()``, JDBC's
CopyManager) parse the stream with PostgreSQL's own rules, so the bytes follow ``COPY TO`` exactly:
values in their text output form (binary.py's formatters) escaped as CopyAttributeOutText /
CopyAttributeOutCSV escape them, or the binary tuple format with the send functions' bytes.
Option parsing is the caller's; this module only turns rows into CopyData.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from policyengine.server.binary import BinaryUnsupported, binary_encoder, text_formatter

__all__ = ["BinaryUnsupported", "CopyEncoder", "copy_out_response"]

_FORMATS = {"text": 0, "csv": 0, "binary": 1}
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_NULL_FIELD = b"\xff\xff\xff\xff"
#: PGCOPY signature, flags (no OIDs), header extension length: the binary stream's fixed prologue
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
BINARY_TRAILER = struct.pack("!h", -1)
COPY_DONE = b"c\x00\x00\x00\x04"
#: rows are gathered into CopyData messages of about this size: fewer writes, bounded memory


def _copy_data(payload: bytes) -> bytes:
    return b"d" + _I32.pack(len(payload) + 4) + payload


def copy_out_response(fmt: str, column_count: int) -> bytes:
    """CopyOutResponse ('H'): overall format (0 text/CSV, 1 binary) and the same code per column."""
    try:
        code = _FORMATS[fmt.lower()]
    except KeyError:
        raise ValueError(f"COPY format {fmt!r} not recognized") from None
    return b"H" + _I32.pack(4 + 1 + 2 + 2 * column_count) + struct.pack(
        f"!bh{column_count}h", code, column_count, *([code] * column_count))


def _single_byte(name: str, value: str) -> str:
    if len(value) != 1 or len(value.encode()) != 1:
        raise ValueError(f"COPY {name} must be a single one-byte character")
    return value


class CopyEncoder:
    """Turns result rows into one COPY TO STDOUT stream: ``start()``, ``rows()`` per batch, ``end()``.

    ``columns`` names the header line (CSV or text with ``header=True``). Defaults follow PostgreSQL:
    text uses tab and ``\\N``, CSV uses comma, the empty string for NULL, ``"`` to quote and to escape.
    Binary raises BinaryUnsupported at construction for a column without a binary form, so the error
    comes before CopyOutResponse rather than halfway through the stream.
    """

    def __init__(self, types: Sequence[str], fmt: str, *, header: bool = False, delimiter: str | None = None,
                 null: str | None = None, quote: str | None = '"', escape: str | None = None,
                 columns: Sequence[str] | None = None, zone: str = "UTC"):
        self.format = fmt.lower()
        if self.format not in _FORMATS:
            raise ValueError(f"COPY format {fmt!r} not recognized")
        self.types = list(types)
        self.header = header
        self._signature_pending = False
        self.columns = list(columns) if columns is not None else None
        if header and self.columns is None:
            raise ValueError("a COPY header needs the column names")
        if header and self.format == "binary":
            raise ValueError("cannot specify HEADER in BINARY mode")
        if self.format == "binary":
            if delimiter is not None or null is not None:
                raise ValueError("cannot specify DELIMITER or NULL in BINARY mode")
            self._encoders = [binary_encoder(kind) for kind in self.types]
            return
        self._formatters = [text_formatter(kind, zone) for kind in self.types]  # timestamptz in the session's zone
        csv = self.format == "csv"
        default_delimiter = "," if csv else "\t"
        self.delimiter = _single_byte("delimiter", delimiter if delimiter is not None else default_delimiter)
        self.null = null if null is not None else ("" if csv else "\\N")
        if self.delimiter in "\r\n":
            raise ValueError("COPY delimiter cannot be newline or carriage return")
        if "\r" in self.null or "\n" in self.null:
            raise ValueError("COPY null representation cannot use newline or carriage return")
        if csv:
            self.quote = _single_byte("quote", quote if quote is not None else '"')
            self.escape = _single_byte("escape", escape if escape is not None else self.quote)
            if self.delimiter == self.quote:
                raise ValueError("COPY delimiter and quote must be different")
            if self.delimiter in self.null or self.quote in self.null:
                raise ValueError("CSV NULL string cannot contain the delimiter or quote")
            # CopyAttributeOutCSV: quote values holding the delimiter, the quote, CR or LF; inside
            # quotes, put the escape character before each quote and escape character
            self._needs_quotes = re.compile("[" + re.escape(self.delimiter + self.quote) + "\r\n]").search
            self._quote_escapes = {ord(self.quote): self.escape + self.quote,
                                   ord(self.escape): self.escape + self.escape}
        else:
            if self.delimiter in "\\.abcdefghijklmnopqrstuvwxyz0123456789":
                raise ValueError(f"COPY delimiter cannot be {self.delimiter!r}")
            if self.delimiter in self.null:
                raise ValueError("COPY delimiter must not appear in the NULL specification")
            # CopyAttributeOutText: C-style escapes for control characters, a backslash before itself
            # and before the delimiter
            self._text_escapes = {ord("\\"): "\\\\", ord("\b"): "\\b", ord("\f"): "\\f", ord("\n"): "\\n",
                                  ord("\r"): "\\r", ord("\t"): "\\t", ord("\v"): "\\v"}
            self._text_escapes.setdefault(ord(self.delimiter), "\\" + self.delimiter)

    # --- text and CSV ------------------------------------------------------------------------------

    def _csv_field(self, text: str, single: bool) -> str:
        if text == self.null or self._needs_quotes(text) or (single and text == "\\."):
            return self.quote + text.translate(self._quote_escapes) + self.quote
        return text

    def _line(self, row: Sequence[Any]) -> str:
        if len(row) != len(self._formatters):
            raise ValueError(f"row has {len(row)} values for {len(self._formatters)} columns")
        if self.format == "csv":
            single = len(row) == 1
            fields = [self.null if value is None else self._csv_field(formatter(value), single)
                      for formatter, value in zip(self._formatters, row)]
        else:
            escapes = self._text_escapes
            fields = [self.null if value is None else formatter(value).translate(escapes)
                      for formatter, value in zip(self._formatters, row)]
        return self.delimiter.join(fields) + "\n"

    # --- binary --------------------------------------------------------------------------------------

    def _tuple(self, row: Sequence[Any]) -> bytes:
        if len(row) != len(self._encoders):
            raise ValueError(f"row has {len(row)} values for {len(self._encoders)} columns")
        parts = [_I16.pack(len(row))]
        add = parts.append
        pack_length = _I32.pack
        for encode, value in zip(self._encoders, row):
            if value is None:
                add(_NULL_FIELD)
            else:
                data = encode(value)
                add(pack_length(len(data)))
                add(data)
        return b"".join(parts)

    # --- the stream ----------------------------------------------------------------------------------

    def start(self) -> bytes:
        """What comes right after CopyOutResponse: the header line, or nothing. The binary signature
        is not sent alone: PostgreSQL sends it in the first row's CopyData, and readers such as the
        ADBC driver and psycopg parse each CopyData as whole rows (the first one after the header)."""
        if self.format == "binary":
            self._signature_pending = True
            return b""
        if not self.header:
            return b""
        assert self.columns is not None
        if self.format == "csv":
            single = len(self.columns) == 1
            names = [self._csv_field(name, single) for name in self.columns]
        else:
            names = [name.translate(self._text_escapes) for name in self.columns]
        return _copy_data((self.delimiter.join(names) + "\n").encode())

    def rows(self, rows: Iterable[Sequence[Any]]) -> bytes:
        """One CopyData message per row, as PostgreSQL sends them (clients parse message by message)."""
        if self.format == "binary":
            out = [_copy_data(self._tuple(row)) for row in rows]
            if out and self._signature_pending:
                out[0] = _copy_data(BINARY_HEADER + out[0][5:])
                self._signature_pending = False
            return b"".join(out)
        return b"".join(_copy_data(self._line(row).encode()) for row in rows)

    def end(self) -> bytes:
        """The binary trailer (field count -1) if binary, then CopyDone."""
        if self.format == "binary":
            if self._signature_pending:  # no rows: the signature and the trailer together
                self._signature_pending = False
                return _copy_data(BINARY_HEADER + BINARY_TRAILER) + COPY_DONE
            return _copy_data(BINARY_TRAILER) + COPY_DONE
        return COPY_DONE
