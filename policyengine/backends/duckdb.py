"""DuckDB, opened read-only and hardened, running only rewritten and cross-checked SQL.

Hardening follows the measured order in the research notes: startup-only options at connect,
then external access off (no files, no network, no Python objects), extension loading off,
memory, thread and time limits, and finally the configuration locked so no statement can undo
any of it. A database that defines macros or views is refused: a macro can shadow a built-in
function (``main.lower``) and a view hides which tables it reads.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from policyengine.backends import crosscheck
from policyengine.backends.base import Parameters
from policyengine.backends.batches import read_batches
from policyengine.backends.errors import QueryFailed, sanitize, sanitize_streamed
from policyengine.backends.plans import Plans
from policyengine.bounded_cache import BoundedCache, text_bytes
from policyengine.crypto import PURPOSES, KeyMaterial
from policyengine.model import PolicySet
from policyengine.rewrite import Refused, Rewritten, TableResolver
from policyengine.rewrite.keyed import variable_name

_BUILTINS: frozenset[str] | None = None
#: statements remembered per backend (checked texts, result types, which ones return many rows)
CACHE_SIZE = 4096
#: what the checked texts may hold (bytes, estimated)
TEXTS_BUDGET = 8 << 20


def builtin_functions() -> frozenset[str]:
    """DuckDB's own functions, read from a fresh in-memory database (so none can be user-defined)."""
    global _BUILTINS
    if _BUILTINS is None:
        with duckdb.connect(":memory:", config={"autoload_known_extensions": False,
                                                "autoinstall_known_extensions": False}) as con:
            rows = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE internal").fetchall()
        _BUILTINS = frozenset(row[0] for row in rows)
    return _BUILTINS


@dataclass(frozen=True)
class Limits:
    memory: str = "4GB"
    threads: int = 2
    max_execution_seconds: float = 300.0
    batch_rows: int = 2048
    #: rows per Arrow record batch: larger batches amortize the per-batch cost of column-wise encoding
    arrow_rows: int = 16384


class DuckDBBackend:
    """One hardened, read-only DuckDB instance serving the engine's rewritten queries.

    A :class:`policyengine.backends.base.Backend`.
    """

    dialect = "duckdb"
    #: keyed protections read the key from session variables set on each cursor, not from UDFs
    udf_prefix: str | None = None

    def __init__(self, path: str | Path, *, keys: KeyMaterial | None = None, limits: Limits = Limits()):
        self.path = Path(path)
        if not self.path.is_file():
            raise QueryFailed(f"database not found: {self.path}", "3D000")
        self.limits = limits
        self.keys = keys
        self._lock = threading.Lock()
        self._idle: list[duckdb.DuckDBPyConnection] = []
        #: final SQL texts that passed the cross-check (each of these is bounded by bytes too: a text
        #: can be megabytes long)
        self._checked: BoundedCache[str, None] = BoundedCache(CACHE_SIZE, budget=TEXTS_BUDGET, weigh=text_bytes)
        #: result types by text and parameter types
        self._types: BoundedCache[tuple[str, tuple[Any, ...]], list[str]] = BoundedCache(
            CACHE_SIZE, budget=TEXTS_BUDGET // 2, weigh=text_bytes)
        #: statements whose last run returned many rows
        self._large: BoundedCache[tuple[str, tuple[Any, ...]], None] = BoundedCache(
            CACHE_SIZE, budget=TEXTS_BUDGET // 2, weigh=text_bytes)
        self._plans = Plans()  # prepared statements of the texts that repeat, per cursor
        self._resolver: TableResolver | None = None
        try:
            self._con = duckdb.connect(str(self.path), read_only=True, config={
                "allow_community_extensions": False,
                "allow_unsigned_extensions": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            })
        except duckdb.Error as error:
            raise QueryFailed(f"cannot open the database {self.path.name}: {type(error).__name__}", "3D000") from None
        self._refuse_user_objects()
        self.catalog = self._con.execute("SELECT current_database()").fetchone()[0]
        self._harden()

    # --- opening ------------------------------------------------------------------------------

    def _refuse_user_objects(self) -> None:
        macros = self._con.execute(
            "SELECT count(*) FROM duckdb_functions() WHERE NOT internal AND function_type LIKE '%macro%'").fetchone()[0]
        views = self._con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0]
        if macros or views:
            self._con.close()
            raise QueryFailed(f"refusing {self.path.name}: it defines {macros} macro(s) and {views} view(s), which "
                              "could shadow built-in functions or hide table reads", "42501")

    def _harden(self) -> None:
        # DuckDB shares one instance per file within a process: a second backend on the same file
        # finds it hardened and locked already, which is what it wants; anything else is refused.
        locked, external = self._con.execute(
            "SELECT current_setting('lock_configuration'), current_setting('enable_external_access')").fetchone()
        if locked:
            if external:
                raise QueryFailed(f"refusing {self.path.name}: it is open elsewhere in this process without hardening",
                                  "42501")
            return
        limits = self.limits
        for statement in (
            "SET enable_progress_bar = false",
            "SET enable_external_access = false",
            "SET python_enable_replacements = false",
            f"SET memory_limit = '{limits.memory}'",
            f"SET threads = {int(limits.threads)}",
            f"SET max_execution_time = {int(limits.max_execution_seconds * 1000)}",
            "SET lock_configuration = true",
        ):
            self._con.execute(statement)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor (DuckDB: a connection to the same instance) holding the key variables.

        Variables belong to one connection, so every cursor gets its own; they are set with
        parameters, so the key never appears in any SQL text. Cursors are pooled: making one and
        setting its variables costs more than a small query.
        """
        with self._lock:
            if self._idle:
                return self._idle.pop()
        cursor = self._con.cursor()
        self._plans.forget(cursor)  # a new cursor has no prepared statements, whatever one before it had
        if self.keys is not None:
            for purpose in PURPOSES:
                inner, outer = self.keys.pads(purpose)
                cursor.execute(f"SET VARIABLE {variable_name(purpose, 'i')} = ?::BLOB", [inner])
                cursor.execute(f"SET VARIABLE {variable_name(purpose, 'o')} = ?::BLOB", [outer])
        return cursor

    # --- what the engine needs ------------------------------------------------------------------

    @property
    def has_key(self) -> bool:
        """Whether a key was given: every cursor then holds it for hash, tokenize and encrypt."""
        return self.keys is not None

    def resolver(self, policy_set: PolicySet) -> TableResolver:
        """The resolver for ``policy_set``; the last one is kept (it indexes the set's tables once)."""
        kept = self._resolver
        if kept is not None and kept.policy_set is policy_set:
            return kept
        kept = TableResolver(policy_set, frozenset({self.catalog.lower()}))
        self._resolver = kept
        return kept

    def columns(self) -> dict[tuple[str, str], dict[str, str]]:
        """(schema, table) -> {column (lower case): DuckDB type}, for checking contracts against the data."""
        with self._lock:  # the shared connection also runs check(): two callers at once cross their results
            rows = self._con.execute(
                "SELECT lower(schema_name), lower(table_name), lower(column_name), data_type FROM duckdb_columns() "
                "WHERE NOT internal AND database_name = current_database()").fetchall()
        out: dict[tuple[str, str], dict[str, str]] = {}
        for schema, table, column, data_type in rows:
            out.setdefault((schema, table), {})[column] = data_type
        return out

    def check(self, rewritten: Rewritten) -> None:
        """DuckDB's parser on the final text; a text that passed once passes again (the check depends on
        the text and DuckDB's built-ins only), so repeated statements skip it."""
        if rewritten.sql in self._checked:
            return
        with self._lock:
            try:
                serialized = self._con.execute("SELECT json_serialize_sql(?)", [rewritten.sql]).fetchone()[0]
            except duckdb.Error:
                raise Refused("DuckDB's parser could not check the rewritten query", kind="unsupported") from None
        crosscheck.check(serialized, rewritten, builtin_functions())
        self._checked.put(rewritten.sql, None)

    def execute(self, rewritten: Rewritten, parameters: Parameters = None,
                started: Callable[[Any], None] | None = None,
                arrow: Callable[[list[str]], bool] | None = None) -> ResultStream | ArrowResultStream:
        """Run checked SQL; rows come back in batches as the caller reads them.

        ``started`` receives the cursor before the query runs, so another thread can interrupt it
        (a CancelRequest) while DuckDB is still computing. ``arrow``: the caller can take Arrow
        record batches for a result whose DuckDB types it accepts (the front door encodes them
        column-wise); such a result streams as Arrow, any other as Python rows.
        """
        self.check(rewritten)
        cursor = self.cursor()
        running = Running(cursor)
        release = running.releasing(self.release)
        if started is not None:
            started(running)
        values = _parameters(parameters)
        key = _statement_key(rewritten.sql, values)
        try:
            if rewritten.preflight is not None:  # PostgreSQL's planning-time errors (postgres_constants.py)
                # its one row read (so the cursor is free again) as Arrow: a value Python cannot hold
                # (an interval of 2147483647 days, a date past 9999) is no error of PostgreSQL's
                for check in rewritten.preflight:
                    cursor.sql(check).to_arrow_table()
            run = self._statement(cursor, rewritten, values)
            if (arrow is not None and key in self._large and hasattr(cursor, "_submit")
                    and arrow(self._result_types(cursor, key, values))):
                # the relation layer's own entry point: it streams Arrow batch by batch (a DB-API
                # result's Arrow export would first copy every row)
                running.begin()
                return ArrowResultStream(cursor, cursor._submit(run, values, "stream", self.limits.arrow_rows),
                                         release, lambda large: self._note_size(key, large),
                                         self.limits.batch_rows)
            running.begin()
            cursor.execute(run, values)
        except duckdb.Error as error:
            release(cursor)
            raise sanitize(error) from None
        except QueryFailed:
            release(cursor)
            raise
        return ResultStream(cursor, self.limits.batch_rows, release, lambda: self._note_size(key, True))

    def _statement(self, cursor: duckdb.DuckDBPyConnection, rewritten: Rewritten,
                   values: list[Any] | dict[str, Any] | None) -> str:
        """The text to run: a repeated statement's prepared plan (:mod:`policyengine.backends.plans`)
        where that is safe, else the checked text. DuckDB holds the whole result of an ``EXECUTE``
        before the first row is read (it streams only a query's own text), so only a statement whose
        own LIMIT keeps its result within one batch runs a plan; one with parameter values always
        runs as text (``EXECUTE`` would need them written into SQL)."""
        bound = rewritten.row_bound
        if values or bound is None or bound > self.limits.batch_rows:
            return rewritten.sql
        return self._plans.statement(cursor, rewritten.sql)

    def _note_size(self, key: tuple[str, tuple[Any, ...]], large: bool) -> None:
        """Remember whether a statement's last run returned more than one batch of rows.

        Arrow costs a fixed 0.1-0.2 ms a result more than rows (export, reader, per-batch kernels) and
        saves microseconds per row: worth it from a few thousand rows. Whether a statement returns
        that many is known only once it ran, and statements repeat (dashboards, drivers' prepared
        statements), so its last run decides its next one.
        """
        if large:
            self._large.put(key, None)
        else:
            self._large.pop(key)

    def _result_types(self, cursor: duckdb.DuckDBPyConnection, key: tuple[str, tuple[Any, ...]],
                      values: list[Any] | dict[str, Any] | None) -> list[str]:
        """The result's DuckDB types, bound (not run) once per text and parameter types."""
        types = self._types.get(key)
        if types is None:
            types = [str(t) for t in cursor.sql(key[0], params=values).types]
            self._types.put(key, types)
        return types

    def release(self, cursor: duckdb.DuckDBPyConnection, reusable: bool = True) -> None:
        """Back to the pool once its result is read; closed if the result was abandoned part-way (a
        cursor still holding a pending result refuses DuckDB's streaming entry point)."""
        if reusable:
            with self._lock:
                if len(self._idle) < 8:
                    self._idle.append(cursor)
                    return
        self._plans.forget(cursor)
        cursor.close()

    def interrupt(self) -> None:
        self._con.interrupt()

    def close(self) -> None:
        self._con.close()


def _statement_key(sql: str, values: list[Any] | dict[str, Any] | None) -> tuple[str, tuple[Any, ...]]:
    """A statement text with its parameters' types: what its result's types can depend on."""
    if isinstance(values, dict):
        return sql, tuple(sorted((k, type(v).__name__) for k, v in values.items()))
    return sql, tuple(type(v).__name__ for v in values or ())


def _parameters(parameters: Parameters) -> list[Any] | dict[str, Any] | None:
    """Values for ``?``/``$1`` (a sequence) or ``$name`` (a mapping); they are bound by DuckDB, so a
    parameter is only ever a value and can never change what the statement reads."""
    if parameters is None:
        return None
    if isinstance(parameters, Mapping):
        return dict(parameters)
    return list(parameters)


class Running:
    """What :meth:`DuckDBBackend.execute` hands ``started``: ``interrupt()`` stops this statement's
    query and only it. An interrupt before DuckDB has begun the query (the statement is being checked
    or prepared) is kept and fails the statement as it begins: DuckDB forgets an interrupt that comes
    before its query. One after the statement let its cursor go does nothing: the cursor then serves
    other statements, which a late CancelRequest must not stop."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection):
        self._cursor: duckdb.DuckDBPyConnection | None = cursor
        self._lock = threading.Lock()
        self.interrupted = False

    def interrupt(self) -> None:
        with self._lock:
            self.interrupted = True
            if self._cursor is not None:
                self._cursor.interrupt()

    def begin(self) -> None:
        """Just before DuckDB runs the query: 57014 if it was interrupted already."""
        if self.interrupted:
            raise QueryFailed("canceled: the query was interrupted", "57014")

    def releasing(self, release: Callable[[duckdb.DuckDBPyConnection, bool], None]
                  ) -> Callable[[duckdb.DuckDBPyConnection, bool], None]:
        """``release`` that first makes this handle let go of the cursor."""
        def let_go(cursor: duckdb.DuckDBPyConnection, reusable: bool = True) -> None:
            with self._lock:
                self._cursor = None
            release(cursor, reusable)

        return let_go


class ResultStream:
    """Column names and types, then rows in batches; database errors arrive sanitized."""

    #: rows are read as Python tuples (:meth:`batches`); :meth:`arrow_batches` converts
    streams_arrow = False

    def __init__(self, cursor: duckdb.DuckDBPyConnection, batch_rows: int,
                 release: Callable[[duckdb.DuckDBPyConnection, bool], None],
                 on_large: Callable[[], None] | None = None):
        self._cursor = cursor
        self._batch_rows = batch_rows
        self._on_large = on_large  # called once a second batch is read
        self._read_out = False  # every row read: the cursor holds no pending result
        self._release: Callable[[duckdb.DuckDBPyConnection, bool], None] | None = release
        description = cursor.description or []
        self.columns = [d[0] for d in description]
        self.types = [str(d[1]) for d in description]

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        batches = read_batches(self._cursor, self._batch_rows, (duckdb.Error, OverflowError), sanitize, self.close,
                               short_means_end=True,
                               ended=self._ended)
        if self._on_large is None:
            return batches
        return self._noting_size(batches)

    def _noting_size(self, batches: Iterator[list[tuple[Any, ...]]]) -> Iterator[list[tuple[Any, ...]]]:
        for index, batch in enumerate(batches):
            if index == 1 and self._on_large is not None:
                self._on_large()
            yield batch

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [row for batch in self.batches() for row in batch]

    def arrow_batches(self) -> Iterator[Any]:
        """The rows not yet read, as Arrow record batches of ``batch_rows`` rows (needs pyarrow)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # as in arrow(): the copy is expected
                reader = self._cursor.to_arrow_reader(self._batch_rows)
            yield from reader
            self._ended()
        except Exception as error:  # noqa: BLE001 - DuckDB's errors come through Arrow as OSError & co
            raise sanitize_streamed(error) from None
        finally:
            self.close()

    def arrow(self) -> Any:
        """The rows not yet read, as a pyarrow Table (needs pyarrow)."""
        try:
            with warnings.catch_warnings():
                # DuckDB notes the copy a DB-API result costs; the rewritten query is only on this cursor
                warnings.simplefilter("ignore", UserWarning)
                table = self._cursor.to_arrow_table()
            self._ended()
            return table
        except duckdb.Error as error:
            raise sanitize(error) from None
        finally:
            self.close()

    def df(self) -> Any:
        """The rows not yet read, as a pandas DataFrame (needs pandas)."""
        try:
            frame = self._cursor.df()
            self._ended()
            return frame
        except duckdb.Error as error:
            raise sanitize(error) from None
        finally:
            self.close()

    def interrupt(self) -> None:
        if self._release is not None:  # once let go, the cursor serves other statements
            self._cursor.interrupt()

    def _ended(self) -> None:
        self._read_out = True

    def close(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release(self._cursor, self._read_out)


class ArrowResultStream:
    """A result read as Arrow record batches (``arrow_batches``); database errors arrive sanitized.

    Only for results whose types the caller accepted: ``batches()`` turns them into Python rows
    through Arrow, which gives the same Python values as DuckDB's own rows for the types the front
    door's column-wise encoder takes (text, booleans, integers, decimals, dates, timestamps).
    """

    streams_arrow = True

    def __init__(self, cursor: duckdb.DuckDBPyConnection, result: Any,
                 release: Callable[[duckdb.DuckDBPyConnection, bool], None],
                 note_size: Callable[[bool], None] | None = None, small_rows: int = 0):
        self._cursor = cursor
        self._result = result
        self._note_size = note_size  # told, when the stream ends, whether it returned more than small_rows
        self._small_rows = small_rows
        self._release: Callable[[duckdb.DuckDBPyConnection, bool], None] | None = release
        description = result.description or []
        self.columns = [d[0] for d in description]
        self.types = [str(d[1]) for d in description]
        self._reader: Any = None
        self._ahead: _ReadAhead | None = None
        self._closing = threading.Lock()

    def arrow_batches(self) -> Iterator[Any]:
        """The record batches, read one ahead by a thread of the stream's own: DuckDB produces the
        next batch while the caller encodes this one (the reader gives up the GIL while it waits)."""
        rows = 0
        with self._closing:
            if self._release is None:
                return
            self._reader = self._result.arrow_reader()
            self._ahead = ahead = _ReadAhead(self._reader)
        try:
            for batch in ahead:
                rows += batch.num_rows
                yield batch
            if self._note_size is not None:
                self._note_size(rows > self._small_rows)
        except Exception as error:  # noqa: BLE001 - DuckDB's errors come through Arrow as OSError & co
            raise sanitize_streamed(error) from None
        finally:
            self.close()

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        for batch in self.arrow_batches():
            columns = [column.to_pylist() for column in batch.columns]
            yield list(zip(*columns))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [row for batch in self.batches() for row in batch]

    def arrow(self) -> Any:
        """The rows not yet read, as a pyarrow Table."""
        import pyarrow as pa

        batches = list(self.arrow_batches())
        if batches:
            return pa.Table.from_batches(batches)
        try:  # no rows: the reader still knows the columns' types
            return pa.Table.from_batches([], schema=self._reader.schema)
        except Exception:  # noqa: BLE001 - no reader (closed before reading) or it is gone with DuckDB's result
            return pa.table({name: pa.array([]) for name in self.columns})

    def df(self) -> Any:
        """The rows not yet read, as a pandas DataFrame (needs pandas)."""
        return self.arrow().to_pandas()

    def interrupt(self) -> None:
        if self._release is not None:  # once let go, the cursor serves other statements
            self._cursor.interrupt()

    def close(self) -> None:
        """Stops the read-ahead thread first (interrupting DuckDB if the result was abandoned part-way):
        the reader must not be closed under a thread still reading it."""
        with self._closing:
            if self._release is None:
                return
            release, self._release = self._release, None
            ahead = self._ahead
            read_out = ahead is not None and ahead.done
            if ahead is not None:
                if not ahead.done:
                    self._cursor.interrupt()
                ahead.stop()
            for part in (self._reader, self._result):
                try:
                    if part is not None:
                        part.close()
                except Exception:  # noqa: BLE001 - already closed by DuckDB at its end
                    pass
            release(self._cursor, read_out)


class _ReadAhead:
    """Iterates a record batch reader from a thread that stays one batch ahead of the consumer."""

    _END = object()
    _CLOSED = object()  # put by stop(): a consumer still waiting learns the result was closed under it

    def __init__(self, reader: Any):
        self._reader = reader
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._stopping = threading.Event()
        self.done = False
        self._thread = threading.Thread(target=self._pump, name="policyengine-arrow-read", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for batch in self._reader:
                if not self._put(batch):
                    return
            self._put(self._END)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which sanitizes it
            self._put(error)

    def _put(self, item: Any) -> bool:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is self._END:
                self.done = True
                return
            if item is self._CLOSED:
                raise QueryFailed("the result was closed while it was being read", "57014")
            if isinstance(item, BaseException):
                self.done = True
                raise item
            yield item

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        try:  # a batch still waiting is dropped: the result is closed
            self._queue.get_nowait()
        except queue.Empty:
            pass
        self._queue.put_nowait(self._CLOSED)
