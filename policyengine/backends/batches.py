"""Reading a cursor's rows in batches, with the backend's own errors sanitized on the way out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from policyengine.backends.errors import QueryFailed


def read_batches(cursor: Any, batch_rows: int, error_type: type[BaseException] | tuple[type[BaseException], ...],
                 sanitize: Callable[[BaseException], QueryFailed], close: Callable[[], None], *,
                 short_means_end: bool = False,
                 ended: Callable[[], None] | None = None) -> Iterator[list[tuple[Any, ...]]]:
    """``fetchmany`` until the rows run out; the cursor is closed (or released) however the reading ends.

    ``short_means_end``: the driver fills every batch until the result is over (DuckDB does), so a
    short batch is the last and no further fetch is needed to learn it (a one-row answer costs one
    fetch, not two). PEP 249 does not promise it, so other drivers read until an empty batch.
    ``ended`` is told, before the close, that every row was read (not on an error or when abandoned).
    """
    try:
        while True:
            rows = cursor.fetchmany(batch_rows)
            if not rows:
                break
            yield rows if type(rows) is list and type(rows[0]) is tuple else [tuple(row) for row in rows]
            if short_means_end and len(rows) < batch_rows:
                break
        if ended is not None:
            ended()
    except error_type as error:
        raise sanitize(error) from None
    finally:
        close()
