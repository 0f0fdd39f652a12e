"""The threads that run queries for the front door: few while statements are quick, more when one is not.

Every statement runs in a worker thread, so the event loop (every other session) never waits on
DuckDB. How many threads matters: DuckDB releases the GIL for each call and takes it back after,
and with a thread per busy session (asyncio's default pool, up to CPUs + 4) they spend their time
handing the GIL to each other (futex waits, context switches). pgbench's eight clients ran about 15%
more transactions per second on two cores with three threads than with six. A fixed small pool
would let a few long queries hold every thread while a dashboard's lookups queue behind them, so
this pool keeps ``core`` threads and adds one (up to ``limit``) whenever tasks wait while every
thread has been busy with its current task for ``patience`` seconds or more: long queries get
threads of their own, while a queue of quick ones (a saturated CPU) does not multiply threads that
would only contend. Threads beyond ``core`` leave after ``linger`` idle seconds.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


def default_core() -> int:
    """A thread per CPU, and one to spare for the moments a thread waits on the socket or a lock."""
    return (os.cpu_count() or 2) + 1


class ElasticPool:
    def __init__(self, core: int | None = None, limit: int = 32, patience: float = 0.05, linger: float = 30.0,
                 name: str = "policyengine-worker"):
        self.core = max(1, core or default_core())
        self.limit = max(self.core, limit)
        self.patience = patience
        self.linger = linger
        self.name = name
        self._tasks: collections.deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...], float]] = \
            collections.deque()
        self._lock = threading.Condition()
        self._threads = 0
        self._idle = 0
        self._closed = False
        self._backlog = threading.Event()  # set while tasks wait with no idle thread
        self._started: dict[int, float] = {}  # busy thread -> when its current task started
        self._supervisor: threading.Thread | None = None
        #: tasks submitted so far, and when the last one was: the server gives memory back when idle
        self.submitted = 0
        self.last_submitted = time.monotonic()

    @property
    def threads(self) -> int:
        return self._threads

    @property
    def busy(self) -> int:
        """Tasks running or waiting for a thread."""
        with self._lock:
            return len(self._started) + len(self._tasks)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            now = time.monotonic()
            self._tasks.append((future, fn, args, now))
            self.submitted += 1
            self.last_submitted = now
            if self._idle:
                self._lock.notify()
            if len(self._tasks) > self._idle:  # not every waiting task has an idle thread to take it
                if self._threads < self.core:
                    self._start()
                else:
                    self._watch()
        return future

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._backlog.set()
        if wait:
            deadline = time.monotonic() + 10
            while self._threads and time.monotonic() < deadline:
                time.sleep(0.01)

    # --- under the lock ----------------------------------------------------------------------------

    def _start(self) -> None:
        self._threads += 1
        threading.Thread(target=self._work, name=f"{self.name}-{self._threads}", daemon=True).start()

    def _watch(self) -> None:
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, name=f"{self.name}-supervisor", daemon=True)
            self._supervisor.start()
        self._backlog.set()

    # --- threads -----------------------------------------------------------------------------------

    def _work(self) -> None:
        me = threading.get_ident()
        while True:
            with self._lock:
                self._started.pop(me, None)
                self._idle += 1
                while not self._tasks and not self._closed:
                    if not self._lock.wait(self.linger) and not self._tasks and self._threads > self.core:
                        self._idle -= 1
                        self._threads -= 1
                        return
                self._idle -= 1
                if not self._tasks:  # closed
                    self._threads -= 1
                    return
                future, fn, args, _ = self._tasks.popleft()
                self._started[me] = time.monotonic()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as error:  # noqa: BLE001 - handed to whoever awaits the future
                future.set_exception(error)
            else:
                future.set_result(result)
            del future, fn, args

    def _supervise(self) -> None:
        """Adds a thread while tasks wait and every busy thread's task has run ``patience`` or more."""
        while True:
            self._backlog.wait()
            time.sleep(self.patience)
            with self._lock:
                if self._closed:
                    return
                if not self._tasks:
                    self._backlog.clear()
                    continue
                now = time.monotonic()
                stuck = not self._idle and all(now - started >= self.patience for started in self._started.values())
                if stuck and now - self._tasks[0][3] >= self.patience and self._threads < self.limit:
                    self._start()
