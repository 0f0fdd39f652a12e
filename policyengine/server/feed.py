"""An open result read forward by a session: the rows read but not yet sent, and whether more remain.

Every read runs in a worker thread (DuckDB and encoding must not hold the event loop), and a thread
hop costs about as much as a point query's own work. So each read also looks one batch ahead: the
step that delivers a result's last rows learns that it is over, closes the result and writes its
audit line, and a one-row answer (a dashboard's lookup, pgbench) costs one hop from Describe to
CommandComplete instead of three. The invariant after every step: ``pending`` holds rows, or
``finished`` is true.
"""

from __future__ import annotations

from typing import Any, Callable

from policyengine.server import binary

#: a finished result this small is encoded on the event loop: cheaper than a hop to a thread
INLINE_ROWS = 32


class Feed:
    def __init__(self, result: Any):
        self.result = result
        self.columns: list[str] = result.columns
        self.types: list[str] = result.types
        self._batches = result.batches()
        self.pending: list[tuple[Any, ...]] = []
        self.finished = False

    # --- in a worker thread ------------------------------------------------------------------------

    def fill(self) -> "Feed":
        """Read until rows are pending or the result is over (which closes and audits it)."""
        while not self.pending and not self.finished:
            batch = next(self._batches, None)
            if batch is None:
                self.finished = True
            else:
                self.pending = batch
        return self

    def take(self, limit: int | None) -> list[tuple[Any, ...]]:
        """The next ``limit`` rows (None: all that remain), across as many batches as it takes."""
        rows: list[tuple[Any, ...]] = []
        while (limit is None or len(rows) < limit) and self.fill().pending:
            rows.extend(self._cut(None if limit is None else limit - len(rows)))
        self.fill()
        return rows

    def produce(self, want: int | None, encoders: list[Any],
                encode: Callable[[list[tuple[Any, ...]], list[Any]], bytes] = binary.data_rows) -> tuple[bytes, int]:
        """DataRows for up to ``want`` of the pending rows (one batch at most), then the next batch read."""
        rows = self._cut(want)
        out = encode(rows, encoders)
        self.fill()
        return out, len(rows)

    def _cut(self, want: int | None) -> list[tuple[Any, ...]]:
        pending = self.pending
        if want is None or want >= len(pending):
            self.pending = []
            return pending
        self.pending = pending[want:]
        return pending[:want]

    # --- on the event loop -------------------------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        return self.finished and not self.pending

    def small(self) -> bool:
        """Whether what remains is a few rows already read: encode them without a thread."""
        return self.finished and len(self.pending) <= INLINE_ROWS

    def close(self) -> None:
        self.result.close()
