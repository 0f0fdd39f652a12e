"""An open result read forward by a session: the rows read but not yet sent, and whether more remain.

Every read runs in a worker thread (DuckDB and encoding must not hold the event loop), and a thread
hop costs about as much as a point query's own work. So each read also looks one batch ahead: the
step that delivers a result's last rows learns that it is over, closes the result and writes its
audit line, and a one-row answer (a dashboard's lookup, pgbench) costs one hop from Describe to
CommandComplete instead of three. The invariant after every step: ``pending`` holds rows, or
``finished`` is true.

A result that streams Arrow record batches (text-format results of types ``arrow_rows`` encodes)
keeps a record batch pending instead of a list of tuples: both slice and measure alike, and such
a batch becomes DataRows column by column, with no Python per row.

A result holding intervals is read as Arrow too, and made rows here (``arrow_rows.python_rows``):
DuckDB's Python rows fold an interval's months into days of 30 and its days into its time, which
PostgreSQL keeps apart (``1 year 2 mons``, ``1 day -36:00:00``); Arrow's intervals keep all three.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from policyengine.server import arrow_rows, binary

#: a finished result this small is encoded on the event loop: cheaper than a hop to a thread
INLINE_ROWS = 32


def _exact_batches(result: Any, types: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    """The result's rows batch by batch, read through Arrow: intervals as exact (months, days, micros)."""
    for batch in result.arrow_batches():
        yield arrow_rows.python_rows(batch, types)


class Feed:
    def __init__(self, result: Any):
        self.result = result
        self.columns: list[str] = result.columns
        self.types: list[str] = result.types
        self.streams_arrow: bool = getattr(result, "streams_arrow", False)
        if self.streams_arrow:
            self._batches = result.arrow_batches()
        elif arrow_rows.has_interval(self.types) and arrow_rows.exact_types(self.types):
            self._batches = _exact_batches(result, self.types)
        else:
            self._batches = result.batches()
        self.pending: Any = []  # a list of row tuples, or an Arrow record batch
        self.finished = False

    # --- in a worker thread ------------------------------------------------------------------------

    def fill(self) -> Feed:
        """Read until rows are pending or the result is over (which closes and audits it)."""
        while not len(self.pending) and not self.finished:
            batch = next(self._batches, None)
            if batch is None:
                self.finished = True
            else:
                self.pending = batch
        return self

    def take(self, limit: int | None) -> list[tuple[Any, ...]]:
        """The next ``limit`` rows (None: all that remain), across as many batches as it takes."""
        if self.streams_arrow:
            raise TypeError("an Arrow feed is read by produce() only")
        rows: list[tuple[Any, ...]] = []
        while (limit is None or len(rows) < limit) and len(self.fill().pending):
            rows.extend(self._cut(None if limit is None else limit - len(rows)))
        self.fill()
        return rows

    def produce(self, want: int | None, encoders: list[Any],
                encode: Callable[[Any, list[Any]], bytes] | None = None) -> tuple[bytes, int]:
        """DataRows for up to ``want`` of the pending rows (one batch at most), then the next batch read."""
        if encode is None:
            encode = arrow_rows.encode_batch if self.streams_arrow else binary.data_rows
        elif self.streams_arrow:
            raise TypeError("an Arrow feed encodes DataRows only")
        rows = self._cut(want)
        out = encode(rows, encoders)
        self.fill()
        return out, len(rows)

    def _cut(self, want: int | None) -> Any:
        pending = self.pending
        if want is None or want >= len(pending):
            self.pending = pending[:0]
            return pending
        self.pending = pending[want:]
        return pending[:want]

    # --- on the event loop -------------------------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        return self.finished and not len(self.pending)

    def small(self) -> bool:
        """Whether what remains is a few rows already read: encode them without a thread."""
        return self.finished and len(self.pending) <= INLINE_ROWS

    def close(self) -> None:
        self.result.close()
