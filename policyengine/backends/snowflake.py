"""Snowflake as a query backend: the rewritten query, in Snowflake's dialect, run on the warehouse.

For users who route BI traffic through policyengine to a warehouse that outgrew one machine. The
rewrite is the same as for DuckDB; keyed protections call the secure UDFs that ``apply`` created
(the key lives in Snowflake), and names are written unquoted where Snowflake folds them. There is
no second parser to cross-check with here: only SQL generated from the engine's tree is sent.
Errors reach the reader as their class and code only: Snowflake's messages can quote values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from policyengine.backends.base import Parameters
from policyengine.backends.batches import read_batches
from policyengine.backends.errors import QueryFailed
from policyengine.model import PolicySet
from policyengine.rewrite import Rewritten, TableResolver


class SnowflakeBackend:
    """A :class:`policyengine.backends.base.Backend` over a Snowflake connection (PEP 249)."""

    dialect = "snowflake"
    #: a warehouse: no local file for a front end to open
    path: Path | None = None

    def __init__(self, connection: Any, *, database: str | None = None, schema: str | None = None,
                 batch_rows: int = 2048):
        self.connection = connection
        self.database = database
        self.schema = schema
        self.batch_rows = batch_rows
        self._resolver: TableResolver | None = None

    @property
    def udf_prefix(self) -> str:
        """The secure UDFs ``apply`` created live in the connection's database and schema."""
        return ".".join(p for p in (self.database, self.schema) if p)

    @property
    def has_key(self) -> bool:
        """The key lives in Snowflake's secure UDFs, so the engine never needs it for this backend."""
        return True

    def resolver(self, policy_set: PolicySet) -> TableResolver:
        catalogs = frozenset({self.database.lower()}) if self.database else frozenset()
        schema = (self.schema or "public").lower()
        kept = self._resolver  # the last one (it indexes the set's tables once)
        if (kept is not None and kept.policy_set is policy_set and kept.catalogs == catalogs
                and kept.default_schema == schema):
            return kept
        kept = TableResolver(policy_set, catalogs, default_schema=schema)
        self._resolver = kept
        return kept

    def columns(self) -> None:
        """Not listed: contracts are compared with Snowflake by ``apply``, which reads its catalog."""
        return None

    def execute(self, rewritten: Rewritten, parameters: Parameters = None,
                started: Callable[[Any], None] | None = None,
                arrow: Callable[[list[str]], bool] | None = None) -> SnowflakeResult:
        # ``arrow`` (Arrow batches for the front door) is a DuckDB fast path; results here are rows
        cursor = self.connection.cursor()
        try:
            cursor.execute(rewritten.sql, parameters)
        except Exception as error:  # noqa: BLE001 - the connector's error classes; sanitized below
            cursor.close()
            raise sanitize(error) from None
        return SnowflakeResult(cursor, self.batch_rows)

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        self.connection.close()


def sanitize(error: BaseException) -> QueryFailed:
    code = getattr(error, "errno", None)
    sqlstate = getattr(error, "sqlstate", None) or "XX000"
    return QueryFailed(f"the query failed in Snowflake ({type(error).__name__}{f' {code}' if code else ''})",
                       sqlstate if len(str(sqlstate)) == 5 else "XX000")


class SnowflakeResult:
    """A :class:`policyengine.backends.base.ResultRows` over a connector cursor: rows only."""

    streams_arrow = False

    def __init__(self, cursor: Any, batch_rows: int):
        self._cursor = cursor
        self._batch_rows = batch_rows
        description = cursor.description or []
        self.columns = [d[0] for d in description]
        self.types = [str(getattr(d, "type_code", d[1])) for d in description]

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        # the connector's error classes vary by version: every error is sanitized
        return read_batches(self._cursor, self._batch_rows, Exception, sanitize, self.close)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [row for batch in self.batches() for row in batch]

    def interrupt(self) -> None:
        pass

    def arrow_batches(self) -> Iterator[Any]:
        raise QueryFailed("Arrow batches are not offered by the Snowflake backend", "0A000")

    def arrow(self) -> Any:
        raise QueryFailed("arrow() is not offered by the Snowflake backend", "0A000")

    def df(self) -> Any:
        raise QueryFailed("df() is not offered by the Snowflake backend", "0A000")

    def close(self) -> None:
        try:
            self._cursor.close()
        except Exception:  # noqa: BLE001 - already closed
            pass
