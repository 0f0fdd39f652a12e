"""One client connection: startup (TLS, SCRAM), then statements, each through the policy engine.

Supported so far: SSLRequest with TLS, GSSENCRequest declined, CancelRequest, SCRAM-SHA-256, the
simple query protocol (several statements per message), the extended protocol with text formats and
row limits, SET/SHOW/RESET and transaction statements answered locally for a read-only session,
results streamed batch by batch from a worker thread. Not yet: binary formats, COPY, cursors and the
per-principal catalog (issue 5 continues).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from policyengine.backends.errors import QueryFailed
from policyengine.decision import Subject, subject_for
from policyengine.rewrite import Refused
from policyengine.server import extended as ext
from policyengine.server import messages as m
from policyengine.server.scram import ScramFailed
from policyengine.server.users import make_verifier

READ_DIALECT = "postgres"
REFUSAL_SQLSTATE = {"syntax": "42601", "policy": "42501", "unsupported": "0A000"}
#: a verifier no password matches: unknown users go through the same exchange and fail the same way
_NOBODY = make_verifier(secrets.token_hex(16))

SERVER_PARAMETERS = {
    "server_version": "15.0 (policyengine)", "server_encoding": "UTF8", "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY", "TimeZone": "UTC", "integer_datetimes": "on", "standard_conforming_strings": "on",
    "IntervalStyle": "postgres", "is_superuser": "off", "application_name": "",
}


class Closed(Exception):
    pass


class _StatementError(Exception):
    """A statement failed: the ErrorResponse to send; the extended protocol then waits for Sync."""

    def __init__(self, response: bytes):
        super().__init__()
        self.response = response


@dataclass
class Session:
    server: Any  # policyengine.server.server.Server
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pid: int = field(default_factory=lambda: secrets.randbelow(2**31 - 1) + 1)
    secret: int = field(default_factory=lambda: secrets.randbelow(2**31 - 1) + 1)
    subject: Subject | None = None
    settings: dict[str, str] = field(default_factory=lambda: dict(SERVER_PARAMETERS))
    in_transaction: bool = False
    running: Any = None  # the result being streamed, for CancelRequest
    prepared: dict[str, Any] = field(default_factory=dict)
    portals: dict[str, Any] = field(default_factory=dict)
    failed: bool = False  # an extended-protocol error: messages are ignored until Sync

    async def run(self) -> None:
        try:
            parameters = await self._startup()
            if parameters is None:
                return
            await self._authenticate(parameters)
            await self._serve()
        except (asyncio.IncompleteReadError, ConnectionError, Closed):
            pass
        except m.ProtocolViolation as violation:
            await self._send(m.error_response("08P01", f"protocol violation: {violation}", "FATAL"))
        except Exception:  # noqa: BLE001 - a bug must not show internals; this connection ends, others go on
            logging.getLogger("policyengine.server").exception("session %s ended by an internal error", self.pid)
            try:
                await self._send(m.error_response("XX000", "internal error", "FATAL"))
            except Exception:  # noqa: BLE001 - the client is gone too
                pass
        finally:
            self.server.sessions.pop((self.pid, self.secret), None)
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - already gone
                pass

    async def _send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    # --- startup and authentication -------------------------------------------------------------

    async def _startup(self) -> dict[str, str] | None:
        while True:
            code, payload = await m.read_startup(self.reader)
            if code == m.SSL_REQUEST:
                if self.server.tls is None:
                    await self._send(b"N")
                else:
                    await self._send(b"S")
                    await self.writer.start_tls(self.server.tls)
                continue
            if code == m.GSSENC_REQUEST:
                await self._send(b"N")
                continue
            if code == m.CANCEL_REQUEST:
                pid, secret = struct.unpack("!ii", payload[:8])
                self.server.cancel(pid, secret)
                return None
            if code != m.PROTOCOL_3:
                await self._send(m.error_response("0A000", "unsupported frontend protocol", "FATAL"))
                return None
            return m.parse_startup_parameters(payload)

    async def _authenticate(self, parameters: dict[str, str]) -> None:
        user = parameters.get("user", "")
        principal = self.server.engine.policy_set.principal(user)
        verifier = self.server.users.get(user.lower()) if principal is not None else None
        scram = (verifier or _NOBODY).exchange()
        await self._send(m.authentication(10, m.cstring("SCRAM-SHA-256") + b"\0"))
        try:
            kind, payload = await m.read_message(self.reader)
            if kind != b"p":
                raise m.ProtocolViolation("expected a SASL response")
            mechanism_end = payload.index(b"\0")
            (length,) = struct.unpack("!i", payload[mechanism_end + 1:mechanism_end + 5])
            server_first = scram.first(payload[mechanism_end + 5:mechanism_end + 5 + length].decode())
            await self._send(m.authentication(11, server_first.encode()))
            kind, payload = await m.read_message(self.reader)
            if kind != b"p":
                raise m.ProtocolViolation("expected a SASL response")
            server_final = scram.final(payload.decode())
            if verifier is None:
                raise ScramFailed("unknown user")
        except (ScramFailed, ValueError, struct.error):
            await self.server.login_failed(self.writer)
            await self._send(m.error_response("28P01", f'password authentication failed for user "{user}"', "FATAL"))
            raise Closed() from None
        await self._send(m.authentication(12, server_final.encode()) + m.authentication(0))
        self.subject = subject_for(self.server.engine.policy_set, principal=user)
        self.settings["application_name"] = parameters.get("application_name", "")
        status = b"".join(m.parameter_status(k, v) for k, v in self.settings.items())
        self.server.sessions[(self.pid, self.secret)] = self
        await self._send(status + m.backend_key_data(self.pid, self.secret) + m.ready_for_query())

    # --- statements ----------------------------------------------------------------------------

    async def _serve(self) -> None:
        while True:
            kind, payload = await m.read_message(self.reader)
            if kind == b"X":
                return
            if kind == b"Q":
                await self._simple_query(payload.rstrip(b"\0").decode("utf-8", "replace"))
            elif kind in (b"P", b"B", b"E", b"D", b"C", b"H"):
                if not self.failed:
                    try:
                        await self._extended(kind, payload)
                    except _StatementError as error:
                        self.failed = True
                        await self._send(error.response)
            elif kind == b"S":
                self.failed = False
                self.portals.pop("", None)
                await self._send(m.ready_for_query(self._status()))
            else:
                raise m.ProtocolViolation(f"unexpected message {kind!r}")

    def _running(self, cursor: Any) -> None:
        """The cursor of the statement now running: what a CancelRequest for this session interrupts."""
        self.running = cursor

    # --- the extended protocol ------------------------------------------------------------------

    async def _extended(self, kind: bytes, payload: bytes) -> None:
        if kind == b"P":
            try:
                name, statement = ext.parse_message(payload)
            except (ValueError, struct.error):
                raise m.ProtocolViolation("malformed Parse message") from None
            self.prepared[name] = statement
            await self._send(ext.PARSE_COMPLETE)
        elif kind == b"B":
            try:
                name, portal, formats = ext.bind_message(payload, self.prepared)
            except KeyError as missing:
                raise _StatementError(m.error_response("26000", f"prepared statement {missing} does not exist")) from None
            except (ValueError, struct.error, UnicodeDecodeError):
                raise _StatementError(m.error_response("22P02", "a parameter value could not be read")) from None
            if any(formats):
                raise _StatementError(m.error_response("0A000", "binary result format is not supported yet"))
            self._close_portal(name)
            self.portals[name] = portal
            await self._send(ext.BIND_COMPLETE)
        elif kind == b"D":
            target, name = payload[:1], payload[1:].rstrip(b"\0").decode()
            if target == b"S":
                statement = self._statement_named(name)
                await self._send(ext.parameter_description(statement) + await self._describe(statement))
            else:
                portal = self._portal_named(name)
                if self._local(portal.statement.sql) is not None:
                    await self._send(ext.NO_DATA)
                    return
                await self._run_portal(portal)
                await self._send(m.row_description(portal.result.columns, portal.result.types))
        elif kind == b"E":
            end = payload.index(b"\0")
            portal = self._portal_named(payload[:end].decode())
            (limit,) = struct.unpack("!i", payload[end + 1:end + 5])
            await self._execute_portal(portal, limit)
        elif kind == b"C":
            target, name = payload[:1], payload[1:].rstrip(b"\0").decode()
            if target == b"S":
                self.prepared.pop(name, None)
            else:
                self._close_portal(name)
            await self._send(ext.CLOSE_COMPLETE)
        elif kind == b"H":
            await self.writer.drain()

    def _statement_named(self, name: str) -> ext.Prepared:
        if name not in self.prepared:
            raise _StatementError(m.error_response("26000", f"prepared statement \"{name}\" does not exist"))
        return self.prepared[name]

    def _portal_named(self, name: str) -> ext.Portal:
        if name not in self.portals:
            raise _StatementError(m.error_response("34000", f"portal \"{name}\" does not exist"))
        return self.portals[name]

    def _close_portal(self, name: str) -> None:
        portal = self.portals.pop(name, None)
        if portal is not None and portal.result is not None:
            portal.result.close()

    def _local(self, sql: str) -> bytes | None:
        try:
            trees = [t for t in sqlglot.parse(sql, read=READ_DIALECT) if t is not None]
        except Exception:  # noqa: BLE001 - not a local statement; the engine judges it
            return None
        return self._answer_locally(trees[0]) if len(trees) == 1 else None

    async def _describe(self, statement: ext.Prepared) -> bytes:
        """A statement's columns without running it for real: the same statement with no rows."""
        if self._local(statement.sql) is not None:
            return ext.NO_DATA
        probe = f"SELECT * FROM ({statement.sql.strip().rstrip(';')}) AS pe_describe LIMIT 0"
        result = await self._query(probe, [None] * len(statement.parameter_oids))
        try:
            return m.row_description(result.columns, result.types)
        finally:
            result.close()

    async def _query(self, sql: str, parameters: list[Any] | None) -> Any:
        try:
            return await asyncio.to_thread(self.server.engine.query_for, self.subject, sql, read=READ_DIALECT,
                                           parameters=parameters or None, on_start=self._running)
        except Refused as refusal:
            raise _StatementError(m.error_response(REFUSAL_SQLSTATE.get(refusal.kind, "42501"), refusal.reason)) \
                from None
        except QueryFailed as failure:
            raise _StatementError(m.error_response(failure.sqlstate, failure.message)) from None

    async def _run_portal(self, portal: ext.Portal) -> None:
        if portal.result is None:
            portal.result = await self._query(portal.statement.sql, portal.parameters)
            portal.batches = portal.result.batches()

    async def _execute_portal(self, portal: ext.Portal, limit: int) -> None:
        local = self._local(portal.statement.sql)
        if local is not None:
            await self._send(local)
            return
        await self._run_portal(portal)
        out: list[bytes] = []
        sent = 0
        while limit <= 0 or sent < limit:
            if not portal.pending:
                if portal.done:
                    break
                try:
                    batch = await asyncio.to_thread(next, portal.batches, None)
                except QueryFailed as failure:
                    raise _StatementError(m.error_response(failure.sqlstate, failure.message)) from None
                if batch is None:
                    portal.done = True
                    break
                portal.pending = list(batch)
            take = portal.pending if limit <= 0 else portal.pending[: limit - sent]
            portal.pending = portal.pending[len(take):]
            out.append(b"".join(m.data_row(row) for row in take))
            sent += len(take)
            if sum(map(len, out)) > 1 << 20:
                await self._send(b"".join(out))
                out = []
        portal.sent += sent
        if portal.done and not portal.pending:
            out.append(m.command_complete(f"SELECT {portal.sent}"))
        else:
            out.append(ext.PORTAL_SUSPENDED)
        await self._send(b"".join(out))

    def _status(self) -> bytes:
        return b"T" if self.in_transaction else b"I"

    async def _simple_query(self, text: str) -> None:
        try:
            statements = [tree for tree in sqlglot.parse(text, read=READ_DIALECT) if tree is not None]
        except Exception:  # noqa: BLE001 - the engine would refuse it too; say so with its reason
            statements = None
        if statements is None:
            await self._statement(text)
        elif not statements:
            await self._send(m.empty_query())
        else:
            for tree in statements:
                if not await self._statement(tree.sql(dialect=READ_DIALECT), tree):
                    break  # the rest of a failed message is not run, as PostgreSQL does
        await self._send(m.ready_for_query(self._status()))

    async def _statement(self, sql: str, tree: exp.Expression | None = None) -> bool:
        local = self._answer_locally(tree)
        if local is not None:
            await self._send(local)
            return True
        engine = self.server.engine
        try:
            result = await asyncio.to_thread(engine.query_for, self.subject, sql, read=READ_DIALECT,
                                             on_start=self._running)
        except Refused as refusal:
            await self._send(m.error_response(REFUSAL_SQLSTATE.get(refusal.kind, "42501"), refusal.reason))
            return False
        except QueryFailed as failure:
            await self._send(m.error_response(failure.sqlstate, failure.message))
            return False
        self.running = result
        try:
            await self._send(m.row_description(result.columns, result.types))
            batches = result.batches()
            count = 0
            while True:
                batch = await asyncio.to_thread(next, batches, None)
                if batch is None:
                    break
                count += len(batch)
                await self._send(b"".join(m.data_row(row) for row in batch))
            await self._send(m.command_complete(f"SELECT {count}"))
            return True
        except QueryFailed as failure:
            await self._send(m.error_response(failure.sqlstate, failure.message))
            return False
        finally:
            self.running = None
            result.close()

    def _answer_locally(self, tree: exp.Expression | None) -> bytes | None:
        """Session statements a read-only session answers itself; they never reach the database."""
        if tree is None:
            return None
        if isinstance(tree, exp.Transaction):
            self.in_transaction = True
            return m.command_complete("BEGIN")
        if isinstance(tree, exp.Commit):
            self.in_transaction = False
            return m.command_complete("COMMIT")
        if isinstance(tree, exp.Rollback):
            self.in_transaction = False
            return m.command_complete("ROLLBACK")
        if isinstance(tree, exp.Set):
            for item in tree.expressions:
                assignment = item.this
                if isinstance(assignment, exp.EQ):
                    name = assignment.this.name
                    self.settings[name] = assignment.expression.name
            return m.command_complete("SET")
        if isinstance(tree, exp.Show) or (isinstance(tree, exp.Command) and tree.name.upper() == "SHOW"):
            target = tree.args.get("expression") if isinstance(tree, exp.Command) else None
            name = tree.name if isinstance(tree, exp.Show) else (target.name if isinstance(target, exp.Literal)
                                                                 else str(target or ""))
            name = name.strip().strip('"')
            value = next((v for k, v in self.settings.items() if k.lower() == name.lower()), "")
            return (m.row_description([name], ["VARCHAR"]) + m.data_row((value,)) + m.command_complete("SHOW"))
        if isinstance(tree, exp.Command) and tree.name.upper() in ("RESET", "DISCARD", "DEALLOCATE"):
            return m.command_complete(tree.name.upper())
        return None
