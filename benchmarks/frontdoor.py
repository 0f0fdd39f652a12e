"""The front door against a real PostgreSQL 15: rows per second, pgbench transactions per second, memory.

One run builds the demo database (its 6-column ``reviews`` table at the scale's size), loads the same
rows into a real PostgreSQL 15 (Debian's ``postgresql`` package, started here on loopback as the
postgres user and removed afterwards), starts the front door exactly as users do (``policyengine
serve``, its own process, audit log on), and measures both with the same clients, interleaved:

- a whole-table fetch (``SELECT * FROM reviews``) with psycopg 3: rows decoded into Python tuples
  (``fetchall``, the target's figure), and the same statement through psycopg's libpq layer with no
  row decoding, which shows the servers rather than the client; as the PostgreSQL table owner, as a
  front-door principal who sees everything raw (``frank``, admin) and as a masked one (``bob``,
  bi_analyst);
- pgbench point queries (``WHERE "ReviewID" = ...`` on a random id), 8 clients, ``-M extended`` (the
  target's figure), against DuckDB's own in-process rate for the same statement on the same data (the
  limit of a DuckDB backend): one thread looping over a prepared statement, one looping over
  ``execute(sql, [id])``, and 8 threads with a cursor each; the engine's in-process rate (rewrite,
  cross-check, run, no wire) shows what the policy layer costs apart from the protocol. ``-M simple``
  and ``-M simple -C`` (a SCRAM login per transaction) are run once each, for context;
- streaming ``stream_rows`` rows through a server-side cursor (DECLARE/FETCH) while the front-door
  process's peak resident memory (VmHWM, reset just before) is read.

Both servers authenticate with SCRAM-SHA-256 and serve text results over TCP on 127.0.0.1 without TLS.
"""

from __future__ import annotations

import math
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import KEY_HEX, Scale, Steps, paired, stat

PG_BIN = Path(os.environ.get("PE_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
#: the example policy set's files the benchmark serves: its settings, roles and the demo tables' contracts
#: (a snapshot taken at the start, so that work on other example files meanwhile cannot break a run)
POLICY_FILES = ("policyengine.yaml", "roles.yaml")
DEMO_TABLES = ("reviews", "user_demographics", "region_countries", "verified_reviews")


def snapshot_policies(target: Path) -> Path:
    """The example policy set's settings, roles and demo-table contracts, copied into ``target``."""
    (target / "tables").mkdir(parents=True, exist_ok=True)
    for name in POLICY_FILES:
        if (POLICIES / name).exists():
            shutil.copyfile(POLICIES / name, target / name)
    for table in DEMO_TABLES:
        for path in (POLICIES / "tables").glob(f"{table}.*"):
            if path.suffix in (".yaml", ".yml", ".json"):
                shutil.copyfile(path, target / "tables" / path.name)
    return target
DATABASE = "demo"
PG_USER = "bench"
PASSWORDS = {PG_USER: "bench-pass-1", "frank": "frank-pass-1", "bob": "bob-pass-1"}
#: front-door principals measured, and what they see of the reviews table (policies/roles.yaml)
PRINCIPALS = {"frank": "admin: all raw", "bob": "bi_analyst: UserID tokenized, ReviewText and CreatedAt generalized"}
TABLE = "reviews"
STREAM_COLUMNS = ("ReviewID", "Rating")
FETCH = f"SELECT * FROM {TABLE}"
#: review ids are R0000001, R0000002, ... (policyengine.demo.data)
POINT_WHERE = "\"ReviewID\" = 'R' || lpad({id}::text, 7, '0')"
POINT = ("\\set id random(1, {rows})\n"
         f"SELECT * FROM {TABLE} WHERE {POINT_WHERE.format(id=':id')};\n")
#: the same statement in process, with DuckDB's parameter
POINT_SQL = f"SELECT * FROM {TABLE} WHERE {POINT_WHERE.format(id='$1')}"
#: the DuckDB table's columns with PostgreSQL's types for DuckDB's (VARCHAR travels as text, OID 25)
PG_COLUMNS = {"VARCHAR": "text", "INTEGER": "integer", "BIGINT": "bigint", "TIMESTAMP": "timestamp",
              "DATE": "date", "BOOLEAN": "boolean", "DOUBLE": "double precision"}
CLIENTS = 8
PGBENCH_THREADS = 2
#: (mode, a new connection per transaction): the target's run, then the ones run once for context
TARGET_MODE = ("extended", False)
CONTEXT_MODES = (("simple", False), ("simple", True))


# --- helpers ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing() -> str | None:
    """Why the benchmark cannot run here, or None."""
    for tool in ("initdb", "pg_ctl", "postgres", "pgbench"):
        if not (PG_BIN / tool).exists():
            return f"needs PostgreSQL 15 ({PG_BIN / tool} not found): apt-get install postgresql"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root needs runuser (util-linux) to start PostgreSQL as the postgres user"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root needs the postgres user (created by Debian's postgresql package)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "needs psycopg 3: pip install 'psycopg[binary]'"
    return None


def dsn(port: int, user: str) -> str:
    return f"host=127.0.0.1 port={port} user={user} password={PASSWORDS[user]} dbname={DATABASE} sslmode=disable"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in kB (Linux), or empty."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process, its reaped children and its live children (Linux), or NaN.

    Counted over the tree because PostgreSQL serves each connection from a child of the postmaster: a
    child reaped between two readings moves from the live children's sum to the parent's reaped times,
    so the difference of two readings is what the tree spent between them. A load-independent figure
    on a busy machine: CPU time per row or per transaction does not grow with the load as wall time does.
    """
    def times(p: int) -> tuple[float, int] | None:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        # after the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
        return sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK, int(fields[1])

    own = times(pid)
    if own is None:
        return float("nan")
    total = own[0]
    try:
        entries = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return total
    for entry in entries:
        if entry != pid:
            child = times(entry)
            if child is not None and child[1] == pid:
                total += child[0]
    return total


# --- PostgreSQL 15 -------------------------------------------------------------------------------

class PostgreSQL:
    """A throwaway cluster in ``folder`` on a loopback port; as the postgres user when run as root."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.sockets = folder / "sockets"
        self.log = folder / "postgresql.log"
        self.port = free_port()
        self.started = False
        self.as_postgres = os.geteuid() == 0

    def _run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, check=False, cwd=self.folder, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "LC_ALL": "C"})
        if result.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(command[-1] if self.as_postgres else command[0]).name} failed: "
                               f"{(result.stdout + result.stderr)[-2000:]}{log}")
        return result

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir()
        password_file = self.folder / "password"
        password_file.write_text(PASSWORDS[PG_USER] + "\n")
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
            for path in (self.sockets, password_file):
                shutil.chown(path, "postgres", "postgres")
        self.folder.chmod(0o700)
        password_file.chmod(0o600)
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", PG_USER, f"--pwfile={password_file}", "-E", "UTF8",
                  "--locale=C", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--no-sync")
        password_file.unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# policyengine front-door benchmark\n"
                       f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.sockets}'\n"
                       "password_encryption = 'scram-sha-256'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        self.started = True  # from here on, stop() is owed even if the start fails half-way
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")

    def pid(self) -> int | None:
        """The postmaster's process id, once started."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():  # pg_ctl could not stop it: end the postmaster we started, by its pid
                try:
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
                except (ValueError, ProcessLookupError, PermissionError):
                    pass


# --- the data ------------------------------------------------------------------------------------

def build_data(folder: Path, reviews: int, users: int) -> tuple[Path, Path, list[tuple[str, str]]]:
    """The demo database, the reviews table as CSV, and its (column, DuckDB type) list."""
    import duckdb

    from policyengine.demo.data import build_demo_database

    database = folder / "demo.duckdb"
    build_demo_database(database, users=users, reviews=reviews)
    csv = folder / f"{TABLE}.csv"
    with duckdb.connect(str(database), read_only=True) as con:
        columns = [(name, kind) for name, kind in
                   con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                               f"WHERE table_name = '{TABLE}' ORDER BY ordinal_position").fetchall()]
        con.execute(f"COPY {TABLE} TO '{csv}' (FORMAT csv, HEADER false)")
    return database, csv, columns


def load_postgres(port: int, csv: Path, columns: list[tuple[str, str]]) -> str:
    """The same table in PostgreSQL (same column names and wire types, same primary key); its version."""
    import psycopg

    with psycopg.connect(dsn(port, PG_USER).replace(f"dbname={DATABASE}", "dbname=postgres"),
                         autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {DATABASE}")
        hashed = connection.execute(f"SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                                    f"WHERE rolname = '{PG_USER}'").fetchone()[0]
        if not hashed:
            raise RuntimeError("PostgreSQL did not store a SCRAM verifier")
    body = ", ".join(f'"{name}" {PG_COLUMNS.get(kind, "text")}' for name, kind in columns)
    with psycopg.connect(dsn(port, PG_USER), autocommit=True) as connection:
        connection.execute(f'CREATE TABLE {TABLE} ({body}, PRIMARY KEY ("{columns[0][0]}"))')
        with connection.cursor().copy(f"COPY {TABLE} FROM STDIN (FORMAT csv)") as copy, csv.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                copy.write(chunk)
        connection.execute(f"VACUUM ANALYZE {TABLE}")
        return connection.execute("SHOW server_version").fetchone()[0]


def fingerprint_query(columns: list[tuple[str, str]]) -> str:
    """Counts and sums that must agree between the two copies of the table."""
    text = [name for name, kind in columns if kind == "VARCHAR"]
    parts = ["count(*)"] + [f'sum(length("{name}"))' for name in text] + \
            [f'count("{name}")' for name, _ in columns]
    ints = [name for name, kind in columns if kind in ("INTEGER", "BIGINT")]
    parts += [f'sum("{name}")' for name in ints]
    return f"SELECT {', '.join(parts)} FROM {TABLE}"


# --- the front door, in its own process, as users start it ----------------------------------------

class FrontDoor:
    """``policyengine serve`` on a free loopback port, with its audit log, no policy watcher."""

    def __init__(self, folder: Path, database: Path, policies: Path):
        from policyengine.server.users import set_password

        self.policies = policies
        self.users_file = folder / "users.yaml"
        for name in PRINCIPALS:
            set_password(self.users_file, name, PASSWORDS[name])
        self.key_file = folder / "key.hex"
        self.key_file.write_text(KEY_HEX + "\n")
        self.audit = folder / "audit.jsonl"
        self.database = database
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self, timeout: float = 120) -> None:
        command = [sys.executable, "-m", "policyengine", "--policies", str(self.policies), "serve",
                   "--db", str(self.database), "--host", "127.0.0.1", "--port", "0",
                   "--users", str(self.users_file), "--key-file", str(self.key_file), "--audit", str(self.audit),
                   "--watch-interval", "0"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYENGINE_KEY")}
        env["COLUMNS"] = "1000"  # one line for the "serving ... on host:port" announcement
        # a session of its own: Ctrl-C reaches this process, which then stops the server
        self.process = subprocess.Popen(command, cwd=ROOT, text=True, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True)
        said = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            said += line
            found = re.search(r" on 127\.0\.0\.1:(\d+)", said.replace("\n", ""))
            if found:
                self.port = int(found.group(1))
                # nothing more is read from its stdout: drain it so the server can never block on it
                threading.Thread(target=self.process.stdout.read, daemon=True).start()
                threading.Thread(target=self.process.stderr.read, daemon=True).start()
                return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
        try:
            _, error = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, error = process.communicate()
        raise RuntimeError(f"the front door did not start: {said[-1000:]}{error[-2000:]}")

    def memory(self) -> dict[str, int]:
        return proc_status(self.process.pid) if self.process else {}

    def reset_peak(self) -> bool:
        """Reset the process's VmHWM to its current RSS (Linux: clear_refs 5); False if not allowed."""
        if self.process is None:
            return False
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- measurements --------------------------------------------------------------------------------

def fetch(targets: list[tuple[str, int, str]], rows: int, repeat: int, steps: Steps,
          server_pid: Callable[[str, Any], int | None]) -> dict[str, Any]:
    """Rows/s of the whole-table fetch per (target, user): decoded by psycopg, and as a libpq result
    only. Rounds alternate between the servers (the order rotated), so a busy moment is shared. The
    serving process's CPU time is read around each libpq fetch (``server_pid(target, connection)``)."""
    import psycopg
    from psycopg import pq

    def decoded(connection: Any) -> int:
        cursor = connection.execute(FETCH)
        return len(cursor.fetchall())

    def undecoded(connection: Any) -> int:
        result = connection.pgconn.exec_(FETCH.encode())
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise RuntimeError(result.error_message.decode(errors="replace"))
        count = result.ntuples
        result.clear()
        return count

    methods = {"psycopg": decoded, "libpq": undecoded}
    connections = [psycopg.connect(dsn(port, user), autocommit=True) for _, port, user in targets]
    seconds: dict[tuple[int, str], list[float]] = {}
    cpu: dict[int, list[float]] = {index: [] for index in range(len(targets))}
    pids = [server_pid(target, connection) for (target, _, _), connection in zip(targets, connections)]
    try:
        for index, ((_, _, user), connection) in enumerate(zip(targets, connections)):
            for name, fn in methods.items():
                if fn(connection) != rows:  # warm-up, and the principal sees every row
                    raise RuntimeError(f"{user} did not get {rows} rows")
                seconds[(index, name)] = []
        for round_ in range(repeat):
            order = list(range(len(connections)))
            order = order[round_ % len(order):] + order[:round_ % len(order)]
            for index in order:
                for name, fn in methods.items():
                    before = tree_cpu(pids[index]) if pids[index] and name == "libpq" else float("nan")
                    started = time.perf_counter()
                    fn(connections[index])
                    seconds[(index, name)].append(time.perf_counter() - started)
                    if name == "libpq" and pids[index]:
                        cpu[index].append(tree_cpu(pids[index]) - before)
            steps.step(f"whole-table fetch, round {round_ + 1}")
    finally:
        for connection in connections:
            connection.close()
    out = []
    for index, (target, _, user) in enumerate(targets):
        entry: dict[str, Any] = {"target": target, "user": user}
        for name in methods:
            entry[name] = stat(rows / s for s in seconds[(index, name)])
            # rows/s over PostgreSQL's rows/s, round by round = PostgreSQL's seconds over ours
            entry[f"{name}_ratio"] = paired(seconds[(0, name)], seconds[(index, name)])
        spent = [c for c in cpu[index] if not math.isnan(c)]
        if spent:
            entry["server_cpu_us_per_row"] = stat(c / rows * 1e6 for c in spent)
        out.append(entry)
    return {"rows": rows, "rounds": repeat, "targets": out}


def pgbench(port: int, user: str, script: Path, mode: str, connect: bool, seconds: int, clients: int,
            threads: int) -> dict[str, float]:
    args = [str(PG_BIN / "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-f", str(script),
            "-M", mode, "-c", str(clients), "-j", str(threads), "-T", str(seconds)] + (["-C"] if connect else []) \
        + [DATABASE]
    env = {**os.environ, "PGPASSWORD": PASSWORDS[user], "PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "10"}
    result = subprocess.run(args, check=False, capture_output=True, text=True, timeout=seconds * 4 + 60, env=env)
    output = result.stdout + result.stderr
    tps = re.search(r"^tps = ([0-9.]+)", result.stdout, re.MULTILINE)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", result.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", result.stdout)
    if result.returncode != 0 or tps is None or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench -M {mode} as {user} failed: {output[-1500:]}")
    return {"tps": float(tps.group(1)), "transactions": int(done.group(1)) if done else 0,
            "latency_ms": float(latency.group(1)) if latency else float("nan")}


class InProcess:
    """The point query inside this process: DuckDB alone (the limit of a DuckDB backend), and the engine
    (policy layer, no wire). Each on its own copy of the database (a process opens a file once)."""

    def __init__(self, folder: Path, database: Path, rows: int, policies: Path):
        import duckdb

        from policyengine import crypto
        from policyengine.backends.duckdb import Limits
        from policyengine.engine import Engine

        raw = folder / "inprocess-raw.duckdb"
        shutil.copyfile(database, raw)
        served = folder / "inprocess-engine.duckdb"
        shutil.copyfile(database, served)
        self.duckdb_threads = Limits().threads
        self.con = duckdb.connect(str(raw), read_only=True)
        self.con.execute("SET enable_progress_bar = false")
        self.con.execute(f"SET threads = {self.duckdb_threads}")  # as the front door's DuckDB instance
        self.con.execute(f"PREPARE point AS {POINT_SQL}")
        self.engine = Engine.load(policies, served, keys=crypto.parse_key(KEY_HEX))
        self.last_cpu_per_call = float("nan")
        rng = random.Random(20240601)
        self.ids = [rng.randint(1, rows) for _ in range(50_000)]

    def close(self) -> None:
        self.con.close()
        self.engine.close()

    def _loop(self, call: Callable[[int], object], seconds: float) -> float:
        count, ids = 0, self.ids
        for warm in ids[-3:]:  # first-time costs (rewrite, cross-check, plan) are not the steady rate
            call(warm)
        cpu = time.process_time()
        started = time.perf_counter()
        while True:
            call(ids[count % len(ids)])
            count += 1
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                self.last_cpu_per_call = (time.process_time() - cpu) / count
                return count / elapsed

    def prepared(self, seconds: float) -> float:
        con = self.con
        return self._loop(lambda i: con.execute(f"EXECUTE point({int(i)})").fetchall(), seconds)

    def execute(self, seconds: float) -> float:
        con = self.con
        return self._loop(lambda i: con.execute(POINT_SQL, [i]).fetchall(), seconds)

    def threads(self, seconds: float, count: int = CLIENTS) -> float:
        counts = [0] * count
        stop = time.perf_counter() + seconds

        def work(k: int) -> None:
            cursor = self.con.cursor()
            cursor.execute(f"PREPARE point AS {POINT_SQL}")
            j = k
            while time.perf_counter() < stop:
                cursor.execute(f"EXECUTE point({self.ids[j % len(self.ids)]})").fetchall()
                counts[k] += 1
                j += count
            cursor.close()

        workers = [threading.Thread(target=work, args=(k,)) for k in range(count)]
        cpu = time.process_time()
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.last_cpu_per_call = (time.process_time() - cpu) / max(1, sum(counts))
        return sum(counts) / (time.perf_counter() - started)

    def engine_rate(self, principal: str, seconds: float) -> float:
        subject = self.engine.subject(principal=principal)
        engine = self.engine
        return self._loop(lambda i: engine.query_for(subject, POINT_SQL, parameters=[i]).fetchall(), seconds)


def stream_large(ports: dict[str, int], rows: int, door: FrontDoor, postgres: bool = True) -> dict[str, Any]:
    """A result far larger than memory should allow if it were held: ``rows`` rows of a cross join,
    read through a server-side cursor (DECLARE/FETCH) by the same client from both servers (or the
    front door alone). The front door's peak resident memory, reset just before, shows whether it streams."""
    import psycopg

    query = f'SELECT a."{STREAM_COLUMNS[0]}", b."{STREAM_COLUMNS[1]}" FROM {TABLE} a, {TABLE} b LIMIT {rows}'
    out: dict[str, Any] = {"rows": rows, "query": query, "rss_before_kb": door.memory().get("VmRSS"),
                           "peak_before_kb": door.memory().get("VmHWM")}
    out["peak_reset"] = door.reset_peak()
    sampled = [0]
    done = threading.Event()

    def watch() -> None:  # in case the peak cannot be reset: the highest RSS seen while streaming
        while not done.is_set():
            sampled[0] = max(sampled[0], door.memory().get("VmRSS", 0))
            done.wait(0.05)

    for target, user in (("postgres", PG_USER), ("frontdoor", "frank"))[0 if postgres else 1:]:
        watcher = threading.Thread(target=watch, daemon=True) if target == "frontdoor" else None
        if watcher:
            watcher.start()
        with psycopg.connect(dsn(ports[target], user)) as conn, conn.cursor(name="large") as cur:
            cur.itersize = 20_000
            started = time.perf_counter()
            cur.execute(query)
            count = sum(1 for _ in cur)
            out[target] = {"rows": count, "seconds": time.perf_counter() - started}
        if watcher:
            done.set()
            watcher.join()
    out["peak_after_kb"] = door.memory().get("VmHWM")
    out["rss_after_kb"] = door.memory().get("VmRSS")
    out["sampled_peak_kb"] = sampled[0]
    # the figure: the peak while streaming (VmHWM after a reset), else the highest RSS sampled
    out["streaming_peak_kb"] = out["peak_after_kb"] if out["peak_reset"] else sampled[0]
    return out


# --- one run -------------------------------------------------------------------------------------

def run(scale: Scale, repeat: int, steps: Steps) -> dict[str, Any]:
    """Everything measured in one run; ``{"missing": reason}`` when PostgreSQL or pgbench is not here."""
    rows, seconds = scale.fetch_rows, max(1, round(scale.pgbench_seconds))  # pgbench -T: whole seconds
    local_seconds = scale.pgbench_seconds
    rounds = min(repeat, 3)
    # a whole-table fetch takes about a second and its rounds scatter by a third on a shared machine
    # (both servers outrun the client, so the ratio sits near 1.0): twice the rounds, for the median
    fetch_rounds = 2 * repeat + 1
    modes = CONTEXT_MODES if scale.name != "small" else ()
    results: dict[str, Any] = {"rows": rows, "users": scale.users, "repeat": repeat, "seconds": seconds,
                               "clients": CLIENTS, "threads": PGBENCH_THREADS, "pgbench_rounds": rounds,
                               "cores": os.cpu_count()}
    reason = missing()
    if reason:
        return {**results, "missing": reason}
    targets = [("postgres", PG_USER)] + [("frontdoor", name) for name in PRINCIPALS]
    inprocess_names = ("duckdb_prepared", "duckdb_execute", "duckdb_threads", "engine_frank", "engine_bob")
    steps.set_total(6 + fetch_rounds + rounds + len(modes))
    folder = Path(tempfile.mkdtemp(prefix="pe-frontdoor-"))
    folder.chmod(0o711)  # the postgres user reaches its own folder inside, nothing else
    postgres = PostgreSQL(folder / "postgres")
    door: FrontDoor | None = None
    inprocess: InProcess | None = None
    try:
        steps.note(f"front door: building the demo database ({rows:,} reviews)")
        started = time.perf_counter()
        database, csv, columns = build_data(folder, rows, scale.users)
        results["build_s"] = time.perf_counter() - started
        results["columns"] = [f"{name} {kind}" for name, kind in columns]
        steps.step()
        steps.note("front door: starting PostgreSQL 15 and loading the table")
        postgres.start()
        results["postgres_version"] = load_postgres(postgres.port, csv, columns)
        results["pgbench_version"] = subprocess.run([str(PG_BIN / "pgbench"), "--version"], check=False,
                                                    capture_output=True, text=True).stdout.strip()
        csv.unlink()
        steps.step()
        steps.note("front door: starting policyengine serve")
        policies = snapshot_policies(folder / "policies")
        door = FrontDoor(folder, database, policies)
        door.start()
        results["frontdoor_rss_start_kb"] = door.memory().get("VmRSS")
        ports = {"postgres": postgres.port, "frontdoor": door.port}
        inprocess = InProcess(folder, database, rows, policies)
        steps.step()

        import psycopg

        check = fingerprint_query(columns)
        with psycopg.connect(dsn(postgres.port, PG_USER), autocommit=True) as a, \
                psycopg.connect(dsn(door.port, "frank"), autocommit=True) as b:
            left, right = a.execute(check).fetchone(), b.execute(check).fetchone()
            sample = f'SELECT * FROM {TABLE} ORDER BY "{columns[0][0]}" LIMIT 100'
            same_rows = a.execute(sample).fetchall() == b.execute(sample).fetchall()
        if [int(v or 0) for v in left] != [int(v or 0) for v in right] or not same_rows:
            raise RuntimeError(f"the two copies of {TABLE} differ: {left} != {right} or in their first rows")

        steps.note(f"front door: whole-table fetch of {rows:,} rows")
        def server_pid(target: str, connection: Any) -> int | None:
            if target == "postgres":  # the backend serving this connection
                return connection.execute("SELECT pg_backend_pid()").fetchone()[0]
            return door.process.pid if door and door.process else None

        results["fetch"] = fetch([(target, ports[target], user) for target, user in targets], rows, fetch_rounds, steps,
                                 server_pid)
        results["frontdoor_rss_after_fetch_kb"] = door.memory().get("VmHWM")
        results["client_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        script = folder / "point.sql"
        script.write_text(POINT.format(rows=rows))
        runs: list[dict[str, Any]] = []
        rates: dict[str, list[float]] = {name: [] for name in inprocess_names}
        cpu_per_call: dict[str, list[float]] = {name: [] for name in inprocess_names}
        for round_ in range(rounds):
            contenders: list[tuple[str, Callable[[], None]]] = []
            for target, user in targets:
                def bench(target: str = target, user: str = user, round_: int = round_) -> None:
                    pid = postgres.pid() if target == "postgres" else door.process.pid
                    before = tree_cpu(pid) if pid else float("nan")
                    measured = pgbench(ports[target], user, script, *TARGET_MODE, seconds, CLIENTS, PGBENCH_THREADS)
                    spent = tree_cpu(pid) - before if pid else float("nan")
                    runs.append({"target": target, "user": user, "mode": TARGET_MODE[0], "connect": TARGET_MODE[1],
                                 "round": round_, "server_cpu_ms_per_tx":
                                     spent / max(1, measured["transactions"]) * 1e3, **measured})
                contenders.append((f"pgbench {user}", bench))
            for name in inprocess_names:
                def local(name: str = name) -> None:
                    if name.startswith("engine_"):
                        rate = inprocess.engine_rate(name.removeprefix("engine_"), local_seconds)
                    else:
                        rate = getattr(inprocess, name.removeprefix("duckdb_"))(local_seconds)
                    rates[name].append(rate)
                    cpu_per_call[name].append(inprocess.last_cpu_per_call * 1e3)
                contenders.append((name, local))
            offset = round_ % len(contenders)
            for label, fn in contenders[offset:] + contenders[:offset]:
                steps.note(f"front door: point queries, round {round_ + 1}/{rounds}: {label}")
                fn()
            steps.step()
        for mode, connect in modes:
            steps.note(f"front door: pgbench -M {mode}{' -C' if connect else ''}")
            for target, user in targets:
                measured = pgbench(ports[target], user, script, mode, connect, seconds, CLIENTS, PGBENCH_THREADS)
                runs.append({"target": target, "user": user, "mode": mode, "connect": connect, "round": 0,
                             **measured})
            steps.step()
        results["pgbench"] = runs
        results["inprocess"] = rates
        results["inprocess_cpu_ms"] = cpu_per_call
        results["inprocess_threads"] = inprocess.duckdb_threads
        results["frontdoor_rss_after_pgbench_kb"] = door.memory().get("VmHWM")
        inprocess.close()
        inprocess = None

        steps.note(f"front door: streaming {scale.stream_rows:,} rows")
        results["stream"] = stream_large(ports, scale.stream_rows, door)
        steps.step()
        # the same on a front door just started: what streaming costs, apart from what the long-running one
        # kept from the work before (DuckDB's buffer pool, Python's heap after the whole-table fetches)
        steps.note(f"front door: streaming {scale.stream_rows:,} rows from a freshly started server")
        door.stop()
        door.start()
        results["stream_fresh_start_kb"] = door.memory().get("VmRSS")
        results["stream_fresh"] = stream_large({"frontdoor": door.port}, scale.stream_rows, door, postgres=False)
        steps.step()
    finally:
        if inprocess is not None:
            inprocess.close()
        if door is not None:
            door.stop()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return results


def tps(results: dict[str, Any], target: str, user: str, mode: str = "extended", connect: bool = False) -> list[float]:
    return [r["tps"] for r in results["pgbench"]
            if (r["target"], r["user"], r["mode"], r["connect"]) == (target, user, mode, connect)]


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The figures the report's summary needs."""
    if "missing" in results:
        return {}
    fetched = {r["user"]: r for r in results["fetch"]["targets"]}
    out: dict[str, Any] = {
        "postgres_rows_per_s": fetched[PG_USER]["psycopg"],
        "frank_rows_per_s": fetched["frank"]["psycopg"],
        "bob_rows_per_s": fetched["bob"]["psycopg"],
        "frank_fetch_ratio": fetched["frank"]["psycopg_ratio"],
        "bob_fetch_ratio": fetched["bob"]["psycopg_ratio"],
        "frank_fetch_ratio_libpq": fetched["frank"]["libpq_ratio"],
    }
    postgres, frank, bob = (tps(results, t, u) for t, u in (("postgres", PG_USER), ("frontdoor", "frank"),
                                                            ("frontdoor", "bob")))
    rates = results["inprocess"]
    limit = rates["duckdb_prepared"]
    out.update({
        "tps_postgres": stat(postgres), "tps_frank": stat(frank), "tps_bob": stat(bob),
        "rate": {name: stat(values) for name, values in rates.items()},
        # per round: the front door's TPS over DuckDB's in-process rate measured in the same round
        "frank_over_duckdb": paired(frank, limit),
        "bob_over_duckdb": paired(bob, limit),
        "frank_over_duckdb_threads": paired(frank, rates["duckdb_threads"]),
        "frank_over_postgres": paired(frank, postgres),
        "duckdb_over_postgres": paired(limit, postgres),
    })
    out["cpu_ms_per_tx"] = {
        **{name: stat(values) for name, values in results.get("inprocess_cpu_ms", {}).items()},
        **{f"pgbench_{user}": stat(r["server_cpu_ms_per_tx"] for r in results["pgbench"]
                                   if r["user"] == user and r["mode"] == "extended" and not r["connect"]
                                   and "server_cpu_ms_per_tx" in r)
           for user in (PG_USER, *PRINCIPALS)},
    }
    out["cpu_us_per_row"] = {r["user"]: r["server_cpu_us_per_row"] for r in results["fetch"]["targets"]
                             if "server_cpu_us_per_row" in r}
    stream = results.get("stream")
    if stream:
        out["streaming_peak_mb"] = stream["streaming_peak_kb"] / 1024
    fresh = results.get("stream_fresh")
    if fresh:
        out["fresh_streaming_peak_mb"] = fresh["streaming_peak_kb"] / 1024
    return out
