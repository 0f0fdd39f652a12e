"""The asyncio server: accepts connections, runs a Session for each, and answers CancelRequests.

It also keeps the policy set current: :meth:`Server.reload` (SIGHUP, or the file watcher started by
:meth:`Server.serve`) puts a changed set in force if it validates and keeps the old one if not.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any

from policyengine.bounded_cache import BoundedCache
from policyengine.engine import Engine
from policyengine.server.catalog import Catalogs
from policyengine.server.reload import PolicyWatcher, ReloadOutcome, policy_folder, reload_policy_set, reload_users
from policyengine.server.session import Session
from policyengine.server.settings import Settings
from policyengine.server.users import Verifier
from policyengine.server.workers import ElasticPool

FAILED_ADDRESSES_KEPT = 10_000
#: seconds without a statement after which the server gives back the memory it has freed (once per
#: idle spell): a server keeps the memory of its busiest moment otherwise (issue #17's soak)
IDLE_SECONDS = 5.0
#: glibc malloc arenas: one per thread that allocates, up to 8 per core, otherwise
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def _libc() -> Any:
    """glibc, or None (another C library, another system)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def tune_allocator() -> None:
    """Fewer malloc arenas (glibc). Every thread that allocates (the workers, DuckDB's own) gets an
    arena of its own, up to 8 per core, and memory freed in one arena serves only the threads using
    it: after a soak tens of megabytes lay free across them, in pieces no trim could give back. Two
    arenas cost nothing measurable in throughput here (the GIL serializes most allocation anyway)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def give_back_memory() -> None:
    """Return freed memory to the system: collect the cycles (sqlglot's trees are cycles: parent
    links), then glibc's free pages in every arena (malloc_trim) and the pages Arrow's pool keeps
    for reuse. Takes tens of milliseconds: for idle moments."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        try:
            arrow.default_memory_pool().release_unused()
        except Exception:  # noqa: BLE001 - an older pyarrow without it: nothing to give back there
            pass


class Server:
    """``policies`` is the folder to reload from and to watch for changes (every ``watch_interval``
    seconds; None or 0 does not watch). Without it, :meth:`reload` (SIGHUP) rereads the folder the
    set in force was loaded from, and nothing is watched: watching is asked for by naming the folder.
    ``users_file`` is the file ``users`` was read from: SIGHUP rereads it too (see reload.reload_users).
    """

    def __init__(self, engine: Engine, users: dict[str, Verifier], *, tls: ssl.SSLContext | None = None,
                 policies: str | Path | None = None, watch_interval: float | None = 1.0,
                 users_file: str | Path | None = None):
        self.engine = engine
        self.users = users
        self.users_file = Path(users_file) if users_file is not None else None
        self.tls = tls
        self.sessions: dict[tuple[int, int], Session] = {}
        #: failed logins per client address, for the growing wait; bounded, since clients from endless
        #: addresses (IPv6) must not grow the process: the address failing least recently is forgotten
        self._failures: BoundedCache[str, int] = BoundedCache(FAILED_ADDRESSES_KEPT)
        backend_path = engine.backend.path if engine.backend is not None else None
        #: the database name clients see (current_database(), pg_database): the file's stem
        self.database = Path(backend_path).stem if backend_path else "policyengine"
        self.catalogs = Catalogs(engine, self.database, Settings("").as_dict())
        self.policies: Path | None = policy_folder(policies, engine.policy_set)
        self.watch_interval = watch_interval if policies is not None and watch_interval else None
        self.watcher: PolicyWatcher | None = None
        self._reload_lock = threading.Lock()
        self._reloads: set[asyncio.Task[ReloadOutcome]] = set()
        #: the threads statements run in (workers.py): the event loop never waits on DuckDB
        tune_allocator()  # before the workers allocate
        self.workers = ElasticPool()

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker thread, awaited."""
        if kwargs:
            return await asyncio.wrap_future(self.workers.submit(lambda: fn(*args, **kwargs)))
        return await asyncio.wrap_future(self.workers.submit(fn, *args))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Session(self, reader, writer).run()

    def cancel(self, pid: int, secret: int) -> None:
        session = self.sessions.get((pid, secret))
        if session is not None:
            session.cancel()

    async def login_failed(self, writer: asyncio.StreamWriter) -> None:
        """Each failed login from an address waits longer before its answer, up to 5 seconds."""
        address = str((writer.get_extra_info("peername") or ("?",))[0])
        failures = (self._failures.get(address) or 0) + 1
        self._failures.put(address, failures)
        await asyncio.sleep(min(0.2 * failures, 5.0))

    # --- policy reload -------------------------------------------------------------------------

    async def reload(self, trigger: str = "manual") -> ReloadOutcome:
        """Reread the policy folder; put the set in force only if it validates (see reload.py).

        The loading runs in a worker thread so sessions keep being served meanwhile.
        """
        return await asyncio.to_thread(self.reload_blocking, trigger)

    def reload_blocking(self, trigger: str = "manual") -> ReloadOutcome:
        """:meth:`reload` for a thread that is not the event loop's; one reload runs at a time."""
        with self._reload_lock:
            return reload_policy_set(self.engine, self.policies, trigger=trigger)

    def reload_users_blocking(self, trigger: str = "manual") -> bool:
        """Reread the users file; its verifiers replace the ones in force (one assignment, so a login
        sees the old set or the new one) only if it reads whole. Sessions already logged in go on, as
        in PostgreSQL after a password change. True if the users in force changed."""
        with self._reload_lock:
            loaded = reload_users(self.users, self.users_file, trigger=trigger, engine=self.engine)
            if loaded is None:
                return False
            self.users = loaded
            return True

    async def reload_all(self, trigger: str = "manual") -> ReloadOutcome:
        """What SIGHUP rereads, as PostgreSQL's rereads its configuration and pg_hba: the policy set
        and the users file, each kept as it was if its new version is rejected."""
        outcome = await self.reload(trigger)
        await asyncio.to_thread(self.reload_users_blocking, trigger)
        return outcome

    def request_reload(self, trigger: str = "SIGHUP") -> None:
        """Start a reload of the policy set and the users file from a callback of the loop
        (``loop.add_signal_handler``), without waiting.

        The task is kept referenced until done: asyncio holds tasks weakly.
        """
        task = asyncio.get_running_loop().create_task(self.reload_all(trigger))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def give_back_when_idle(self, idle: float = IDLE_SECONDS) -> None:
        """Once the workers have had nothing to do for ``idle`` seconds, give back the memory freed
        (:func:`give_back_memory`), once per idle spell; runs until cancelled."""
        given_back = self.workers.submitted
        while True:
            await asyncio.sleep(idle / 4)
            quiet = time.monotonic() - self.workers.last_submitted
            if self.workers.submitted != given_back and quiet >= idle and not self.workers.busy:
                await self.run(give_back_memory)
                given_back = self.workers.submitted

    async def serve(self, host: str, port: int, started: Any = None) -> None:
        server = await asyncio.start_server(self.handle, host, port)
        idle = asyncio.get_running_loop().create_task(self.give_back_when_idle())
        if self.policies is not None and self.watch_interval:
            self.watcher = PolicyWatcher(self.policies, lambda: self.reload("file change"),
                                         interval=self.watch_interval)
            self.watcher.start()
        if started is not None:
            started(server.sockets[0].getsockname()[1])
        try:
            async with server:
                await server.serve_forever()
        finally:
            try:
                idle.cancel()
            except RuntimeError:  # the loop is closed already (a test stopped it): nothing runs any more
                pass
            if self.watcher is not None:
                await self.watcher.stop()
                self.watcher = None
            self.workers.shutdown(wait=False)


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context
