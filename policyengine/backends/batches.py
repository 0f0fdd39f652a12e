"""Reading a cursor's rows in batches, with the backend's own errors sanitized on the way out."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from policyengine.backends.errors import QueryFailed


def read_batches(cursor: Any, batch_rows: int, error_type: type[BaseException] | tuple[type[BaseException], ...],
                 sanitize: Callable[[BaseException], QueryFailed], close: Callable[[], None]) -> Iterator[list[tuple[Any, ...]]]:
    """``fetchmany`` until the rows run out; the cursor is closed (or released) however the reading ends."""
    try:
        while True:
            rows = cursor.fetchmany(batch_rows)
            if not rows:
                break
            yield [tuple(row) for row in rows]
    except error_type as error:
        raise sanitize(error) from None
    finally:
        close()
