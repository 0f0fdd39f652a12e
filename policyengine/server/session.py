"""One client connection: startup (TLS, SCRAM), then statements, each as the logged-in principal.

Every statement on every path (simple and extended protocol, cursors, COPY, EXPLAIN) is either a
session statement answered here (utility.py), a catalog query answered from the principal's own
shadow catalog (catalog/), or a query run by the policy engine. Nothing reaches the database
any other way. Results stream batch by batch from a worker thread, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from policyengine.backends.errors import QueryFailed
from policyengine.decision import Subject, subject_for
from policyengine.rewrite import Refused
from policyengine.rewrite.statement import read_postgres
from policyengine.server import arrow_rows, binary
from policyengine.server import extended as ext
from policyengine.server import messages as m
from policyengine.server import utility as u
from policyengine.server.catalog import SessionValues, is_catalog_statement
from policyengine.server.feed import Feed
from policyengine.server.parameters import infer_parameter_types
from policyengine.server.scram import ScramFailed, ScramMalformed, mock_exchange
from policyengine.server.settings import REPORTED, SERVER_VERSION, Settings
from policyengine.server.users import ITERATIONS

READ_DIALECT = "postgres"
REFUSAL_SQLSTATE = {"syntax": "42601", "policy": "42501", "unsupported": "0A000", "missing": "42P01",
                    "invalid": "22023", "position": "42P10", "grouping": "42803", "windowing": "42P20",
                    "undefined": "42883"}
FLUSH_BYTES = 1 << 18
TLS_HANDSHAKE_SECONDS = 10.0
#: from connect to ReadyForQuery, as PostgreSQL's authentication_timeout: a silent client is dropped
LOGIN_SECONDS = 60.0
log = logging.getLogger("policyengine.server")


class Closed(Exception):
    pass


class StatementError(Exception):
    """A statement failed: the ErrorResponse to send (the extended protocol then waits for Sync)."""

    def __init__(self, sqlstate: str, text: str):
        super().__init__(text)
        self.response = m.error_response(sqlstate, text)
        self.sqlstate = sqlstate


def _refused(refusal: Refused) -> StatementError:
    return StatementError(REFUSAL_SQLSTATE.get(refusal.kind, "42501"), refusal.reason)


def _target_and_name(payload: bytes, message: str) -> tuple[bytes, str]:
    """Describe and Close name a statement (S) or a portal (P)."""
    target = payload[:1]
    if target not in (b"S", b"P") or not payload.endswith(b"\0"):
        raise m.ProtocolViolation(f"malformed {message} message")
    try:
        return target, payload[1:-1].decode()
    except UnicodeDecodeError:
        raise m.ProtocolViolation(f"malformed {message} message") from None


class _TextCache:
    """Answers kept per statement text, least recently used first out, bounded by entries AND by an
    estimate of the bytes they hold: sqlglot's tree of a catalog query takes 60-100 bytes per character
    of its text (pgjdbc's getColumns, 2.5 kB of SQL, is a 170 kB tree; Npgsql's type-loading batch,
    23 kB, 2 MB), and BI tools send those with a different table name each time, so 2,048 kept
    trees held 350 MB. A text longer than ``longest`` is not kept at all."""

    def __init__(self, entries: int, budget: int, longest: int):
        self.entries, self.budget, self.longest = entries, budget, longest
        self._kept: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get_or_make(self, text: str, make: Any, weight: Any) -> Any:
        with self._lock:
            kept = self._kept.get(text)
            if kept is not None:
                self._kept.move_to_end(text)
                return kept[0]
        value = make(text)
        if len(text) > self.longest:
            return value
        cost = weight(text, value)
        with self._lock:
            if text not in self._kept:
                self._kept[text] = (value, cost)
                self._weight += cost
                while self._kept and (len(self._kept) > self.entries or self._weight > self.budget):
                    _, (_, gone) = self._kept.popitem(last=False)
                    self._weight -= gone
        return value

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._weight = 0


#: bytes a parsed catalog tree holds per character of its text (measured 57-102), and what the kept
#: trees, texts and recognized statements may hold
TREE_BYTES_PER_CHARACTER = 128
_CATALOG_TREES = _TextCache(entries=2048, budget=32 << 20, longest=64 << 10)
_RECOGNIZED = _TextCache(entries=2048, budget=8 << 20, longest=16 << 10)


def _parse_catalog(sql: str) -> exp.Expression | None:
    try:
        trees = [t for t in read_postgres(sql) if t is not None]
    except Exception:  # noqa: BLE001 - not ours to judge: the engine refuses it with its reason
        return None
    return trees[0] if len(trees) == 1 and is_catalog_statement(trees[0]) else None


def _catalog_tree(sql: str) -> exp.Expression | None:
    """The parsed statement if it is a catalog query, else None (parsed once per text: clients repeat
    the same statements; the tree is only read, translate.py works on a copy)."""
    return _CATALOG_TREES.get_or_make(
        sql, _parse_catalog, lambda text, tree: len(text) * (TREE_BYTES_PER_CHARACTER if tree is not None else 1))


def _recognized(text: str) -> u.Utility | None:
    """utility.recognize, once per text (its answers are frozen dataclasses; a refusal is not cached)."""
    return _RECOGNIZED.get_or_make(text, u.recognize, lambda text, _: len(text) + 200)


#: the type names a result column is announced as where PostgreSQL's type is not DuckDB's (binary.py)
_ANNOUNCED = {"varchar": "CHARACTER VARYING", "varchar[]": "CHARACTER VARYING[]"}


def _announced(types: list[str], result_types: tuple[str | None, ...]) -> list[str]:
    """DuckDB's result types, with the columns PostgreSQL announces as varchar (the rewrite's
    ``result_types``: DuckDB has only VARCHAR) named so."""
    if not result_types or len(result_types) != len(types):
        return types
    return [_ANNOUNCED.get(kind or "", duckdb_type) if duckdb_type.upper().startswith("VARCHAR") else duckdb_type
            for duckdb_type, kind in zip(types, result_types)]


def _opened(open_result: Any, *args: Any, **kwargs: Any) -> Feed:
    """Open a result and read its first rows (one batch ahead), in one worker-thread step."""
    return Feed(open_result(*args, **kwargs)).fill()


@dataclass
class Cursor:
    """A DECLAREd cursor: an open result read forward by FETCH."""

    feed: Feed
    binary: bool
    hold: bool


#: what one session may hold at once: each open portal or cursor keeps a DuckDB cursor and its result,
#: each prepared statement its text; past these a client gets 54000 instead of the server's memory.
#: Drivers keep far fewer: pgjdbc caches 256 statements, psycopg 100, Npgsql 250.
MAX_PREPARED = 1000
MAX_PREPARED_TEXT = 64 * 1024 * 1024
MAX_OPEN_RESULTS = 256


@dataclass
class Session:
    server: Any  # policyengine.server.server.Server
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pid: int = field(default_factory=lambda: secrets.randbelow(2**31 - 1) + 1)
    secret: int = field(default_factory=lambda: secrets.randbelow(2**31 - 1) + 1)
    user: str = ""
    subject: Subject | None = None
    policy_set: Any = None  # the set self.subject was derived from
    settings: Settings = field(default_factory=lambda: Settings(""))
    in_transaction: bool = False
    failed_transaction: bool = False
    running: Any = None  # the result being produced, for CancelRequest
    prepared: dict[str, ext.Prepared] = field(default_factory=dict)
    portals: dict[str, ext.Portal] = field(default_factory=dict)
    cursors: dict[str, Cursor] = field(default_factory=dict)
    failed: bool = False  # an extended-protocol error: messages are ignored until Sync
    canceled_by: str | None = None  # why the running statement was interrupted: PostgreSQL's 57014 text
    _idle = False  # waiting for the client's next message
    _timer: asyncio.TimerHandle | None = None  # the statement_timeout of the statement running
    _out: list[bytes | memoryview] = field(default_factory=list)  # messages not yet written (see _send)
    _out_size: int = 0
    _peer: str | None = None  # the client's address, for audit lines

    async def run(self) -> None:
        try:
            try:
                async with asyncio.timeout(LOGIN_SECONDS):
                    parameters = await self._startup()
                    if parameters is None:
                        return
                    await self._authenticate(parameters)
            except TimeoutError:
                await self._try_send(m.error_response("08006", "canceling authentication due to timeout", "FATAL"))
                return
            await self._serve()
        except (asyncio.IncompleteReadError, ConnectionError, Closed):
            pass
        except m.ProtocolViolation as violation:
            await self._try_send(m.error_response("08P01", f"protocol violation: {violation}", "FATAL"))
        except Exception:  # noqa: BLE001 - a bug must not show internals; this connection ends, others go on
            log.exception("session %s ended by an internal error", self.pid)
            await self._try_send(m.error_response("XX000", "internal error", "FATAL"))
        finally:
            await self._end()

    async def _end(self) -> None:
        self.server.sessions.pop((self.pid, self.secret), None)
        for name in list(self.cursors):
            self._close_cursor(name)
        for name in list(self.portals):
            self._close_portal(name)
        if self.subject is not None:
            self._audit(event="session_end")
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - already gone
            pass

    async def _send(self, data: bytes | memoryview) -> None:
        """Queue messages for the client. Like PostgreSQL, output goes out at Sync, Flush, the end of
        a simple query, when the buffer is full, and (so no client can wait on us forever) whenever
        the session is about to wait for a message the client has not sent yet: one write per
        round trip instead of one per message."""
        if len(data) >= FLUSH_BYTES:  # a batch of rows: written as it is, not copied into the queue
            await self._flush()
            self.writer.write(data)
            await self.writer.drain()
            return
        self._out.append(data)
        self._out_size += len(data)
        if self._out_size >= FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._out:
            data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
            self._out.clear()
            self._out_size = 0
            self.writer.write(data)
            await self.writer.drain()

    async def _send_now(self, data: bytes) -> None:
        await self._send(data)
        await self._flush()

    async def _try_send(self, data: bytes) -> None:
        try:
            await self._send_now(data)
        except Exception:  # noqa: BLE001 - the client is gone too
            pass

    def _message_waiting(self) -> bool:
        """Whether a whole message from the client is already read into the stream's buffer."""
        buffer = getattr(self.reader, "_buffer", None)
        if buffer is None or len(buffer) < 5:
            return False
        return len(buffer) >= 1 + int.from_bytes(buffer[1:5], "big")

    def _audit_context(self) -> dict[str, Any]:
        if self._peer is None:
            peer = self.writer.get_extra_info("peername")
            self._peer = str(peer[0]) if peer else ""
        return {"front_door": "postgres", "session": self.pid, "client": self._peer or None,
                "application": self.settings.get("application_name")}

    def _audit(self, **fields: Any) -> None:
        audit = self.server.engine.audit
        if audit is not None:
            audit.record(principal=self.user, **self._audit_context(), **fields)

    # --- startup and authentication -------------------------------------------------------------

    async def _startup(self) -> dict[str, str] | None:
        while True:
            code, payload = await m.read_startup(self.reader)
            if code == m.SSL_REQUEST:
                if self.server.tls is None:
                    await self._send_now(b"N")
                else:
                    await self._send_now(b"S")
                    try:
                        await self.writer.start_tls(self.server.tls, ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS)
                    except (ssl.SSLError, OSError, TimeoutError):  # a failed handshake ends only this connection
                        raise Closed() from None
                continue
            if code == m.GSSENC_REQUEST:
                await self._send_now(b"N")
                continue
            if code == m.CANCEL_REQUEST:
                if len(payload) >= 8:  # a short one is ignored and the connection closed, as PostgreSQL does
                    pid, secret = struct.unpack("!ii", payload[:8])
                    self.server.cancel(pid, secret)
                return None
            if code >> 16 != 3:
                await self._send_now(m.error_response("0A000", "unsupported frontend protocol", "FATAL"))
                return None
            parameters = m.parse_startup_parameters(payload)
            if code != m.PROTOCOL_3:  # 3.x newer than 3.0: offer 3.0, and say which options we ignore
                options = [k for k in parameters if k.startswith("_pq_.")]
                await self._send_now(m.message(b"v", struct.pack("!ii", m.PROTOCOL_3, len(options))
                                           + b"".join(m.cstring(o) for o in options)))
            return parameters

    async def _authenticate(self, parameters: dict[str, str]) -> None:
        user = parameters.get("user", "")
        principal = self.server.engine.policy_set.principal(user)
        verifier = self.server.users.get(user.lower()) if principal is not None else None
        # no principal or no verifier: a mock exchange that fails at the proof, as PostgreSQL does
        scram = verifier.exchange() if verifier is not None else mock_exchange(user.lower(), ITERATIONS)
        await self._send_now(m.authentication(10, m.cstring("SCRAM-SHA-256") + b"\0"))
        try:
            client_first = await self._sasl_initial_response()
            server_first = scram.first(client_first)
            await self._send_now(m.authentication(11, server_first.encode()))
            kind, payload = await m.read_message(self.reader)
            if kind != b"p":
                raise m.ProtocolViolation("expected SASL response")
            server_final = scram.final(payload)
        except ScramFailed as failure:  # ScramMalformed too: 08P01 / 0A000 with PostgreSQL's fixed text
            await self.server.login_failed(self.writer)
            self.user = user
            text = str(failure) if isinstance(failure, ScramMalformed) else \
                f'password authentication failed for user "{user}"'
            await self._send_now(m.error_response(failure.sqlstate, text, "FATAL"))
            raise Closed() from None
        await self._send_now(m.authentication(12, server_final.encode()) + m.authentication(0))
        self.user = user
        self.settings = Settings(user, parameters.get("application_name", ""))
        self._refresh_subject()
        status = b"".join(m.parameter_status(k, v) for k, v in self.settings.as_dict().items()
                          if k in REPORTED)
        self.server.sessions[(self.pid, self.secret)] = self
        self._audit(event="session_start", database=self.server.database)
        await self._send_now(status + m.backend_key_data(self.pid, self.secret) + m.ready_for_query())

    async def _sasl_initial_response(self) -> bytes:
        """The client-first message from SASLInitialResponse (auth-sasl.c's checks: the mechanism we
        offered, a length that matches the bytes); with no initial response (length -1), an empty
        challenge first and the client-first message in the next SASLResponse, as PostgreSQL does."""
        kind, payload = await m.read_message(self.reader)
        if kind != b"p":
            raise m.ProtocolViolation("expected SASL response")
        end = payload.find(b"\0")
        if end == -1:
            raise ScramMalformed("invalid string in message")
        if payload[:end] != b"SCRAM-SHA-256":
            raise ScramMalformed("client selected an invalid SASL authentication mechanism")
        if len(payload) < end + 5:
            raise ScramMalformed("insufficient data left in message")
        (length,) = struct.unpack("!i", payload[end + 1:end + 5])
        rest = payload[end + 5:]
        if length == -1 and not rest:
            await self._send_now(m.authentication(11, b""))
            kind, payload = await m.read_message(self.reader)
            if kind != b"p":
                raise m.ProtocolViolation("expected SASL response")
            return payload
        if length < 0 or length > len(rest):
            raise ScramMalformed("insufficient data left in message")
        if length < len(rest):
            raise ScramMalformed("invalid message format")
        return rest

    def _refresh_subject(self) -> None:
        """Sessions follow policy reloads: the subject is derived again from the set now in force."""
        policy_set = self.server.engine.policy_set
        if policy_set is self.policy_set:
            return
        if policy_set.principal(self.user) is None:
            raise StatementError("28000", f'principal "{self.user}" no longer exists in the policy set')
        self.subject = subject_for(policy_set, principal=self.user)
        self.policy_set = policy_set

    # --- the message loop ------------------------------------------------------------------------

    async def _serve(self) -> None:
        while True:
            if self._out and not self._message_waiting():
                await self._flush()
            self._idle = True
            if not self._message_waiting():
                self.canceled_by = None  # a cancel outlives no command: it is for the work in hand
            kind, payload = await m.read_message(self.reader)
            self._idle = False
            if kind == b"X":
                return
            if kind == b"Q":
                await self._simple_query(payload.rstrip(b"\0").decode("utf-8", "replace"))
                await self._flush()
            elif kind in (b"P", b"B", b"E", b"D", b"C", b"H"):
                if not self.failed:
                    try:
                        await self._extended(kind, payload)
                    except StatementError as error:
                        self._failed_statement()
                        self.failed = True
                        await self._send(error.response)
            elif kind == b"S":
                self.failed = False
                self._end_of_statement_portals()
                await self._send_now(m.ready_for_query(self._status()))
            elif kind == b"F":
                await self._send_now(m.error_response("0A000", "the function call protocol is not supported")
                                     + m.ready_for_query(self._status()))
            else:
                raise m.ProtocolViolation(f"unexpected message {kind!r}")

    def _status(self) -> bytes:
        if self.failed_transaction:
            return b"E"
        return b"T" if self.in_transaction else b"I"

    def _failed_statement(self) -> None:
        if self.in_transaction:
            self.failed_transaction = True

    @contextlib.asynccontextmanager
    async def _statement_timeout(self) -> Any:
        """statement_timeout, as PostgreSQL: past it the running query is interrupted and the statement
        fails with 57014 "canceling statement due to statement timeout"."""
        milliseconds = self.settings.statement_timeout
        if milliseconds:
            self._timer = asyncio.get_running_loop().call_later(milliseconds / 1000, self._time_out)
        try:
            yield
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.canceled_by = None
            # a cancel between statements must not reach a cursor that now serves another statement
            self.running = None

    def _time_out(self) -> None:
        """Interrupt the statement, and again every 10 ms until it ends: the query may not have
        reached DuckDB yet (being rewritten) or be between two batches."""
        self.canceled_by = "statement timeout"
        if self.running is not None:
            self.running.interrupt()
        self._timer = asyncio.get_running_loop().call_later(0.01, self._time_out)

    def cancel(self) -> None:
        """A CancelRequest for this session (server.py). As in PostgreSQL it ends the statement in
        progress wherever it is: one still being parsed or rewritten is stopped as its query starts
        (:meth:`_running`), and so is the next one when the client's messages wait unread. A session
        idle with nothing to read forgets it, as PostgreSQL does while it waits for a command."""
        if self._idle and not self._message_waiting():
            return
        self.canceled_by = self.canceled_by or "user request"
        self._interrupt_while_canceled()

    def _interrupt_while_canceled(self) -> None:
        """Interrupt the statement, and again every 10 ms while the cancel stands (until the statement
        or the session ends): DuckDB forgets an interrupt that comes just before its query starts."""
        if self.canceled_by is None or self.server.sessions.get((self.pid, self.secret)) is not self:
            return
        if self.running is not None:
            self.running.interrupt()
        asyncio.get_running_loop().call_later(0.01, self._interrupt_while_canceled)

    def _query_failed(self, failure: QueryFailed) -> StatementError:
        if failure.sqlstate == "57014" and self.canceled_by is not None:
            return StatementError("57014", f"canceling statement due to {self.canceled_by}")
        return StatementError(failure.sqlstate, failure.message)

    def _running(self, cursor: Any) -> None:
        """What a CancelRequest for this session interrupts (set, in the worker thread, before the
        query starts); interrupted at once if a cancel or the timeout came while it was rewritten."""
        self.running = cursor
        if self.canceled_by is not None:
            cursor.interrupt()

    # --- the simple protocol --------------------------------------------------------------------

    async def _simple_query(self, text: str) -> None:
        statements = u.split_statements(text)
        if not statements:
            await self._send(m.empty_query() + m.ready_for_query(self._status()))
            return
        for statement in statements:
            try:
                async with self._statement_timeout():
                    await self._simple_statement(statement)
            except StatementError as error:
                self._failed_statement()
                await self._send(error.response)
                break  # the rest of a failed message is not run, as PostgreSQL does
        self._end_of_statement_portals()
        await self._send(m.ready_for_query(self._status()))

    async def _simple_statement(self, text: str) -> None:
        utility = self._recognize(text)
        self._check_transaction(utility)
        if utility is not None:
            self._audit(event="session_statement", statement=text)
            description, body = await self._utility(utility)
            await self._send((description or b"") + body)
            return
        feed = await self._open(text, None, text_rows=True)
        try:
            encoders = binary.column_encoders(feed.types, [], self.settings.zone)
            await self._send(binary.row_description(feed.columns, feed.types, []))
            count = await self._stream(feed, encoders, None)
            await self._send(m.command_complete(f"SELECT {count}"))
        finally:
            self.running = None
            feed.close()

    def _recognize(self, text: str) -> u.Utility | None:
        try:
            return _recognized(text)
        except Refused as refusal:
            raise _refused(refusal) from None

    def _check_transaction(self, utility: u.Utility | None) -> None:
        if self.failed_transaction and not isinstance(utility, u.Empty) and not (
                isinstance(utility, u.Transaction) and utility.action in ("commit", "rollback", "rollback_to")):
            raise StatementError("25P02", "current transaction is aborted, commands ignored until end of "
                                          "transaction block")

    # --- running queries --------------------------------------------------------------------------

    async def _open(self, sql: str, parameters: list[Any] | None, text_rows: bool = False) -> Feed:
        """Start a query as this principal: a catalog query from its shadow catalog, any other
        through the policy engine; its first rows are read in the same worker-thread step.
        ``text_rows``: every column goes out in text format, so a large result may stream as Arrow
        and be encoded column-wise (arrow_rows.py)."""
        self._refresh_subject()
        tree = _catalog_tree(sql)
        try:
            if tree is not None:
                values = SessionValues(self.user, self.server.database, self.pid, self.settings.as_dict(),
                                       "PostgreSQL " + SERVER_VERSION, self._set_config, statement=sql)
                self._audit(event="catalog", statement=sql)
                return await self.server.run(_opened, self.server.catalogs.open, self.subject, tree, values,
                                             parameters)
            feed = await self.server.run(_opened, self.server.engine.query_for, self.subject, sql,
                                         read=READ_DIALECT, parameters=parameters or None,
                                         on_start=self._running, audit_context=self._audit_context(),
                                         arrow=arrow_rows.supports_types if text_rows else None,
                                         time_zone=self.settings.zone)
            feed.types = _announced(feed.types, feed.result.rewritten.result_types)
            notices = feed.result.notices
            if notices:
                # e.g. a row filter reads a principal attribute this user lacks: no rows, and why
                try:
                    await self._send(b"".join(m.notice_response(notice) for notice in notices))
                except BaseException:
                    feed.close()
                    raise
            return feed
        except Refused as refusal:
            raise _refused(refusal) from None
        except QueryFailed as failure:
            raise self._query_failed(failure) from None

    def _set_config(self, name: str, value: str) -> None:
        try:
            self.settings.set(name, value)
        except Refused as refusal:
            raise _refused(refusal) from None

    async def _step(self, feed: Feed, work: Any, *args: Any) -> Any:
        """``work(*args)`` on a feed: on the event loop when only a few rows already read remain,
        else in a worker thread (fetching and encoding must not hold the other sessions)."""
        try:
            if feed.small():
                return work(*args)
            return await self.server.run(work, *args)
        except QueryFailed as failure:
            raise self._query_failed(failure) from None

    async def _stream(self, feed: Feed, encoders: list[Any], limit: int | None) -> int:
        """Send DataRows as batches arrive; returns the rows sent. Without a row limit the work is
        pipelined: a worker encodes (and DuckDB produces) the next batch while the event loop writes
        this one, so a large result keeps both cores busy."""
        self.running = feed.result
        sent = 0
        ahead: asyncio.Future[Any] | None = None
        try:
            while (limit is None or sent < limit) and not feed.exhausted:
                if ahead is not None:
                    step, ahead = ahead, None
                    chunk, count = await step
                else:
                    chunk, count = await self._step(feed, feed.produce, None if limit is None else limit - sent,
                                                    encoders)
                sent += count
                if limit is None and not feed.exhausted and not feed.small():
                    ahead = asyncio.ensure_future(self._step(feed, feed.produce, None, encoders))
                await self._send(chunk)
        finally:
            if ahead is not None:  # the client went away mid-result: the feed is closed only once the step is done
                try:
                    await ahead
                except Exception:  # noqa: BLE001 - the session is ending for another reason already
                    pass
        return sent

    # --- utility statements ------------------------------------------------------------------------

    async def _utility(self, statement: u.Utility, formats: list[int] | None = None,
                       parameters: list[Any] | None = None) -> tuple[bytes | None, bytes]:
        """(RowDescription or None, the rest) for a session statement; ``parameters`` are the Bind
        values of the query inside a DECLARE or COPY sent by the extended protocol."""
        if isinstance(statement, u.Transaction):
            return None, self._transaction(statement)
        if isinstance(statement, u.SetStatement):
            reports: list[tuple[str, str]] = []
            try:
                if statement.name is None and statement.value is None and statement.tag == "RESET":
                    reports = self.settings.reset_all()
                elif statement.name is not None:
                    reports = self.settings.set(statement.name, statement.value)
            except Refused as refusal:
                raise _refused(refusal) from None
            return None, m.command_complete(statement.tag) + b"".join(m.parameter_status(k, v) for k, v in reports)
        if isinstance(statement, u.Show):
            return self._show(statement.name, formats or [])
        if isinstance(statement, u.Empty):
            return None, m.empty_query()
        if isinstance(statement, u.NoOp):
            if statement.tag == "DISCARD ALL":  # PostgreSQL's CLOSE ALL; RESET ALL; DEALLOCATE ALL in one
                if self.in_transaction:
                    raise StatementError("25001", "DISCARD ALL cannot run inside a transaction block")
                for name in list(self.cursors):
                    self._close_cursor(name)
                self.prepared.clear()
                return None, m.command_complete(statement.tag) + b"".join(
                    m.parameter_status(k, v) for k, v in self.settings.reset_all())
            if statement.tag.startswith("DEALLOCATE") and statement.tag.endswith("ALL"):
                self.prepared.clear()
            return None, m.command_complete(statement.tag)
        if isinstance(statement, u.Declare):
            return None, await self._declare(statement, parameters)
        if isinstance(statement, u.Fetch):
            return await self._fetch(statement, formats)
        if isinstance(statement, u.Close):
            for name in ([statement.name] if statement.name else list(self.cursors)):
                if name not in self.cursors:
                    raise StatementError("34000", f'cursor "{name}" does not exist')
                self._close_cursor(name)
            return None, m.command_complete("CLOSE CURSOR" if statement.name else "CLOSE CURSOR ALL")
        if isinstance(statement, u.Copy):
            return None, await self._copy(statement, parameters)
        if isinstance(statement, u.Explain):
            return self._explain(statement, formats or [])
        raise StatementError("0A000", "statement not supported")

    def _transaction(self, statement: u.Transaction) -> bytes:
        action = statement.action
        if action == "begin":
            self.in_transaction = True
            return m.command_complete("BEGIN")
        if action in ("commit", "rollback"):
            tag = "ROLLBACK" if self.failed_transaction else ("COMMIT" if action == "commit" else "ROLLBACK")
            self.in_transaction = self.failed_transaction = False
            for name in [n for n, c in self.cursors.items() if not c.hold]:
                self._close_cursor(name)
            return m.command_complete(tag)
        if action == "rollback_to":
            self.failed_transaction = False
            return m.command_complete("ROLLBACK")
        return m.command_complete(statement.tag)

    def _show(self, name: str, formats: list[int]) -> tuple[bytes, bytes]:
        if name == "all":
            rows = sorted((k, v, "") for k, v in self.settings.as_dict().items())
            columns, types = ["name", "setting", "description"], ["VARCHAR"] * 3
        else:
            value = self.settings.get(name)
            if value is None:
                raise StatementError("42704", f'unrecognized configuration parameter "{name}"')
            rows, columns, types = [(value,)], [self.settings.canonical(name)], ["VARCHAR"]
        encoders = binary.column_encoders(types, formats, self.settings.zone)
        return (binary.row_description(columns, types, formats),
                binary.data_rows(rows, encoders) + m.command_complete("SHOW"))

    def _explain(self, statement: u.Explain, formats: list[int]) -> tuple[bytes, bytes]:
        """What the policy does to a query, table by table (never the rewritten text: it may hold
        masking details a principal need not see). The cost line keeps BI tools' parsers content."""
        self._refresh_subject()
        try:
            rewritten = self.server.engine.rewrite_for(self.subject, statement.query, read=READ_DIALECT,
                                                       time_zone=self.settings.zone)
        except Refused as refusal:
            raise _refused(refusal) from None
        lines = ["Policy Scan  (cost=0.00..0.00 rows=0 width=0)"]
        for decision in rewritten.decisions:
            shown = ", ".join(f"{c.column.name}: {c.shows}" for c in decision.columns
                              if c.outcome.name != "DENIED")
            lines.append(f"  ->  {decision.table_name} [{shown}] rows: {decision.rows.scope.value}")
        encoders = binary.column_encoders(["VARCHAR"], formats)
        return (binary.row_description(["QUERY PLAN"], ["VARCHAR"], formats),
                binary.data_rows([(line,) for line in lines], encoders) + m.command_complete("EXPLAIN"))

    # --- cursors -----------------------------------------------------------------------------------

    async def _declare(self, statement: u.Declare, parameters: list[Any] | None) -> bytes:
        if not self.in_transaction and not statement.hold:
            raise StatementError("25P01", "DECLARE CURSOR can only be used in transaction blocks")
        if statement.name in self.cursors:
            raise StatementError("42P03", f'cursor "{statement.name}" already exists')
        self._check_room_for_result()
        feed = await self._open(statement.query, parameters)
        self.cursors[statement.name] = Cursor(feed, statement.binary, statement.hold)
        return m.command_complete("DECLARE CURSOR")

    def _cursor_named(self, name: str) -> Cursor:
        if name not in self.cursors:
            raise StatementError("34000", f'cursor "{name}" does not exist')
        return self.cursors[name]

    async def _fetch(self, statement: u.Fetch, formats: list[int] | None) -> tuple[bytes | None, bytes]:
        cursor = self._cursor_named(statement.name)
        result = cursor.feed
        formats = [1] if cursor.binary and not formats else (formats or [])
        if statement.move:
            count = await self._discard(cursor, statement.count)
            return None, m.command_complete(f"MOVE {count}")
        encoders = binary.column_encoders(result.types, formats, self.settings.zone)
        description = binary.row_description(result.columns, result.types, formats)
        rows, count = await self._collect(cursor, statement.count, encoders)
        return description, rows + m.command_complete(f"FETCH {count}")

    async def _take(self, cursor: Cursor, limit: int | None) -> list[tuple[Any, ...]]:
        """The cursor's next ``limit`` rows (None: all that remain)."""
        self.running = cursor.feed.result
        try:
            return await self._step(cursor.feed, cursor.feed.take, limit)
        finally:
            self.running = None

    async def _collect(self, cursor: Cursor, limit: int | None, encoders: list[Any]) -> tuple[bytes, int]:
        """The cursor's next rows as DataRows, and how many."""
        rows = await self._take(cursor, limit)
        return binary.data_rows(rows, encoders), len(rows)

    async def _discard(self, cursor: Cursor, limit: int | None) -> int:
        return len(await self._take(cursor, limit))

    def _close_cursor(self, name: str) -> None:
        cursor = self.cursors.pop(name, None)
        if cursor is not None:
            cursor.feed.close()

    # --- COPY ... TO STDOUT -------------------------------------------------------------------------

    async def _copy(self, statement: u.Copy, parameters: list[Any] | None) -> bytes:
        from policyengine.server import copyout

        feed = await self._open(statement.query, parameters)
        try:
            options = statement.options
            try:
                encoder = copyout.CopyEncoder(
                    feed.types, statement.format, columns=feed.columns,
                    header=options.get("header", "false").lower() in ("true", "on", "1"),
                    delimiter=options.get("delimiter"), null=options.get("null"),
                    quote=options.get("quote", '"'), escape=options.get("escape"), zone=self.settings.zone)
            except ValueError as wrong:
                raise StatementError("22023", str(wrong)) from None
            await self._send(copyout.copy_out_response(statement.format, len(feed.columns)) + encoder.start())
            count = 0
            self.running = feed.result
            while not feed.exhausted:
                chunk, rows = await self._step(feed, feed.produce, None, [], lambda batch, _: encoder.rows(batch))
                count += rows
                await self._send(chunk)
            return encoder.end() + m.command_complete(f"COPY {count}")
        except binary.BinaryUnsupported as unsupported:
            raise StatementError("0A000", str(unsupported)) from None
        finally:
            self.running = None
            feed.close()

    # --- the extended protocol ------------------------------------------------------------------

    async def _extended(self, kind: bytes, payload: bytes) -> None:
        if kind == b"P":
            try:
                name, statement = ext.parse_message(payload)
            except (ValueError, struct.error):
                raise m.ProtocolViolation("malformed Parse message") from None
            statement.utility = self._recognize(statement.sql)
            inner = getattr(statement.utility, "query", statement.sql)
            inferred = infer_parameter_types(inner, self.server.engine.policy_set)
            statement.parameter_oids = [oid or inferred.get(i, 0) for i, oid in enumerate(statement.parameter_oids, 1)]
            if name:
                if name in self.prepared:
                    raise StatementError("42P05", f'prepared statement "{name}" already exists')
            self._check_room_for_statement(name, statement.sql)
            self.prepared[name] = statement
            await self._send(ext.PARSE_COMPLETE)
        elif kind == b"B":
            try:
                name, portal = ext.bind_message(payload, self.prepared)
            except KeyError as missing:
                raise StatementError("26000", f"prepared statement {missing} does not exist") from None
            except binary.BinaryUnsupported as unsupported:
                raise StatementError("0A000", str(unsupported)) from None
            except (ValueError, struct.error, UnicodeDecodeError):
                raise StatementError("22P02", "a parameter value could not be read") from None
            self._close_portal(name)
            self.portals[name] = portal
            await self._send(ext.BIND_COMPLETE)
        elif kind == b"D":
            target, name = _target_and_name(payload, "Describe")
            if target == b"S":
                statement = self._statement_named(name)
                await self._send(ext.parameter_description(statement) + await self._describe_statement(statement))
            elif name not in self.portals and name in self.cursors:  # a DECLAREd cursor is a portal too
                cursor = self.cursors[name]
                formats = [1] if cursor.binary else []
                await self._send(binary.row_description(cursor.feed.columns, cursor.feed.types, formats))
            else:
                async with self._statement_timeout():  # Describe of a portal starts its query
                    await self._send(await self._describe_portal(self._portal_named(name)))
        elif kind == b"E":
            try:
                end = payload.index(b"\0")
                name = payload[:end].decode()
                (limit,) = struct.unpack("!i", payload[end + 1:end + 5])
            except (ValueError, struct.error):  # UnicodeDecodeError is a ValueError
                raise m.ProtocolViolation("malformed Execute message") from None
            async with self._statement_timeout():
                if name not in self.portals and name in self.cursors:
                    await self._execute_cursor(self.cursors[name], limit)
                else:
                    await self._execute_portal(self._portal_named(name), limit)
        elif kind == b"C":
            target, name = _target_and_name(payload, "Close")
            if target == b"S":
                self.prepared.pop(name, None)
            else:
                self._close_portal(name)
            await self._send(ext.CLOSE_COMPLETE)
        elif kind == b"H":
            await self._flush()

    def _check_room_for_statement(self, name: str, sql: str) -> None:
        kept = [s for n, s in self.prepared.items() if n != name]  # the unnamed one is replaced
        if len(kept) >= MAX_PREPARED or sum(len(s.sql) for s in kept) + len(sql) > MAX_PREPARED_TEXT:
            raise StatementError("54000", f"too many prepared statements in this session (at most {MAX_PREPARED}, "
                                          f"{MAX_PREPARED_TEXT // (1024 * 1024)} MB of text): close or DEALLOCATE some")

    def _statement_named(self, name: str) -> ext.Prepared:
        if name not in self.prepared:
            raise StatementError("26000", f'prepared statement "{name}" does not exist')
        return self.prepared[name]

    def _portal_named(self, name: str) -> ext.Portal:
        if name not in self.portals:
            raise StatementError("34000", f'portal "{name}" does not exist')
        return self.portals[name]

    def _end_of_statement_portals(self) -> None:
        """At ReadyForQuery: a portal lasts until the end of its transaction (PostgreSQL), so outside a
        transaction block every portal ends here; inside one, only the unnamed portal."""
        for name in (list(self.portals) if not self.in_transaction else [""]):
            self._close_portal(name)

    def _open_results(self) -> int:
        return sum(1 for portal in self.portals.values() if portal.feed is not None) + len(self.cursors)

    def _check_room_for_result(self) -> None:
        if self._open_results() >= MAX_OPEN_RESULTS:
            raise StatementError("54000", f"too many open portals and cursors in this session (at most "
                                          f"{MAX_OPEN_RESULTS}): close some, or end the transaction")

    def _close_portal(self, name: str) -> None:
        portal = self.portals.pop(name, None)
        if portal is not None and portal.feed is not None:
            portal.feed.close()

    async def _describe_statement(self, statement: ext.Prepared) -> bytes:
        """A statement's columns without running it: the same query with no rows, NULL parameters."""
        utility = statement.utility
        if utility is not None:
            return await self._describe_utility(utility, [])
        probe = f"SELECT * FROM ({statement.sql.strip().rstrip(';')}) AS pe_describe LIMIT 0"
        feed = await self._open(probe, [None] * len(statement.parameter_oids))
        try:
            return binary.row_description(feed.columns, feed.types, [])
        finally:
            feed.close()

    async def _describe_utility(self, utility: u.Utility, formats: list[int]) -> bytes:
        if isinstance(utility, u.Show):
            return self._show(utility.name, formats)[0]
        if isinstance(utility, u.Explain):
            return binary.row_description(["QUERY PLAN"], ["VARCHAR"], formats)
        if isinstance(utility, u.Fetch) and not utility.move:
            cursor = self._cursor_named(utility.name)
            formats = [1] if cursor.binary and not formats else formats
            return binary.row_description(cursor.feed.columns, cursor.feed.types, formats)
        return ext.NO_DATA

    async def _describe_portal(self, portal: ext.Portal) -> bytes:
        utility = portal.statement.utility
        if utility is not None:
            return await self._describe_utility(utility, portal.formats)
        await self._run_portal(portal)
        return self._portal_description(portal)

    def _portal_description(self, portal: ext.Portal) -> bytes:
        try:
            return binary.row_description(portal.feed.columns, portal.feed.types, portal.formats)
        except ValueError as wrong:
            raise StatementError("08P01", str(wrong)) from None

    async def _run_portal(self, portal: ext.Portal) -> None:
        if portal.feed is None:
            self._check_room_for_result()
            portal.feed = await self._open(portal.statement.sql, portal.parameters,
                                           text_rows=not any(portal.formats))
            try:
                portal.encoders = binary.column_encoders(portal.feed.types, portal.formats, self.settings.zone)
            except binary.BinaryUnsupported as unsupported:
                raise StatementError("0A000", str(unsupported)) from None
            except ValueError as wrong:
                raise StatementError("08P01", str(wrong)) from None

    async def _execute_portal(self, portal: ext.Portal, limit: int) -> None:
        utility = portal.statement.utility
        self._check_transaction(utility)
        if isinstance(utility, u.Empty):  # postgres.c exec_execute_message: NullCommand, every time
            await self._send(m.empty_query())
            return
        if utility is not None:
            if portal.done:
                await self._send(m.command_complete("SELECT 0"))
                return
            self._audit(event="session_statement", statement=portal.statement.sql)
            _, body = await self._utility(utility, portal.formats, portal.parameters)
            portal.done = True
            await self._send(body)
            return
        await self._run_portal(portal)
        feed = portal.feed
        try:
            sent = await self._stream(feed, portal.encoders, limit if limit > 0 else None)
        finally:
            self.running = None
        portal.sent += sent
        if limit > 0 and sent == limit and not feed.exhausted:
            await self._send(ext.PORTAL_SUSPENDED)
            return
        await self._send(m.command_complete(f"SELECT {portal.sent}"))
        feed.close()

    async def _execute_cursor(self, cursor: Cursor, limit: int) -> None:
        """Execute on a DECLAREd cursor's portal: its next rows, suspended while more remain."""
        encoders = binary.column_encoders(cursor.feed.types, [1] if cursor.binary else [], self.settings.zone)
        rows, count = await self._collect(cursor, limit if limit > 0 else None, encoders)
        if limit > 0 and not cursor.feed.exhausted:
            await self._send(rows + ext.PORTAL_SUSPENDED)
            return
        await self._send(rows + m.command_complete(f"FETCH {count}"))
