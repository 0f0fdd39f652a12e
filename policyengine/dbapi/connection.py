"""A PEP 249 connection whose every statement goes through the policy engine as one subject."""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from policyengine.backends.errors import QueryFailed
from policyengine.crypto import KeyError_
from policyengine.dbapi.exceptions import (
    InterfaceError,
    NotSupportedError,
    PolicyDenied,
    PolicyNotice,
    ProgrammingError,
    from_sqlstate,
)
from policyengine.decision import DecisionError, Outcome, Subject, TableDecision
from policyengine.decision.visible import visible_tables
from policyengine.engine import Engine, QueryResult
from policyengine.rewrite import Refused, Rewritten


class Connection:
    """Read-only: ``commit`` and ``rollback`` succeed and change nothing; there is nothing to write."""

    def __init__(self, engine: Engine, subject: Subject, environment: str | None, *, read: str = "duckdb",
                 owns_engine: bool = True):
        self.engine = engine
        self.subject = subject
        self.environment = environment
        self.read = read
        self._owns_engine = owns_engine
        self._closed = False

    # --- PEP 249 ---------------------------------------------------------------------------------

    def cursor(self) -> Cursor:
        self._check_open()
        return Cursor(self)

    def commit(self) -> None:
        self._check_open()

    def rollback(self) -> None:
        self._check_open()

    def close(self) -> None:
        if not self._closed and self._owns_engine:
            self.engine.close()
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    # --- conveniences --------------------------------------------------------------------------

    def execute(self, operation: str, parameters: Any = None) -> Cursor:
        return self.cursor().execute(operation, parameters)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def visible_tables(self) -> list[TableDecision]:
        """The tables this subject may read here, with what it sees of each (for catalogs and inspectors)."""
        self._check_open()
        present = self.engine.backend.columns() if self.engine.backend else None
        return visible_tables(self.engine.policy_set, self.subject, self.environment, present)

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("the connection is closed")


class Cursor:
    arraysize = 1000

    def __init__(self, connection: Connection):
        self.connection = connection
        self._result: QueryResult | None = None
        self._batches: Iterator[list[tuple[Any, ...]]] | None = None
        self._buffer: deque[tuple[Any, ...]] = deque()
        self._closed = False
        self.description: list[tuple[Any, ...]] | None = None
        self.rowcount = -1
        #: the rewrite behind the last statement: which tables it read, and what each column showed
        self.rewritten: Rewritten | None = None
        #: PEP 249's extension: (class, text) of what the last statement's result came with (its notices)
        self.messages: list[tuple[type, str]] = []

    # --- executing -----------------------------------------------------------------------------

    def execute(self, operation: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> Cursor:
        self._check_open()
        self._reset()
        connection = self.connection
        try:
            result = connection.engine.query_for(connection.subject, operation, env=connection.environment,
                                                 read=connection.read, parameters=parameters)
        except Refused as refusal:
            raise PolicyDenied(refusal.reason) from None
        except QueryFailed as failure:
            raise from_sqlstate(failure.message, failure.sqlstate) from None
        except DecisionError as error:
            raise ProgrammingError(str(error)) from None
        self._result = result
        self.rewritten = result.rewritten
        for notice in result.notices:
            # a filtered-out result must not look like an empty table: the caller is told why
            self.messages.append((PolicyNotice, notice))
            warnings.warn(notice, PolicyNotice, stacklevel=2)
        self._batches = result.batches()
        self.description = [(name, kind, None, None, None, None, None)
                            for name, kind in zip(result.columns, result.types)]
        return self

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> Cursor:
        """Each set of parameters is a statement of its own, each rewritten and checked; rows of the last remain."""
        for parameters in seq_of_parameters:
            self.execute(operation, parameters)
        return self

    # --- fetching ------------------------------------------------------------------------------

    def _fill(self, wanted: int | None) -> None:
        if self._batches is None:
            if self._result is None:
                raise ProgrammingError("no statement has been executed")
            return
        while wanted is None or len(self._buffer) < wanted:
            try:
                batch = next(self._batches)
            except StopIteration:
                self._batches = None
                break
            except QueryFailed as failure:
                self._batches = None
                raise from_sqlstate(failure.message, failure.sqlstate) from None
            self._buffer.extend(batch)

    def fetchone(self) -> tuple[Any, ...] | None:
        self._check_open()
        self._fill(1)
        return self._buffer.popleft() if self._buffer else None

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        self._check_open()
        size = self.arraysize if size is None else size
        self._fill(size)
        return [self._buffer.popleft() for _ in range(min(size, len(self._buffer)))]

    def fetchall(self) -> list[tuple[Any, ...]]:
        self._check_open()
        self._fill(None)
        rows = list(self._buffer)
        self._buffer.clear()
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row

    def arrow(self) -> Any:
        """The rows not yet fetched, as a pyarrow Table (DuckDB's own conversion; needs pyarrow)."""
        return self._whole("arrow")

    def df(self) -> Any:
        """The rows not yet fetched, as a pandas DataFrame (DuckDB's own conversion; needs pandas)."""
        return self._whole("df")

    def _whole(self, how: str) -> Any:
        self._check_open()
        if self._result is None:
            raise ProgrammingError("no statement has been executed")
        if self._buffer:
            raise NotSupportedError(f"{how}() after fetching part of the rows; fetch the rest with fetchall()")
        try:
            return getattr(self._result, how)()
        except QueryFailed as failure:
            raise from_sqlstate(failure.message, failure.sqlstate) from None
        finally:
            self._batches = None

    # --- PEP 249 odds and ends -----------------------------------------------------------------

    def setinputsizes(self, sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass

    def close(self) -> None:
        self._reset()
        self._closed = True

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reset(self) -> None:
        self.messages.clear()
        if self._result is not None:
            self._result.close()
        self._result = None
        self._batches = None
        self._buffer.clear()
        self.description = None
        self.rowcount = -1
        self.rewritten = None

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("the cursor is closed")
        self.connection._check_open()

    # --- what the policy did, for tests --------------------------------------------------------

    def column_outcomes(self, column: str) -> list[tuple[str, Outcome, str]]:
        """For an output column name: (table, outcome, what it showed) of each table read that has it."""
        if self.rewritten is None:
            raise ProgrammingError("no statement has been executed")
        wanted = column.strip().lower()
        out = []
        for decision in self.rewritten.decisions:
            choice = decision.column(wanted)
            if choice is not None:
                out.append((decision.table_name, choice.outcome, choice.shows))
        return out


def connect(database: str | Path, *, role: str | None = None, roles: Sequence[str] = (), principal: str | None = None,
            env: str | None = None, policies: str | Path = "policies", key_file: str | Path | None = None,
            audit: str | Path | None = None, read: str = "duckdb", engine: Engine | None = None) -> Connection:
    """A DB-API 2.0 connection to ``database`` as a role or principal, with the policies enforced.

    Pass ``engine`` to share one loaded policy set and database between connections.
    """
    from policyengine.model import PolicySetInvalid

    owns = engine is None
    try:
        engine = engine or Engine.load(policies, database, key_file=key_file, audit=audit)
    except PolicySetInvalid as invalid:
        raise InterfaceError("invalid policy set:\n" + "\n".join(str(p) for p in invalid.problems)) from None
    except QueryFailed as failure:
        raise from_sqlstate(failure.message, failure.sqlstate) from None
    except KeyError_ as unusable:  # a configured key that cannot be read: the message names the source only
        raise InterfaceError(str(unusable)) from None
    try:
        subject = engine.subject(role=role, roles=roles, principal=principal)
        if env is not None:
            from policyengine.decision import environment_for

            env = environment_for(engine.policy_set, env)
    except DecisionError as error:
        if owns:
            engine.close()
        raise InterfaceError(str(error)) from None
    return Connection(engine, subject, env, read=read, owns_engine=owns)
