"""DuckDB, opened read-only and hardened, running only rewritten and cross-checked SQL.

Hardening follows the measured order in the research notes: startup-only options at connect,
then external access off (no files, no network, no Python objects), extension loading off,
memory, thread and time limits, and finally the configuration locked so no statement can undo
any of it. A database that defines macros or views is refused: a macro can shadow a built-in
function (``main.lower``) and a view hides which tables it reads.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import duckdb

from policyengine.backends import crosscheck
from policyengine.backends.batches import read_batches
from policyengine.backends.errors import QueryFailed, sanitize
from policyengine.crypto import PURPOSES, KeyMaterial
from policyengine.model import PolicySet
from policyengine.rewrite import Refused, Rewritten, TableResolver
from policyengine.rewrite.keyed import variable_name

_BUILTINS: frozenset[str] | None = None
Parameters = Union[Sequence[Any], Mapping[str, Any], None]


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


class DuckDBBackend:
    """One hardened, read-only DuckDB instance serving the engine's rewritten queries."""

    dialect = "duckdb"

    def __init__(self, path: str | Path, *, keys: KeyMaterial | None = None, limits: Limits = Limits()):
        self.path = Path(path)
        if not self.path.is_file():
            raise QueryFailed(f"database not found: {self.path}", "3D000")
        self.limits = limits
        self.keys = keys
        self._lock = threading.Lock()
        self._idle: list[duckdb.DuckDBPyConnection] = []
        self._checked: dict[str, None] = {}  # final SQL texts that passed the cross-check, oldest first
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
        if self.keys is not None:
            for purpose in PURPOSES:
                inner, outer = self.keys.pads(purpose)
                cursor.execute(f"SET VARIABLE {variable_name(purpose, 'i')} = ?::BLOB", [inner])
                cursor.execute(f"SET VARIABLE {variable_name(purpose, 'o')} = ?::BLOB", [outer])
        return cursor

    # --- what the engine needs ------------------------------------------------------------------

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
        with self._lock:
            self._checked[rewritten.sql] = None
            if len(self._checked) > 4096:
                self._checked.pop(next(iter(self._checked)))

    def execute(self, rewritten: Rewritten, parameters: Parameters = None,
                started: Callable[[Any], None] | None = None) -> "ResultStream":
        """Run checked SQL; rows come back in batches as the caller reads them.

        ``started`` receives the cursor before the query runs, so another thread can interrupt it
        (a CancelRequest) while DuckDB is still computing.
        """
        self.check(rewritten)
        cursor = self.cursor()
        if started is not None:
            started(cursor)
        try:
            cursor.execute(rewritten.sql, _parameters(parameters))
        except duckdb.Error as error:
            self.release(cursor)
            raise sanitize(error) from None
        return ResultStream(cursor, self.limits.batch_rows, self.release)

    def release(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Back to the pool once its result is read or abandoned."""
        with self._lock:
            if len(self._idle) < 8:
                self._idle.append(cursor)
                return
        cursor.close()

    def interrupt(self) -> None:
        self._con.interrupt()

    def close(self) -> None:
        self._con.close()


def _parameters(parameters: Parameters) -> list[Any] | dict[str, Any] | None:
    """Values for ``?``/``$1`` (a sequence) or ``$name`` (a mapping); they are bound by DuckDB, so a
    parameter is only ever a value and can never change what the statement reads."""
    if parameters is None:
        return None
    if isinstance(parameters, Mapping):
        return dict(parameters)
    return list(parameters)


class ResultStream:
    """Column names and types, then rows in batches; database errors arrive sanitized."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, batch_rows: int,
                 release: Callable[[duckdb.DuckDBPyConnection], None]):
        self._cursor = cursor
        self._batch_rows = batch_rows
        self._release: Callable[[duckdb.DuckDBPyConnection], None] | None = release
        description = cursor.description or []
        self.columns = [d[0] for d in description]
        self.types = [str(d[1]) for d in description]

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        return read_batches(self._cursor, self._batch_rows, duckdb.Error, sanitize, self.close, short_means_end=True)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [row for batch in self.batches() for row in batch]

    def arrow(self) -> Any:
        """The rows not yet read, as a pyarrow Table (needs pyarrow)."""
        try:
            with warnings.catch_warnings():
                # DuckDB notes the copy a DB-API result costs; the rewritten query is only on this cursor
                warnings.simplefilter("ignore", UserWarning)
                return self._cursor.to_arrow_table()
        except duckdb.Error as error:
            raise sanitize(error) from None
        finally:
            self.close()

    def df(self) -> Any:
        """The rows not yet read, as a pandas DataFrame (needs pandas)."""
        try:
            return self._cursor.df()
        except duckdb.Error as error:
            raise sanitize(error) from None
        finally:
            self.close()

    def interrupt(self) -> None:
        self._cursor.interrupt()

    def close(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release(self._cursor)
