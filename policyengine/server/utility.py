"""Session and utility statements, recognized on their text before any SQL parser sees them.

sqlglot reads ``CLOSE c`` as an alias and ``BEGIN READ ONLY`` not at all, so statements that are
about the session (transactions, SET/SHOW, cursors, COPY, EXPLAIN) are recognized here by their
leading keywords; everything else is a query, parsed and judged by the engine. A statement that
starts with a keyword we know but cannot read is refused, never passed on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlglot.tokens import Tokenizer, TokenType

from policyengine.rewrite import Refused

_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'


def split_statements(text: str) -> list[str]:
    """The statements of a simple Query message, split at semicolons outside strings and comments."""
    try:
        tokens = Tokenizer().tokenize(text)
    except Exception:  # noqa: BLE001 - untokenizable text is one statement; the parser will say why
        return [text] if text.strip() else []
    out, start = [], 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            out.append(text[start:token.start])
            start = token.end + 1
    out.append(text[start:])
    return [s for s in out if strip_noise(s)]


def strip_noise(text: str) -> str:
    return _LEADING_NOISE.sub("", text, count=1).strip().rstrip(";").strip()


def unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


@dataclass(frozen=True)
class Transaction:
    action: str  # begin, commit, rollback, savepoint, release, rollback_to
    tag: str


@dataclass(frozen=True)
class SetStatement:
    name: str | None  # None: accepted without effect (SET SESSION CHARACTERISTICS ...)
    value: str | None  # None: RESET
    tag: str = "SET"


@dataclass(frozen=True)
class Show:
    name: str


@dataclass(frozen=True)
class NoOp:
    tag: str


@dataclass(frozen=True)
class Empty:
    """No statement at all ("", ";", only comments): PostgreSQL answers EmptyQueryResponse, in both
    protocols (pgjdbc's Connection.isValid() and lib/pq's ping send it)."""


@dataclass(frozen=True)
class Declare:
    name: str
    query: str
    binary: bool
    hold: bool


@dataclass(frozen=True)
class Fetch:
    name: str
    count: int | None  # None: ALL
    move: bool


@dataclass(frozen=True)
class Close:
    name: str | None  # None: ALL


@dataclass(frozen=True)
class Copy:
    query: str
    format: str  # text, csv, binary
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Explain:
    query: str


Utility = Transaction | SetStatement | Show | NoOp | Empty | Declare | Fetch | Close | Copy | Explain


def _value(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def recognize(statement: str) -> Utility | None:
    """The utility statement this text is, or None for a query."""
    text = strip_noise(statement)
    if not text or (text[0] == ";" and not split_statements(text)):
        return Empty()
    words = text.split(None, 3)
    first = words[0].upper()
    second = words[1].upper() if len(words) > 1 else ""
    if first in ("BEGIN", "START"):
        return Transaction("begin", "BEGIN" if first == "BEGIN" else "START TRANSACTION")
    if first in ("COMMIT", "END"):
        return Transaction("commit", "COMMIT")
    if first in ("ROLLBACK", "ABORT"):
        if re.match(r"ROLLBACK\s+(?:WORK\s+|TRANSACTION\s+)?TO\b", text, re.I):
            return Transaction("rollback_to", "ROLLBACK")
        return Transaction("rollback", "ROLLBACK")
    if first == "SAVEPOINT":
        return Transaction("savepoint", "SAVEPOINT")
    if first == "RELEASE":
        return Transaction("release", "RELEASE")
    if first == "SET":
        return _set(text)
    if first == "RESET":
        name = text[5:].strip()
        if re.fullmatch(r"ROLE|SESSION\s+AUTHORIZATION", name, re.I):
            return NoOp("RESET")  # back to the principal that logged in, which the session never leaves
        return SetStatement(None if name.upper() == "ALL" else unquote(name), None, "RESET")
    if first == "SHOW":
        return _show(text[4:].strip())
    if first == "DISCARD":
        return _discard(text)
    if first in ("DEALLOCATE", "UNLISTEN", "CHECKPOINT"):
        return NoOp(first if first != "DEALLOCATE" else "DEALLOCATE" + (" ALL" if second == "ALL" else ""))
    if first == "DECLARE":
        return _declare(text)
    if first in ("FETCH", "MOVE"):
        return _fetch(text, move=first == "MOVE")
    if first == "CLOSE":
        match = re.fullmatch(rf"CLOSE\s+(ALL|{_NAME})", text, re.I)
        if not match:
            raise Refused("could not read the CLOSE statement", kind="syntax")
        return Close(None if match.group(1).upper() == "ALL" else unquote(match.group(1)))
    if first == "COPY":
        return _copy(text)
    if first == "EXPLAIN":
        query = re.sub(r"^EXPLAIN\s+(?:\((?:[^()]*)\)\s*|(?:ANALYZE|VERBOSE)\s+)*", "", text, flags=re.I)
        return Explain(query)
    return None


#: gram.y's VariableShowStmt: the keyword forms SHOW takes besides a parameter's name
_SHOW_FORMS = {("TIME", "ZONE"): "timezone", ("TRANSACTION", "ISOLATION", "LEVEL"): "transaction_isolation",
               ("SESSION", "AUTHORIZATION"): "session_authorization"}


def _show(name: str) -> Show:
    words = tuple(name.upper().split())
    if words in _SHOW_FORMS:
        return Show(_SHOW_FORMS[words])
    if words == ("ALL",):
        return Show("all")
    if not name:
        raise Refused("syntax error at end of input", kind="syntax")
    if not re.fullmatch(rf"{_NAME}(?:\s*\.\s*{_NAME})*", name):
        words = name.split()
        raise Refused(f'syntax error at or near "{words[1] if len(words) > 1 else name}"', kind="syntax")
    return Show(".".join(unquote(part.strip()) for part in re.findall(rf"{_NAME}", name)))


def _set(text: str) -> SetStatement:
    body = re.sub(r"^SET\s+(?:SESSION\s+|LOCAL\s+)?", "", text, flags=re.I)
    upper = body.upper()
    if upper.startswith("CHARACTERISTICS") or upper.startswith("TRANSACTION"):
        return SetStatement(None, None)
    if re.fullmatch(r"ROLE\s+NONE|(?:SESSION\s+)?AUTHORIZATION\s+DEFAULT", body, re.I):
        # PostgreSQL's way back to the principal that logged in (Npgsql's connection reset starts with it):
        # the session never leaves that principal, so there is nothing to change
        return SetStatement(None, None)
    if upper.startswith(("ROLE", "AUTHORIZATION", "SESSION AUTHORIZATION")):
        raise Refused("the principal of a session is the one that logged in; SET ROLE and SET SESSION "
                      "AUTHORIZATION are not available", kind="policy")
    match = re.fullmatch(r"TIME\s+ZONE\s+(.+)", body, re.I | re.S)
    if match:  # gram.y's zone_value: a string, a number of hours, INTERVAL '...' [HOUR TO MINUTE], LOCAL, DEFAULT
        zone = match.group(1).strip()
        if zone.upper() in ("LOCAL", "DEFAULT"):
            return SetStatement("TimeZone", None)
        interval = re.fullmatch(r"INTERVAL\s+'([+-]?)(\d{1,2}):(\d{2})'(?:\s+HOUR\s+TO\s+MINUTE)?", zone, re.I)
        if interval:
            hours = int(interval.group(2)) + int(interval.group(3)) / 60
            return SetStatement("TimeZone", f"{'-' if interval.group(1) == '-' else ''}{hours:g}")
        return SetStatement("TimeZone", _value(zone))
    match = re.fullmatch(rf"({_NAME}(?:\.{_NAME})?)\s*(?:=|\s+TO\s+|\s+)\s*(.+)", body, re.I | re.S)
    if not match:
        raise Refused("could not read the SET statement", kind="syntax")
    values = [_value(v) for v in re.split(r",(?=(?:[^']*'[^']*')*[^']*$)", match.group(2))]
    return SetStatement(unquote(match.group(1)), ", ".join(values) if values != ["DEFAULT"] else None)


def _discard(text: str) -> NoOp:
    """DISCARD ALL | PLANS | SEQUENCES | TEMP[ORARY], tagged as PostgreSQL tags it. The session keeps no
    plans, sequence values or temporary tables; what else DISCARD ALL resets is the session's to do."""
    match = re.fullmatch(r"DISCARD\s+(ALL|PLANS|SEQUENCES|TEMP|TEMPORARY)", text, re.I)
    if not match:
        words = text.split()
        raise Refused(f'syntax error at or near "{words[1] if len(words) > 1 else "DISCARD"}"', kind="syntax")
    what = match.group(1).upper()
    return NoOp(f"DISCARD {'TEMP' if what == 'TEMPORARY' else what}")


def _declare(text: str) -> Declare:
    match = re.fullmatch(rf"DECLARE\s+({_NAME})\s+(.*?)\bCURSOR\b(\s+WITH(?:OUT)?\s+HOLD)?\s+FOR\s+(.+)",
                         text, re.I | re.S)
    if not match:
        raise Refused("could not read the DECLARE statement", kind="syntax")
    options = match.group(2).upper().split()
    if any(option not in ("BINARY", "INSENSITIVE", "NO", "SCROLL", "ASENSITIVE") for option in options):
        raise Refused(f"cursor options {match.group(2).strip()!r} are not supported", kind="unsupported")
    if "SCROLL" in options and "NO" not in options:
        raise Refused("scrollable cursors are not supported: declare it NO SCROLL", kind="unsupported")
    hold = bool(match.group(3)) and "WITHOUT" not in match.group(3).upper()
    return Declare(unquote(match.group(1)), match.group(4), "BINARY" in options, hold)


def _fetch(text: str, *, move: bool) -> Fetch:
    match = re.fullmatch(rf"(?:FETCH|MOVE)\s+(?:(NEXT|FORWARD\s+ALL|ALL|FORWARD\s+\d+|FORWARD|\d+)\s+)?"
                         rf"(?:(?:FROM|IN)\s+)?({_NAME})", text, re.I | re.S)
    if not match:
        raise Refused("could not read the FETCH statement (only forward fetches are supported)", kind="syntax")
    how = (match.group(1) or "NEXT").upper()
    count: int | None
    if how in ("NEXT", "FORWARD"):
        count = 1
    elif "ALL" in how:
        count = None
    else:
        count = int(how.split()[-1])
    return Fetch(unquote(match.group(2)), count, move)


def _copy(text: str) -> Copy:
    match = re.fullmatch(r"COPY\s*\((.+)\)\s*TO\s+STDOUT\b(.*)", text, re.I | re.S)
    if match:
        query, tail = match.group(1), match.group(2)
    else:
        match = re.fullmatch(rf"COPY\s+({_NAME}(?:\.{_NAME})?)\s*(?:\(([^)]*)\))?\s+TO\s+STDOUT\b(.*)",
                             text, re.I | re.S)
        if not match:
            if re.search(r"\bFROM\b", text, re.I):
                raise Refused("COPY ... FROM is not available: the front door is read-only", kind="policy")
            raise Refused("only COPY (query) TO STDOUT and COPY table TO STDOUT are supported", kind="unsupported")
        query = f"SELECT {match.group(2) or '*'} FROM {match.group(1)}"
        tail = match.group(3)
    options = _copy_options(tail)
    fmt = options.pop("format", "text").lower()
    if fmt not in ("text", "csv", "binary"):
        raise Refused(f"COPY format {fmt!r} is not supported", kind="unsupported")
    return Copy(query, fmt, options)


def _copy_options(tail: str) -> dict[str, str]:
    tail = re.sub(r"^\s*WITH\b", "", tail.strip(), flags=re.I).strip()
    options: dict[str, str] = {}
    if tail.startswith("("):
        if not tail.endswith(")"):
            raise Refused("could not read the COPY options", kind="syntax")
        for item in re.split(r",(?=(?:[^']*'[^']*')*[^']*$)", tail[1:-1]):
            parts = item.strip().split(None, 1)
            if parts:
                options[parts[0].lower()] = _value(parts[1]) if len(parts) > 1 else "true"
        return options
    words = tail.split()  # the old syntax: BINARY | CSV [HEADER] [DELIMITER 'x'] [NULL 'x'] ...
    index = 0
    while index < len(words):
        word = words[index].lower()
        if word in ("binary", "csv"):
            options["format"] = word
        elif word == "header":
            options["header"] = "true"
        elif word in ("delimiter", "null", "quote", "escape") and index + 1 < len(words):
            index += 1
            options[word] = _value(words[index])
        elif word == "as":
            pass
        else:
            raise Refused(f"COPY option {word!r} is not supported", kind="unsupported")
        index += 1
    return options
